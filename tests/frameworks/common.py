"""One policy, and the checks every framework must pass over real HTTP and websockets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import asgi_auth as aa
from tests.loopback import serve


@aa.inline
def lookup(token: str) -> aa.Principal | None:
    return aa.Principal(token.removeprefix("user-")) if token.startswith("user-") else None


bearer = aa.HTTPBearer(verifier=lookup)
policy = aa.AuthPolicy(
    [
        aa.Rule("/public", require=[]),
        aa.Rule("/api/open", require=[]),
    ],
    default=bearer,  # everything else, /private, /ws and the mounted /api/... included
    root_path="/prefix",  # what check_framework's second server is started with (uvicorn --root-path)
)
ALICE = {"Authorization": "Bearer user-alice"}


def check_http(base: str, prefix: str = "") -> None:
    """A protected route refuses, then serves and reads the identity via get_auth."""
    with httpx.Client(base_url=base) as client:
        refused = client.get(f"{prefix}/private")
        assert (refused.status_code, refused.json()) == (401, {"detail": "Not authenticated"})
        assert refused.headers["www-authenticate"] == "Bearer"
        bad = client.get(f"{prefix}/private", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        served = client.get(f"{prefix}/private", headers=ALICE)
        assert served.status_code == 200, served.text
        assert served.json() == {"subject": "alice", "rule": None}
        public = client.get(f"{prefix}/public")
        assert public.status_code == 200
        assert public.json() == {"subject": None, "rule": "/public"}


def check_mounted(base: str) -> None:
    """Routes mounted under /api match by their full path, as the router does."""
    with httpx.Client(base_url=base) as client:
        assert client.get("/api/items").status_code == 401
        assert client.get("/api/items", headers=ALICE).json() == {"subject": "alice", "rule": None}
        assert client.get("/api/open").json() == {"subject": None, "rule": "/api/open"}


def check_websocket(base: str) -> None:
    url = base.replace("http://", "ws://") + "/ws"
    with pytest.raises(InvalidStatus) as refused, connect(url, open_timeout=5):
        pass
    assert refused.value.response.status_code == 401
    with connect(url, additional_headers=ALICE, open_timeout=5) as ws:
        assert ws.recv(timeout=5) == "alice"


def payload(context: aa.AuthContext) -> dict[str, Any]:
    subject = context.principal.subject if context.authenticated else None
    return {"subject": subject, "rule": context.rule}


def check_framework(app: Any, *, mounted: bool = True, websocket: bool = True) -> None:
    """Every check over uvicorn, then the plain HTTP checks again under a `root_path`."""
    with serve(app, ws="websockets-sansio") as base:
        check_http(base)
        if mounted:
            check_mounted(base)
        if websocket:
            check_websocket(base)
    with serve(app, root_path="/prefix") as base:
        check_http(base)
