"""The Litestar app of "Testing your app": the same policy through the Litestar plugin.

Run it:  uvicorn examples.testing.litestar_app:app
"""

# No `from __future__ import annotations`: Litestar reads the handlers' type hints.
from typing import Any

from litestar import Litestar, Request, get

import asgi_auth as aa
from asgi_auth.integrations.litestar import AuthPlugin

# --8<-- [start:app]
API_KEYS = {"key-ops": aa.Principal("ops", ["reports"])}  # in real life, a lookup

api_key = aa.APIKeyHeader(name="X-API-Key", verifier=aa.inline(API_KEYS.get))
policy = aa.AuthPolicy([aa.Rule("/reports", require={api_key: []})], default=[])


@get("/reports", sync_to_thread=False)
def reports(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"for": aa.get_auth(request).principal.subject}


app = Litestar(route_handlers=[reports], plugins=[AuthPlugin(policy)])
# --8<-- [end:app]
