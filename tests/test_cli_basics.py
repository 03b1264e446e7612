import subprocess
import sys

import resnet_inspect as ri


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "resnet_inspect", *args], capture_output=True, text=True,
                          cwd=cwd, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def test_list_shows_every_variant():
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    for name in ri.variants():
        assert name in result.stdout
    assert "25,557,032" in result.stdout


def test_user_mistakes_give_one_line_and_exit_2():
    for args in (["lst"], [], ["list", "--bogus"]):
        result = run_cli(*args)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
