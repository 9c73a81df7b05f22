"""Build the sdist and the wheel, install each where nothing else is, and use it.

`python -m build` makes the wheel from the sdist, so a file missing from the sdist
fails here. Each artefact is installed with `--no-deps` into a fresh venv, whose only
other path is the running environment's site-packages (for the dependencies, so that
nothing is downloaded; the checkout's editable install is not active there). Run from
outside the checkout, it must import from the venv, ship `py.typed`, and answer one
request through `AuthMiddleware` with 401 and 200.

Run it:  python .ci/smoke_package.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SMOKE = r"""
import asyncio, pathlib, sys
import asgi_auth as aa

where = pathlib.Path(aa.__file__).resolve()
assert str(where).startswith(sys.argv[1]), f"imported {where}, not the installed artefact"
assert (where.parent / "py.typed").is_file(), "py.typed is missing"

key = aa.APIKeyHeader(name="X-Key", verifier=aa.inline(lambda k: aa.Principal("svc") if k == "k" else None))

async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["state"]["auth"].principal.subject.encode()})

guarded = aa.AuthMiddleware(app, aa.AuthPolicy([], default=key))

async def status(headers):
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/", "raw_path": b"/", "root_path": "", "query_string": b"",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await guarded(scope, receive, send)
    return sent[0]["status"], sent[-1].get("body", b"")

assert asyncio.run(status([])) [0] == 401
assert asyncio.run(status([(b"x-key", b"k")])) == (200, b"svc")
print("ok", aa.__version__, where.parent)
"""


# A PYTHONPATH (a checkout's, say) would put another asgi_auth ahead of the installed one.
CLEAN = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def run(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=CLEAN, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode:
        sys.exit(f"failed: {' '.join(args)}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dist"
        run(sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT))
        artefacts = sorted(out.glob("asgi_auth-*.whl")) + sorted(out.glob("asgi_auth-*.tar.gz"))
        if len(artefacts) != 2:
            sys.exit(f"expected one wheel and one sdist, got {[a.name for a in artefacts]}")
        for artefact in artefacts:
            env = Path(tmp) / ("venv-" + artefact.name)
            venv.create(env, with_pip=False)
            python = str(env / "bin" / "python")
            purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
            Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
            run(
                sys.executable,
                "-m",
                "pip",
                "--python",
                python,
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                str(artefact),
            )
            print(artefact.name, run(python, "-c", SMOKE, str(Path(purelib).resolve()), cwd=Path(tmp)).strip())


if __name__ == "__main__":
    main()
