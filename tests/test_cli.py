from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
import yaml
from fastapi import FastAPI, WebSocket
from litestar.params import Parameter
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Host, Route, Router

import asgi_auth as aa
from asgi_auth.cli import list_routes, main
from tests.conftest import client_for

DEMO = ["examples.oauth2_scopes:app", "--policy", "examples.oauth2_scopes:policy"]
ROOT = Path(__file__).parent.parent


def test_routes_lists_every_route_with_its_requirement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", *DEMO]) == 0
    lines = {tuple(line.split()[:2]): line for line in capsys.readouterr().out.splitlines()}
    assert "OAuth2PasswordBearer[me items]" in lines[("GET", "/users/me/items/")]
    assert "rule /users/me/items/" in lines[("GET", "/users/me/items/")]
    assert "public" in lines[("POST", "/token")]
    # The mounted StaticFiles takes any method; the rule names GET, so the others get the default.
    assert lines[("GET,HEAD", "/static/{path:path}")].split()[2:] == ["public", "rule", "/static/{path:path}"]
    others = lines[("POST,PUT,PATCH,DELETE,OPTIONS", "/static/{path:path}")]
    assert others.split()[2:] == ["OAuth2PasswordBearer", "default"]


def test_fail_on_public_and_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", *DEMO, "--fail-on", "public"]) == 1
    assert "flagged" in capsys.readouterr().err
    assert main(["routes", *DEMO, "--fail-on", "default"]) == 1  # POST /static/... is the default's
    flagged = [line for line in capsys.readouterr().out.splitlines() if "flagged" in line]
    assert [line.split()[:2] for line in flagged] == [["POST,PUT,PATCH,DELETE,OPTIONS", "/static/{path:path}"]]


