"""Claims beyond scopes: `aa.Claim` in a rule's requirement, enforced by the middleware
of a real FastAPI app on Keycloak-, Azure- and Auth0-shaped tokens, shown by
`asgi-auth routes` and written into the patched OpenAPI document."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI
from openapi_spec_validator import validate

import asgi_auth as aa
from asgi_auth.cli import main
from asgi_auth.openapi import CLAIMS_EXTENSION

pytestmark = pytest.mark.anyio

KEY = "claims-test-secret-0123456789abcdef"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ADMIN = aa.Claim("realm_access", "roles", contains="admin")
REPORTS = aa.Claim("resource_access", "reports-api", "roles", contains_any=["viewer", "editor"])
AZURE_WRITE = aa.Claim("roles", contains="Tasks.Write")
AZURE_TENANT = aa.Claim("tid", equals=TENANT)
AUTH0_ADMIN = aa.Claim("https://example.com/roles", contains="admin")

bearer = aa.OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"read": "Read", "write": "Write"},
    verifier=aa.JWTVerifier(key=KEY, algorithms=["HS256"]),
)
api_key = aa.APIKeyHeader(name="X-API-Key", verifier=aa.inline({"k1": aa.Principal("svc")}.get))

policy = aa.AuthPolicy(
    [
        aa.Rule("/read", require={bearer: ["read"]}),
        aa.Rule("/admin", require={bearer: [ADMIN]}),
        aa.Rule("/reports", require={bearer: ["read", REPORTS]}),
        aa.Rule("/tasks", methods=["POST"], require={bearer: ["write", AZURE_WRITE, AZURE_TENANT]}),
        aa.Rule("/auth0", require={bearer: [AUTH0_ADMIN]}),
        aa.Rule("/either", require=[{bearer: [ADMIN]}, api_key]),
    ],
    default=bearer,
)

app = FastAPI()


@app.get("/read")
@app.get("/admin")
@app.get("/reports")
@app.get("/auth0")
@app.get("/either")
async def read(auth: aa.AuthContext = Depends(aa.get_auth)) -> dict[str, Any]:
    return {"scheme": auth.scheme, "sub": getattr(auth.principal, "subject", None)}


@app.post("/tasks")
async def tasks() -> dict[str, str]:
    return {"ok": "yes"}


app.add_middleware(aa.AuthMiddleware, policy=policy)


def token(**claims: Any) -> str:
    return jwt.encode({"sub": "u1", "exp": int(time.time()) + 600, **claims}, KEY, algorithm="HS256")


KEYCLOAK_ADMIN = token(
    scope="read", realm_access={"roles": ["offline_access", "admin"]}, resource_access={"reports-api": {"roles": []}}
)
KEYCLOAK_VIEWER = token(
    scope="read",
    realm_access={"roles": ["offline_access", "secret-role-xyz"]},
    resource_access={"reports-api": {"roles": ["viewer"]}},
)
AZURE = token(scope="write", roles=["Tasks.Read", "Tasks.Write"], tid=TENANT)
AZURE_OTHER_TENANT = token(scope="write", roles=["Tasks.Write"], tid="00000000-0000-0000-0000-000000000000")
AUTH0 = token(**{"https://example.com/roles": ["admin"]})


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def call(path: str, bearer_token: str | None = None, method: str = "GET", **headers: str) -> httpx.Response:
    if bearer_token is not None:
        headers["Authorization"] = f"Bearer {bearer_token}"
    async with client() as http:
        return await http.request(method, path, headers=headers)


async def test_keycloak_realm_and_client_roles() -> None:
    assert (await call("/admin", KEYCLOAK_ADMIN)).status_code == 200
    assert (await call("/reports", KEYCLOAK_VIEWER)).status_code == 200
    denied = await call("/admin", KEYCLOAK_VIEWER)
    assert denied.status_code == 403
    assert denied.json() == {"detail": 'Not enough permissions: claim realm_access.roles contains "admin"'}
    assert denied.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope=""'
    assert "secret-role-xyz" not in denied.text  # the token's own values are never echoed
    none = await call("/reports", KEYCLOAK_ADMIN)  # has the scope, not the client role
    assert none.status_code == 403
    assert none.json()["detail"] == (
        'Not enough permissions: claim resource_access.reports-api.roles contains any of "viewer", "editor"'
    )
    assert none.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="read"'


async def test_scopes_are_checked_first_with_their_own_answer() -> None:
    missing_scope = token(resource_access={"reports-api": {"roles": ["viewer"]}})
    response = await call("/reports", missing_scope)
    assert response.status_code == 403
    assert response.json() == {"detail": "Not enough permissions"}


async def test_azure_roles_and_tenant() -> None:
    assert (await call("/tasks", AZURE, "POST")).status_code == 200
    other = await call("/tasks", AZURE_OTHER_TENANT, "POST")
    assert other.status_code == 403
    assert other.json()["detail"] == f'Not enough permissions: claim tid equals "{TENANT}"'
    read_only = token(scope="write", roles=["Tasks.Read"], tid=TENANT)
    assert (await call("/tasks", read_only, "POST")).json()["detail"].endswith('roles contains "Tasks.Write"')


async def test_auth0_namespaced_claim_is_one_level() -> None:
    assert (await call("/auth0", AUTH0)).status_code == 200
    nested = token(**{"https://example": {"com/roles": ["admin"]}})
    assert (await call("/auth0", nested)).status_code == 403
    response = await call("/auth0", KEYCLOAK_ADMIN)
    assert response.json()["detail"] == 'Not enough permissions: claim ["https://example.com/roles"] contains "admin"'


async def test_a_claim_alternative_or_another_scheme() -> None:
    assert (await call("/either", KEYCLOAK_ADMIN)).json()["scheme"] == "OAuth2PasswordBearer"
    assert (await call("/either", **{"X-API-Key": "k1"})).json()["scheme"] == "APIKeyHeader"
    denied = await call("/either", KEYCLOAK_VIEWER)
    assert denied.status_code == 403
    assert denied.json()["detail"] == 'Not enough permissions: claim realm_access.roles contains "admin"'


async def test_remembered_decisions_keep_each_tokens_claims() -> None:
    """A decision is remembered per token: one token's pass never serves another's request,
    and a rule with claims never shares its decision with an equal one without."""
    async with client() as http:
        for _ in range(3):
            for bearer_token, admin_status in ((KEYCLOAK_ADMIN, 200), (KEYCLOAK_VIEWER, 403)):
                headers = {"Authorization": f"Bearer {bearer_token}"}
                assert (await http.get("/admin", headers=headers)).status_code == admin_status
                assert (await http.get("/read", headers=headers)).status_code == 200


async def test_claims_of_an_introspected_token() -> None:
    """Claims are read from any verifier's principal: here one an async verifier returns."""
    seen = {
        "opaque-1": aa.Principal("a", ["read"], claims={"realm_access": {"roles": ["admin"]}}),
        "opaque-2": aa.Principal("b", ["read"], claims={"realm_access": {"roles": "admin"}}),
    }

    async def lookup(credentials: str) -> aa.Principal | None:
        return seen.get(credentials)

    opaque = aa.HTTPBearer(verifier=lookup)
    other = FastAPI()
    other.get("/admin")(read)
    other.add_middleware(
        aa.AuthMiddleware, policy=aa.AuthPolicy([aa.Rule("/admin", require={opaque: [ADMIN]})], default=[])
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://t") as http:
        assert (await http.get("/admin", headers={"Authorization": "Bearer opaque-1"})).status_code == 200
        # A string is not a list: "contains" never matches inside one.
        assert (await http.get("/admin", headers={"Authorization": "Bearer opaque-2"})).status_code == 403


# -- the tests themselves --------------------------------------------------------------------


def test_equality_keeps_json_types_apart() -> None:
    assert aa.Claim("n", equals=1).holds({"n": 1})
    assert aa.Claim("n", equals=1).holds({"n": 1.0})
    assert not aa.Claim("n", equals=1).holds({"n": True})
    assert not aa.Claim("b", equals=True).holds({"b": 1})
    assert not aa.Claim("s", equals="1").holds({"s": 1})
    assert aa.Claim("s", one_of=["a", "b"]).holds({"s": "b"})
    assert not aa.Claim("s", one_of=["a", "b"]).holds({"s": ["a"]})
    assert aa.Claim("x", equals=None).holds({"x": None})
    assert not aa.Claim("x", equals=None).holds({})


def test_membership_needs_an_array() -> None:
    roles = aa.Claim("roles", contains=["a", "b"])
    assert roles.holds({"roles": ["b", "c", "a"]})
    assert not roles.holds({"roles": ["a"]})
    assert not roles.holds({"roles": "a b"})
    assert not roles.holds({"roles": {"a": 1, "b": 2}})
    assert aa.Claim("roles", contains_any=["a", "z"]).holds({"roles": ["z"]})
    assert not aa.Claim("roles", contains_any=["a", "z"]).holds({"roles": []})


def test_missing_or_misshapen_paths_fail() -> None:
    for claims in ({}, {"realm_access": None}, {"realm_access": ["roles"]}, {"realm_access": {}}, None, "x"):
        assert not ADMIN.holds(claims)


def test_configuration_errors() -> None:
    with pytest.raises(aa.ConfigurationError, match="exactly one of"):
        aa.Claim("roles")
    with pytest.raises(aa.ConfigurationError, match="exactly one of"):
        aa.Claim("roles", equals="a", contains="a")
    with pytest.raises(aa.ConfigurationError, match=r"Claim\('realm_access', 'roles', \.\.\.\)"):
        aa.Claim("realm_access.roles", contains="admin")
    with pytest.raises(aa.ConfigurationError, match="empty list"):
        aa.Claim("roles", contains_any=[])
    with pytest.raises(aa.ConfigurationError, match="JSON scalar"):
        aa.Claim("roles", equals={"a": 1})
    with pytest.raises(aa.ConfigurationError, match="name the claim"):
        aa.Claim(contains="a")
    extract_only = aa.HTTPBearer(verifier=aa.EXTRACT_ONLY)
    with pytest.raises(aa.ConfigurationError, match="no claims to check"):
        aa.AuthPolicy([aa.Rule("/a", require={extract_only: [ADMIN]})], default=[])


def test_equal_claims_are_one_requirement() -> None:
    assert aa.Claim("realm_access", "roles", contains="admin") == ADMIN
    assert hash(aa.Claim("realm_access", "roles", contains=["admin"])) == hash(ADMIN)
    assert aa.Claim("n", equals=1) != aa.Claim("n", equals=True)
    shared = aa.AuthPolicy(
        [aa.Rule("/a", require={bearer: ["read", ADMIN]}), aa.Rule("/b", require={bearer: ["read", ADMIN]})],
        default=[],
    )
    assert shared.match("/a", "GET").decision is shared.match("/b", "GET").decision
    assert policy.match("/read", "GET").decision is not policy.match("/admin", "GET").decision


# -- what documents it ------------------------------------------------------------------------


def test_routes_shows_the_claims(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "tests.test_claims:app", "--policy", "tests.test_claims:policy"]) == 0
    lines = {tuple(line.split()[:2]): line for line in capsys.readouterr().out.splitlines()}
    assert 'OAuth2PasswordBearer{realm_access.roles contains "admin"} ' in lines[("GET", "/admin")]
    assert lines[("GET", "/admin")].endswith("rule /admin")
    assert (
        'OAuth2PasswordBearer[read]{resource_access.reports-api.roles contains any of "viewer", "editor"}'
        in lines[("GET", "/reports")]
    )
    assert (
        f'OAuth2PasswordBearer[write]{{roles contains "Tasks.Write"; tid equals "{TENANT}"}}'
        in lines[("POST", "/tasks")]
    )
    assert 'OAuth2PasswordBearer{realm_access.roles contains "admin"} | APIKeyHeader' in lines[("GET", "/either")]
    assert lines[("GET", "/read")].split()[2:] == ["OAuth2PasswordBearer[read]", "rule", "/read"]


