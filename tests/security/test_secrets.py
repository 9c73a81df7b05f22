"""No credential ever shows in logs, error bodies, exception messages or reprs."""

from __future__ import annotations

import base64
import logging
from typing import Any

import anyio
import pytest

import asgi_auth as aa
from tests.conftest import call_asgi, http_scope

PASSWORD = "pw-Zq81-SECRET"
TOKEN = "tok-Zq81-SECRET"
KEY = "key-Zq81-SECRET"
HMAC_KEY = "hmac-Zq81-SECRET-" + "x" * 32
SECRETS = [PASSWORD, TOKEN, KEY, HMAC_KEY, "Zq81"]


def failing(_: Any) -> None:
    raise ValueError(f"cannot parse {_!r}")  # a careless verifier that echoes its input


def test_nothing_secret_leaks(caplog: pytest.LogCaptureFixture) -> None:
    basic = aa.HTTPBasic(verifier=aa.inline(lambda c: None))
    bearer = aa.HTTPBearer(verifier=aa.JWTVerifier(key=HMAC_KEY, algorithms=["HS256"]))
    careless = aa.APIKeyHeader(name="X-Key", verifier=aa.inline(failing))
    digest = aa.HTTPDigest(verifier=aa.inline({"u": PASSWORD}.get))
    policy = aa.AuthPolicy([aa.Rule("/d", require=digest)], default=[basic, bearer, careless])

    async def inner(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never reached
        raise AssertionError("refused requests must not reach the app")

    app = aa.AuthMiddleware(inner, policy)
    requests = [
        ("/", [(b"authorization", b"Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()))]),
        ("/", [(b"authorization", f"Bearer {TOKEN}".encode())]),
        ("/", [(b"x-key", KEY.encode())]),
        ("/", [(b"authorization", b"Bearer " + TOKEN.encode() * 1000)]),  # 431
        ("/d", [(b"authorization", f'Digest username="u", response="{TOKEN}"'.encode())]),
    ]
    bodies: list[bytes] = []
    with caplog.at_level(logging.DEBUG):
        for path, headers in requests:
            sent = anyio.run(call_asgi, app, http_scope(path, headers=headers))
            assert sent[0]["status"] in (400, 401, 431)
            bodies.append(sent[1]["body"] + repr(sent[0]["headers"]).encode())
    texts = [caplog.text, *(b.decode("latin-1") for b in bodies)]
    texts += [repr(basic), repr(bearer), repr(bearer.verifier), repr(digest), repr(policy)]
    texts.append(repr(aa.AuthContext(credentials=aa.HTTPBasicCredentials(username="a", password=PASSWORD))))
    texts.append(repr(aa.HTTPAuthorizationCredentials(scheme="Bearer", credentials=TOKEN)))
    texts.append(repr(aa.OAuth2PasswordRequestForm(username="a", password=PASSWORD)))
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text[:200])
    assert "ValueError" in caplog.text  # the failure is logged, by type
    assert "exceeds 8192 bytes" in caplog.text  # and the oversize header, by name
