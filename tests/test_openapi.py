"""The patched document says what the middleware enforces, as FastAPI itself would say it."""

from __future__ import annotations

import copy
import re
import uuid
from enum import Enum
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

import asgi_auth as aa
from tests.conftest import client_for
from tests.schemes.test_differential import CASES, fastapi_app, middleware_app

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_patched_spec_equals_fastapis_own(name: str, kwargs: dict[str, Any]) -> None:
    scopes = ["me"] if name.startswith("OAuth2") and "scopes" in kwargs else []
    expected = fastapi_app(name, kwargs, scopes).openapi()
    app, policy = middleware_app(name, kwargs, scopes)
    patched = aa.patch_openapi(app.openapi(), policy)
    assert patched["components"]["securitySchemes"] == expected["components"]["securitySchemes"]
    want = expected["paths"]["/p"]["get"]["security"]
    if kwargs.get("auto_error") is False:
        # The contract: optional authentication is written [{}, {...}], which is what it means.
        want = [{}, *want]
    assert patched["paths"]["/p"]["get"]["security"] == want
    validate(patched)


def demo_app() -> tuple[FastAPI, aa.AuthPolicy]:
    bearer = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Me", "items": "Items"}, verifier=aa.EXTRACT_ONLY)
    key = aa.APIKeyQuery(name="k", verifier=aa.EXTRACT_ONLY)
    policy = aa.AuthPolicy(
        [
            aa.Rule("/token", require=[]),
            aa.Rule("/items/{item_id}", methods=["GET"], require={bearer: ["items"]}),
            aa.Rule("/items/special", require=[]),
            aa.Rule("/files/{rest:path}", require=[{}, key]),
            aa.Rule("/both", require={bearer: ["me"], key: []}),
        ],
        default=bearer,
    )
    app = FastAPI()

    @app.post("/token")
    def token() -> None: ...

    @app.get("/items/{item_id}")
    def get_item(item_id: int) -> None: ...

    @app.put("/items/{item_id}")
    def put_item(item_id: int) -> None: ...

    @app.get("/items/special")
    def special() -> None: ...

    @app.get("/files/{rest:path}")
    def files(rest: str) -> None: ...

    @app.get("/both")
    def both() -> None: ...

    @app.get("/elsewhere")
    def elsewhere() -> None: ...

    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app, policy


def test_rules_methods_and_default_are_documented() -> None:
    app, policy = demo_app()
    original = app.openapi()
    snapshot = copy.deepcopy(original)
    patched = aa.patch_openapi(original, policy)
    assert original == snapshot  # input untouched
    ops = {(p, m): op.get("security") for p, item in patched["paths"].items() for m, op in item.items()}
    assert ops == {
        ("/token", "post"): None,
        ("/items/{item_id}", "get"): [{"OAuth2PasswordBearer": ["items"]}],
        ("/items/{item_id}", "put"): [{"OAuth2PasswordBearer": []}],
        ("/items/special", "get"): None,
        ("/files/{rest}", "get"): [{}, {"APIKeyQuery": []}],
        ("/both", "get"): [{"OAuth2PasswordBearer": ["me"], "APIKeyQuery": []}],
        ("/elsewhere", "get"): [{"OAuth2PasswordBearer": []}],
    }
    assert aa.patch_openapi(patched, policy) == patched  # idempotent
    validate(patched)


def test_disagreeing_security_is_overwritten_and_reported() -> None:
    app, policy = demo_app()
    spec = app.openapi()
    spec["paths"]["/both"]["get"]["security"] = [{"Legacy": []}]
    with pytest.warns(UserWarning, match=r"GET /both: \[\{'Legacy': \[\]\}\]"):
        patched = aa.patch_openapi(spec, policy)
    assert patched["paths"]["/both"]["get"]["security"] == [{"OAuth2PasswordBearer": ["me"], "APIKeyQuery": []}]


def test_error_responses_can_be_documented() -> None:
    app, policy = demo_app()
    patched = aa.patch_openapi(app.openapi(), policy, responses=True)
    answers = patched["paths"]["/items/{item_id}"]["get"]["responses"]
    assert {"401", "403"} <= set(answers)
    assert "WWW-Authenticate" in answers["401"]["headers"]
    assert "401" not in patched["paths"]["/token"]["post"]["responses"]


