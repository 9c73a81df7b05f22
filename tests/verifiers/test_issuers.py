"""`TrustedIssuers`: one bearer scheme, several issuers, against real OpenID providers.

Three `oidc-provider-mock` instances on three loopback ports are three issuers, each
with its own signing key: two trusted, one not. Each provider counts the requests it
gets, so "an untrusted `iss` never triggers a fetch" is asserted on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import jwt
import oidc_provider_mock
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import asgi_auth as aa
from asgi_auth.verifiers.issuers import unverified_issuer
from tests.loopback import free_port, serve, serve_wsgi
from tests.verifiers.keys import public_pem, rsa_key
from tests.verifiers.test_oidc_provider import id_token

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the provider's authlib
CLIENT, OTHER_CLIENT = "api-one", "api-two"


class Provider:
    """A provider on loopback and the (Host, path) of every request it answered."""

    def __init__(self, base: str, hits: list[tuple[str, str]]) -> None:
        self.base = base
        self.hits = hits

    def count(self) -> int:
        return len(self.hits)


@contextmanager
def provider() -> Iterator[Provider]:
    """`oidc-provider-mock` on a free port."""
    with provider_on(free_port()) as found:
        yield found


@contextmanager
def provider_on(port: int, public_host: str | None = None) -> Iterator[Provider]:
    """`oidc-provider-mock` on `port`. With `public_host`, it answers as that host
    whatever name it was reached by, as Keycloak with `KC_HOSTNAME` does in Docker."""
    inner = oidc_provider_mock.app(issue_refresh_token=False)
    hits: list[tuple[str, str]] = []
    lock = threading.Lock()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with lock:
            hits.append((environ.get("HTTP_HOST", ""), environ.get("PATH_INFO", "")))
        if public_host is not None:
            environ["HTTP_HOST"] = public_host
        return inner(environ, start_response)

    with serve_wsgi(app, port) as base:
        yield Provider(base, hits)


@pytest.fixture(autouse=True)
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def app_for(verifier: Any) -> Starlette:
    async def me(request: Request) -> JSONResponse:
        auth = aa.get_auth(request)
        return JSONResponse({"iss": auth.claims["iss"], "sub": auth.claims["sub"]})

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=aa.HTTPBearer(verifier=verifier)))
    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def with_claims(token: str, **changes: Any) -> str:
    """The token with its payload changed and its signature kept (so no longer valid)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def test_two_issuers_each_with_its_own_keys_and_an_untrusted_one_never_fetched() -> None:
    with provider() as one, provider() as two, provider() as stranger:
        verifier = aa.TrustedIssuers(
            aa.Issuer(one.base, discovery=True, audience=CLIENT),
            aa.Issuer(two.base, jwks_url=f"{two.base}/jwks", algorithms=["RS256"], audience=OTHER_CLIENT),
        )
        from_one, from_two = id_token(one.base, client=CLIENT), id_token(two.base, client=OTHER_CLIENT, sub="bob")
        from_stranger = id_token(stranger.base, client=CLIENT, sub="mallory")
        one_for_two = id_token(one.base, client=OTHER_CLIENT)  # issuer one, but issuer two's audience
        issued = (one.count(), two.count(), stranger.count())
        with serve(app_for(verifier)) as url, httpx.Client(base_url=url) as client:
            # The untrusted issuer first: nothing is fetched from anyone.
            for _ in range(3):
                assert client.get("/me", headers=bearer(from_stranger)).status_code == 401
            assert (one.count(), two.count(), stranger.count()) == issued
            # Each trusted issuer's tokens pass with its own keys and audience.
            assert client.get("/me", headers=bearer(from_one)).json() == {"iss": one.base, "sub": "alice"}
            assert client.get("/me", headers=bearer(from_two)).json() == {"iss": two.base, "sub": "bob"}
            assert client.get("/me", headers=bearer(one_for_two)).status_code == 401
            assert stranger.count() == issued[2]
            assert [path for _, path in one.hits[issued[0] :]] == ["/.well-known/openid-configuration", "/jwks"]
            assert [path for _, path in two.hits[issued[1] :]] == ["/jwks"]  # no discovery: a JWKS URL
            # A stranger's token relabelled as issuer one's is checked with one's keys: refused.
            relabelled = with_claims(from_stranger, iss=one.base)
            refused = client.get("/me", headers=bearer(relabelled))
            assert (refused.status_code, refused.headers["www-authenticate"]) == (401, 'Bearer error="invalid_token"')
            # A token without iss, or not a JWT, picks no issuer.
            for junk in (with_claims(from_one, iss=None), "a.b.c", "opaque-token"):
                assert client.get("/me", headers=bearer(junk)).status_code == 401
            assert stranger.count() == issued[2]


