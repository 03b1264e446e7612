"""The analyzer against real forward passes, torchvision/timm models and the 2015 paper."""

import json

import pytest
import torch
from references import reference_model
from torch import nn
from variants import every_variant

import resnet_inspect as ri
from resnet_inspect.analysis.report import ModelReport
from resnet_inspect.audit.published import TABLE1_MULT_ADDS, matches_printed


def small_input(name):
    spec = ri.resolve_spec(name)
    size = 32 if spec.image_size == 32 else 64
    return (1, spec.in_chans, size, size)


@pytest.mark.parametrize("name", every_variant())
def test_every_variant_params_exact_and_meta_equals_cpu(name):
    shape = small_input(name)
    cpu = ri.inspect(name, shape, device="cpu")
    meta = ri.inspect(name, shape, device="meta")
    model = ri.build(name)
    assert cpu.totals.params == sum(p.numel() for p in model.parameters())
    assert sum(row.params for row in cpu.layers) == cpu.totals.params
    assert meta.totals.macs == cpu.totals.macs > 0
    assert meta.totals.flops == cpu.totals.flops
    assert [r.output_shapes for r in meta.layers] == [r.output_shapes for r in cpu.layers]
    assert not cpu.uncounted


def test_resnet50_stage_shapes_and_totals():
    report = ri.inspect("resnet50", device="meta")
    shapes = {s.name: s.output_shape for s in report.stages}
    assert shapes["layer1"] == [1, 256, 56, 56]
    assert shapes["layer2"] == [1, 512, 28, 28]
    assert shapes["layer3"] == [1, 1024, 14, 14]
    assert shapes["layer4"] == [1, 2048, 7, 7]
    assert shapes["stem"] == [1, 64, 56, 56]
    assert [s.blocks for s in report.stages if s.name.startswith("layer")] == [3, 4, 6, 3]
    assert sum(s.params for s in report.stages) == report.totals.params
    assert sum(s.macs for s in report.stages) == report.totals.macs
    assert report.totals.params_without_classifier == report.totals.params - report.layer("fc").params
    fc = report.layer("fc")
    assert report.totals.macs - sum(r.macs for r in report.layers if r.type == "Conv2d") == fc.macs


@pytest.mark.parametrize("name", sorted(TABLE1_MULT_ADDS))
def test_table_1_multiply_adds(name):
    macs = ri.inspect(name, device="meta").totals.macs
    assert matches_printed(macs / 1e9, TABLE1_MULT_ADDS[name], 1), macs


def test_meta_handles_a_huge_input():
    report = ri.inspect("resnet152", (64, 3, 1024, 1024), device="meta")
    assert report.output_shape == [64, 1000]
    assert report.stages[-2].output_shape == [64, 2048, 32, 32]


def test_reference_models_are_analyzed_with_calls_and_outside_ops():
    model = reference_model("torchvision:resnet18")
    report = ri.inspect(model, (1, 3, 64, 64), device="cpu")
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    relu = report.layer("layer1.0.relu")
    assert relu.calls == 2 and len(relu.output_shapes) == 2  # one module, two calls
    block = report.layer("layer1.0")
    assert [op.op_class for op in block.ops] == ["residual_add"]  # out += identity, outside any leaf
    assert report.layer("").ops and all(op.op_class == "layout" for op in report.layer("").ops)  # torch.flatten
    assert report.stages[1].name == "layer1" and report.stages[1].blocks == 2


def test_zero_pad_shortcut_is_counted_on_its_module():
    report = ri.inspect("resnet20", device="cpu")
    shortcut = report.layer("layer2.0.downsample")
    assert {op.op for op in shortcut.ops} >= {"slice", "constant_pad_nd"}
    assert shortcut.params == 0 and shortcut.output_shapes == [[1, 32, 16, 16]]


def test_an_operator_without_rule_is_listed_not_dropped():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.cumsum(self.conv(x), dim=1)

    report = ri.inspect(Odd(), (1, 3, 8, 8), device="cpu")
    assert [op.op for op in report.uncounted] == ["cumsum"]
    assert report.uncounted[0].elements == 4 * 6 * 6


def test_receptive_field_of_stacked_convolutions():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3, dilation=2))
    report = ri.inspect(model, (1, 1, 32, 32), device="cpu")
    assert [report.layer(n).rf_size for n in ("0", "1", "2")] == [3, 5, 13]
    assert [report.layer(n).rf_stride for n in ("0", "1", "2")] == [1, 2, 2]
    # centre of the first output pixel: +1 per unpadded 3x3 at jump 1, then +2 (dilation 2) at jump 2
    assert report.layer("2").rf_offset == 0.5 + 1 + 1 + 2 * 2