async def test_no_drift_between_the_document_and_the_middleware() -> None:
    app, policy = demo_app()
    patched = aa.patch_openapi(app.openapi(), policy)
    samples = {"{item_id}": "7", "{rest}": "a/b"}
    async with client_for(app) as client:
        for path, item in patched["paths"].items():
            url = path
            for param, value in samples.items():
                url = url.replace(param, value)
            for method, operation in item.items():
                security = operation.get("security") or []
                needs_credentials = bool(security) and {} not in security
                r = await client.request(method.upper(), url)
                assert (r.status_code == 401) == needs_credentials, (method, path, r.status_code)


# -- every request an operation accepts, not one: typed, mixed and path parameters -----

# Values the guard's rules and the app's validators read differently, as sent on the wire
# (percent-encoded bytes stay encoded): ints, floats, signs, dots, slashes, UUID spellings.
SAMPLES = [
    *("0", "1", "42", "-1", "+1", "01", "1_0", "%31", "%2B1", "%201", "1%20"),
    *("1.0", "1.00", "-1.0", "1.5", "-1.5", "1.", ".5", "1e3", "inf", "nan", "-inf"),
    *("a", "abc", "special", "alexnet", "resnet", "me", "true", "false", "yes", "on"),
    *(".", "..", "%2e", "%2e%2e", "a.b", "a.txt", "a.pdf", "a.txt.pdf", ".txt", "a.TXT"),
    *("a/b", "a%2Fb", "a/b/c", "a/b.txt", "a%2F..%2Fb", "%C3%A9", "a%20b", "%00", "~", "a;b"),
    *("12345678-1234-1234-1234-123456789abc", "12345678123412341234123456789abc"),
    *("{12345678-1234-1234-1234-123456789abc}", "urn:uuid:12345678-1234-1234-1234-123456789abc"),
]
GOOD: dict[str, Any] = {"headers": {"Authorization": "Bearer good", "X-Key": "good"}}


class ModelName(str, Enum):
    alexnet = "alexnet"
    resnet = "resnet"


def coverage_app() -> tuple[FastAPI, aa.AuthPolicy, list[str]]:
    """Routes whose parameters accept more than some rule does, on a public default."""
    ran: list[str] = []
    everything = aa.Principal("u", scopes=["items", "admin"])
    bearer = aa.HTTPBearer(verifier=aa.inline(lambda token: everything if token == "good" else None))
    key = aa.APIKeyHeader(name="X-Key", verifier=aa.inline(lambda k: everything if k == "good" else None))
    policy = aa.AuthPolicy(
        [
            aa.Rule("/items/{item_id:int}", require=bearer),  # pydantic reads 1.0 as 1
            aa.Rule("/files/{name}.txt", require=bearer),  # a.pdf is a file too
            aa.Rule("/static/{name}", require=bearer),  # {file_path:path} spans segments
            aa.Rule("/users/{user_id}", require=bearer),  # covers every int
            aa.Rule("/users/me", require=[]),  # not an int: no hole
            aa.Rule("/prices/{price:float}", require=key),  # float() takes what pydantic does
            aa.Rule("/orders/{order_id:uuid}", require=bearer),
            aa.Rule("/models/alexnet", require=[]),  # one enum value opened
            aa.Rule("/models/{model}", require=bearer),
            aa.Rule("/pairs/{a:int}/{b}", require={bearer: ["admin"]}),
            aa.Rule("/flags/{flag}", require=[]),
        ],
        default=[],
    )
    app = FastAPI()

    def record(name: str) -> dict[str, str]:
        ran.append(name)
        return {"ran": name}

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, str]:
        return record("item")

    @app.get("/files/{name}")
    def file(name: str) -> dict[str, str]:
        return record("file")

    @app.get("/static/{file_path:path}")
    def static(file_path: str) -> dict[str, str]:
        return record("static")

    @app.get("/users/{user_id}")
    def user(user_id: int) -> dict[str, str]:
        return record("user")

    @app.get("/prices/{price}")
    def price(price: float) -> dict[str, str]:
        return record("price")

    @app.get("/orders/{order_id}")
    def order(order_id: uuid.UUID) -> dict[str, str]:
        return record("order")

    @app.get("/models/{model}")
    def model(model: ModelName) -> dict[str, str]:
        return record("model")

    @app.get("/pairs/{a}/{b}")
    def pair(a: int, b: str) -> dict[str, str]:
        return record("pair")

    @app.get("/flags/{flag}")
    def flag(flag: bool) -> dict[str, str]:
        return record("flag")

    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app, policy, ran