def test_discovery_url_beside_issuer_the_docker_case() -> None:
    """The app reaches the provider as 127.0.0.1 ("keycloak:8080"); the provider and its
    tokens name itself localhost ("the public URL"). The `iss` checked is the public one."""
    port = free_port()
    public = f"http://localhost:{port}"
    with provider_on(port, public_host=f"localhost:{port}") as idp:
        internal = idp.base
        token = id_token(public, client=CLIENT)
        assert jwt.decode(token, options={"verify_signature": False})["iss"] == public
        issuer = aa.Issuer(
            public,
            discovery_url=f"{internal}/.well-known/openid-configuration",
            jwks_url=f"{internal}/jwks",  # the document's jwks_uri names the public host
            audience=CLIENT,
        )
        before = idp.count()
        with serve(app_for(aa.TrustedIssuers(issuer))) as url, httpx.Client(base_url=url) as client:
            assert client.get("/me", headers=bearer(token)).json() == {"iss": public, "sub": "alice"}
            # The app used the internal name only.
            assert {host for host, _ in idp.hits[before:]} == {f"127.0.0.1:{port}"}
            # Without discovery_url, the public name is the one tried, and fails closed.
        unreachable = aa.Issuer(
            "http://localhost:9", discovery_url="http://127.0.0.1:9/.well-known/openid-configuration", audience=CLIENT
        )
        with serve(app_for(aa.TrustedIssuers(unreachable))) as url, httpx.Client(base_url=url) as client:
            answer = client.get("/me", headers=bearer(with_claims(token, iss="http://localhost:9")))
            assert answer.status_code == 503


def test_a_resolver_adds_tenants_bounded_and_cached() -> None:
    with provider() as one, provider() as two, provider() as stranger:
        tenants = {
            one.base: aa.Issuer(one.base, discovery=True, audience=CLIENT),
            two.base: aa.Issuer(two.base, discovery=True, audience=CLIENT),
        }
        asked: list[str] = []

        async def resolve(iss: str) -> aa.Issuer | None:
            asked.append(iss)
            return tenants.get(iss)

        verifier = aa.TrustedIssuers(resolver=resolve, audience=CLIENT, cache_size=1)
        tokens = {p.base: id_token(p.base, client=CLIENT) for p in (one, two, stranger)}
        stranger_count = stranger.count()
        with serve(app_for(verifier)) as url, httpx.Client(base_url=url) as client:
            for _ in range(3):
                assert client.get("/me", headers=bearer(tokens[one.base])).status_code == 200
                assert client.get("/me", headers=bearer(tokens[stranger.base])).status_code == 401
            # Asked once each: the answer, trusted or not, is kept.
            assert asked == [one.base, stranger.base]
            assert stranger.count() == stranger_count
            # cache_size=1: a second tenant evicts the first, which is asked again.
            assert client.get("/me", headers=bearer(tokens[two.base])).json()["iss"] == two.base
            assert client.get("/me", headers=bearer(with_claims(tokens[one.base], sub="x"))).status_code == 401
            assert asked == [one.base, stranger.base, two.base, one.base]


