"""Named counting conventions: the tool's own, and presets that reproduce what other tools print.

Each preset is computed from a `ModelReport` alone (no torch), following the rules of the tool
it is named after; the tests run the real tools on several variants and require equality.
Why their totals differ for ResNet-50 (4.09 / 4.11 / 4.13 / 8.18 "G") is in each ``why``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import TypeVar

from ..analysis.report import LayerRow, ModelReport, OpClass, numel
from ..errors import UserError

Known = TypeVar("Known")


@dataclass(frozen=True)
class Convention:
    name: str
    unit: str  # "MACs" or "FLOPs"
    what: str  # what the number counts
    why: str  # where it differs from the others
    compute: Callable[[ModelReport], float]


def _exact(row: LayerRow, *type_names: str) -> bool:
    """The module's class is exactly torch.nn.<name> (tools that look up type(m) in a table)."""
    return any(row.type_path == f"torch.nn.modules.{path}" for path in type_names)


_CONV = ("conv.Conv1d", "conv.Conv2d", "conv.Conv3d")
_BN = ("batchnorm.BatchNorm1d", "batchnorm.BatchNorm2d", "batchnorm.BatchNorm3d")
_RELU = ("activation.ReLU", "activation.ReLU6", "activation.LeakyReLU", "activation.ELU", "activation.PReLU")
_MAXPOOL = (
    "pooling.MaxPool1d",
    "pooling.MaxPool2d",
    "pooling.MaxPool3d",
    "pooling.AdaptiveMaxPool1d",
    "pooling.AdaptiveMaxPool2d",
    "pooling.AdaptiveMaxPool3d",
)
_AVGPOOL = ("pooling.AvgPool1d", "pooling.AvgPool2d", "pooling.AvgPool3d")
_ADAPTIVE_AVG = ("pooling.AdaptiveAvgPool1d", "pooling.AdaptiveAvgPool2d", "pooling.AdaptiveAvgPool3d")
_LINEAR = ("linear.Linear",)


_GN = ("normalization.GroupNorm",)


def _in_ptflops_table(row: LayerRow) -> bool:
    """ptflops also has a rule for GroupNorm (its BatchNorm rule); thop has none."""
    return _in_module_table(row) or _exact(row, *_GN)


def _in_module_table(row: LayerRow) -> bool:
    """The module classes both thop and ptflops have a rule for (looked up by exact type)."""
    return _exact(row, *_CONV, *_BN, *_RELU, *_MAXPOOL, *_AVGPOOL, *_ADAPTIVE_AVG, *_LINEAR)


def _known(value: Known | None, row: LayerRow, what: str) -> Known:
    """A layer setting the presets rely on; a convolution or linear row always has it."""
    if value is None:
        raise ValueError(f"layer {row.name} ({row.type}) was recorded without its {what}")
    return value