def test_console_script_patches_a_static_document(tmp_path: Path) -> None:
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/users/me/": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }
    source, target = tmp_path / "spec.json", tmp_path / "out.json"
    source.write_text(json.dumps(spec))
    subprocess.run(
        [sys.executable, "-m", "asgi_auth.cli", "openapi", str(source), "--policy", DEMO[2], "-o", str(target)],
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    patched = json.loads(target.read_text())
    assert patched["paths"]["/users/me/"]["get"]["security"] == [{"OAuth2PasswordBearer": ["me"]}]
    assert "OAuth2PasswordBearer" in patched["components"]["securitySchemes"]
    yaml_source = tmp_path / "spec.yaml"
    yaml_source.write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n")
    assert main(["openapi", str(yaml_source), "--policy", DEMO[2], "-o", str(target)]) == 0


def test_list_routes_for_litestar_and_wrapped_apps() -> None:
    from litestar import Litestar, Router, get

    @get("/a/{n:int}", sync_to_thread=False)
    def a(n: Annotated[int, Parameter()]) -> int:
        return n

    app = Litestar([Router(path="/v1", route_handlers=[a])], openapi_config=None)
    assert ("GET", "/v1/a/{n:int}") in list_routes(app)

    from starlette.applications import Starlette
    from starlette.routing import Mount, Route, WebSocketRoute

    async def noop(*_: object) -> None: ...

    inner = Starlette(routes=[Mount("/m", routes=[Route("/x", noop, methods=["POST"])]), WebSocketRoute("/ws", noop)])
    wrapper = type("Wrapper", (), {"app": inner})()
    assert list_routes(wrapper) == [("POST", "/m/x"), ("WEBSOCKET", "/ws")]


# -- routes the listing used to skip, and routes only partly covered -------------------

open_policy = aa.AuthPolicy([aa.Rule("/listed", require=aa.HTTPBearer(verifier=aa.EXTRACT_ONLY))], default=[])


class Everything(HTTPEndpoint):
    async def get(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("served")

    async def delete(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("served")


async def served(request: Request) -> PlainTextResponse:
    return PlainTextResponse("served")


starlette_app = Starlette(
    routes=[
        Route("/listed", served),
        Route("/class", Everything),  # methods=None: every method
        Host("api.example.com", app=Router([Route("/hosted", served)])),
    ],
    middleware=[Middleware(aa.AuthMiddleware, policy=open_policy)],
)


@pytest.mark.anyio
async def test_class_endpoints_and_host_routes_are_listed_and_fail(capsys: pytest.CaptureFixture[str]) -> None:
    target = ["tests.test_cli:starlette_app", "--policy", "tests.test_cli:open_policy"]
    assert main(["routes", *target, "--fail-on", "default,public"]) == 1
    rows = {tuple(line.split()[:2]): line for line in capsys.readouterr().out.splitlines()}
    assert "flagged" in rows[("ANY", "/class")] and "default" in rows[("ANY", "/class")]
    assert "flagged" in rows[("GET", "/hosted")]
    assert "flagged" not in rows[("GET", "/listed")]
    async with client_for(starlette_app) as client:  # and they are indeed served without credentials
        assert (await client.delete("/class")).text == "served"
        assert (await client.get("/hosted", headers={"Host": "api.example.com"})).text == "served"
        assert (await client.get("/listed")).status_code == 401


bearer = aa.HTTPBearer(verifier=aa.EXTRACT_ONLY)
partial_policy = aa.AuthPolicy(
    [
        aa.Rule("/items/{item_id:int}", require=bearer),
        aa.Rule("/files/{name}.txt", require=bearer),
        aa.Rule("/static/{name}", require=bearer),
        aa.Rule("/users/{user_id}", require=bearer),
        aa.Rule("/ws", require=bearer),
    ],
    default=[],
)
partial_app = FastAPI(openapi_url=None)


@partial_app.get("/items/{item_id}")
def item(item_id: int) -> None: ...


@partial_app.get("/files/{name}")
def file(name: str) -> None: ...


@partial_app.get("/static/{file_path:path}")
def static(file_path: str) -> None: ...


@partial_app.get("/users/{user_id}")
def user(user_id: int) -> None: ...


@partial_app.websocket("/ws")
async def ws(websocket: WebSocket) -> None: ...


def test_routes_only_partly_covered_show_the_weakest_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    target = ["tests.test_cli:partial_app", "--policy", "tests.test_cli:partial_policy"]
    assert main(["routes", *target]) == 0
    rows = {tuple(line.split()[:2]): line for line in capsys.readouterr().out.splitlines()}
    for path, example in [
        ("/items/{item_id}", "/items/1.0"),
        ("/files/{name}", "/files/a)"),
        ("/static/{file_path:path}", "/static/a/"),
    ]:
        row = rows[("GET", path)]
        assert "anonymous | HTTPBearer" in row and f"default (e.g. {example}" in row and "partly covered" in row
    assert rows[("GET", "/users/{user_id}")].split()[2:] == ["HTTPBearer", "rule", "/users/{user_id}"]
    assert rows[("WEBSOCKET", "/ws")].split()[2:] == ["HTTPBearer", "rule", "/ws"]
    assert main(["routes", *target, "--fail-on", "default"]) == 1
    flagged = [line.split()[1] for line in capsys.readouterr().out.splitlines() if "flagged" in line]
    assert flagged == ["/files/{name}", "/items/{item_id}", "/static/{file_path:path}"]


dead_policy = aa.AuthPolicy(
    [aa.Rule("/items/", require=bearer), aa.Rule("/items", methods=["DELETE"], require=bearer)], default=[]
)
dead_app = FastAPI(openapi_url=None)


@dead_app.get("/items")
def items() -> None: ...


def test_dead_rules_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    target = ["tests.test_cli:dead_app", "--policy", "tests.test_cli:dead_policy"]
    assert main(["routes", *target]) == 0
    err = capsys.readouterr().err
    assert "dead rule '/items/' matches no route; the app has '/items'" in err
    assert "dead rule '/items' (methods DELETE) matches no route" in err
    assert main(["routes", *target, "--fail-on", "dead"]) == 1
    assert main(["routes", *DEMO, "--fail-on", "dead"]) == 0


# -- usage errors and formats ----------------------------------------------------------


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asgi_auth.cli", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["openapi", "missing.json", "--policy", DEMO[2]], "cannot read missing.json"),
        (["openapi", "pyproject.toml", "--policy", DEMO[2]], "is not valid JSON"),
        (["routes", "examples.nowhere:app", "--policy", DEMO[2]], "no module named 'examples.nowhere'"),
        (["routes", "examples.oauth2_scopes:nope", "--policy", DEMO[2]], "has no attribute 'nope'"),
        (["routes", DEMO[0], "--policy", "examples.oauth2_scopes:app"], "is not an AuthPolicy"),
        (["routes", DEMO[0], "--policy", "examples.oauth2_scopes"], "is not of the form module:attribute"),
        (["routes", *DEMO, "--fail-on", "everything"], "--fail-on takes default, public, dead"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_yaml_in_yaml_out(tmp_path: Path) -> None:
    source = tmp_path / "spec.yaml"
    source.write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"
        "paths:\n  /users/me/:\n    get:\n      responses: {'200': {description: ok}}\n"
    )
    for name in ("out.yaml", "out.yml"):
        target = tmp_path / name
        assert main(["openapi", str(source), "--policy", DEMO[2], "-o", str(target)]) == 0
        patched = yaml.safe_load(target.read_text())
        assert not target.read_text().lstrip().startswith("{")
        assert patched["paths"]["/users/me/"]["get"]["security"] == [{"OAuth2PasswordBearer": ["me"]}]
    result = run("openapi", str(source), "--policy", DEMO[2])  # stdout: the input's format
    assert yaml.safe_load(result.stdout)["paths"]["/users/me/"]["get"]["security"]
    assert not result.stdout.lstrip().startswith("{")
    json_source = tmp_path / "spec.json"
    json_source.write_text(json.dumps(yaml.safe_load(source.read_text())))
    assert main(["openapi", str(json_source), "--policy", DEMO[2], "-o", str(tmp_path / "x.yaml")]) == 0
    assert yaml.safe_load((tmp_path / "x.yaml").read_text())["paths"]
    assert main(["openapi", str(source), "--policy", DEMO[2], "-o", str(tmp_path / "x.json")]) == 0
    assert json.loads((tmp_path / "x.json").read_text())["paths"]
