"""An MCP server (the `mcp` package's streamable-HTTP app) as an OAuth 2.1 resource server.

MCP's authorization spec asks a server to be an RFC 9728 protected resource: refuse a
request without a token with 401 and a `WWW-Authenticate: Bearer resource_metadata="…"`
challenge, publish its metadata (which authorization servers to ask, which scopes), and
accept only tokens issued for it (RFC 8707: `aud` is the server's URL). The MCP SDK's
own server does this with its `TokenVerifier`; here asgi_auth does it in front of the
same app, with the same policy any other ASGI app would use.

Run it (with an OpenID provider at MCP_ISSUER issuing tokens whose `aud` is MCP_RESOURCE):

    MCP_ISSUER=https://id.example.com MCP_RESOURCE=http://127.0.0.1:8000/mcp \\
        uvicorn examples.mcp_server:app
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from mcp.server.mcpserver import Context, MCPServer
from starlette.applications import Starlette

import asgi_auth as aa

RESOURCE = os.environ.get("MCP_RESOURCE", "http://127.0.0.1:8000/mcp")
ISSUER = os.environ.get("MCP_ISSUER", "http://127.0.0.1:9400")


def create_app(resource: str, issuers: Sequence[aa.Issuer], scopes: Sequence[str] = ("mcp:tools",)) -> Starlette:
    """The MCP app at `<resource path>`, guarded; tokens from `issuers`, for `resource`."""
    server = MCPServer("asgi_auth demo")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def whoami(ctx: Context) -> str:
        """The subject of the token the call came with."""
        request = ctx.request_context.request
        return aa.get_auth(request).principal.subject if request is not None else ""

    # --8<-- [start:policy]
    bearer = aa.HTTPBearer(
        bearerFormat="JWT",
        verifier=aa.TrustedIssuers(*issuers),  # each Issuer has audience=resource (RFC 8707)
    )
    policy = aa.AuthPolicy(
        [aa.Rule("/mcp", require={bearer: list(scopes)})],
        default=bearer,
        resource=aa.ProtectedResource(
            resource,
            authorization_servers=[issuer.issuer for issuer in issuers],
            resource_name="asgi_auth demo MCP server",
        ),
    )
    app = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    # --8<-- [end:policy]
    return app


app = create_app(RESOURCE, [aa.Issuer(ISSUER, discovery=True, audience=RESOURCE)])
