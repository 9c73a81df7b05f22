"""HTTP Basic with scrypt password hashes.

Run it:  uvicorn examples.http_basic:app
Try:     curl -u alice:wonderland http://127.0.0.1:8000/users/me
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

import asgi_auth as aa

# --8<-- [start:basic]
USERS = {"alice": aa.hash_password("wonderland"), "bob": aa.hash_password("builder")}

basic = aa.HTTPBasic(realm="example", verifier=aa.BasicPasswordVerifier(USERS))
policy = aa.AuthPolicy([], default=basic)

app = FastAPI()
app.add_middleware(aa.AuthMiddleware, policy=policy)


@app.get("/users/me")
def read_current_user(auth: Annotated[aa.AuthContext, Depends(aa.get_auth)]) -> dict[str, str]:
    return {"username": auth.principal.subject}


# --8<-- [end:basic]