def test_a_resolver_cannot_widen_what_is_trusted() -> None:
    key = public_pem(rsa_key())
    elsewhere = aa.Issuer("https://b.example", key=key, algorithms=["RS256"], audience="api")
    wrong_audience = aa.Issuer("https://c.example", key=key, algorithms=["RS256"], audience="other")

    def resolve(iss: str) -> Any:
        return {
            "https://a.example": elsewhere,  # an Issuer for another iss
            "https://c.example": wrong_audience,
            "https://d.example": "not an issuer",
        }.get(iss)

    def boom(iss: str) -> aa.Issuer | None:
        raise RuntimeError("database down")

    def signed(iss: str) -> str:
        claims = {"iss": iss, "aud": "api", "sub": "x", "exp": int(time.time()) + 60}
        return jwt.encode(claims, rsa_key(), "RS256")

    with serve(app_for(aa.TrustedIssuers(resolver=resolve, audience="api"))) as url, httpx.Client(base_url=url) as c:
        for iss in ("https://a.example", "https://c.example", "https://d.example", "https://e.example"):
            assert c.get("/me", headers=bearer(signed(iss))).status_code == 401, iss
    with serve(app_for(aa.TrustedIssuers(resolver=aa.inline(boom)))) as url, httpx.Client(base_url=url) as c:
        assert c.get("/me", headers=bearer(signed("https://a.example"))).status_code == 401


def held_tenant() -> tuple[aa.TrustedIssuers, str, list[str], anyio.Event]:
    """A verifier whose resolver call for tenant t.example waits for `release`, so that
    requests arrive while it runs; `calls` lists the issuers it was asked for."""
    key = public_pem(rsa_key())
    calls: list[str] = []
    release = anyio.Event()

    async def resolve(iss: str) -> aa.Issuer | None:
        calls.append(iss)
        await release.wait()
        return aa.Issuer(iss, key=key, algorithms=["RS256"], audience="api")

    claims = {"iss": "https://t.example", "aud": "api", "sub": "x", "exp": int(time.time()) + 60}
    return aa.TrustedIssuers(resolver=resolve), jwt.encode(claims, rsa_key(), "RS256"), calls, release


async def all_while_held(release: anyio.Event, count: int, one: Callable[[], Awaitable[None]]) -> None:
    """Start `count` requests at once, let every one reach the held resolver call, then
    release it."""
    async with anyio.create_task_group() as tasks:
        for _ in range(count):
            tasks.start_soon(one)
        await anyio.wait_all_tasks_blocked()
        release.set()


def test_requests_for_one_new_tenant_share_one_resolver_call() -> None:
    verifier, token, calls, release = held_tenant()

    async def main() -> list[Any]:
        answers: list[Any] = []

        async def one() -> None:
            answers.append(await verifier(token))

        await all_while_held(release, 20, one)
        return answers

    answers = anyio.run(main)
    assert calls == ["https://t.example"]
    assert len(answers) == 20 and all(a is not None and a.subject == "x" for a in answers)


def test_static_keys_verify_in_line_and_vouch_with_a_verdict() -> None:
    key = public_pem(rsa_key())
    verifier = aa.TrustedIssuers(aa.Issuer("https://a.example", key=key, algorithms=["RS256"], audience="api"))
    token = jwt.encode(
        {"iss": "https://a.example", "aud": "api", "sub": "x", "exp": int(time.time()) + 60}, rsa_key(), "RS256"
    )
    answer = verifier.verdict_inline(token)
    assert isinstance(answer, aa.Verdict) and answer.lasting
    assert verifier.verdict_inline(token.replace("e", "E", 1)) is None
    assert verifier.verdict_inline("x" * 9000) is None


