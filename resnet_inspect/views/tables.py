"""Tables as plain rows (lists of dicts) built from a report; every output format renders these."""

from __future__ import annotations

from typing import Any

from ..analysis.report import LayerRow, ModelReport, OpClass
from ..audit.conventions import CONVENTIONS
from ..text import visible


def shape_text(shape: list[int] | None) -> str:
    return "x".join(str(d) for d in shape) if shape else "-"


def feature_map_text(shape: list[int] | None) -> str:
    """NCHW as the papers write it: HxWxC (56x56x256)."""
    if shape and len(shape) == 4:
        return f"{shape[2]}x{shape[3]}x{shape[1]}"
    return shape_text(shape[1:] if shape else None)


def si(value: float, unit: str = "") -> str:
    """25557032 -> '25.56M' (decimal prefixes, as papers and tools print them)."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f}{prefix}{unit}"
    return f"{value:g}{unit}"


def exact(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def readable(value: Any) -> str:
    """A cell as a person reads it: integers grouped by thousands, shares with two decimals."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


NO_STAGES = (
    "No stages: this network declares none (no feature_info, no layer1 or stages.0 containers), "
    "so its layers are not grouped into a stem, stages and a head."
)


LAYER_COLUMNS = (
    "name",
    "type",
    "depth",
    "calls",
    "input",
    "output",
    "params",
    "macs",
    "flops",
    "rf",
    "stage",
    "block",
    "kernel",
    "stride",
    "groups",
)


def _rf_text(row: LayerRow) -> str:
    """The local receptive field (size and jump, in input pixels), and "+ global" where a global
    operator also lies on the way (its name is in the report's rf_global_from)."""
    if row.rf_size is None:
        return "global" if row.rf_global else "-"
    return f"{row.rf_size} (/{row.rf_stride})" + (" + global" if row.rf_global else "")


def layer_rows(report: ModelReport, depth: int | None = None, *, include_root: bool = False) -> list[dict[str, Any]]:
    """One dict per module down to ``depth`` (all when None), in execution order.

    Parameters, MACs and FLOPs include everything a row contains, so a collapsed container
    shows its whole cost; the root row is the model total."""
    rows = []
    for row in report.layers:
        if row.name == "" and not include_root:
            continue
        if depth is not None and row.depth > depth:
            continue
        rows.append(
            {
                "name": row.name or "(model)",
                "type": row.type,
                "depth": row.depth,
                "calls": row.calls,
                "input": shape_text(row.input_shapes[0] if row.input_shapes else None),
                "output": shape_text(row.output_shapes[-1] if row.output_shapes else None),
                "params": row.total_params,
                "macs": row.total_macs,
                "flops": row.total_flops,
                "rf": _rf_text(row),
                "stage": row.stage or "",
                "block": row.block,
                "kernel": "x".join(map(str, row.kernel)) if row.kernel else "",
                "stride": "x".join(map(str, row.stride)) if row.stride else "",
                "groups": row.groups,
            }
        )
    return rows


# The stage table's columns, in order, for every renderer (terminal, Markdown, HTML, report pages).
STAGE_COLUMNS = ("stage", "blocks", "output", "params", "params %", "macs", "macs %")
# The layer columns a document shows (CSV and JSON carry all of LAYER_COLUMNS).
LAYER_DOCUMENT_COLUMNS = ("name", "type", "calls", "output", "params", "macs", "flops", "rf")
# Columns of either table that hold counts (right-aligned, digits grouped).
COUNT_COLUMNS = ("params", "macs", "flops")


def stage_rows(report: ModelReport) -> list[dict[str, Any]]:
    return [
        {
            "stage": stage.name,
            "blocks": str(stage.blocks) if stage.blocks else "-",
            "output": feature_map_text(stage.output_shape),
            "params": stage.params,
            "params %": round(100 * stage.params_share, 2),
            "macs": stage.macs,
            "macs %": round(100 * stage.macs_share, 2),
        }
        for stage in report.stages
    ]


def convention_rows(report: ModelReport) -> list[dict[str, Any]]:
    rows = []
    for name, conv in CONVENTIONS.items():
        value = conv.compute(report)
        rows.append(
            {
                "convention": name,
                "unit": conv.unit,
                "total": value,
                "short": si(value),
                "what": conv.what,
                "why": conv.why,
            }
        )
    return rows


def flop_class_rows(report: ModelReport) -> list[dict[str, Any]]:
    total = report.totals.flops or 1
    rows = []
    for op_class, flops in sorted(report.totals.flops_by_class.items(), key=lambda kv: -kv[1]):
        if op_class in (OpClass.LAYOUT, OpClass.ALLOC) and not flops:
            continue
        rows.append({"op class": op_class, "flops": flops, "share %": round(100 * flops / total, 2)})
    return rows


def headline(report: ModelReport) -> dict[str, str]:
    t = report.totals
    return {
        "model": report.model,
        "input": shape_text(report.input_shape),
        "device": f"{report.device} ({report.dtype})",
        "parameters": f"{t.params:,} ({si(t.params)})",
        "without classifier": f"{t.params_without_classifier:,}"
        + (f" (excludes {t.classifier})" if t.classifier else ""),
        "MACs (conv+linear, no bias)": f"{t.macs:,} ({si(t.macs)})",
        "FLOPs (2xMACs + element-wise)": f"{t.flops:,} ({si(t.flops)})",
        "layer outputs added up (not a peak)": f"{t.activation_bytes:,} B ({si(t.activation_bytes, 'B')})",
    }


def weights_lines(weights: dict | None) -> list[str]:
    """The real weights a report was made with, in a few lines (nothing when it had none)."""
    if not weights:
        return []
    dtypes = ", ".join(f"{dtype} x{count}" for dtype, count in weights["dtypes"].items())
    lines = [
        f"weights: {weights['file']} ({weights['format']}): {si(weights['bytes_on_disk'], 'B')} on disk, "
        f"{si(weights['bytes_in_memory'], 'B')} of the network's tensors in memory; {dtypes}"
    ]
    if weights.get("read_as"):
        lines.append("  read: " + "; ".join(weights["read_as"]))
    if weights.get("identified_as"):
        lines.append(f"  identified as {' and '.join(weights['identified_as'])}")
    elif weights.get("closest"):
        lines.append(f"  closest registered variant: {weights['closest']} ({'; '.join(weights['differences'])})")
    if weights.get("cannot_show"):
        lines.append(f"  the weights cannot show: {'; '.join(weights['cannot_show'])}")
    kernels = [t for t in weights["tensors"] if len(t["shape"]) > 1]  # conv and linear weights
    zeros = sorted(kernels, key=lambda t: -t["zeros"])[:3]
    lines.append(
        f"  dead BatchNorm channels (|scale| < 0.001): {weights['dead_channels']:,}"
        + (
            f" (besides {weights['zero_initialised_channels']:,} in norms whose every scale is exactly 0: "
            "zero-initialised, as a block's last norm starts, not trained)"
            if weights.get("zero_initialised_channels")
            else ""
        )
        + "; most zeros: "
        + ", ".join(f"{t['name']} {100 * t['zeros']:.1f}%" for t in zeros)
    )
    return [visible(line) for line in lines]  # a file's name and its tensors' names: shown, never sent raw