def _conv_macs_of_call(row: LayerRow, out_shape: list[int] | None) -> int:
    in_channels, groups = _known(row.in_channels, row, "input channels"), _known(row.groups, row, "groups")
    return numel(out_shape) * (in_channels // groups) * prod(_known(row.kernel, row, "kernel"))


def _calls(row: LayerRow) -> list[tuple[list[int] | None, list[int] | None]]:
    return list(zip(row.input_shapes, row.output_shapes))


def _counted_rows(report: ModelReport, supported: Callable[[LayerRow], bool]) -> list[LayerRow]:
    """Rows a module-table tool charges: a supported module counts and hides its children;
    an unsupported one is looked into (thop's and ptflops' tree walk)."""
    children: dict[str | None, list[LayerRow]] = {}
    for row in report.layers:
        children.setdefault(row.parent, []).append(row)
    picked: list[LayerRow] = []

    def walk(row: LayerRow) -> None:
        if supported(row):
            picked.append(row)
            return
        for child in children.get(row.name, []):
            walk(child)

    for root in children.get(None, []):
        walk(root)
    return picked


def ours_macs(report: ModelReport) -> float:
    return report.totals.macs


def ours_flops(report: ModelReport) -> float:
    return report.totals.flops


def torchinfo_mult_adds(report: ModelReport) -> float:
    # torchinfo 1.8 LayerInfo.calculate_macs, summed over leaf modules, per call:
    # Conv*: (weight + bias) x N x output spatial; any other leaf with a direct weight/bias:
    # N x (weight + bias) -- so BatchNorm adds 2C per image and Linear adds its bias.
    total = 0
    for row in report.layers:
        if not row.is_leaf or not (row.weight_numel or row.bias_numel):
            continue
        for _, out in _calls(row):
            if not out:
                continue
            if "Conv" in row.type:
                total += (row.weight_numel + row.bias_numel) * prod(out[:1] + out[2:])
            else:
                total += out[0] * (row.weight_numel + row.bias_numel)
    return total


def fvcore_flops(report: ModelReport) -> float:
    # fvcore FlopCountAnalysis default handles: conv and linear/matmul MACs (no bias), batch_norm at
    # inference 2 per element with affine (1 without), group_norm and batch_norm in training 5 (4),
    # adaptive_avg_pool2d 1 per input element. ReLU, max-pool, add, mean, mul are skipped as unsupported.
    total = report.op_total("macs", OpClass.CONV, OpClass.LINEAR)
    total += report.op_total("flops", OpClass.NORM)  # the same rules as ours
    for row in report.layers:
        if row.type in ("AdaptiveAvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool3d"):
            total += sum(numel(inp) for inp, _ in _calls(row))
    return total


def ptflops_macs(report: ModelReport) -> float:
    # ptflops 0.7 (pytorch backend): modules looked up by exact type, per image (divided by
    # the batch): conv MACs + bias; ReLU 1 per output element; any pool 1 per input element;
    # BatchNorm and GroupNorm 2 per element with affine; Linear MACs + bias. Residual adds are not counted.
    total = 0
    for row in _counted_rows(report, _in_ptflops_table):
        for inp, out in _calls(row):
            if _exact(row, *_CONV):
                total += _conv_macs_of_call(row, out) + (numel(out) if row.bias_numel else 0)
            elif _exact(row, *_RELU):
                total += numel(out)
            elif _exact(row, *_MAXPOOL, *_AVGPOOL, *_ADAPTIVE_AVG):
                total += numel(inp)
            elif _exact(row, *_BN, *_GN):
                total += numel(inp) * (2 if row.affine else 1)
            elif _exact(row, *_LINEAR):
                total += numel(out) * _known(row.in_features, row, "input features") + (
                    numel(out) if row.bias_numel else 0
                )
    # ptflops also wraps F.relu, F.max_pool2d, F.avg_pool2d and F.adaptive_avg_pool2d and
    # counts every call, including the ones nn.ReLU / nn.MaxPool2d / ... make inside their
    # forward: those elements are counted twice.
    for row in report.layers:
        total += sum(op.elements for op in row.ops if op.op in _PTFLOPS_FUNCTIONAL_ACTS)
        if row.type in _PTFLOPS_FUNCTIONAL_POOLS:
            total += sum(numel(inp) for inp, _ in _calls(row))
    return total / report.input_shape[0]


# (F.softmax is wrapped too; torch.softmax and Tensor.softmax are not, and reach the same operator:
# the preset counts every softmax, as it is called in this tool's blocks.)
_PTFLOPS_FUNCTIONAL_ACTS = ("relu", "relu_", "elu", "elu_", "gelu", "_softmax", "softmax")
_PTFLOPS_FUNCTIONAL_POOLS = (
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
)


def thop_macs(report: ModelReport) -> float:
    # thop 0.1.1 (ultralytics-thop rules): exact types; conv output x Cin/groups x kernel (no
    # bias); BatchNorm 2 per element, doubled with affine (4); ReLU and max-pool 0; AvgPool 1 per
    # output element; AdaptiveAvgPool (kernel + 1) per output element; Linear in_features per output.
    total = 0.0
    for row in _counted_rows(report, _in_module_table):
        for inp, out in _calls(row):
            if _exact(row, *_CONV):
                total += _conv_macs_of_call(row, out)
            elif _exact(row, *_BN):
                total += 2 * numel(inp) * (2 if row.affine else 1)
            elif _exact(row, *_AVGPOOL):
                total += numel(out)
            elif _exact(row, *_ADAPTIVE_AVG):
                if inp is None or out is None:
                    continue
                kernel = prod(i / o for i, o in zip(inp[2:], out[2:]))
                total += int((kernel + 1) * numel(out))
            elif _exact(row, *_LINEAR):
                total += _known(row.in_features, row, "input features") * numel(out)
    return total


def flop_counter_mode_flops(report: ModelReport) -> float:
    # torch.utils.flop_counter.FlopCounterMode: 2 FLOPs per multiply-accumulate of conv and
    # matmul-like operators, bias and everything else ignored.
    return 2 * report.op_total("macs", OpClass.CONV, OpClass.LINEAR)


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "macs",
            "MACs",
            "multiply-accumulates of convolutions and linear layers, biases excluded",
            "the architecture's own cost; what the ResNet paper calls FLOPs",
            ours_macs,
        ),
        Convention(
            "flops",
            "FLOPs",
            "2 x MACs plus every element-wise operation: bias, BN (2/elem), "
            "activations, pooling, residual adds (1/elem)",
            "counts everything that runs",
            ours_flops,
        ),
        Convention(
            "torchinfo",
            "MACs",
            "torchinfo 'Total mult-adds': parameters x output positions of leaf modules",
            "adds conv biases and 2C per image for every BatchNorm; skips pools, ReLU, adds",
            torchinfo_mult_adds,
        ),
        Convention(
            "fvcore",
            "MACs",
            "fvcore FlopCountAnalysis total (it calls MACs 'flops')",
            "adds BatchNorm (2/elem) and the global average pool; skips ReLU, max-pool, adds",
            fvcore_flops,
        ),
        Convention(
            "ptflops",
            "MACs",
            "ptflops get_model_complexity_info (pytorch backend), per image",
            "adds conv biases, BN (2/elem), ReLU and pools (1/elem, counted twice: module and functional); skips adds",
            ptflops_macs,
        ),
        Convention(
            "thop",
            "MACs",
            "thop profile total",
            "adds BN at 4/elem and average pools; skips ReLU, max-pool, adds",
            thop_macs,
        ),
        Convention(
            "flopcounter",
            "FLOPs",
            "torch.utils.flop_counter.FlopCounterMode total",
            "2 x the conv and matmul MACs; nothing else",
            flop_counter_mode_flops,
        ),
    )
}


def convention(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise UserError(f"unknown convention {name!r}; choose one of {', '.join(CONVENTIONS)}") from None
