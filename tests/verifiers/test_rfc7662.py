"""`IntrospectionVerifier` against a real RFC 7662 endpoint (authlib's, on loopback),
behind the middleware of a real FastAPI app."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI
from joserfc.jwk import ECKey

import asgi_auth as aa
from asgi_auth.verifiers.either import jwt_shaped
from tests.loopback import free_port
from tests.peers.introspection_server import ISSUER, AuthorizationServerPeer, Client, Token, authorization_server

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SECRET = "s3cr3t: with/odd+chars"
PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC_JWK = ECKey.import_key(PRIVATE.public_key()).as_dict()
CLIENTS = [
    Client("rs-basic", "client_secret_basic", secret=SECRET),
    Client("rs-post", "client_secret_post", secret=SECRET),
    Client("rs-jwt", "private_key_jwt", public_jwks={"keys": [{**PUBLIC_JWK, "kid": "k1"}]}),
]
HS_KEY = "k" * 32


@pytest.fixture(autouse=True)
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # loopback is plain http


@pytest.fixture
def peer() -> Iterator[AuthorizationServerPeer]:
    with authorization_server(CLIENTS) as found:
        found.tokens["good"] = Token(scope="items read")
        yield found


def verifier(
    peer: AuthorizationServerPeer, method: str = "client_secret_basic", **options: Any
) -> aa.IntrospectionVerifier:
    options.setdefault("audience", "https://api.example")
    options.setdefault("issuer", ISSUER)
    if method == "private_key_jwt":
        return aa.IntrospectionVerifier(
            options.pop("url", peer.introspection_url),
            client_id="rs-jwt",
            auth_method="private_key_jwt",
            private_key=PRIVATE,
            algorithm="ES256",
            key_id="k1",
            **options,
        )
    client = "rs-basic" if method == "client_secret_basic" else "rs-post"
    return aa.IntrospectionVerifier(
        options.pop("url", peer.introspection_url),
        client_id=client,
        client_secret=options.pop("secret", SECRET),
        auth_method=method,  # type: ignore[arg-type]
        **options,
    )


def app_for(bearer_verifier: Any, scopes: list[str] | None = None) -> FastAPI:
    bearer = aa.OAuth2PasswordBearer(
        tokenUrl="token", scopes={"items": "Items", "read": "Read"}, verifier=bearer_verifier
    )
    app = FastAPI()

    @app.get("/items")
    async def items(auth: aa.AuthContext = Depends(aa.get_auth)) -> dict[str, Any]:
        return {"sub": auth.principal.subject, "scopes": sorted(auth.scopes), "client": auth.claims.get("client_id")}

    policy = aa.AuthPolicy([aa.Rule("/items", require={bearer: scopes or ["items"]})], default=bearer)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def get(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get("/items", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
async def test_active_token_with_each_client_authentication(peer: AuthorizationServerPeer, method: str) -> None:
    async with client(app_for(verifier(peer, method))) as http:
        response = await get(http, "good")
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "scopes": ["items", "read"], "client": "app"}
    assert peer.posts == [{"client_secret_basic": "rs-basic", "client_secret_post": "rs-post"}.get(method, "rs-jwt")]
    assert peer.hints == ["access_token"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_a_wrong_client_secret_is_refused_by_the_server_and_answered_503(
    peer: AuthorizationServerPeer, method: str
) -> None:
    async with client(app_for(verifier(peer, method, secret="wrong"))) as http:
        response = await get(http, "good")
    assert response.status_code == 503
    assert response.json() == {"detail": "Token introspection is unavailable"}
    assert peer.posts == []  # authlib refused the client before introspecting


async def test_a_method_the_client_is_not_registered_for_is_refused_by_the_server(
    peer: AuthorizationServerPeer,
) -> None:
    wrong = aa.IntrospectionVerifier(
        peer.introspection_url, client_id="rs-post", client_secret=SECRET, auth_method="client_secret_basic"
    )
    async with client(app_for(wrong)) as http:
        assert (await get(http, "good")).status_code == 503


async def test_posts_reuse_one_connection(peer: AuthorizationServerPeer) -> None:
    for name in "abc":
        peer.tokens[name] = Token()
    checker = verifier(peer)
    for name in "abc":
        assert await checker(name) is not None
    assert len(peer.ports) == 3 and len(set(peer.ports)) == 1
    await checker.aclose()


async def test_inactive_token_is_401_and_remembered_briefly(peer: AuthorizationServerPeer) -> None:
    peer.tokens["revoked"] = Token(revoked=True)
    async with client(app_for(verifier(peer))) as http:
        for token in ("unknown", "revoked", "unknown", "revoked"):
            response = await get(http, token)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert len(peer.posts) == 2  # the repeats were answered from the negative cache


async def test_negative_cache_is_bounded(peer: AuthorizationServerPeer) -> None:
    checker = verifier(peer, negative_cache_size=2)
    for token in ("a", "b", "c", "a"):
        assert await checker(token) is None
    assert len(peer.posts) == 4  # "a" had made room for "c"


async def test_expired_by_exp_though_the_server_says_active(peer: AuthorizationServerPeer) -> None:
    # The server's clock is two hours behind: it still calls a token active whose exp passed.
    peer.tokens["stale"] = Token(issued_at=time.time() - 3700, lifetime=3600, clock_offset=-7200)
    async with client(app_for(verifier(peer))) as http:
        assert (await get(http, "stale")).status_code == 401
    assert len(peer.posts) == 1


async def test_username_is_the_principals_name(peer: AuthorizationServerPeer) -> None:
    peer.tokens["named"] = Token(extra={"username": "Alice A."})
    principal = await verifier(peer)("named")
    assert principal is not None and principal.display_name == "Alice A." and principal.subject == "alice"


async def test_not_yet_valid_by_nbf(peer: AuthorizationServerPeer) -> None:
    peer.tokens["early"] = Token(extra={"nbf": int(time.time()) + 600})
    assert await verifier(peer)("early") is None


async def test_wrong_audience_issuer_or_token_type(peer: AuthorizationServerPeer) -> None:
    peer.tokens["other-api"] = Token(aud="https://other.example")
    peer.tokens["listed"] = Token(aud=["https://other.example", "https://api.example"])
    peer.tokens["no-aud"] = Token(aud=[])
    peer.tokens["other-iss"] = Token(extra={"iss": "https://evil.example"})
    peer.tokens["refresh"] = Token(extra={"token_type": "refresh_token"})
    peer.tokens["dpop"] = Token(extra={"token_type": "DPoP"})
    checker = verifier(peer)
    assert await checker("other-api") is None
    assert await checker("no-aud") is None
    assert await checker("other-iss") is None
    assert await checker("refresh") is None
    assert await checker("dpop") is None
    listed = await checker("listed")
    assert listed is not None and listed.subject == "alice" and listed.name is None
    assert await verifier(peer, token_types=["bearer", "dpop"])("dpop") is not None


async def test_active_must_be_literally_true(peer: AuthorizationServerPeer) -> None:
    checker = verifier(peer, audience=None, issuer=None)
    base = {"exp": time.time() + 60, "scope": "items"}
    for active in ("true", 1, [True], None):
        assert checker.judge({**base, "active": active}) is None
    assert checker.judge({**base, "active": True}) is not None


@pytest.mark.parametrize("route", ["/broken", "/garbage", "/huge"])
async def test_5xx_garbage_or_oversized_is_503_and_not_kept(peer: AuthorizationServerPeer, route: str) -> None:
    checker = verifier(peer, url=peer.base + route, cooldown=0)
    async with client(app_for(checker)) as http:
        first = await get(http, "good")
        assert first.status_code == 503
        checker.url = peer.introspection_url  # the server is back: nothing was kept of the failure
        assert (await get(http, "good")).status_code == 200


async def test_outage_is_503_and_the_endpoint_is_left_alone_for_the_cooldown(peer: AuthorizationServerPeer) -> None:
    checker = verifier(peer, url=f"http://127.0.0.1:{free_port()}/introspect", cooldown=600)
    async with client(app_for(checker)) as http:
        for _ in range(3):
            response = await get(http, "good")
            assert response.status_code == 503
            assert response.json() == {"detail": "Token introspection is unavailable"}
    assert checker.requests == 1  # the outage was not turned into a flood


async def test_failures_are_logged_without_the_token_or_the_secret(
    peer: AuthorizationServerPeer, caplog: pytest.LogCaptureFixture
) -> None:
    checker = verifier(peer, url=peer.base + "/broken")
    with caplog.at_level(logging.DEBUG), pytest.raises(aa.ServiceUnavailable):
        await checker("tok-SENSITIVE-123")
    assert "token introspection at http://127.0.0.1" in caplog.text and "(HTTP 500)" in caplog.text
    assert "SENSITIVE" not in caplog.text and SECRET not in caplog.text


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(aa.ConfigurationError, match="client_secret="):
        aa.IntrospectionVerifier("https://rs:pw@as.example/introspect", client_id="rs", client_secret="x")


async def test_slow_server_past_the_deadline_is_503(peer: AuthorizationServerPeer) -> None:
    checker = verifier(peer, url=peer.base + "/slow", timeout=0.3)
    async with client(app_for(checker)) as http:
        assert (await get(http, "good")).status_code == 503
    peer.release.set()


async def test_single_flight_per_token(peer: AuthorizationServerPeer) -> None:
    peer.hold.set()
    statuses: list[int] = []
    async with client(app_for(verifier(peer))) as http:

        async def one() -> None:
            statuses.append((await get(http, "good")).status_code)

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(one)
            # The first POST reached the server, which holds it; the rest wait for it.
            assert await anyio.to_thread.run_sync(peer.arrived.wait, 10)
            peer.release.set()
    assert statuses == [200] * 20
    assert peer.posts == ["rs-basic"]


async def test_waiters_ask_anew_when_the_first_request_goes_away(peer: AuthorizationServerPeer) -> None:
    """A client that disconnects cancels its request; those waiting on its POST are not
    failed for it."""
    peer.hold.set()
    checker = verifier(peer)
    answers: list[Any] = []
    async with anyio.create_task_group() as group:
        leader = anyio.CancelScope()

        async def first() -> None:
            with leader:
                await checker("good")

        async def second() -> None:
            answers.append(await checker("good"))

        group.start_soon(first)
        group.start_soon(second)  # joins the first's flight
        assert await anyio.to_thread.run_sync(peer.arrived.wait, 10)
        leader.cancel()
        peer.hold.clear()
        peer.release.set()
    assert [a.subject for a in answers] == ["alice"]
    assert len(peer.posts) == 2


async def test_cache_never_outlives_exp_nor_the_ceiling(peer: AuthorizationServerPeer) -> None:
    now = time.time()
    peer.tokens["short"] = Token(issued_at=now, lifetime=2)
    peer.tokens["long"] = Token(issued_at=now, lifetime=86_400)
    checker = verifier(peer, cache_ttl=30)
    short = checker.verdict_inline("short")
    assert not isinstance(short, aa.Verdict) and short is not None
    verdict = await short
    assert isinstance(verdict, aa.Verdict)
    assert verdict.valid_until == int(now + 2)  # the token's exp
    long = checker.verdict_inline("long")
    assert not isinstance(long, aa.Verdict) and long is not None
    held = await long
    assert isinstance(held, aa.Verdict) and held.valid_until <= time.time() + 30 < int(now + 86_400)
    assert checker.verdict_inline("short") is verdict  # kept: answered at once, no POST
    assert len(peer.posts) == 2
    async with client(app_for(checker)) as http:
        assert (await get(http, "short")).status_code == 200
        assert len(peer.posts) == 2
        await anyio.sleep(max(0.0, int(now + 2) - time.time()) + 0.05)
        assert (await get(http, "short")).status_code == 401  # past exp: asked again, and now inactive
    assert len(peer.posts) == 3


async def test_cache_is_bounded(peer: AuthorizationServerPeer) -> None:
    for name in "abc":
        peer.tokens[name] = Token()
    checker = verifier(peer, cache_size=2)
    for token in ("a", "b", "c", "a"):
        assert await checker(token) is not None
    assert len(peer.posts) == 4


class MemoryResultCache:
    """A `ResultCache` the way another worker's would be: bytes in, bytes out."""

    def __init__(self) -> None:
        self.entries: dict[bytes, tuple[bytes, float]] = {}

    async def get(self, key: bytes) -> bytes | None:
        found = self.entries.get(key)
        return found[0] if found and found[1] > time.time() else None

    async def set(self, key: bytes, value: bytes, *, expires_at: float) -> None:
        self.entries[key] = (value, expires_at)


