"""Optional authentication: anonymous callers are served, known callers recognised.

Run it:  uvicorn examples.optional_auth:app
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

import asgi_auth as aa

TOKENS = {"t-alice": aa.Principal("alice")}

# --8<-- [start:optional]
bearer = aa.HTTPBearer(verifier=aa.inline(TOKENS.get))
policy = aa.AuthPolicy(
    rules=[aa.Rule("/greeting", require=[{}, bearer])],  # anonymous allowed, token used when sent
    default=bearer,
)
# --8<-- [end:optional]

app = FastAPI()
app.add_middleware(aa.AuthMiddleware, policy=policy)


@app.get("/greeting")
def greeting(auth: Annotated[aa.AuthContext, Depends(aa.get_auth)]) -> dict[str, str]:
    name = auth.principal.subject if auth.authenticated else "stranger"
    return {"message": f"Hello, {name}"}