def test_a_token_seen_again_goes_to_its_issuer_without_its_payload_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import asgi_auth.verifiers.issuers as issuers

    reads: list[str] = []
    monkeypatch.setattr(issuers, "unverified_issuer", lambda token: reads.append(token) or unverified_issuer(token))
    key = public_pem(rsa_key())
    verifier = aa.TrustedIssuers(aa.Issuer("https://a.example", key=key, algorithms=["RS256"], audience="api"))
    verifier.chosen_size = 2
    tokens = [
        jwt.encode(
            {"iss": "https://a.example", "aud": "api", "sub": str(i), "exp": int(time.time()) + 60}, rsa_key(), "RS256"
        )
        for i in range(3)
    ]
    for _ in range(3):
        assert isinstance(verifier.verdict_inline(tokens[0]), aa.Verdict)
    assert reads == [tokens[0]]
    refused = with_claims(tokens[0], sub="mallory")
    for _ in range(2):
        assert verifier.verdict_inline(refused) is None  # a refusal is not remembered
    assert reads == [tokens[0], refused, refused]
    for token in tokens[1:]:
        verifier.verdict_inline(token)
    assert len(verifier._chosen) == 2  # bounded: the first was evicted


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "a.!!!.c", "a." + base64.urlsafe_b64encode(b"[1]").decode() + ".c", "a.e30.c"],
)
def test_unverified_issuer_of_junk_is_none(token: str) -> None:
    assert unverified_issuer(token) is None


def test_unverified_issuer_refuses_non_strings_and_huge_values() -> None:
    def of(claims: Any) -> str:
        return "a." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + ".c"

    assert unverified_issuer(of({"iss": "https://a.example"})) == "https://a.example"
    assert unverified_issuer(of({"iss": ["https://a.example"]})) is None
    assert unverified_issuer(of({"iss": "x" * 600})) is None


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, "audience="),
        ({"audience": "api"}, "one key source"),
        ({"audience": "api", "key": public_pem(rsa_key()), "jwks_url": "https://a.example/jwks"}, "one key source"),
        ({"audience": "api", "key": public_pem(rsa_key()), "discovery": True}, "two key sources"),
        ({"audience": "api", "key": public_pem(rsa_key())}, "algorithms="),
    ],
)
def test_issuer_misconfigurations_are_start_up_errors(options: dict[str, Any], words: str) -> None:
    with pytest.raises(aa.ConfigurationError) as refused:
        aa.Issuer("https://a.example", **options)
    assert words in str(refused.value)


def test_trusted_issuers_misconfigurations_are_start_up_errors() -> None:
    one = aa.Issuer("https://a.example", key=public_pem(rsa_key()), algorithms=["RS256"], audience="api")
    with pytest.raises(aa.ConfigurationError, match="given twice"):
        aa.TrustedIssuers(one, one)
    with pytest.raises(aa.ConfigurationError, match="at least one"):
        aa.TrustedIssuers()


def test_rfc_9728_resource_checks_every_issuers_audience() -> None:
    resource = aa.ProtectedResource("https://api.example.com")
    key = public_pem(rsa_key())

    def issuer(name: str, audience: str) -> aa.Issuer:
        return aa.Issuer(name, key=key, algorithms=["RS256"], audience=audience)

    good = aa.TrustedIssuers(issuer("https://a", resource.resource), issuer("https://b", resource.resource))
    aa.AuthPolicy([], default=aa.HTTPBearer(verifier=good), resource=resource)
    mixed = aa.TrustedIssuers(issuer("https://a", resource.resource), issuer("https://b", "other"))
    tenants = aa.TrustedIssuers(resolver=lambda iss: None)  # no audience= for what it resolves
    for verifier in (mixed, tenants):
        with pytest.raises(aa.ConfigurationError, match="RFC 8707"):
            aa.AuthPolicy([], default=aa.HTTPBearer(verifier=verifier), resource=resource)
    aa.AuthPolicy(
        [],
        default=aa.HTTPBearer(verifier=aa.TrustedIssuers(resolver=lambda i: None, audience=resource.resource)),
        resource=resource,
    )


