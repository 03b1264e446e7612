import json
import re

import pytest
from support import ROOT, run_cli

import resnet_inspect as ri
from resnet_inspect.views.tables import si


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


def readme_file(name):
    """The README's example file that starts with ``# name``."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return next(b for b in blocks if b.startswith(f"# {name}"))


def test_the_readme_examples_run_and_hold(tmp_path):
    (tmp_path / "my_net.yaml").write_text(readme_file("my_net.yaml"))
    (tmp_path / "claims.yaml").write_text(readme_file("claims.yaml"))
    result = run_cli("summary", str(tmp_path / "my_net.yaml"), "--device", "meta", "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert f"{report['totals']['params']:,} parameters" in (ROOT / "README.md").read_text()
    result = run_cli("audit", "--claims", str(tmp_path / "claims.yaml"), "--format", "json")
    assert result.returncode == 0, result.stderr  # no claim is false
    verdicts = json.loads(result.stdout)
    assert len(verdicts) == 5 and [v["verdict"] for v in verdicts].count("true under macs") == 1


def test_version_and_list_by_family():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"resnet-inspect {ri.__version__}"
    result = run_cli("list", "--family", "cifar", columns=80)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("[cifar]") and len(lines) == 1 + 6
    assert all(len(line) <= 80 for line in lines)
    assert run_cli("list", "--grep", "squeeze").stdout.count("seresnet50") == 1
    every = run_cli("list", columns=80).stdout.splitlines()  # family headings too
    assert max(len(line) for line in every) <= 80 and sum(line.endswith("[rs]") for line in every) == 1


def test_list_parameter_table_is_exact():
    from resnet_inspect.model.catalog import counted_parameters
    from resnet_inspect.model.tables import parameter_counts

    assert parameter_counts() == counted_parameters(), "run: python -m resnet_inspect.publish"


def test_state_digest_table_is_the_built_networks():
    """identify names a file from this table without torch: it must be what building each variant gives."""
    from resnet_inspect.model.tables import state_digests
    from resnet_inspect.weights.infer import variant_state_digests

    assert state_digests() == variant_state_digests(), "run: python -m resnet_inspect.publish"


def test_mac_table_is_the_analyzers():
    """The catalog's MACs equal the committed reports/index.md, which a test keeps equal to the analyzer's."""
    import re

    from resnet_inspect.model.tables import mac_counts

    index = (ROOT / "reports" / "index.md").read_text()
    rows = dict(
        re.findall(r"^\| \[(\w+)\]\(variants/\w+\.md\) \|[^|]*\|[^|]*\|[^|]*\|[^|]*\| ([\d,]+) \|", index, re.M)
    )
    assert {name: int(text.replace(",", "")) for name, text in rows.items()} == mac_counts(), (
        "run: python -m resnet_inspect.publish"
    )


@pytest.mark.parametrize("columns", [34, 80, 120])
def test_summary_fits_any_terminal_without_cutting_a_digit(columns):
    report = ri.inspect("resnet50", device="meta")
    result = run_cli("summary", "resnet50", "--device", "meta", "--depth", "2", columns=columns)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert all(len(line) <= columns for line in out.splitlines())
    assert not re.search(r"\d…|…\d|\d,…", out)
    compact = "compact units" in out
    for stage in report.stages:  # every stage's parameters, whole: exact, or in compact units when said so
        assert f" {stage.params:,} " in out or (compact and f" {si(stage.params)} " in out), stage.name
    if columns < 120:
        assert "left out to fit" in out
    exact = run_cli("summary", "resnet50", "--device", "meta", "--depth", "2", "--exact", columns=columns).stdout
    assert all(f" {stage.macs:,} " in exact for stage in report.stages)


def test_a_bug_is_reported_as_one_with_the_way_to_its_traceback(monkeypatch):
    from resnet_inspect import cli

    def broken(args):
        raise KeyError("a key the tool itself lost")

    monkeypatch.setattr(cli, "_cmd_list", broken)
    result = run_cli("list")
    assert result.returncode == cli.INTERNAL_ERROR
    assert len(result.stderr.strip().splitlines()) == 1
    assert "internal error" in result.stderr and "bug" in result.stderr and "--debug" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(KeyError):
        cli.main(["--debug", "list"])
    monkeypatch.setenv(cli.DEBUG_VARIABLE, "1")
    with pytest.raises(KeyError):
        cli.main(["list"])


def test_a_user_mistake_under_debug_still_exits_2_after_its_traceback():
    result = run_cli("summary", "no_such_variant", "--debug")
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: unknown variant 'no_such_variant'")


def test_audit_at_80_columns_wraps_and_keeps_the_definitions():
    """An audit is for its definitions: a narrow terminal wraps every cell and cuts none."""
    out = run_cli("audit", "resnet50", columns=80).stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "definition" in out and "…" not in out and "(56x56x256" in out
    claims = run_cli("audit", "--claims", "claims/seeds.yaml", "--allow-code", columns=80).stdout
    assert max(len(line) for line in claims.splitlines()) <= 80 and "…" not in claims


def test_what_user_code_prints_stays_out_of_the_output(tmp_path):
    factory = tmp_path / "net.py"
    factory.write_text(
        "import torchvision\nprint('hello from the import')\n"
        "def make():\n    print('hello from the factory')\n    return torchvision.models.resnet18()\n"
    )
    result = run_cli("summary", f"{factory}:make", "--device", "meta", cwd=tmp_path)
    assert result.returncode == 0 and "hello" not in result.stdout + result.stderr
    debug = run_cli("--debug", "summary", f"{factory}:make", "--device", "meta", cwd=tmp_path)
    assert "hello from the import" in debug.stderr and "hello from the factory" in debug.stderr
