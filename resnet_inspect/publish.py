"""`resnet-inspect report`: write reports/ (a page and a block diagram per variant, and the index)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from .analysis.analyze import inspect
from .analysis.report import ModelReport
from .audit.published import reference_figures
from .fileio import ensure_folder, write_atomic
from .memory.estimate import Simulator
from .memory.plan import MemoryPlan
from .model.registry import Variant, get_variant
from .views.graphs import build_graph, render_graph
from .views.pages import index_markdown, variant_markdown


def write_generated_tables() -> list[Path]:
    """The data files of `resnet_inspect.model.tables`: the pruned networks' width tables and the native
    input sizes (from the installed timm), then every registered variant's parameters and MACs (built
    and analysed on meta; a process that read older tables must run this again to count with the new)."""
    from .model.catalog import counted_parameters
    from .model.registry import variants
    from .model.tables import (
        NATIVE_INPUTS_FILE,
        STATE_DIGESTS_FILE,
        VARIANT_COUNTS_FILE,
        WIDTH_TABLES_FILE,
        table_text,
    )
    from .model.width_tables import timm_native_inputs, timm_tables
    from .weights.infer import variant_state_digests

    widths = {name: {"stage_channels": s, "block_channels": b} for name, (s, b) in timm_tables().items()}
    written = [write_atomic(WIDTH_TABLES_FILE, table_text({"tables": widths}))]
    written.append(write_atomic(NATIVE_INPUTS_FILE, table_text({"timm": timm_native_inputs()})))
    macs = {name: inspect(name, device="meta").totals.macs for name in variants()}
    counts = {"parameters": counted_parameters(), "macs": macs}
    written.append(write_atomic(VARIANT_COUNTS_FILE, table_text(counts)))
    written.append(write_atomic(STATE_DIGESTS_FILE, table_text({"variants": variant_state_digests()})))
    return written


def inference_peak(name: str, input_shape: list[int]) -> int:
    """Bytes at the peak of one fp32 forward pass at ``input_shape``, as CUDA's caching allocator counts
    them (estimated on meta)."""
    plan = MemoryPlan(input_shape[0], tuple(input_shape[1:]), train=False, device="cuda")
    return Simulator(name).peaks(plan)[0]


def write_reports(
    names: Iterable[str], out_dir: str | Path, progress: Callable[[Iterable], Iterable] = iter, index: bool = True
) -> list[Path]:
    """Write reports/<variants>/<name>.md, its block diagram, and (optionally) index.md."""
    out = ensure_folder(out_dir)
    variant_dir = ensure_folder(out / "variants")
    written: list[Path] = []
    entries: list[tuple[Variant, ModelReport, int | None]] = []
    for name in progress(list(names)):
        variant = get_variant(name)
        report = inspect(name, device="meta")
        diagram = f"{name}-blocks.svg"
        svg = render_graph(build_graph(report, "block", collapse=True), "svg")
        written.append(write_atomic(variant_dir / diagram, svg))
        peak = inference_peak(name, report.input_shape)
        page = variant_markdown(variant, report, reference_figures(variant, report), diagram, peak)
        written.append(write_atomic(variant_dir / f"{name}.md", page))
        entries.append((variant, report, peak))
    if index:
        written.append(write_atomic(out / "index.md", index_markdown(entries)))
    return written


if __name__ == "__main__":
    for path in write_generated_tables():
        print(f"wrote {path}")