async def test_a_shared_cache_lets_another_worker_skip_the_post(peer: AuthorizationServerPeer) -> None:
    shared = MemoryResultCache()
    first, second = verifier(peer, shared_cache=shared), verifier(peer, shared_cache=shared)
    assert await first("good") is not None
    assert await first("unknown") is None
    assert await second("good") is not None
    assert await second("unknown") is None
    assert len(peer.posts) == 2
    assert all(b"good" not in key for key in shared.entries)  # keyed by digest, never the token


async def test_what_a_shared_cache_returns_is_judged_again(peer: AuthorizationServerPeer) -> None:
    shared = MemoryResultCache()
    checker = verifier(peer, shared_cache=shared)
    forged = b'{"active": true, "aud": "https://other.example", "iss": "https://as.example", "exp": 9999999999}'
    shared.entries[checker.digest("planted")] = (forged, time.time() + 60)
    shared.entries[checker.digest("good")] = (b"not json", time.time() + 60)
    assert await checker("planted") is None  # wrong audience, whoever wrote it
    assert await checker("good") is not None  # garbage is a miss: the endpoint is asked
    assert len(peer.posts) == 1


def test_configuration_errors() -> None:
    with pytest.raises(aa.ConfigurationError, match="client_secret="):
        aa.IntrospectionVerifier("https://as/introspect", client_id="rs")
    with pytest.raises(aa.ConfigurationError, match="private_key="):
        aa.IntrospectionVerifier("https://as/introspect", client_id="rs", auth_method="private_key_jwt")
    with pytest.raises(aa.ConfigurationError, match="cannot sign"):
        aa.IntrospectionVerifier(
            "https://as/introspect",
            client_id="rs",
            auth_method="private_key_jwt",
            private_key="nope",
            algorithm="ES256",
        )
    with pytest.raises(aa.ConfigurationError, match="auth_method"):
        aa.IntrospectionVerifier("https://as/introspect", client_id="rs", client_secret="x", auth_method="tls")  # type: ignore[arg-type]


