"""RFC 9728 Protected Resource Metadata, served by the middleware behind real uvicorn.

The document is checked field by field against RFC 9728 §2-§3; the challenges are parsed
by Werkzeug's `WWWAuthenticate`, a client-side parser we did not write. The `mcp`
package's client reads both in tests/test_rfc9728_mcp.py.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from werkzeug.datastructures import WWWAuthenticate

import asgi_auth as aa
from asgi_auth.rfc9728 import with_resource_metadata
from tests.loopback import free_port, serve
from tests.verifiers.keys import public_pem, rsa_key

ISSUER = "https://id.example.com"
ALGORITHMS = ["RS256"]


def token(audience: str | list[str], scope: str = "read", **claims: Any) -> str:
    body = {"iss": ISSUER, "sub": "alice", "aud": audience, "scope": scope, "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, rsa_key(), "RS256")


def make_app(resource_url: str, **options: Any) -> Starlette:
    verifier = aa.JWTVerifier(key=public_pem(rsa_key()), algorithms=ALGORITHMS, issuer=ISSUER, audience=resource_url)
    bearer = aa.HTTPBearer(verifier=verifier)
    resource = aa.ProtectedResource(
        resource_url,
        authorization_servers=[ISSUER],
        resource_signing_alg_values_supported=ALGORITHMS,
        resource_documentation="https://docs.example.com/api",
        resource_name="Example API",
        **options,
    )
    policy = aa.AuthPolicy(
        [
            aa.Rule("/api/items", require={bearer: ["read"]}),
            aa.Rule("/api/items", methods=["POST"], require={bearer: ["read", "write"]}),
            aa.Rule("/api/health", require=[]),
        ],
        default=bearer,
        resource=resource,
    )

    async def items(request: Request) -> JSONResponse:
        return JSONResponse({"sub": aa.get_auth(request).principal.subject})

    app = Starlette(
        routes=[
            Route("/api/items", items, methods=["GET", "POST"]),
            Route("/api/health", lambda r: PlainTextResponse("ok")),
        ]
    )
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    resource_url = f"{base}/api"
    with serve(make_app(resource_url), port=port):
        yield base, resource_url


def test_document_is_served_at_the_rfc_9728_location_with_every_field_as_specified(server: tuple[str, str]) -> None:
    base, resource_url = server
    with httpx.Client(base_url=base) as client:
        answer = client.get("/.well-known/oauth-protected-resource/api")  # §3.1: suffix between host and path
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"  # §3.2
    assert answer.headers["cache-control"] == "public, max-age=3600"
    assert answer.headers["access-control-allow-origin"] == "*"
    document = answer.json()
    # §3.3: resource is identical to the identifier the URL was made from.
    assert document["resource"] == resource_url
    assert document["authorization_servers"] == [ISSUER]
    # The scopes are the policy's: those its rules require of the bearer scheme.
    assert document["scopes_supported"] == ["read", "write"]
    assert document["bearer_methods_supported"] == ["header"]
    assert document["resource_signing_alg_values_supported"] == ALGORITHMS
    assert document["resource_documentation"] == "https://docs.example.com/api"
    assert document["resource_name"] == "Example API"
    # §2: every member is one the RFC defines (nothing unspecified is published), none null.
    rfc_members = {
        "resource",
        "authorization_servers",
        "jwks_uri",
        "scopes_supported",
        "bearer_methods_supported",
        "resource_signing_alg_values_supported",
        "resource_name",
        "resource_documentation",
        "resource_policy_uri",
        "resource_tos_uri",
        "tls_client_certificate_bound_access_tokens",
        "authorization_details_types_supported",
        "dpop_signing_alg_values_supported",
        "dpop_bound_access_tokens_required",
    }
    assert set(document) <= rfc_members and None not in document.values()
    assert "none" not in document["resource_signing_alg_values_supported"]  # §2: "none" MUST NOT be used


def test_head_conditional_and_other_methods(server: tuple[str, str]) -> None:
    base, _ = server
    path = "/.well-known/oauth-protected-resource/api"
    with httpx.Client(base_url=base) as client:
        get = client.get(path)
        head = client.head(path)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
        assert head.headers["etag"] == get.headers["etag"]
        again = client.get(path, headers={"If-None-Match": get.headers["etag"]})
        assert (again.status_code, again.content) == (304, b"")
        for tags in (f'"other", W/{get.headers["etag"]}', "*"):  # RFC 9110 §13.1.2: weak comparison
            assert client.get(path, headers={"If-None-Match": tags}).status_code == 304, tags
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            refused = client.request(method, path)
            assert refused.status_code == 405, method
            assert refused.headers["allow"] == "GET, HEAD, OPTIONS"
        ask = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
        preflight = client.options(path, headers=ask)
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"
        # Nothing else under the well-known prefix is answered by it: the policy decides.
        assert client.get("/.well-known/oauth-protected-resource/other").status_code == 401


def _challenge(response: httpx.Response) -> WWWAuthenticate:
    parsed = WWWAuthenticate.from_header(response.headers["www-authenticate"])
    assert parsed is not None and parsed.type == "bearer"
    return parsed


def test_every_bearer_challenge_names_the_metadata(server: tuple[str, str]) -> None:
    base, resource_url = server
    metadata_url = f"{base}/.well-known/oauth-protected-resource/api"
    good, reader = token(resource_url, "read write"), token(resource_url, "read")
    with httpx.Client(base_url=base) as client:
        missing = client.get("/api/items")
        assert missing.status_code == 401
        assert dict(_challenge(missing).parameters) == {"resource_metadata": metadata_url}
        rejected = client.get("/api/items", headers={"Authorization": "Bearer nope"})
        assert rejected.status_code == 401
        assert dict(_challenge(rejected).parameters) == {"error": "invalid_token", "resource_metadata": metadata_url}
        forbidden = client.post("/api/items", headers={"Authorization": f"Bearer {reader}"})
        assert forbidden.status_code == 403
        assert dict(_challenge(forbidden).parameters) == {
            "error": "insufficient_scope",
            "scope": "read write",
            "resource_metadata": metadata_url,
        }
        twice = client.get("/api/items", headers=[("Authorization", f"Bearer {good}"), ("Authorization", "Bearer x")])
        assert twice.status_code == 400
        assert _challenge(twice).parameters["resource_metadata"] == metadata_url
        assert client.post("/api/items", headers={"Authorization": f"Bearer {good}"}).json() == {"sub": "alice"}
        assert client.get("/api/health").text == "ok"


def test_rfc_8707_a_token_for_another_resource_is_refused(server: tuple[str, str]) -> None:
    base, resource_url = server
    with httpx.Client(base_url=base) as client:
        for audience in ("https://other.example.com/api", f"{base}/api/", f"{base}"):
            r = client.get("/api/items", headers={"Authorization": f"Bearer {token(audience)}"})
            assert r.status_code == 401, audience
        both = token([resource_url, "https://other.example.com"])  # aud *contains* the resource
        assert client.get("/api/items", headers={"Authorization": f"Bearer {both}"}).status_code == 200


def test_the_on_error_hook_sees_the_decorated_challenge() -> None:
    resource = aa.ProtectedResource("https://api.example.com/")
    verifier = aa.JWTVerifier(key=public_pem(rsa_key()), algorithms=ALGORITHMS, audience="https://api.example.com/")
    seen: list[list[str]] = []

    def hook(scope: Any, error: aa.AuthError) -> Any:
        seen.append(error.challenges)
        return PlainTextResponse("no", status_code=error.status_code, headers=dict(error.headers))

    policy = aa.AuthPolicy([], default=aa.HTTPBearer(verifier=verifier), resource=resource, on_error=hook)
    app = Starlette(routes=[Route("/", lambda r: PlainTextResponse("ok"))])
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/").status_code == 401
        # A resource without a path: its metadata is at the bare well-known path (§3.1).
        assert client.get("/.well-known/oauth-protected-resource").json()["resource"] == "https://api.example.com/"
    assert seen == [['Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"']]


def test_scopes_come_from_the_policy_and_only_from_bearer_schemes() -> None:
    verifier = aa.JWTVerifier(key=public_pem(rsa_key()), algorithms=ALGORITHMS, audience="https://r.example")
    scopes = {"a": "", "b": "", "c": ""}
    bearer = aa.OAuth2ClientCredentials(tokenUrl="https://id.example/token", scopes=scopes, verifier=verifier)
    key = aa.APIKeyHeader(name="X-Key", verifier=lambda k: aa.Principal("k", {"admin"}))
    policy = aa.AuthPolicy(
        [aa.Rule("/x", require={bearer: ["a"]}), aa.Rule("/y", require=[{bearer: ["b"]}, {key: ["admin"]}])],
        default=[],
        resource=aa.ProtectedResource("https://r.example"),
    )
    assert policy.resource_metadata is not None
    # `c` is declared but no rule requires it; `admin` is the API key's.
    assert policy.resource_metadata.document["scopes_supported"] == ["a", "b"]
    assert json.loads(policy.resource_metadata.body) == policy.resource_metadata.document


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"audience": None}, "checks no audience"),
        ({"audience": "https://elsewhere.example"}, "pass audience='https://r.example'"),
        ({"audience": ["https://r.example", "https://b.example"]}, "RFC 8707"),
        ({"audience": "https://r.example", "verify_audience": False}, "checks no audience"),
    ],
)
def test_a_verifier_that_would_accept_other_audiences_is_a_start_up_error(options: dict[str, Any], words: str) -> None:
    verifier = aa.JWTVerifier(key=public_pem(rsa_key()), algorithms=ALGORITHMS, **options)
    with pytest.raises(aa.ConfigurationError) as refused:
        aa.AuthPolicy([], default=aa.HTTPBearer(verifier=verifier), resource=aa.ProtectedResource("https://r.example"))
    assert words in str(refused.value)


def test_a_verifier_saying_its_audiences_as_a_set_is_checked_too() -> None:
    class Introspecting:  # the shape of a verifier that keeps `audiences` as a set
        def __init__(self, audiences: frozenset[str] | None) -> None:
            self.audiences = audiences

        def __call__(self, token: str) -> None:
            return None

    resource = aa.ProtectedResource("https://r.example")
    aa.AuthPolicy(
        [], default=aa.HTTPBearer(verifier=Introspecting(frozenset({"https://r.example"}))), resource=resource
    )
    for wrong in (None, frozenset({"https://r.example", "https://other.example"})):
        with pytest.raises(aa.ConfigurationError, match="RFC 8707"):
            aa.AuthPolicy([], default=aa.HTTPBearer(verifier=Introspecting(wrong)), resource=resource)


def test_a_users_callable_cannot_be_checked_and_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="asgi_auth"):
        aa.AuthPolicy(
            [], default=aa.HTTPBearer(verifier=lambda t: None), resource=aa.ProtectedResource("https://r.example")
        )
    assert "RFC 8707" in caplog.text


def test_an_extract_only_bearer_scheme_is_warned_about_too(caplog: pytest.LogCaptureFixture) -> None:
    """attack: a bearer scheme with `verifier=EXTRACT_ONLY` was skipped by the RFC 8707
    check without a word, though its tokens reach the app with no audience checked."""
    with caplog.at_level(logging.WARNING, logger="asgi_auth"):
        aa.AuthPolicy(
            [],
            default=aa.HTTPBearer(verifier=aa.EXTRACT_ONLY),
            resource=aa.ProtectedResource("https://r.example"),
        )
    assert "RFC 8707" in caplog.text and "EXTRACT_ONLY" in caplog.text


@pytest.mark.parametrize(
    ("resource", "options", "words"),
    [
        ("http://api.example.com", {}, "must use https"),
        ("https://api.example.com/a#frag", {}, "without fragment"),
        ("https://api.example.com/a?x=1", {}, "must not have a query"),
        ("api.example.com", {}, "absolute"),
        ("https://api.example.com", {"bearer_methods_supported": ["query"]}, "header"),
        ("https://api.example.com", {"resource_documentation": "javascript:alert(1)"}, "absolute"),
    ],
)
def test_declarations_that_would_publish_something_false_are_refused(
    resource: str, options: dict[str, Any], words: str
) -> None:
    with pytest.raises(aa.ConfigurationError) as refused:
        aa.ProtectedResource(resource, **options)
    assert words in str(refused.value)


def test_a_policy_without_a_bearer_scheme_has_no_resource_to_describe() -> None:
    key = aa.APIKeyHeader(name="X-Key", verifier=lambda k: None)
    with pytest.raises(aa.ConfigurationError, match="no bearer scheme"):
        aa.AuthPolicy([], default=key, resource=aa.ProtectedResource("https://r.example"))


def test_challenge_decoration_leaves_other_schemes_alone() -> None:
    url = "https://r.example/.well-known/oauth-protected-resource"
    assert with_resource_metadata('Basic realm="x"', url) == 'Basic realm="x"'
    assert with_resource_metadata("APIKey", url) == "APIKey"
    assert with_resource_metadata('DPoP algs="ES256"', url) == f'DPoP algs="ES256", resource_metadata="{url}"'
    assert with_resource_metadata(f'Bearer resource_metadata="{url}"', url) == f'Bearer resource_metadata="{url}"'
    assert with_resource_metadata("Bearer", url) == f'Bearer resource_metadata="{url}"'
    assert with_resource_metadata('Bearer error="invalid_token"', url) == (
        f'Bearer error="invalid_token", resource_metadata="{url}"'
    )


def test_litestars_plugin_serves_the_document_in_front_of_its_router() -> None:
    """`AuthPlugin` wraps Litestar's outermost handler in the middleware at start-up, so the
    document is served there too, with no route of the app's own."""
    from litestar import Litestar, get

    from asgi_auth.integrations.litestar import AuthPlugin

    verifier = aa.JWTVerifier(key=public_pem(rsa_key()), algorithms=ALGORITHMS, audience="https://r.example/api")
    bearer = aa.HTTPBearer(verifier=verifier)
    policy = aa.AuthPolicy(
        [aa.Rule("/api", require={bearer: ["read"]})],
        default=bearer,
        resource=aa.ProtectedResource("https://r.example/api"),
    )

    @get("/api", sync_to_thread=False)
    def api() -> dict[str, str]:
        return {"ok": "yes"}

    app = Litestar([api], plugins=[AuthPlugin(policy)])
    with serve(app, lifespan="on") as url, httpx.Client(base_url=url) as client:
        document = client.get("/.well-known/oauth-protected-resource/api")
        assert document.status_code == 200 and document.json()["scopes_supported"] == ["read"]
        refused = client.get("/api")
        assert refused.status_code == 401
        assert _challenge(refused).parameters["resource_metadata"] == (
            "https://r.example/.well-known/oauth-protected-resource/api"
        )