def urls_for(path: str) -> list[str]:
    """Each parameter in turn takes every sample, the others a value every rule accepts."""
    names = re.findall(r"{([^}]+)}", path)
    out = []
    for varied in names:
        for sample in SAMPLES:
            url = path
            for name in names:
                url = url.replace("{" + name + "}", sample if name == varied else "1")
            out.append(url)
    return out


async def assert_document_matches_enforcement(
    app: FastAPI, patched: dict[str, Any], ran: list[str], credentials: dict[str, Any]
) -> int:
    """Both ways: an operation documented as protected never runs without credentials,
    one documented as public always does, and one documented as optional runs for some
    request — checked on every sample the operation accepts (it runs with credentials)."""
    checked = 0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for path, item in patched["paths"].items():
            for method, operation in item.items():
                security = operation.get("security") or []
                protected = bool(security) and {} not in security
                ran_anonymously = 0
                for url in urls_for(path):
                    ran.clear()
                    await client.request(method.upper(), url, **credentials)
                    handler = ran[:]
                    if not handler:
                        continue  # not a request this operation accepts (422, 404, another route)
                    ran.clear()
                    r = await client.request(method.upper(), url)
                    checked += 1
                    if protected:
                        assert ran == [] and r.status_code == 401, (path, url, r.status_code, security)
                    elif not security:
                        assert ran == handler, (path, url, r.status_code)
                    ran_anonymously += ran == handler
                if {} in security:
                    assert ran_anonymously, (path, "documented as open to anonymous callers, but no sample was")
    return checked


async def test_an_operation_is_only_protected_if_every_request_it_accepts_is() -> None:
    app, policy, ran = coverage_app()
    with pytest.warns(UserWarning) as caught:
        patched = aa.patch_openapi(app.openapi(), policy)
    security = {path: item["get"].get("security") for path, item in patched["paths"].items()}
    partly = [{}, {"HTTPBearer": []}]
    assert security == {
        "/items/{item_id}": partly,  # /items/1.0 is item 1, served on the open default
        "/files/{name}": partly,  # /files/a.pdf
        "/static/{file_path}": partly,  # /static/a/b
        "/users/{user_id}": [{"HTTPBearer": []}],
        "/prices/{price}": [{"APIKeyHeader": []}],
        "/orders/{order_id}": [{"HTTPBearer": []}],
        "/models/{model}": partly,  # alexnet is open, resnet is not
        "/pairs/{a}/{b}": [{}, {"HTTPBearer": ["admin"]}],
        "/flags/{flag}": None,
    }
    text = "\n".join(str(w.message) for w in caught)
    expected = {
        "GET /items/{item_id}": ["rule '/items/{item_id:int}' (e.g. /items/", "default (e.g. /items/1.0)"],
        "GET /files/{name}": ["rule '/files/{name}.txt' (e.g. /files/a.txt)", "default (e.g. /files/a)"],
        "GET /static/{file_path}": ["rule '/static/{name}' (e.g. /static/a)", "default (e.g. /static/"],
        "GET /models/{model}": ["rule '/models/alexnet' (e.g. /models/alexnet)", "rule '/models/{model}'"],
        "GET /pairs/{a}/{b}": ["rule '/pairs/{a:int}/{b}'", "default (e.g. /pairs/1.0/"],
    }
    for operation, pieces in expected.items():
        line = next(line for line in text.splitlines() if operation in line)
        assert all(piece in line for piece in pieces), line
    assert "/users/{user_id}" not in text and "/orders/" not in text and "/prices/" not in text
    assert await assert_document_matches_enforcement(app, patched, ran, GOOD) > 200
    validate(patched)