# -- one scheme, JWTs and opaque tokens --------------------------------------------------


def test_jwt_shape() -> None:
    token = pyjwt.encode({"sub": "a"}, HS_KEY, algorithm="HS256")
    assert jwt_shaped(token)
    assert not jwt_shaped("opaque-handle")
    assert not jwt_shaped("v4.public.eyJmb28iOiJiYXIifQ")  # a PASETO: three segments, no JOSE header
    assert not jwt_shaped("a.b.c.d.e")  # a JWE goes to introspection
    assert not jwt_shaped("eyJ0eXAiOiJKV1QifQ.e30.")  # no alg


async def test_jwt_or_introspection(peer: AuthorizationServerPeer) -> None:
    local = aa.JWTVerifier(key=HS_KEY, algorithms=["HS256"], audience="https://api.example")
    both = aa.JWTOrIntrospection(jwt=local, introspection=verifier(peer))
    good_jwt = pyjwt.encode(
        {"sub": "bob", "scope": "items", "aud": "https://api.example", "exp": time.time() + 60}, HS_KEY, "HS256"
    )
    forged = pyjwt.encode({"sub": "eve", "scope": "items", "exp": time.time() + 60}, "x" * 32, "HS256")
    async with client(app_for(both)) as http:
        assert (await get(http, good_jwt)).json()["sub"] == "bob"
        assert peer.posts == []  # verified locally
        assert (await get(http, "good")).json()["sub"] == "alice"
        assert len(peer.posts) == 1
        assert (await get(http, forged)).status_code == 401
        assert len(peer.posts) == 1  # a JWT-shaped token that fails is not introspected
    peer.tokens[forged] = Token(sub="known-to-the-server")
    asking = aa.JWTOrIntrospection(jwt=local, introspection=verifier(peer), introspect_rejected=True)
    async with client(app_for(asking)) as http:
        assert (await get(http, forged)).json()["sub"] == "known-to-the-server"
    assert len(peer.posts) == 2


