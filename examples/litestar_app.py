"""Litestar: the plugin adds the middleware and patches the served schema.

Run it:  uvicorn examples.litestar_app:app     (docs at /schema/swagger)
"""

# No `from __future__ import annotations`: Litestar reads the handlers' type hints.
from typing import Any

from litestar import Litestar, Request, get

import asgi_auth as aa
from asgi_auth.integrations.litestar import AuthPlugin

# --8<-- [start:litestar]
bearer = aa.HTTPBearer(verifier=aa.inline({"t-alice": aa.Principal("alice", ["read"])}.get))
policy = aa.AuthPolicy(
    rules=[aa.Rule("/schema", require=[]), aa.Rule("/schema/{rest:path}", require=[])],
    default={bearer: ["read"]},
)


@get("/books", sync_to_thread=False)
def books(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"reader": aa.get_auth(request).principal.subject, "books": ["Dune"]}


app = Litestar(route_handlers=[books], plugins=[AuthPlugin(policy)])
# --8<-- [end:litestar]
