"""Sessions: `nox -s tests`, `tests_versions`, `lint`, `typecheck`, `docs`, `bench`, `fuzz`."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "docs"]
PATHS = ["asgi_auth", "tests", "examples", "bench", "fuzz", "noxfile.py"]

# The oldest releases asgi_auth supports (frameworks, PyJWT, httpx, pydantic, anyio), and
# "newest" (whatever the index serves today).
# FastAPI 0.122.0 is the first to answer missing credentials with 401, as the contract does;
# 0.123.0 the first whose Security() scope chains accumulate per branch (#5624, #14419), which
# asgi_auth.integrations.fastapi.check_scopes reads. PyJWT 2.13.0: see docs/schemes.md.
OLDEST = [
    "starlette==0.40.0",
    "fastapi==0.123.0",
    "litestar[jwt]==2.10.0",
    "pyjwt[crypto]==2.13.0",
    "httpx==0.27.0",
    "pydantic==2.7.0",
    "anyio==4.2.0",
]


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
@nox.parametrize("versions", ["oldest", "newest"])
def tests_versions(session: nox.Session, versions: str) -> None:
    """The suite against the oldest and the newest supported Starlette, FastAPI, Litestar, PyJWT, httpx."""
    session.install("-e", ".[test]")
    if versions == "oldest":
        session.install(*OLDEST)
        # Newer Litestar brings `multipart` (another project), whose module shadows the one
        # Starlette 0.40 imports from python-multipart; Litestar 2.10 does not need it.
        session.run("python", "-m", "pip", "uninstall", "-y", "-q", "multipart")
        # The MCP SDK's own floor (anyio 4.9, pydantic 2.12, and Starlette 0.49.1 through
        # sse-starlette) is above asgi_auth's, so it cannot even be imported on this stack.
        # Its tests check a peer, not asgi_auth's floors, and the newest run has them; the
        # SDK is uninstalled so that nothing else can lean on the broken copy `.[test]` left.
        session.run("python", "-m", "pip", "uninstall", "-y", "-q", "mcp", "mcp-types", "sse-starlette", "httpx2")
    else:
        session.install("--upgrade", "starlette", "fastapi", "litestar[jwt]", "pyjwt[crypto]", "httpx")
    session.run("python", "-m", "pip", "freeze", silent=False)
    # Under Starlette 0.40 and anyio 4.2 Schemathesis's ASGI client leaves a blocking
    # portal running, so the process never exits; what it checks (the documents
    # patch_openapi writes) does not depend on those versions, and the newest run has it.
    leave_out = ["--ignore=tests/test_schemathesis.py"] if versions == "oldest" else []
    # The MCP SDK's tests, which import it (see above).
    if versions == "oldest":
        leave_out += ["--ignore=tests/examples/test_mcp_server.py", "--ignore=tests/test_rfc9728_mcp.py"]
    session.run("python", "-m", "pytest", "-x", "-q", *leave_out, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", *PATHS)
    session.run("ruff", "format", "--check", *PATHS)


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]", "mypy")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    session.install("-e", ".[docs,examples]")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def fuzz(session: nox.Session) -> None:
    """The long atheris run: `nox -s fuzz -- -max_total_time=3600` (default 10 minutes)."""
    session.install("-e", ".[test]")
    args = session.posargs or ["-max_total_time=600"]
    session.run("python", "fuzz/fuzz_middleware.py", "-max_len=1024", *args, "fuzz/corpus")


@nox.session
def load(session: nox.Session) -> None:
    """30 s of wrk over loopback against uvicorn; needs Debian's wrk."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "bench.load", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".[bench]")
    session.run(
        "python",
        "-m",
        "bench",
        "--plot",
        "docs/bench.png",
        "--json",
        "docs/bench.json",
        "--markdown",
        "docs/bench-table.md",
        *session.posargs,
    )
