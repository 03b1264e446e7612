import resnet_inspect as ri
from support import run_cli


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


def test_summary_json_and_meta_for_a_huge_input():
    result = run_cli("summary", "resnet152", "--device", "meta", "--input", "64x3x1024x1024", "--format", "json")
    assert result.returncode == 0, result.stderr
    import json

    data = json.loads(result.stdout)
    assert data["output_shape"] == [64, 1000] and data["totals"]["params"] == 60_192_808


def test_summary_table_names_every_convention():
    result = run_cli("summary", "resnet50", "--device", "meta", "--depth", "1")
    assert result.returncode == 0, result.stderr
    for name in ("torchinfo", "fvcore", "ptflops", "thop", "flopcounter", "25,557,032", "4,089,184,256"):
        assert name in result.stdout


def test_summary_bad_inputs_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def make():\n    raise RuntimeError('boom')\n")
    cases = [
        ["summary", "resnet05"],
        ["summary", "resnet50", "--input", "1x3x"],
        ["summary", "resnet50", "--input", "0x3x224x224"],
        ["summary", "resnet50", "--input", "-1"],
        ["summary", "resnet50", "--input", "1x5x64x64", "--device", "meta"],
        ["summary", "resnet50", "--format", "xml"],
        ["summary", "resnet50", "--convention", "gflops"],
        ["summary", f"{bad}:make"],
        ["summary", f"{tmp_path}/missing.py:make"],
        ["summary", "resnet50", "--set", "layers=3,0,6,3"],
        ["summary", "resnet50", "--format", "json", "-o", f"{tmp_path}/no/such/dir/out.json"],
    ]
    for args in cases:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stdout[-300:], result.stderr)
        assert "Traceback" not in result.stderr, args
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