class Suspended(aa.AuthError):
    """A verifier's own refusal, as an app writes one: its `__init__` takes its own arguments."""

    status_code = 403

    def __init__(self, tenant: str) -> None:
        challenge = ("WWW-Authenticate", 'Bearer error="invalid_token"')
        super().__init__(f"tenant {tenant} is suspended", headers=[challenge])
        self.tenant = tenant


class Expired(aa.InvalidCredentials):
    def __init__(self, when: int) -> None:
        super().__init__(f"expired at {when}")  # no challenge: the scheme's is added


def test_a_verifiers_own_refusal_class_is_decorated_not_a_500() -> None:
    """attack: the decoration copied a refusal by calling its class again with
    (detail, status_code=, headers=), which a subclass's own `__init__` need not take:
    every such refusal became a 500. The copy keeps the class and its attributes."""
    resource_url = "https://r.example/api"
    seen: list[aa.AuthError] = []

    class Refusing:
        audiences = frozenset({resource_url})

        async def __call__(self, token: str) -> None:
            raise Suspended("acme") if token == "suspended" else Expired(5)

    def hook(scope: Any, error: aa.AuthError) -> Any:
        seen.append(error)
        return PlainTextResponse(error.detail, status_code=error.status_code, headers=dict(error.headers))

    metadata = 'resource_metadata="https://r.example/.well-known/oauth-protected-resource/api"'
    for on_error in (None, hook):
        policy = aa.AuthPolicy(
            [],
            default=aa.HTTPBearer(verifier=Refusing()),
            resource=aa.ProtectedResource(resource_url),
            on_error=on_error,
        )
        app = Starlette(routes=[Route("/", lambda r: PlainTextResponse("ok"))])
        app.add_middleware(aa.AuthMiddleware, policy=policy)
        with serve(app) as url, httpx.Client(base_url=url) as client:
            suspended = client.get("/", headers={"Authorization": "Bearer suspended"})
            assert suspended.status_code == 403
            assert suspended.headers["www-authenticate"] == f'Bearer error="invalid_token", {metadata}'
            expired = client.get("/", headers={"Authorization": "Bearer old"})
            assert expired.status_code == 401
            assert expired.headers["www-authenticate"] == f'Bearer error="invalid_token", {metadata}'
    assert [type(e) for e in seen] == [Suspended, Expired]
    assert isinstance(seen[0], Suspended) and seen[0].tenant == "acme" and seen[0].detail == "tenant acme is suspended"
    assert seen[1].detail == "expired at 5"


