"""Running the command line as a user does: a separate process, its exit code, stdout and stderr."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path | str = ROOT, columns: int = 200, timeout: float = 600):
    """``python -m resnet_inspect ARGS`` in ``cwd`` with a terminal ``columns`` wide."""
    return subprocess.run(
        [sys.executable, "-m", "resnet_inspect", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": str(columns)},
        timeout=timeout,
    )