async def test_the_demo_document_matches_enforcement_on_many_values() -> None:
    app, policy = demo_app()
    ran: list[str] = []

    @app.middleware("http")  # added last, so outside the guard: it sees what was served
    async def served(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        if response.status_code < 300:
            ran.append(request.url.path)
        return response

    patched = aa.patch_openapi(app.openapi(), policy)
    credentials = {"headers": {"Authorization": "Bearer t"}, "params": {"k": "x"}}
    assert await assert_document_matches_enforcement(app, patched, ran, credentials) > 50


def test_without_the_app_a_path_parameter_is_one_segment_as_openapi_says() -> None:
    app, policy, _ = coverage_app()
    spec = copy.deepcopy(app.openapi())  # a copy: not FastAPI's cached document
    with pytest.warns(UserWarning):
        alone = aa.patch_openapi(spec, policy)
    assert alone["paths"]["/static/{file_path}"]["get"]["security"] == [{"HTTPBearer": []}]
    with pytest.warns(UserWarning, match=r"/static/\{file_path\}"):
        told = aa.patch_openapi(spec, policy, app=app)
    assert told["paths"]["/static/{file_path}"]["get"]["security"] == [{}, {"HTTPBearer": []}]


def test_a_budget_bounds_the_work_and_falls_back_to_the_weakest() -> None:
    bearer = aa.HTTPBearer(verifier=aa.EXTRACT_ONLY)
    rules = [aa.Rule(f"/r/{{a}}/x{i}", require=bearer) for i in range(3000)]
    policy = aa.AuthPolicy([*rules, aa.Rule("/r/{a}/{b}", require=bearer)], default=[])
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/r/{a}/{b}": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }
    with pytest.warns(UserWarning, match="too many kinds of paths"):
        patched = aa.patch_openapi(spec, policy)
    assert patched["paths"]["/r/{a}/{b}"]["get"]["security"] == [{}, {"HTTPBearer": []}]


def test_webhooks_are_documented_as_the_paths_of_their_names() -> None:
    bearer = aa.HTTPBearer(verifier=aa.EXTRACT_ONLY)
    key = aa.APIKeyHeader(name="X-Signature", verifier=aa.EXTRACT_ONLY)
    policy = aa.AuthPolicy([aa.Rule("/signed-event", methods=["POST"], require=key)], default=bearer)
    app = FastAPI()

    @app.webhooks.post("new-subscription")
    def new_subscription() -> None: ...

    @app.webhooks.post("signed-event")
    def signed() -> None: ...

    @app.get("/users/")
    def users() -> None: ...

    patched = aa.patch_openapi(app.openapi(), policy)
    assert patched["openapi"].startswith("3.1")
    assert patched["webhooks"]["new-subscription"]["post"]["security"] == [{"HTTPBearer": []}]
    assert patched["webhooks"]["signed-event"]["post"]["security"] == [{"APIKeyHeader": []}]
    assert set(patched["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    validate(patched)


def test_static_openapi_30_document_with_a_servers_prefix() -> None:
    bearer = aa.HTTPBearer(verifier=aa.EXTRACT_ONLY)
    policy = aa.AuthPolicy([aa.Rule("/api/public", require=[])], default=bearer)
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "static", "version": "1"},
        "servers": [{"url": "https://example.com/api/"}],
        "paths": {
            "/public": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/private": {"post": {"responses": {"200": {"description": "ok"}}}},
        },
    }
    patched = aa.patch_openapi(spec, policy, prefix="servers")
    validate(patched)
    assert "security" not in patched["paths"]["/public"]["get"]
    assert patched["paths"]["/private"]["post"]["security"] == [{"HTTPBearer": []}]
    # Without the prefix, /public is not the rule's /api/public: the default applies.
    assert aa.patch_openapi(spec, policy)["paths"]["/public"]["get"]["security"] == [{"HTTPBearer": []}]


@pytest.mark.parametrize(
    ("annotation", "schema"),
    [
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (uuid.UUID, {"type": "string", "format": "uuid"}),
        (ModelName, {"$ref": "#/components/schemas/ModelName"}),
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
    ],
)
def test_a_parameter_is_credited_with_every_value_pydantic_accepts(annotation: Any, schema: dict[str, Any]) -> None:
    """The over-approximation the coverage relies on, checked against pydantic itself."""
    from pydantic import TypeAdapter, ValidationError

    from asgi_auth.coverage import SAMPLES as WITNESSES
    from asgi_auth.coverage import schema_accepts

    components = {"ModelName": {"type": "string", "enum": ["alexnet", "resnet"]}}
    accepts = schema_accepts(schema, lambda ref: components[ref.rsplit("/", 1)[1]])
    adapter = TypeAdapter(annotation)
    values = [unquote(s) for s in SAMPLES] + list(WITNESSES) + ["alexnet", "resnet", " 1 ", "1\n", "\t2"]
    accepted = 0
    for value in values:
        if "/" in value or not value:
            continue
        try:
            adapter.validate_python(value)
        except ValidationError:
            continue
        accepted += 1
        assert accepts(value), (annotation, value)
    assert accepted >= 2