@pytest.mark.parametrize(
    "url",
    [
        "https://r.example/caf\u00e9",  # latin-1, sent as a raw 0xE9 byte in the challenge
        "https://r.example/\u20ac",  # not latin-1: every refusal was a 500 (UnicodeEncodeError)
        "https://b\u00fccher.example/api",  # an IDN host not in its xn-- form
        "https://r.example/a\tb",  # urlsplit drops the tab: the document and the URL disagreed
        "https://r.example/a\x01b",  # a control character servers refuse to send
        "https://r.example/a\x7fb",
    ],
)
@pytest.mark.parametrize("field", ["resource", "authorization_servers", "jwks_uri", "resource_documentation"])
def test_urls_that_cannot_go_in_a_header_are_start_up_errors(url: str, field: str) -> None:
    """attack: `_url` refused only CR, LF, NUL, quote, backslash and space; anything else
    reached the document and, for the resource, every challenge."""
    options: dict[str, Any] = {field: [url] if field == "authorization_servers" else url}
    resource = options.pop("resource", "https://r.example")
    with pytest.raises(aa.ConfigurationError, match="characters a URL cannot"):
        aa.ProtectedResource(resource, **options)


def test_a_url_with_a_password_is_refused_without_echoing_it() -> None:
    """attack: `https://user:secret@host` was accepted and published in the document."""
    for resource, servers in (("https://svc:hunter2@r.example", []), ("https://r.example", ["https://u:hunter2@id"])):
        with pytest.raises(aa.ConfigurationError, match="user:password") as refused:
            aa.ProtectedResource(resource, authorization_servers=servers)
        assert "hunter2" not in str(refused.value)


def test_a_resource_path_with_percent_encoding_is_served_where_its_challenge_says() -> None:
    """attack: the §3.1 path was compared, still encoded, with the decoded `scope["path"]`,
    so the URL every challenge named answered 401 instead of the document."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for suffix in ("/my%20api", "/caf%C3%A9"):
        resource_url = base + suffix
        with serve(make_app(resource_url), port=port), httpx.Client(base_url=base) as client:
            named = _challenge(client.get("/api/items")).parameters["resource_metadata"]
            assert named == f"{base}/.well-known/oauth-protected-resource{suffix}"
            answer = client.get(named)
            assert answer.status_code == 200, suffix
            assert answer.json()["resource"] == resource_url