def test_shared_parameters_are_counted_once():
    conv = nn.Conv2d(3, 3, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(), conv)
    report = ri.inspect(model, (1, 3, 8, 8), device="cpu")
    assert report.totals.params == 84
    assert report.layer("0").calls == 2 and report.layer("0").params == 84


def test_json_round_trip():
    report = ri.inspect("resnet18d", (1, 3, 64, 64), device="meta")
    text = report.to_json()
    again = ModelReport.from_json(text)
    assert again == report
    assert json.loads(text)["schema_version"] == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_size": (1, 3, 0, 224)}, "must be positive"),
        ({"input_size": "1x3x"}, "expected NxCxHxW"),
        ({"input_size": (1, 4, 64, 64)}, "expects 3"),
        ({"input_size": (1, 3, 64, 64), "device": "tpu"}, "unknown device"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ri.AnalysisError, match=message):
        ri.inspect("resnet50", **kwargs)


def test_too_small_input_names_the_layer_and_the_smallest_size():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 7), nn.ReLU())
    with pytest.raises(ri.AnalysisError, match="too small: it fails in 1; the smallest input that works is 1x3x7x7"):
        ri.inspect(model, (1, 3, 5, 5), device="cpu")


def test_padding_lets_resnet50_run_on_one_pixel_with_a_warning():
    report = ri.inspect("resnet50", (1, 3, 1, 1), device="meta")
    assert report.output_shape == [1, 1000]
    assert any(w.startswith("from layer1 on") for w in report.warnings)


def test_tiny_input_warns_about_1x1_maps():
    report = ri.inspect("resnet50", (1, 3, 16, 16), device="meta")
    assert any("layer3" in w and "1x1" in w for w in report.warnings)


def test_a_callers_model_is_left_as_it_was():
    model = reference_model("torchvision:resnet18").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ri.inspect(model, (2, 3, 64, 64), device="cpu")
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN statistics untouched


def test_the_pass_leaves_torchs_random_state_alone_and_sees_a_varied_input():
    from resnet_inspect.analysis.analyze import probe_input

    seen = []
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    model[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    state = torch.get_rng_state()
    ri.inspect(model, (2, 3, 5, 7), device="cpu")
    ri.inspect(model, (2, 3, 5, 7), device="cpu")
    assert torch.equal(torch.get_rng_state(), state)
    x = seen[0]
    assert torch.equal(x, seen[1]) and torch.equal(x, probe_input((2, 3, 5, 7), "cpu", torch.float32))
    assert x.min() >= -1 and x.max() < 1
    assert all(x.std(dim=axis).min() > 0.2 for axis in range(4))  # not constant along any axis
    assert probe_input((4, 197, 192), "cpu", torch.bfloat16).dtype == torch.bfloat16


def test_a_model_that_writes_into_its_input_does_not_change_the_next_passs_input():
    class ZeroesItsInput(nn.Module):
        def forward(self, x):
            return x.mul_(0)

    model = nn.Sequential(ZeroesItsInput(), nn.Conv2d(3, 4, 3))
    seen = []
    model[1].register_forward_pre_hook(lambda m, args: seen.append(args[0].abs().sum().item()))
    inner = nn.Sequential(nn.Conv2d(3, 4, 3))
    inner[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].abs().sum().item()))
    for _ in range(2):  # the first pass makes the pattern; the second gets it as made before
        ri.inspect(model, (1, 3, 6, 6), device="cpu")
    ri.inspect(inner, (1, 3, 6, 6), device="cpu")
    assert seen[:2] == [0, 0] and seen[2] > 0  # the last pass got the pattern, not a zeroed tensor


@pytest.mark.parametrize("name", ["resnet50", "ecaresnet26t", "resnet50_gn", "resnetrs50", "resnetv2_50"])
def test_meta_and_cpu_reports_are_identical_field_for_field(name):
    meta = ri.inspect(name, (1, 3, 64, 64), device="meta").to_dict()
    cpu = ri.inspect(name, (1, 3, 64, 64), device="cpu").to_dict()
    meta.pop("device"), cpu.pop("device")
    assert meta == cpu


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_a_report_is_the_same_when_asked_for_under_inference_mode(device):
    """Inference mode skips the autograd layer that takes conv2d, batch_norm and linear apart; a caller
    inside it (a serving process, a notebook cell) gets the same report, with nothing left uncounted."""
    size = (1, 3, 64, 64)
    plain = ri.inspect("resnet18", size, device=device)
    with torch.inference_mode():
        inside = ri.inspect("resnet18", size, device=device)
        built_inside = ri.inspect(ri.build("resnet18"), size, device=device)
    assert not inside.warnings and not built_inside.warnings
    for report in (inside, built_inside):
        assert report.totals.macs == plain.totals.macs and report.totals.flops == plain.totals.flops
