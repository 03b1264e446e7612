"""Audit counts, claim parsing and verdicts, claims files, and diffs."""

import pytest
import torch
from references import reference_model
from support import ROOT, run_cli

import resnet_inspect as ri
from resnet_inspect.audit.claims import Claim, check_claim, parse_claims
from resnet_inspect.audit.counts import counts
from resnet_inspect.audit.diff import diff_reports
from resnet_inspect.audit.values import parse_value


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_paper_depth_and_module_counts_match_the_real_network(depth):
    name = f"resnet{depth}"
    reference = reference_model(f"torchvision:{name}")
    values = counts(ri.inspect(reference, (1, 3, 64, 64), device="meta"))
    assert values["paper_depth"].value == depth
    modules = list(reference.modules())
    assert values["conv_modules"].value == sum(isinstance(m, torch.nn.Conv2d) for m in modules)
    assert values["norm_layers"].value == sum(isinstance(m, torch.nn.BatchNorm2d) for m in modules)
    assert values["linear_modules"].value == 1
    assert values["activation_modules"].value == sum(isinstance(m, torch.nn.ReLU) for m in modules)
    # torchvision reuses one ReLU per block: fewer modules than calls
    assert values["activation_calls"].value > values["activation_modules"].value
    assert values["residual_adds"].value == values["blocks"].value == sum(values["blocks_per_stage"].value)
    assert values["params"].value == sum(p.numel() for p in reference.parameters())
    ours = counts(ri.inspect(name, (1, 3, 64, 64), device="meta"))
    assert ours["paper_depth"].value == depth and ours["conv_modules"].value == values["conv_modules"].value


@pytest.mark.parametrize(
    "name, depth",
    [
        ("skresnet50", 50),
        ("res2net50_26w_4s", 50),
        ("resnetv2_50x1_bit", 50),
        ("seresnet50", 50),
        ("senet154", 154),
        ("resnetrs101", 104),  # ResNet-RS: 101, two more stem convs, the stem pool's conv
        ("resnet50d", 52),
        ("ecaresnet50d", 52),
        ("resnest50d", 52),  # the deep stem's 3 convs count
    ],
)
def test_paper_depth_of_the_family_follows_the_names(name, depth):
    """Attention branches (SE, ECA, SK's selection, ResNeSt's fc1/fc2) are not depth; parallel
    convolutions at one position (SK's two paths, Res2Net's scales) count once."""
    report = ri.inspect(name, (1, 3, 64, 64), device="meta")
    assert counts(report)["paper_depth"].value == depth


@pytest.mark.parametrize(
    "text, value, tolerance, kind",
    [
        ("23.5M", 23.5e6, 0.05e6, "number"),
        ("25,557,032", 25_557_032, 0, "number"),
        ("3.8×10^9 FLOPs", 3.8e9, 0.05e9, "number"),
        ("3.8x10^9", 3.8e9, 0.05e9, "number"),
        ("4.1 GFLOPs", 4.1e9, 0.05e9, "number"),
        ("49 conv layers", 49, 0, "number"),
        ("2350万", 23.5e6, 0.05e6, "number"),
        ("约 4450 万", 44.5e6, 0.05e6, "number"),
        ("1.8e9", 1.8e9, 0.05e9, "number"),
        ("11.3 billion", 11.3e9, 0.05e9, "number"),
        (50, 50, 0, "number"),
    ],
)
def test_number_forms(text, value, tolerance, kind):
    parsed = parse_value(text)
    assert parsed.kind == kind
    assert parsed.value == pytest.approx(value)
    assert parsed.tolerance == pytest.approx(tolerance)


def test_shape_list_and_boolean_forms():
    assert parse_value("56×56×256").value == [56, 56, 256]
    assert parse_value("7x7x64").kind == "shape"
    assert parse_value("[3, 4, 6, 3]").value == [3, 4, 6, 3]
    assert parse_value("3,4,6,3").value == [3, 4, 6, 3]
    assert parse_value("yes").value is True and parse_value("no").value is False
    assert parse_value("100", "1%").tolerance == pytest.approx(1.0)


@pytest.mark.parametrize("bad", ["lots", "23.5Q", "", "x3"])
def test_unparseable_value_lists_the_accepted_forms(bad):
    with pytest.raises(ValueError, match="accepted forms: .*23.5M"):
        parse_value(bad)


@pytest.fixture(scope="module")
def r50():
    return ri.inspect("resnet50", device="meta")


def verdict(report, quantity, value, **extra):
    return check_claim(Claim(model="resnet50", quantity=quantity, value=value, **extra), report)


def test_verdict_kinds(r50):
    assert verdict(r50, "params", "25.6M").verdict == "true"
    v = verdict(r50, "params", "23.5M")
    assert v.verdict == "true under params_without_classifier"
    assert "23,508,032" in v.explanation and "25,557,032" in v.explanation
    v = verdict(r50, "conv_layers", 50)
    assert v.verdict == "false" and "53" in v.explanation and "paper depth" in v.explanation
    assert verdict(r50, "flops", "4.1 GFLOPs").verdict == "true under macs"
    assert verdict(r50, "flops", "8.18 GFLOPs").verdict == "true under flops_flopcounter"
    assert verdict(r50, "macs", "4.11G").verdict == "true under macs_fvcore"
    assert verdict(r50, "stage_output", "14×14×1024", stage="conv4_x").verdict == "true"
    assert verdict(r50, "stage_output", "14×14×512", stage="layer3").verdict == "false"
    assert verdict(r50, "kernel", "3×3×64", layer="layer1.0.conv2").verdict == "true"
    assert verdict(r50, "blocks_per_stage", "[3, 4, 6, 3]").verdict == "true"
    assert verdict(r50, "se_modules", "no").verdict == "true"


