"""Several schemes: OR (either one) and AND (both), as OpenAPI spells them.

Run it:  uvicorn examples.several_schemes:app
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI

import asgi_auth as aa
from asgi_auth.integrations.fastapi import install

TOKENS = {"t-admin": aa.Principal("admin", ["admin"]), "t-user": aa.Principal("user", [])}
DEVICES = {"device-42": aa.Principal("device-42")}

# --8<-- [start:schemes]
bearer = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"admin": "Administer"}, verifier=aa.inline(TOKENS.get))
device_key = aa.APIKeyHeader(name="X-Device-Key", verifier=aa.inline(DEVICES.get))

policy = aa.AuthPolicy(
    rules=[
        # OR: an admin token, or a device key.
        aa.Rule("/admin/{rest:path}", require=[{bearer: ["admin"]}, device_key]),
        # AND: a user token and a device key, both.
        aa.Rule("/firmware", require={bearer: [], device_key: []}),
    ],
    default=bearer,
)
# --8<-- [end:schemes]

app = FastAPI()
install(app, policy)


@app.get("/admin/stats")
def stats(auth: Annotated[aa.AuthContext, Depends(aa.get_auth)]) -> dict[str, Any]:
    return {"caller": auth.principal.subject, "scheme": auth.scheme}


@app.get("/firmware")
def firmware(auth: Annotated[aa.AuthContext, Depends(aa.get_auth)]) -> dict[str, Any]:
    return {"schemes": sorted(auth.principals)}
