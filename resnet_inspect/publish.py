"""`resnet-inspect report`: write reports/ (a page and a block diagram per variant, and the index)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from .analysis.analyze import inspect
from .audit.published import reference_figures
from .fileio import ensure_folder, write_atomic
from .memory.estimate import Simulator
from .memory.plan import MemoryPlan
from .model.registry import get_variant
from .views.graphs import build_graph, render
from .views.pages import index_markdown, variant_markdown


MAC_TABLE = Path(__file__).parent / "model" / "mac_counts.py"


def write_mac_table(path: Path = MAC_TABLE) -> None:
    """Every registered variant's MACs at its own input, so that charts over all of them need no pass."""
    from .model.registry import variants

    lines = ['"""MACs (conv + linear, no biases) of every registered variant at its own input, batch 1; written by',
             '`python -m resnet_inspect.publish` and checked against reports/index.md by a test."""', "",
             "MACS = {"]
    lines += [f"    {name!r}: {inspect(name, device='meta').totals.macs}," for name in variants()]
    write_atomic(path, "\n".join(lines + ["}", ""]))


def inference_peak(name: str, input_shape: list[int]) -> int:
    """Bytes at the peak of one fp32 forward pass at ``input_shape``, as CUDA's caching allocator counts
    them (estimated on meta)."""
    plan = MemoryPlan(input_shape[0], tuple(input_shape[1:]), train=False, device="cuda")
    return Simulator(name).peaks(plan)[0]


def write_reports(names: Iterable[str], out_dir: str | Path, progress: Callable[[Iterable], Iterable] = iter,
                  index: bool = True) -> list[Path]:
    """Write reports/<variants>/<name>.md, its block diagram, and (optionally) index.md."""
    out = ensure_folder(out_dir)
    variant_dir = ensure_folder(out / "variants")
    written, entries = [], []
    for name in progress(list(names)):
        variant = get_variant(name)
        report = inspect(name, device="meta")
        diagram = f"{name}-blocks.svg"
        svg = render(build_graph(report, "block", collapse=True), "svg")
        written.append(write_atomic(variant_dir / diagram, svg))
        peak = inference_peak(name, report.input_shape)
        page = variant_markdown(variant, report, reference_figures(variant, report), diagram, peak)
        written.append(write_atomic(variant_dir / f"{name}.md", page))
        entries.append((variant, report, peak))
    if index:
        written.append(write_atomic(out / "index.md", index_markdown(entries)))
    return written


if __name__ == "__main__":
    write_mac_table()
