"""What `pip install ".[examples]"` promises: every example's "Run it:" line works.

The third-party modules each example imports must come from the package's own
dependencies or the `examples` extra; uvicorn serves them; and a websocket example
needs a websocket library for uvicorn to speak the protocol at all.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import distributions, packages_distributions, requires
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the interpreter's own reader arrived in 3.11
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("*.py") if p.name != "__init__.py")


def normal(name: str) -> str:
    return name.lower().replace("_", "-")


def requirement_names(requirements: list[str]) -> set[str]:
    """The distributions `requirements` install: each one, and those of its extras
    (`pyjwt[crypto]` brings `cryptography`)."""
    names = set()
    for requirement in requirements:
        match = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", requirement)
        assert match, requirement
        name, extras = match.group(1), {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
        names.add(normal(name))
        for dependency in (requires(name) or []) if extras else []:
            wanted = re.search(r"extra\s*==\s*[\"']([^\"']+)", dependency)
            if wanted and wanted.group(1) in extras:
                names |= requirement_names([dependency.split(";")[0]])
    return names


def promised() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return requirement_names(project["dependencies"]) | requirement_names(project["optional-dependencies"]["examples"])


def third_party_imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m not in {"asgi_auth", "examples", "__future__"}}


def installing(module: str) -> list[str]:
    """The distributions whose files include top-level `module`: what
    `packages_distributions` finds for a namespace package (`opentelemetry`) from
    Python 3.11 on, where 3.10's reads only `top_level.txt`, which those lack."""
    found = [d.metadata["Name"] for d in distributions() if any(f.parts[0] == module for f in d.files or [])]
    return found or [module]


def test_every_example_import_is_installed_by_the_examples_extra() -> None:
    owners = packages_distributions()
    have = promised()
    missing = {}
    for path in EXAMPLES:
        for module in third_party_imports(path):
            names = {normal(d) for d in owners.get(module) or installing(module)}
            if not names & have:
                missing[f"{path.relative_to(ROOT)}: {module}"] = sorted(names)
    assert missing == {}


def test_every_run_it_line_can_be_served() -> None:
    have = promised()
    runs = {p: re.search(r"Run it:\s+(\S+)", p.read_text()) for p in EXAMPLES}
    servers = {m.group(1) for m in runs.values() if m}
    assert servers == {"uvicorn"} and "uvicorn" in have
    websocket_examples = [p.name for p in EXAMPLES if "websocket" in p.read_text().lower() and runs[p]]
    assert websocket_examples, "the check below would check nothing"
    assert have & {"websockets", "wsproto"}, f"{websocket_examples} need a websocket library under uvicorn"