async def test_claims_of_an_introspected_token_are_required_like_a_jwts(peer: AuthorizationServerPeer) -> None:
    peer.tokens["admin"] = Token(extra={"realm_access": {"roles": ["admin"]}})
    peer.tokens["user"] = Token(extra={"realm_access": {"roles": ["user"]}})
    bearer = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=verifier(peer))
    app = FastAPI()
    app.get("/admin")(lambda: {"ok": True})
    admin = aa.Claim("realm_access", "roles", contains="admin")
    app.add_middleware(
        aa.AuthMiddleware, policy=aa.AuthPolicy([aa.Rule("/admin", require={bearer: [admin]})], default=[])
    )
    async with client(app) as http:
        for _ in range(2):  # the second time from the kept verdicts
            assert (await http.get("/admin", headers={"Authorization": "Bearer admin"})).status_code == 200
            denied = await http.get("/admin", headers={"Authorization": "Bearer user"})
            assert denied.status_code == 403
            assert denied.json() == {"detail": 'Not enough permissions: claim realm_access.roles contains "admin"'}
    assert len(peer.posts) == 2


def test_an_rfc_9728_resource_holds_both_paths_to_its_audience() -> None:
    """RFC 8707: with a declared resource, each path must accept only tokens for it."""
    resource = "https://api.example"

    def policy_with(verifier: Any) -> aa.AuthPolicy:
        bearer = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"items": "Items"}, verifier=verifier)
        return aa.AuthPolicy(
            [aa.Rule("/items", require={bearer: ["items"]})],
            default=bearer,
            resource=aa.ProtectedResource(resource, authorization_servers=[ISSUER]),
        )

    def remote(audience: str | None) -> aa.IntrospectionVerifier:
        return aa.IntrospectionVerifier(ISSUER + "/introspect", client_id="rs", client_secret="x", audience=audience)

    local = aa.JWTVerifier(key=HS_KEY, algorithms=["HS256"], audience=resource)
    policy_with(remote(resource))
    policy_with(aa.JWTOrIntrospection(jwt=local, introspection=remote(resource)))
    with pytest.raises(aa.ConfigurationError, match="checks no audience"):
        policy_with(remote(None))
    with pytest.raises(aa.ConfigurationError, match="checks no audience"):
        policy_with(aa.JWTOrIntrospection(jwt=local, introspection=remote(None)))
    with pytest.raises(aa.ConfigurationError, match="accepts"):
        policy_with(aa.JWTOrIntrospection(jwt=local, introspection=remote("https://other.example")))


