from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
from litestar.params import Parameter

from asgi_auth.cli import list_routes, main

DEMO = ["examples.oauth2_scopes:app", "--policy", "examples.oauth2_scopes:policy"]


def test_routes_lists_every_route_with_its_requirement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", *DEMO]) == 0
    lines = {tuple(line.split()[:2]): line for line in capsys.readouterr().out.splitlines()}
    assert "OAuth2PasswordBearer[me items]" in lines[("GET", "/users/me/items/")]
    assert "rule /users/me/items/" in lines[("GET", "/users/me/items/")]
    assert "public" in lines[("POST", "/token")]
    assert lines[("ANY", "/static/{path:path}")].split()[2:] == ["public", "rule", "/static/{path:path}"]


def test_fail_on_public_and_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", *DEMO, "--fail-on", "public"]) == 1
    assert "flagged" in capsys.readouterr().err
    assert main(["routes", *DEMO, "--fail-on", "default"]) == 0  # every demo route has a rule


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
