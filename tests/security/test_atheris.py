"""The atheris target, short: coverage-guided inputs through the middleware, no crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TARGET = Path(__file__).parents[2] / "fuzz" / "fuzz_middleware.py"


def test_atheris_short_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(TARGET), "-runs=20000", "-max_len=512", f"-artifact_prefix={tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 20000 runs" in result.stderr
