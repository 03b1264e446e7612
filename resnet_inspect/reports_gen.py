"""`resnet-inspect report`: a Markdown page per variant and an index comparing them all."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from .analyze import inspect
from .audit import counts
from .fileio import write_atomic
from .paper import TABLE1_MULT_ADDS, TABLE6_PARAMS, matches_printed
from .registry import Variant, get_variant
from .report import ModelReport
from .views.export import markdown_table
from .views.graphs import build_graph, render
from .views.tables import convention_rows, flop_class_rows, headline, si, stage_rows


def reference_figures(variant: Variant, report: ModelReport) -> list[dict[str, str]]:
    """Figures published for this variant, computed or read from their source, and whether ours match."""
    rows = []
    if variant.name in TABLE1_MULT_ADDS:
        printed = TABLE1_MULT_ADDS[variant.name]
        ok = matches_printed(report.totals.macs / 1e9, printed, 1)
        rows.append({"source": "He et al. 2015, Table 1 (FLOPs = multiply-adds)", "figure": f"{printed} x10^9",
                     "ours": f"{report.totals.macs:,} MACs", "match": "yes" if ok else "NO"})
    if variant.name in TABLE6_PARAMS:
        printed = TABLE6_PARAMS[variant.name]
        ok = matches_printed(report.totals.params / 1e6, printed, 2 if printed < 1 else 1)
        rows.append({"source": "He et al. 2015, Table 6 (parameters)", "figure": f"{printed}M",
                     "ours": f"{report.totals.params:,}", "match": "yes" if ok else "NO"})
    if variant.reference:
        rows.extend(_library_figures(variant.reference, report))
    return rows


def _library_figures(reference: str, report: ModelReport) -> list[dict[str, str]]:
    lib, name = reference.split(":")
    try:
        if lib == "torchvision":
            import torchvision

            weights = torchvision.models.get_model_weights(name)
            meta = next(iter(weights)).meta
            rows = [{"source": f"torchvision {name} weights metadata (num_params)", "figure": f"{meta['num_params']:,}",
                     "ours": f"{report.totals.params:,}",
                     "match": "yes" if meta["num_params"] == report.totals.params else "NO"}]
            if "_ops" in meta:
                ok = abs(meta["_ops"] - report.totals.macs / 1e9) < 0.0005
                rows.append({"source": f"torchvision {name} weights metadata (_ops, GFLOPS)", "figure": f"{meta['_ops']}",
                             "ours": f"{report.totals.macs / 1e9:.3f} G MACs", "match": "yes" if ok else "NO"})
            return rows
        import timm
        import torch

        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False)
        params = sum(p.numel() for p in model.parameters())
        return [{"source": f"timm {name} (built, parameters counted)", "figure": f"{params:,}",
                 "ours": f"{report.totals.params:,}", "match": "yes" if params == report.totals.params else "NO"}]
    except ImportError:
        return [{"source": reference, "figure": "(library not installed)", "ours": "", "match": ""}]


def variant_markdown(variant: Variant, report: ModelReport, diagram_name: str) -> str:
    values = counts(report)
    parts = [f"# {variant.name}", "", f"{variant.description}.", "", f"Source: {variant.source}."]
    if variant.reference:
        parts += ["", f"Same state_dict (keys and shapes) as `{variant.reference}`, so its weights load with "
                      "`strict=True` (checked by the test suite)."]
    parts += [""] + [f"- **{k}**: {v}" for k, v in headline(report).items()]
    parts += ["", "## Stages", "", markdown_table(stage_rows(report), ["stage", "blocks", "output", "params",
                                                                         "params %", "macs", "macs %"],
                                                  numeric=["params", "macs"])]
    count_rows = [{"count": c.label, "value": c.value if not isinstance(c.value, list) else str(c.value),
                   "definition": c.definition} for k, c in values.items()
                  if not k.startswith("shape_") and not k.startswith(("macs_", "flops_")) and k not in ("macs", "flops")]
    parts += ["", "## Counts", "", markdown_table(count_rows, ["count", "value", "definition"], numeric=["value"])]
    parts += ["", "## MACs and FLOPs under each convention", "",
              markdown_table(convention_rows(report), ["convention", "unit", "total", "short", "what", "why"],
                             numeric=["total"])]
    parts += ["", "## FLOPs by operator class (tool convention)", "",
              markdown_table(flop_class_rows(report), ["op class", "flops", "share %"], numeric=["flops"])]
    figures = reference_figures(variant, report)
    if figures:
        parts += ["", "## Reference figures", "", markdown_table(figures, ["source", "figure", "ours", "match"])]
    parts += ["", "## Block diagram", "", f"Identical consecutive blocks drawn once. ![{variant.name} blocks]"
                                            f"({diagram_name})"]
    if report.warnings:
        parts += ["", "## Warnings", ""] + [f"- {w}" for w in report.warnings]
    return "\n".join(parts) + "\n"


def index_markdown(entries: list[tuple[Variant, ModelReport]]) -> str:
    rows = []
    for variant, report in entries:
        values = counts(report)
        rows.append({
            "variant": f"[{variant.name}](variants/{variant.name}.md)",
            "input": "x".join(map(str, report.input_shape[1:])),
            "depth": values["paper_depth"].value,
            "blocks": str(values["blocks_per_stage"].value),
            "params": report.totals.params,
            "MACs": report.totals.macs,
            "MACs (G)": f"{report.totals.macs / 1e9:.3f}",
            "FLOPs (G)": f"{report.totals.flops / 1e9:.3f}",
            "activations": si(report.totals.activation_bytes, "B"),
            "reference": variant.reference or "",
        })
    table = markdown_table(rows, ["variant", "input", "depth", "blocks", "params", "MACs", "MACs (G)", "FLOPs (G)",
                                  "activations", "reference"], numeric=["params", "MACs"])
    return ("# Registered variants\n\nEach at its own default input, batch 1, float32. Depth is the paper's "
            "(weighted layers on the main path); MACs are conv + linear multiply-accumulates without biases; FLOPs "
            "are 2 x MACs plus element-wise work. Generated by `resnet-inspect report --all -o reports/`.\n\n"
            + table + "\n")


def write_reports(names: Iterable[str], out_dir: str | Path, progress: Callable[[Iterable], Iterable] = iter,
                  index: bool = True) -> list[Path]:
    """Write reports/<variants>/<name>.md, its block diagram, and (optionally) index.md."""
    out = Path(out_dir)
    if not out.is_dir():
        raise ValueError(f"cannot write reports: folder {out} does not exist")
    variant_dir = out / "variants"
    variant_dir.mkdir(exist_ok=True)
    written, entries = [], []
    for name in progress(list(names)):
        variant = get_variant(name)
        report = inspect(name, device="meta")
        diagram = f"{name}-blocks.svg"
        svg = render(build_graph(report, "block", collapse=True), "svg")
        written.append(write_atomic(variant_dir / diagram, svg))
        written.append(write_atomic(variant_dir / f"{name}.md", variant_markdown(variant, report, diagram)))
        entries.append((variant, report))
    if index:
        written.append(write_atomic(out / "index.md", index_markdown(entries)))
    return written
