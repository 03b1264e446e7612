"""Counts under named, defined conventions, all read from one `ModelReport`.

"How many layers does ResNet-50 have?" has several right answers; each is a `Count` here with
the definition that makes it right."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..analysis.report import LayerRow, ModelReport, OpClass
from .conventions import CONVENTIONS

CONV_TYPES = ("Conv1d", "Conv2d", "Conv3d", "StdConv2d")
LINEAR_TYPES = ("Linear",)
ATTENTION_PARTS = {"se", "attn", "attention"}
# Inside a split-attention conv (ResNeSt) the grouped conv is the layer; its fc1/fc2 are the attention.
SPLIT_ATTENTION_TYPES = {"SplitAttention", "SplitAttn"}
# Parallel convolutions at one position of a block (SK's paths, Res2Net's scales) are one layer of depth, and
# so are the query, key and value projections of CLIP's attention pool (the key and value beside the query).
PARALLEL_PARTS = {"paths", "convs"}
PARALLEL_PROJECTIONS = {"k_proj", "v_proj"}


@dataclass(frozen=True)
class Count:
    key: str
    label: str
    definition: str
    value: Any


def _is_conv(row: LayerRow) -> bool:
    return row.type in CONV_TYPES


def _is_weighted(row: LayerRow) -> bool:
    return row.is_leaf and (row.type in CONV_TYPES or row.type in LINEAR_TYPES)


def _in_attention(row: LayerRow, types: dict[str, str]) -> bool:
    if set(row.name.split(".")) & ATTENTION_PARTS:
        return True
    return types.get(row.parent or "") in SPLIT_ATTENTION_TYPES and row.name.rsplit(".", 1)[-1] in ("fc1", "fc2")


def _parallel_copy(row: LayerRow) -> bool:
    """The second and later of parallel convolutions (``paths.1``, ``convs.2``; an attention's ``k_proj``)."""
    parts = row.name.split(".")
    if parts[-1] in PARALLEL_PROJECTIONS:
        return True
    return any(
        part in PARALLEL_PARTS and index + 1 < len(parts) and parts[index + 1].isdigit() and parts[index + 1] != "0"
        for index, part in enumerate(parts)
    )


def _main_path(row: LayerRow, types: dict[str, str]) -> bool:
    return not row.on_shortcut and not _in_attention(row, types)


def _norm_rows(report: ModelReport) -> list[LayerRow]:
    return [r for r in report.layers if any(op.op_class == OpClass.NORM for op in r.ops)]


def paper_depth(report: ModelReport) -> int:
    """Weighted layers on the main path: convolutions plus the classifier, with projection
    shortcuts and attention side branches (SE, ECA, SK's and ResNeSt's selection) excluded and parallel
    convolutions at one position (SK's paths, Res2Net's scales) counted once -- how "ResNet-50" gets
    its 50, and SK-ResNet-50 and Res2Net-50 theirs."""
    types = {r.name: r.type for r in report.layers}
    return sum(1 for r in report.layers if _is_weighted(r) and _main_path(r, types) and not _parallel_copy(r))


def main_path_convs(report: ModelReport) -> int:
    classifier = report.totals.classifier
    types = {r.name: r.type for r in report.layers}
    return sum(1 for r in report.layers if _is_conv(r) and r.is_leaf and _main_path(r, types) and r.name != classifier)


def blocks_per_stage(report: ModelReport) -> list[int]:
    return [s.blocks for s in report.stages if s.name not in ("stem", "head")]


def stage_shapes(report: ModelReport) -> dict[str, list[int] | None]:
    return {s.name: s.output_shape for s in report.stages}


def params_without_norm(report: ModelReport) -> int:
    return report.totals.params - sum(r.params for r in _norm_rows(report))


_COUNTS: list[tuple[str, str, str, Callable[[ModelReport], Any]]] = [
    (
        "paper_depth",
        "weighted layers (paper depth)",
        "weighted layers on the main path: convolutions + classifier, projection "
        "shortcuts and attention branches (SE, ECA, SK, split attention) excluded, parallel convolutions at one "
        "position (SK paths, Res2Net scales, the query, key and value of CLIP's attention pool) counted once",
        paper_depth,
    ),
    (
        "conv_modules",
        "convolution modules",
        "every Conv module that ran, shortcuts and SE included",
        lambda r: sum(1 for x in r.layers if _is_conv(x) and x.is_leaf),
    ),
    (
        "main_path_convs",
        "main-path convolutions",
        "convolutions on the main path (every parallel one), attention branches and classifier excluded",
        main_path_convs,
    ),
    (
        "shortcut_convs",
        "projection-shortcut convolutions",
        "convolutions inside downsample/shortcut branches",
        lambda r: sum(1 for x in r.layers if _is_conv(x) and x.is_leaf and x.on_shortcut),
    ),
    (
        "conv_plus_linear",
        "convolution + linear modules",
        "every Conv and Linear module",
        lambda r: sum(1 for x in r.layers if _is_weighted(x)),
    ),
    (
        "linear_modules",
        "linear modules",
        "every nn.Linear",
        lambda r: sum(1 for x in r.layers if x.type in LINEAR_TYPES),
    ),
    ("norm_layers", "normalization layers", "modules that run a normalization operator", lambda r: len(_norm_rows(r))),
    (
        "activation_modules",
        "activation modules",
        "activation modules (a shared one counts once)",
        lambda r: sum(1 for x in r.layers if x.is_leaf and x.type in ("ReLU", "Sigmoid", "SiLU", "GELU", "ReLU6")),
    ),
    (
        "activation_calls",
        "activation calls",
        "activation operators executed (a shared ReLU counts per call)",
        lambda r: r.op_total("count", OpClass.ACTIVATION),
    ),
    (
        "residual_adds",
        "residual additions",
        "element-wise additions of two feature maps of equal shape",
        lambda r: r.op_total("count", OpClass.RESIDUAL_ADD),
    ),
    (
        "se_modules",
        "attention modules",
        "channel-attention branches: SE, ECA, SK's selection (named se/attn)",
        lambda r: sum(1 for x in r.layers if x.name.rsplit(".", 1)[-1] in ATTENTION_PARTS and not x.is_leaf),
    ),
    (
        "stem_convs",
        "stem convolutions",
        "convolutions before the first stage",
        lambda r: sum(1 for x in r.layers if _is_conv(x) and x.is_leaf and x.stage == "stem"),
    ),
    ("stages", "stages", "residual stages", lambda r: len(blocks_per_stage(r))),
    ("blocks", "residual blocks", "blocks in all stages", lambda r: sum(blocks_per_stage(r))),
    ("blocks_per_stage", "blocks per stage", "blocks in each stage", blocks_per_stage),
    ("params", "parameters", "every parameter tensor, each shared tensor once", lambda r: r.totals.params),
    (
        "params_without_classifier",
        "parameters without the classifier",
        "all parameters minus the last layer's weight and bias",
        lambda r: r.totals.params_without_classifier,
    ),
    (
        "params_without_norm",
        "parameters without normalization",
        "all parameters minus BN weight and bias",
        params_without_norm,
    ),
    ("trainable_params", "trainable parameters", "parameters with requires_grad", lambda r: r.totals.trainable),
    ("buffers", "buffer elements", "BN running statistics and counters", lambda r: r.totals.buffers),
    (
        "params_and_buffers",
        "parameters + buffers",
        "everything in the state_dict",
        lambda r: r.totals.params + r.totals.buffers,
    ),
]


def counts(report: ModelReport) -> dict[str, Count]:
    result = {key: Count(key, label, definition, fn(report)) for key, label, definition, fn in _COUNTS}
    for name, conv in CONVENTIONS.items():
        key = name if name in ("macs", "flops") else f"{conv.unit.lower()}_{name}"
        result[key] = Count(key, f"{conv.unit} ({name})", conv.what, conv.compute(report))
    for stage, shape in stage_shapes(report).items():
        result[f"shape_{stage}"] = Count(
            f"shape_{stage}", f"{stage} output", "output shape, NCHW (batch, channels, height, width)", shape
        )
    return result