def test_an_evicted_tenant_is_neither_kept_alive_nor_trusted_by_the_memo() -> None:
    """attack: the digest memo held the `Issuer` that accepted each token (10,000 of them),
    so tenants evicted from the resolver's `cache_size` table stayed in memory with their
    key and verdict caches, and their tokens kept passing after the resolver stopped
    trusting them: eviction, the only way a tenant's trust lapses, was undone."""
    import gc
    import weakref

    key = public_pem(rsa_key())
    trusted = {f"https://t{i}.example" for i in range(20)}
    built: list[weakref.ref[aa.Issuer]] = []

    async def resolve(iss: str) -> aa.Issuer | None:
        if iss not in trusted:
            return None
        issuer = aa.Issuer(iss, key=key, algorithms=["RS256"], audience="api")
        built.append(weakref.ref(issuer))
        return issuer

    def signed(iss: str) -> str:
        return jwt.encode({"iss": iss, "aud": "api", "sub": "x", "exp": int(time.time()) + 600}, rsa_key(), "RS256")

    verifier = aa.TrustedIssuers(resolver=resolve, audience="api", cache_size=2)
    first = signed("https://t0.example")

    async def ask(token: str) -> Any:
        answer = verifier.verdict_inline(token)
        return await answer if hasattr(answer, "__await__") else answer

    async def main() -> None:
        assert isinstance(await ask(first), aa.Verdict)
        assert isinstance(await ask(first), aa.Verdict)  # seen again: through the memo
        trusted.discard("https://t0.example")  # the tenant leaves
        for i in range(1, 20):
            assert isinstance(await ask(signed(f"https://t{i}.example")), aa.Verdict)
        assert await ask(first) is None  # evicted, asked again, no longer trusted

    anyio.run(main)
    gc.collect()
    assert len(built) == 20
    assert sum(ref() is not None for ref in built) == 2  # those cache_size keeps, no more


def test_a_resolver_can_say_its_tenant_store_is_unavailable() -> None:
    """attack: every exception of the resolver became a 401 `invalid_token`, so one whose
    tenant directory is down could not answer the contract's 503 (a key source needed and
    unavailable): clients were told to drop good tokens. An `AuthError` it raises now
    answers as a verifier's does, for every request waiting on that call, and is not
    remembered as an untrusted `iss`."""
    key = public_pem(rsa_key())
    down = True
    release = anyio.Event()

    async def resolve(iss: str) -> aa.Issuer | None:
        await release.wait()
        if down:
            raise aa.ServiceUnavailable("Tenant directory unavailable")
        return aa.Issuer(iss, key=key, algorithms=["RS256"], audience="api")

    verifier = aa.TrustedIssuers(resolver=resolve, audience="api")
    claims = {"iss": "https://t.example", "aud": "api", "sub": "x", "exp": int(time.time()) + 60}
    token = jwt.encode(claims, rsa_key(), "RS256")

    async def together() -> list[Any]:
        answers: list[Any] = []

        async def one() -> None:
            try:
                answers.append(await verifier(token))
            except aa.AuthError as exc:
                answers.append(exc.status_code)

        await all_while_held(release, 5, one)
        return answers

    assert anyio.run(together) == [503] * 5
    with serve(app_for(verifier)) as url, httpx.Client(base_url=url) as client:
        refused = client.get("/me", headers=bearer(token))
        assert (refused.status_code, refused.json()) == (503, {"detail": "Tenant directory unavailable"})
        down = False
        assert client.get("/me", headers=bearer(token)).json() == {"iss": "https://t.example", "sub": "x"}


def _with_payload(token: str, payload: bytes) -> str:
    """The token with its payload replaced by these exact bytes (duplicated keys and all)."""
    header, _, signature = token.split(".")
    return f"{header}.{base64.urlsafe_b64encode(payload).decode().rstrip('=')}.{signature}"