def test_paper_v1_multiply_adds_claim():
    report = ri.inspect("resnet50_v1", device="meta")
    claim = Claim(model="resnet50_v1", quantity="flops", value="3.9×10^9")
    assert check_claim(claim, report).verdict == "true under macs"


def test_malformed_claims_name_line_and_field():
    with pytest.raises(ValueError, match=r"claims.yaml:3: field 'quantity': unknown quantity 'depth'; known: params"):
        parse_claims("claims:\n  - model: resnet50\n    quantity: depth\n    value: 50\n")
    with pytest.raises(ValueError, match=r":2: field 'value' is missing"):
        parse_claims("claims:\n  - model: resnet50\n    quantity: params\n")
    with pytest.raises(ValueError, match=r":4: field 'value': cannot read value 'many'.*accepted forms"):
        parse_claims("claims:\n  - model: resnet50\n    quantity: params\n    value: many\n")
    with pytest.raises(ValueError, match=r":5: field 'colour' is unknown"):
        parse_claims("claims:\n  - model: resnet50\n    quantity: params\n    value: 1\n    colour: red\n")
    with pytest.raises(ValueError, match=r":2: field 'stage' is required"):
        parse_claims("claims:\n  - model: resnet50\n    quantity: stage_output\n    value: 7x7x2048\n")
    with pytest.raises(ValueError, match=r"claims.yaml:\d+: invalid YAML"):
        parse_claims("claims:\n  - model: [resnet50\n")


def test_exit_codes(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("claims:\n  - model: resnet50\n    quantity: params\n    value: 25,557,032\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("claims:\n  - model: resnet50\n    quantity: layers\n    value: 34\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("claims:\n  - model: resnet50\n    quantity: nope\n    value: 1\n")
    code = tmp_path / "code.yaml"
    code.write_text("claims:\n  - model: net.py:make\n    quantity: params\n    value: 1\n")
    assert run_cli("audit", "--claims", str(good)).returncode == 0
    assert run_cli("audit", "--claims", str(bad)).returncode == 1
    result = run_cli("audit", "--claims", str(broken))
    assert result.returncode == 2 and "broken.yaml:3" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("audit", "--claims", str(code))
    assert result.returncode == 2 and "--allow-code" in result.stderr


def test_a_failed_claims_run_writes_nothing(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "claims:\n  - model: resnet50\n    quantity: params\n    value: 1\n"
        "  - model: resnet50\n    quantity: kernel\n    layer: nowhere\n    value: 3x3\n"
    )
    out = tmp_path / "out.md"
    result = run_cli("audit", "--claims", str(broken), "--format", "md", "-o", str(out))
    assert result.returncode == 2 and "no layer 'nowhere'" in result.stderr
    assert not out.exists()


def test_seed_audit_report_is_current(tmp_path):
    out = tmp_path / "audit-seeds.md"
    result = run_cli("audit", "--claims", "claims/seeds.yaml", "--allow-code", "--format", "md", "-o", str(out))
    assert result.returncode == 1  # the seeds contain false claims
    assert out.read_text() == (ROOT / "reports" / "audit-seeds.md").read_text(), "run the command in claims/seeds.yaml"


def test_diff_same_parameters_different_macs():
    a = ri.inspect("resnet50", device="meta")
    b = ri.inspect("resnet50_v1", device="meta")
    diff = diff_reports(a, b)
    assert a.totals.params == b.totals.params and a.totals.macs > b.totals.macs
    changed = {c.name for c in diff.layers}
    assert {"layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1"} <= changed
    assert all(c.change == "changed" for c in diff.layers)
    assert [p.name for p in diff.stages] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]


def test_diff_resnet50_vs_resnet50d_and_resnext():
    diff = diff_reports(ri.inspect("resnet50", device="meta"), ri.inspect("resnet50d", device="meta"))
    kinds = {c.name: c.change for c in diff.layers}
    assert kinds["conv1"] == "only in A" and kinds["conv1.0"] == "only in B"
    pool = next(c for c in diff.layers if c.name == "layer2.0.downsample.0")
    assert pool.change == "changed" and "type" in pool.what  # conv -> average pool
    assert kinds["layer2.0.downsample.2"] == "only in B"
    diff = diff_reports(ri.inspect("resnet50", device="meta"), ri.inspect("resnext50_32x4d", device="meta"))
    conv2 = next(c for c in diff.layers if c.name == "layer1.0.conv2")
    assert conv2.change == "changed" and "params" in conv2.what


def test_cli_diff_and_audit_run():
    result = run_cli("diff", "resnet50", "resnet50d")
    assert result.returncode == 0 and "only in B" in result.stdout
    result = run_cli("audit", "resnet18", "--no-live")
    assert result.returncode == 0 and "weighted layers (paper depth)" in result.stdout
    result = run_cli("audit", "resnet18", "--input", "1x3x64x64")  # torchinfo and fvcore run live
    assert result.returncode == 0 and "fvcore" in result.stdout
    assert "Warning" not in result.stderr, result.stderr  # nothing of theirs on the terminal
