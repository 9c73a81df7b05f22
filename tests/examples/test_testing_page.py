"""The examples of docs/testing.md are tests themselves: they pass, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_testing_pages_tests_pass_under_pytest() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ASGI_AUTH_TESTING"}  # the fixture must set it
    env["PYTHONPATH"] = str(ROOT)
    # Starlette 0.40 (the oldest run's) imports python-multipart as `multipart`, which newer
    # python-multipart answers with a PendingDeprecationWarning: Starlette's import, not ours.
    peers = ["-W", "ignore::PendingDeprecationWarning:starlette.formparsers"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "examples/testing", "-q", "-p", "no:cacheprovider", "-W", "error", *peers],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert "6 passed" in done.stdout