def test_spellings_of_a_trusted_iss_are_other_issuers_and_fetch_nothing() -> None:
    """Held (attack): the `iss` is matched exactly, so near spellings of a trusted issuer
    (slash, case, an escape that is another character, NUL, a list, a duplicated key read
    as JSON reads it) are untrusted and fetch nothing from anyone; where the duplicated
    key's last value is the trusted one, that issuer's keys refuse the stranger's token."""
    with provider() as one, provider() as stranger:
        verifier = aa.TrustedIssuers(aa.Issuer(one.base, discovery=True, audience=CLIENT))
        token = id_token(stranger.base, client=CLIENT, sub="mallory")
        claims = jwt.decode(token, options={"verify_signature": False})
        trusted = json.dumps(one.base)[1:-1]
        near = [
            one.base + "/",
            one.base.upper(),
            one.base.replace("http", "HTTP", 1),
            one.base + "\x00",
            one.base + " ",
            one.base.replace("127.0.0.1", "127.0.0.01"),
            one.base.replace("1", "\uff11"),  # a full-width digit
        ]
        forged = [with_claims(token, iss=iss) for iss in near]
        forged.append(with_claims(token, iss=[one.base]))
        forged.append(with_claims(token, iss={"iss": one.base}))
        body = json.dumps({k: v for k, v in claims.items() if k != "iss"})[1:-1]
        first_is_trusted = f'{{"iss": "{trusted}", {body}, "iss": "{stranger.base}"}}'.encode()
        forged.append(_with_payload(token, first_is_trusted))
        before = (one.count(), stranger.count())
        with serve(app_for(verifier)) as url, httpx.Client(base_url=url) as client:
            for bad in forged:
                assert client.get("/me", headers=bearer(bad)).status_code == 401, bad
            assert (one.count(), stranger.count()) == before  # nothing fetched for any of them
            last_is_trusted = f'{{"iss": "{stranger.base}", {body}, "iss": "{trusted}"}}'.encode()
            relabelled = client.get("/me", headers=bearer(_with_payload(token, last_is_trusted)))
            assert relabelled.status_code == 401
            assert stranger.count() == before[1]