def test_patched_openapi_writes_claims_in_an_extension_and_validates() -> None:
    spec = aa.patch_openapi(app.openapi(), policy, responses=True)
    validate(spec)
    admin = spec["paths"]["/admin"]["get"]
    assert admin["security"] == [{"OAuth2PasswordBearer": []}]
    assert admin[CLAIMS_EXTENSION] == [
        {
            "security": {"OAuth2PasswordBearer": []},
            "claims": {"OAuth2PasswordBearer": [{"claim": ["realm_access", "roles"], "contains": ["admin"]}]},
        }
    ]
    assert "403" in admin["responses"]  # claims alone can refuse
    tasks = spec["paths"]["/tasks"]["post"][CLAIMS_EXTENSION]
    assert tasks[0]["claims"]["OAuth2PasswordBearer"] == [
        {"claim": ["roles"], "contains": ["Tasks.Write"]},
        {"claim": ["tid"], "equals": TENANT},
    ]
    either = spec["paths"]["/either"]["get"]
    assert either["security"] == [{"OAuth2PasswordBearer": []}, {"APIKeyHeader": []}]
    assert [entry["security"] for entry in either[CLAIMS_EXTENSION]] == [{"OAuth2PasswordBearer": []}]
    assert CLAIMS_EXTENSION not in spec["paths"]["/read"]["get"]
    again = aa.patch_openapi(spec, policy, responses=True)
    assert json.dumps(again, sort_keys=True) == json.dumps(spec, sort_keys=True)  # idempotent
    with pytest.warns(UserWarning, match="replaced security"):
        stale = aa.patch_openapi(spec, aa.AuthPolicy(default=bearer))
    assert all(CLAIMS_EXTENSION not in item["get"] for path, item in stale["paths"].items() if "get" in item)
