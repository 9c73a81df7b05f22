"""Every parser, fed anything: the answer is a 2xx/4xx decided by the policy, never a crash."""

from __future__ import annotations

import base64
from typing import Any

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

import asgi_auth as aa
from tests.conftest import call_asgi, http_scope

SECRET = "fuzz-secret-" + "x" * 32
# Valid credentials exist, so that the parsers run all the way; they are long enough that
# the generated input cannot hit them (hypothesis once found a one-byte key "k").
KEY = "valid-key-" + "q7" * 16
PASSWORD = "valid-password-" + "z9" * 16
EVERY_SCHEME = [
    aa.APIKeyHeader(name="X-Key", verifier=aa.inline({KEY: aa.Principal("k")}.get)),
    aa.APIKeyQuery(name="key", verifier=aa.inline({KEY: aa.Principal("k")}.get)),
    aa.APIKeyCookie(name="session", verifier=aa.inline({KEY: aa.Principal("k")}.get)),
    aa.HTTPBasic(verifier=aa.inline(lambda c: aa.Principal(c.username) if c.password == PASSWORD else None)),
    aa.HTTPBearer(verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"])),
    aa.HTTPDigest(verifier=aa.inline({"u": PASSWORD}.get), scheme_name="Digest"),
    aa.OAuth2PasswordBearer(tokenUrl="t", scopes={"s": ""}, verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"])),
    aa.OpenIdConnect(openIdConnectUrl="https://id.invalid/.well-known/openid-configuration", verifier=aa.EXTRACT_ONLY),
]
POLICY = aa.AuthPolicy(
    [
        aa.Rule("/optional", require=[{}, *EVERY_SCHEME]),
        aa.Rule("/scoped", require={EVERY_SCHEME[6]: ["s"]}),
    ],
    default=EVERY_SCHEME[:7],  # every scheme that verifies (OpenIdConnect here only extracts)
)


async def inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


APP = aa.AuthMiddleware(inner, policy=POLICY)

header_bytes = st.binary(max_size=300)
jwt_like = st.lists(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.", max_size=60),
    min_size=1,
    max_size=4,
).map(".".join)
auth_values = st.one_of(
    header_bytes,
    jwt_like.map(lambda t: b"Bearer " + t.encode()),
    st.binary(max_size=80).map(lambda b: b"Basic " + base64.b64encode(b)),
    st.text(max_size=120).map(lambda t: b"Digest " + t.encode("utf-8", "surrogatepass")),
    st.dictionaries(
        st.sampled_from(
            [
                "username",
                "realm",
                "nonce",
                "uri",
                "response",
                "nc",
                "cnonce",
                "qop",
                "algorithm",
                "opaque",
                "userhash",
                "username*",
            ]
        ),
        st.text(max_size=20),
        max_size=10,
    ).map(lambda d: ("Digest " + ", ".join(f'{k}="{v}"' for k, v in d.items())).encode("utf-8", "surrogatepass")),
)


def run(path: str, headers: list[tuple[bytes, bytes]], query: bytes) -> int:
    sent = anyio.run(call_asgi, APP, http_scope(path, headers=headers, query_string=query))
    return int(sent[0]["status"])


@settings(max_examples=400, deadline=None)
@given(
    path=st.sampled_from(["/", "/optional", "/scoped"]),
    authorization=st.lists(auth_values, max_size=3),
    others=st.lists(st.tuples(st.sampled_from([b"x-key", b"cookie", b"x-other"]), header_bytes), max_size=4),
    query=st.binary(max_size=200),
)
def test_any_credentials_get_a_policy_answer(
    path: str, authorization: list[bytes], others: list[tuple[bytes, bytes]], query: bytes
) -> None:
    headers = [(b"authorization", value) for value in authorization] + others
    status = run(path, headers, query)
    assert status in (200, 400, 401, 403, 431), status
    if path == "/" and status == 200:  # the default needs credentials: only valid ones pass
        raise AssertionError(f"random input authenticated: {headers!r} {query!r}")


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_digest_parameter_parser_total(text: str) -> None:
    from asgi_auth.schemes.digest import parse_auth_params

    result = parse_auth_params(text)
    assert result is None or isinstance(result, dict)


@settings(max_examples=200, deadline=None)
@given(token=st.one_of(jwt_like, st.text(max_size=100)))
def test_jwt_verifier_total(token: str) -> None:
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"], cache=False)
    assert anyio.run(verifier, token) is None
