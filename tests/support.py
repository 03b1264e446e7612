"""Running the command line as a user does: its exit code, stdout and stderr.

`run_cli` calls the CLI's ``main`` in this process (no torch import per case), with the terminal width,
the working folder and both streams set as a separate process would see them. `run_cli_process` runs
a separate process, for what only one can show (what gets imported, environment settings read at
import time)."""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Set by `make test-all`: property tests draw their full number of examples.
ALL_TESTS = os.environ.get("RESNET_INSPECT_ALL_TESTS", "") not in ("", "0")


def examples(full: int) -> int:
    """How many examples a costly property test draws: ``full`` under make test-all, an eighth otherwise
    (derandomized, so the same ones every run)."""
    return full if ALL_TESTS else max(full // 8, 20)


def run_cli(*args: str, cwd: Path | str = ROOT, columns: int = 200) -> subprocess.CompletedProcess:
    """``resnet-inspect ARGS`` in ``cwd`` with a terminal ``columns`` wide, in this process."""
    from resnet_inspect import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    before, columns_before = os.getcwd(), os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = cli.main(list(args))
            except SystemExit as exit:  # --help and --version leave through argparse
                code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    finally:
        os.chdir(before)
        if columns_before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = columns_before
    return subprocess.CompletedProcess(["resnet-inspect", *args], code, stdout.getvalue(), stderr.getvalue())


def run_cli_process(*args: str, cwd: Path | str = ROOT, columns: int = 200, timeout: float = 600, env=None):
    """``python -m resnet_inspect ARGS`` as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "resnet_inspect", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": str(columns), **(env or {})},
        timeout=timeout,
    )