# -- held under attack: what workers share ----------------------------------------------------


async def test_an_answer_read_from_the_shared_cache_ends_when_the_first_one_would(
    peer: AuthorizationServerPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cache_ttl` is the longest a token revoked at the server keeps working. Another
    worker reading the shared answer near its end judged it anew and kept it a whole
    `cache_ttl` more: twice the ceiling. (The reader's clock is moved, not waited for.)"""
    from types import SimpleNamespace

    from asgi_auth.verifiers import rfc7662

    shared = MemoryResultCache()
    first, second = verifier(peer, shared_cache=shared), verifier(peer, shared_cache=shared)
    asked = await first.verdict_inline("good")  # type: ignore[misc]
    assert asked is not None and asked.valid_until <= time.time() + first.cache_ttl
    later = SimpleNamespace(time=lambda: time.time() + 250, monotonic=time.monotonic)
    monkeypatch.setattr(rfc7662, "time", later)
    read = await second.verdict_inline("good")  # type: ignore[misc]
    assert read is not None and len(peer.posts) == 1  # read from the shared cache
    assert read.valid_until <= asked.valid_until


async def test_a_token_refused_by_one_verifier_is_not_refused_for_another_sharing_the_cache(
    peer: AuthorizationServerPeer,
) -> None:
    """Two verifiers of one endpoint and client, for two audiences, share a cache: a
    token for the second, shown first where the first is asked (a wrong route), was
    shared as inactive, and the second then refused it for `negative_ttl`."""
    shared = MemoryResultCache()
    elsewhere = verifier(peer, shared_cache=shared, audience="https://other.example")
    here = verifier(peer, shared_cache=shared)
    assert await elsewhere("good") is None
    assert await here("good") is not None
    assert await here("unknown") is None and await elsewhere("unknown") is None


@pytest.mark.parametrize("iss", [[ISSUER], {"id": ISSUER}])
async def test_an_iss_that_is_not_a_string_is_a_refusal_kept_as_one(
    peer: AuthorizationServerPeer, iss: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A list or an object for `iss` raised TypeError (unhashable, asked of a set):
    a refusal logged as a verifier bug, kept nowhere, so every request POSTed again."""
    peer.tokens["odd"] = Token(extra={"iss": iss})
    checker = verifier(peer)
    with caplog.at_level(logging.ERROR, logger="asgi_auth"):
        assert await checker("odd") is None
        assert await checker("odd") is None  # the refusal is kept: asked once
    assert len(peer.posts) == 1
