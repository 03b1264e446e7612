"""Markdown pages of reports/: one per variant and an index comparing them all."""

from __future__ import annotations

from ..analysis.report import ModelReport
from ..audit.counts import counts
from ..memory.memory_report import MEMORY_CONVENTIONS as MEMORY
from ..model.registry import Variant
from .export import markdown_table
from .tables import COUNT_COLUMNS, STAGE_COLUMNS, convention_rows, flop_class_rows, headline, si, stage_rows


def variant_markdown(
    variant: Variant,
    report: ModelReport,
    figures: list[dict[str, str]],
    diagram_name: str,
    inference_peak: int | None = None,
) -> str:
    # The page's sections in reading order, each a few lines: apart, they would only pass the report around.
    values = counts(report)
    parts = [f"# {variant.name}", "", f"{variant.description}.", "", f"Source: {variant.source}."]
    if variant.reference:
        parts += [
            "",
            f"Same state_dict (keys and shapes) as `{variant.reference}`, so its weights load with "
            "`strict=True` (checked by the test suite).",
        ]
    parts += ["", _input_note(variant, report)]
    parts += [""] + [f"- **{k}**: {v}" for k, v in headline(report).items()]
    parts += _field_lines(report)
    parts += [
        "",
        "## Stages",
        "",
        markdown_table(
            stage_rows(report),
            STAGE_COLUMNS,
            numeric=COUNT_COLUMNS,
        ),
    ]
    count_rows = [
        {
            "count": c.label,
            "value": c.value if not isinstance(c.value, list) else str(c.value),
            "definition": c.definition,
        }
        for k, c in values.items()
        if not k.startswith("shape_") and not k.startswith(("macs_", "flops_")) and k not in ("macs", "flops")
    ]
    parts += ["", "## Counts", "", markdown_table(count_rows, ["count", "value", "definition"], numeric=["value"])]
    parts += [
        "",
        "## MACs and FLOPs under each convention",
        "",
        markdown_table(
            convention_rows(report), ["convention", "unit", "total", "short", "what", "why"], numeric=["total"]
        ),
    ]
    parts += [
        "",
        "## FLOPs by operator class (tool convention)",
        "",
        markdown_table(flop_class_rows(report), ["op class", "flops", "share %"], numeric=["flops"]),
    ]
    if inference_peak is not None:
        shape = "x".join(map(str, report.input_shape))
        rows = [
            {
                "figure": f"inference peak, {shape}, fp32, CUDA allocator (estimated on meta)",
                "bytes": inference_peak,
                "short": si(inference_peak, "B"),
                "what": MEMORY["inference peak"],
            },
            {
                "figure": "layer outputs added up",
                "bytes": report.totals.activation_bytes,
                "short": si(report.totals.activation_bytes, "B"),
                "what": MEMORY["sum of outputs"],
            },
        ]
        parts += [
            "",
            "## Memory",
            "",
            markdown_table(rows, ["figure", "bytes", "short", "what"], numeric=["bytes"]),
            "",
            f"A training step, another batch, precision or optimizer, the largest batch that fits: "
            f"`resnet-inspect memory {variant.name} --train --batch 32 --fit 24GB`.",
        ]
    if figures:
        parts += ["", "## Reference figures", "", markdown_table(figures, ["source", "figure", "ours", "match"])]
    parts += [
        "",
        "## Block diagram",
        "",
        f"Identical consecutive blocks drawn once. ![{variant.name} blocks]({diagram_name})",
    ]
    if report.warnings:
        parts += ["", "## Warnings", ""] + [f"- {w}" for w in report.warnings]
    return "\n".join(parts) + "\n"


def index_markdown(entries: list[tuple[Variant, ModelReport, int | None]]) -> str:
    rows = []
    for variant, report, peak in entries:
        values = counts(report)
        rows.append(
            {
                "variant": f"[{variant.name}](variants/{variant.name}.md)",
                "input": "x".join(map(str, report.input_shape[1:])),
                "depth": values["paper_depth"].value,
                "blocks": str(values["blocks_per_stage"].value),
                "params": report.totals.params,
                "MACs": report.totals.macs,
                "MACs (G)": f"{report.totals.macs / 1e9:.3f}",
                "FLOPs (G)": f"{report.totals.flops / 1e9:.3f}",
                "inference peak": si(peak, "B") if peak is not None else "",
                "reference": variant.reference or "",
            }
        )
    table = markdown_table(
        rows,
        [
            "variant",
            "input",
            "depth",
            "blocks",
            "params",
            "MACs",
            "MACs (G)",
            "FLOPs (G)",
            "inference peak",
            "reference",
        ],
        numeric=["params", "MACs"],
    )
    return (
        "# Registered variants\n\nEach at its default input, the native one of its reference (the input of a timm model's default pretrained configuration, 224 for torchvision's, 32 for CIFAR), batch 1, float32. Depth is the paper's "
        "(weighted layers on the main path); MACs are conv + linear multiply-accumulates without biases; FLOPs "
        "are 2 x MACs plus element-wise work; the inference peak is the most bytes alive at once in one fp32 "
        "forward pass, parameters and input included, as CUDA's caching allocator counts them (estimated on "
        "meta). Generated by `resnet-inspect report --all -o reports/`.\n\n" + table + "\n"
    )


def _input_note(variant: Variant, report: ModelReport) -> str:
    """Which input every figure of the page is at, and why that one."""
    side = variant.spec.image_size
    library = (variant.reference or "").split(":", 1)[0]
    why = {
        "timm": f"the input of `{variant.reference}`'s default pretrained configuration",
        "torchvision": "the input torchvision's ImageNet weights are evaluated at",
        "open_clip": "the input CLIP's positional embedding is made for",
    }.get(library, "the input of the paper's experiments")
    shape = "x".join(map(str, report.input_shape))
    return f"Every figure on this page is at input {shape}: {side}x{side} is {why}."


def _field_lines(report: ModelReport) -> list[str]:
    """The receptive field of the last stage's output (see the README's "Receptive field")."""
    stages = [s.name for s in report.stages if s.name not in ("stem", "head")]
    if not stages:
        return []
    row = report.layer(stages[-1])
    if row.rf_size is None:
        return []
    field = f"{row.rf_size} px, jump {row.rf_stride}, first centre at {row.rf_offset:g}"
    if row.rf_global_from:
        field += f"; every output also depends on the whole input from `{row.rf_global_from}` on (a global operator)"
    return [f"- **receptive field of {stages[-1]}**: {field}"]