def test_no_algorithm_crosses_from_one_issuer_to_another() -> None:
    """Held (attack): an HMAC issuer beside an RSA one. A token naming either, signed
    with the RSA issuer's public key as an HMAC secret (the RS256→HS256 confusion), or
    with `alg: none`, or with the other issuer's secret, is refused."""
    secret = "s" * 32
    pem = public_pem(rsa_key())
    verifier = aa.TrustedIssuers(
        aa.Issuer("https://hmac.example", key=secret, algorithms=["HS256"], audience="api"),
        aa.Issuer("https://rsa.example", key=pem, algorithms=["RS256"], audience="api"),
    )

    def claims(iss: str) -> dict[str, Any]:
        return {"iss": iss, "aud": "api", "sub": "x", "exp": int(time.time()) + 60}

    def hs256(iss: str, key: bytes) -> str:
        header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(claims(iss)).encode()).rstrip(b"=")
        signature = hmac.new(key, header + b"." + body, hashlib.sha256).digest()
        return b".".join([header, body, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()

    for good in (
        jwt.encode(claims("https://hmac.example"), secret, "HS256"),
        jwt.encode(claims("https://rsa.example"), rsa_key(), "RS256"),
    ):
        assert isinstance(verifier.verdict_inline(good), aa.Verdict)
    public = pem if isinstance(pem, bytes) else pem.encode()
    refused = [
        hs256("https://rsa.example", public),
        hs256("https://hmac.example", public),
        jwt.encode(claims("https://rsa.example"), secret, "HS256"),
        jwt.encode(claims("https://hmac.example"), rsa_key(), "RS256"),
        jwt.encode(claims("https://hmac.example"), None, "none"),
        jwt.encode(claims("https://rsa.example"), None, "none"),
    ]
    for token in refused:
        assert verifier.verdict_inline(token) is None, token


def test_requests_waiting_on_a_cancelled_resolver_call_ask_again() -> None:
    """attack: when the request whose resolver call the others were sharing was cancelled
    (its client gone, a timeout around it), every request waiting on that call was
    refused with a 401, as if the tenant were untrusted. They now ask again, sharing one
    new call."""
    verifier, token, calls, release = held_tenant()

    async def main() -> list[Any]:
        answers: list[Any] = []

        async def one() -> None:
            answers.append(await verifier(token))

        # The asking request is cancelled while five others wait on its call.
        leader = anyio.CancelScope()

        async def asking() -> None:
            with leader:
                await verifier(token)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(asking)
            await anyio.wait_all_tasks_blocked()
            for _ in range(5):
                tasks.start_soon(one)
            await anyio.wait_all_tasks_blocked()
            leader.cancel()
            await anyio.wait_all_tasks_blocked()
            release.set()
        return answers

    answers = anyio.run(main)
    assert len(answers) == 5 and all(a is not None and a.subject == "x" for a in answers)
    assert calls == ["https://t.example", "https://t.example"]  # the cancelled call, then one shared


def test_made_up_tenants_cannot_push_a_proven_tenant_out() -> None:
    """attack: a resolver that trusts by pattern (every tenant of a multi-tenant provider)
    answers before any signature is checked, so unsigned tokens naming made-up tenants
    filled the `cache_size` table and evicted the real ones, whose next requests built
    their issuer again and fetched discovery and keys again: a few requests a second kept
    every real tenant refetching. A resolved issuer now joins the table of proven tenants
    only once it has accepted a token; until then it waits in a table of its own."""
    with provider() as idp:
        real = idp.base

        def resolve(iss: str) -> aa.Issuer | None:
            return aa.Issuer(iss, discovery=True, audience=CLIENT) if iss.startswith(real) else None

        verifier = aa.TrustedIssuers(resolver=aa.inline(resolve), audience=CLIENT, cache_size=4)
        good = id_token(real, client=CLIENT)

        def fetched() -> int:  # the real tenant's discovery and key fetches
            return sum(path in ("/.well-known/openid-configuration", "/jwks") for _, path in idp.hits)

        with serve(app_for(verifier)) as url, httpx.Client(base_url=url) as client:
            assert client.get("/me", headers=bearer(good)).status_code == 200
            assert fetched() == 2
            for i in range(12):  # made-up tenants under the pattern, signatures not needed
                made_up = with_claims(good, iss=f"{real}/tenant-{i}", sub=str(i))
                assert client.get("/me", headers=bearer(made_up)).status_code in (401, 503)
            fresh = with_claims(good, sub="alice")  # a token not yet seen: nothing remembered
            assert client.get("/me", headers=bearer(good)).status_code == 200
            assert client.get("/me", headers=bearer(fresh)).status_code == 401
            assert fetched() == 2  # the real tenant kept its issuer and keys


def test_one_kid_in_two_issuers_key_sets_names_two_different_keys() -> None:
    """Held (attack): two issuers publish a key under the same `kid`. A token signed with
    one issuer's key and naming the other (or the other's key and naming this one) is
    checked with the named issuer's key of that `kid`: refused."""
    from tests.verifiers.keys import jwk

    a_key, b_key = rsa_key(0), rsa_key(1)
    verifier = aa.TrustedIssuers(
        aa.Issuer("https://a.example", key={"keys": [jwk(a_key, "k1", "RS256")]}, algorithms=["RS256"], audience="api"),
        aa.Issuer("https://b.example", key={"keys": [jwk(b_key, "k1", "RS256")]}, algorithms=["RS256"], audience="api"),
    )

    def signed(iss: str, key: Any) -> str:
        claims = {"iss": iss, "aud": "api", "sub": "x", "exp": int(time.time()) + 60}
        return jwt.encode(claims, key, "RS256", headers={"kid": "k1"})

    assert isinstance(verifier.verdict_inline(signed("https://a.example", a_key)), aa.Verdict)
    assert isinstance(verifier.verdict_inline(signed("https://b.example", b_key)), aa.Verdict)
    assert verifier.verdict_inline(signed("https://a.example", b_key)) is None
    assert verifier.verdict_inline(signed("https://b.example", a_key)) is None
