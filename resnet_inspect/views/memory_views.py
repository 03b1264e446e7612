"""Memory reports for people: the breakdown at each peak, per-layer figures, the largest batch
that fits, and the curves of peak memory against batch size and resolution."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..memory.memory_report import CATEGORIES, MEMORY_CONVENTIONS, CurvePoint, Fit, MemoryReport
from ..units import binary_size
from .charts import FONT, _style
from .export import markdown_table
from .fitted import Column, Fitted, fitted_table

ORDER = list(CATEGORIES)
INFERENCE_COLOR, TRAINING_COLOR, BUDGET_COLOR = "#3d85c6", "#cc4125", "#6aa84f"


def both(value: int) -> str:
    return f"{value:,} B ({binary_size(value)})"


def breakdown_table(report: MemoryReport, width: int, exact_numbers: bool = False) -> Fitted:
    """What is alive at each peak, by category, in bytes."""
    peaks = [("inference", report.inference)] + ([("training step", report.training)] if report.training else [])
    rows = [["peak", *[p.total for _, p in peaks]]]
    for category in ORDER:
        values = [p.breakdown.get(category, 0) for _, p in peaks]
        if any(values):
            rows.append([f"  {category.replace('_', ' ')}", *values])
    rows.append(["reached in", *[f"{p.where} ({p.phase})" for _, p in peaks]])
    columns = [Column("bytes alive")] + [Column(f"{name} (B)", "right", number=True, unit="B") for name, _ in peaks]
    return fitted_table(None, columns, rows, width, exact_numbers)


def summary_lines(report: MemoryReport) -> list[str]:
    lines = [f"inference peak: {both(report.inference.total)}, reached in {report.inference.where}"]
    if report.training:
        t = report.training
        lines.append(f"training peak:  {both(t.total)}, reached in {t.where} ({t.phase})")
        lines.append(
            f"saved for backward: {both(report.saved_total)} over "
            f"{sum(1 for r in report.layers if r.saved_bytes)} layers"
        )
    lines.append(f"sum of leaf outputs (not a peak): {both(report.sum_of_outputs)}")
    return lines


def fit_lines(fit: Fit, train: bool) -> list[str]:
    lines = [
        f"largest batch within {both(fit.budget)}:",
        f"  inference: {fit.inference_batch:,} (peak {both(fit.inference_peak)})",
    ]
    if train and fit.training_batch is not None:
        lines.append(f"  training:  {fit.training_batch:,} (peak {both(fit.training_peak or 0)})")
    lines.append(
        f"  before any batch: {both(fit.floor)} (parameters and buffers"
        + (", master weights and optimizer state)" if train else ")")
    )
    if fit.searched_up_to in (fit.inference_batch, fit.training_batch):
        lines.append(
            f"  {fit.searched_up_to:,} is the largest batch searched (the input-size limit, RESNET_INSPECT_MAX_INPUT_ELEMENTS): "
            "a larger one may fit too"
        )
    return lines


def layer_table(report: MemoryReport, width: int, exact_numbers: bool = False) -> Fitted:
    training = report.training is not None
    columns = [
        Column("layer"),
        Column("type", drop=2),
        Column("output", "right", number=True, unit="B", drop=3),
        Column("live after (inference)", "right", number=True, unit="B", drop=1),
    ]
    if training:
        columns.append(Column("saved for backward", "right", number=True, unit="B"))
    rows = [
        [r.name or "(model)", r.type, r.output_bytes, r.live_after] + ([r.saved_bytes] if training else [])
        for r in report.layers
    ]
    return fitted_table(None, columns, rows, width, exact_numbers)


def conventions_lines(report: MemoryReport) -> list[str]:
    names = (
        ["inference peak"]
        + (["training peak", "saved for backward"] if report.training else [])
        + ["sum of outputs", "not counted"]
    )
    return [f"{name}: {MEMORY_CONVENTIONS[name]}" for name in names]


def to_markdown(report: MemoryReport, fit: Fit | None = None) -> str:
    peaks = [("inference", report.inference)] + ([("training step", report.training)] if report.training else [])
    rows = [{"": "peak", **{name: f"{p.total:,}" for name, p in peaks}}]
    for category in ORDER:
        if any(p.breakdown.get(category) for _, p in peaks):
            rows.append(
                {"": category.replace("_", " "), **{name: f"{p.breakdown.get(category, 0):,}" for name, p in peaks}}
            )
    out = [
        f"# {report.model}: memory",
        "",
        report.plan,
        "",
        "Bytes alive at each peak:",
        "",
        markdown_table(rows, [""] + [n for n, _ in peaks], numeric=[n for n, _ in peaks]),
        "",
    ]
    if fit is not None:
        out += [*fit_lines(fit, report.training is not None), ""]
    out += ["Conventions:", ""] + [f"- {line}" for line in conventions_lines(report)] + [""]
    return "\n".join(out)


# -- charts ---------------------------------------------------------------------------------------
def curve_figure(
    points: Sequence[CurvePoint], model: str, budget: int | None = None, budget_label: str = "device memory"
) -> go.Figure:
    """Peak memory against batch size (both axes logarithmic: a straight line when memory grows in
    proportion) and against resolution at one batch, inference and training, with the budget as a line."""
    # Plotly's settings for one figure, a block per trace and axis; apart, they would only pass the figure
    # around.
    batch_points = sorted((p for p in points if p.axis == "batch"), key=lambda p: p.batch)
    side_points = sorted((p for p in points if p.axis == "side"), key=lambda p: p.side)
    side_batch = side_points[0].batch if side_points else 1
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=(
            f"against batch size, at {batch_points[0].side}x{batch_points[0].side}" if batch_points else "",
            f"against input side, at batch {side_batch:,}",
        ),
    )
    for col, pts, x in ((1, batch_points, "batch"), (2, side_points, "side")):
        if not pts:
            continue
        xs = [getattr(p, x) for p in pts]
        fig.add_scatter(
            x=xs,
            y=[p.inference_peak for p in pts],
            name="inference peak",
            mode="lines+markers",
            line_color=INFERENCE_COLOR,
            legendgroup="inference",
            showlegend=col == 1,
            row=1,
            col=col,
            hovertemplate=f"{x} %{{x}}<br>%{{y:,}} B<extra>inference</extra>",
        )
        if any(p.training_peak is not None for p in pts):
            fig.add_scatter(
                x=xs,
                y=[p.training_peak for p in pts],
                name="training step peak",
                mode="lines+markers",
                line_color=TRAINING_COLOR,
                legendgroup="training",
                showlegend=col == 1,
                row=1,
                col=col,
                hovertemplate=f"{x} %{{x}}<br>%{{y:,}} B<extra>training</extra>",
            )
        if budget:
            fig.add_scatter(
                x=[min(xs), max(xs)],
                y=[budget, budget],
                mode="lines",
                name=f"{budget_label} ({binary_size(budget)})",
                line=dict(color=BUDGET_COLOR, dash="dash"),
                legendgroup="budget",
                showlegend=col == 1,
                row=1,
                col=col,
                hoverinfo="skip",
            )
        values = [v for p in pts for v in (p.inference_peak, p.training_peak) if v] + ([budget] if budget else [])
        if col == 1:
            ticks = _log_byte_ticks(min(values), max(values))
            fig.update_yaxes(
                type="log",
                tickvals=ticks,
                ticktext=[_tick_text(t) for t in ticks],
                title_text="peak memory",
                row=1,
                col=1,
            )
        else:
            ticks = _byte_ticks(max(values))
            fig.update_yaxes(
                tickvals=ticks, ticktext=[_tick_text(t) for t in ticks], range=[0, max(values) * 1.08], row=1, col=2
            )
    batches = _spaced_ticks([p.batch for p in batch_points])
    fig.update_xaxes(
        type="log", tickvals=batches, ticktext=[f"{b:,}" for b in batches], title_text="batch size", row=1, col=1
    )
    fig.update_xaxes(tickvals=[p.side for p in side_points], title_text="input side (pixels)", row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", y=-0.22, x=0), font=FONT)
    return _style(fig, f"{model}: peak memory", 480)


def _spaced_ticks(values: list[int], ratio: float = 1.5) -> list[int]:
    """Tick values on a log axis at least ``ratio`` apart, from the largest down (the largest batch
    that fits and its double are the ones to read): 1,024 beside 1,070 would print over each other."""
    kept: list[int] = []
    for value in sorted(set(values), reverse=True):
        if not kept or kept[-1] >= value * ratio:
            kept.append(value)
    return sorted(kept)


def _log_byte_ticks(low: float, high: float) -> list[int]:
    """Powers of two bytes between ``low`` and ``high`` (every second or fourth one over a wide range)."""
    powers = [2**k for k in range(10, 61) if low / 1.5 <= 2**k <= high * 1.5]
    stride = 1
    while len(powers[::stride]) > 8:
        stride *= 2
    return powers[::stride] or [2 ** round(math.log2(max(low, 1)))]


def _byte_ticks(top: float) -> list[int]:
    """Ticks at multiples of a power of two bytes (512 MiB, 1 GiB, 1.5 GiB ...), at most six, from zero."""
    step = 1
    while top / step > 6:
        step *= 2
    return [i * step for i in range(int(top // step) + 1)]


def _tick_text(value: int) -> str:
    for factor, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if value >= factor:
            return f"{value / factor:g} {unit}"
    return f"{value} B"


def saved_figure(report: MemoryReport) -> go.Figure:
    """Bytes each layer saves for backward, in execution order."""
    rows = [r for r in report.layers if r.saved_bytes]
    fig = go.Figure(
        go.Bar(
            x=[r.name or "(model)" for r in rows],
            y=[r.saved_bytes for r in rows],
            marker_color=TRAINING_COLOR,
            customdata=[r.type for r in rows],
            hovertemplate="%{x} (%{customdata})<br>%{y:,} B saved<extra></extra>",
        )
    )
    top = max([r.saved_bytes for r in rows] or [1])
    ticks = _byte_ticks(top)
    fig.update_yaxes(tickvals=ticks, ticktext=[_tick_text(t) for t in ticks], title_text="saved for backward")
    fig.update_xaxes(showticklabels=len(rows) <= 60, tickangle=-60, title_text="layer (execution order)")
    return _style(
        fig,
        f"{report.model}: what each layer keeps for backward "
        f"(total {binary_size(report.saved_total)} at batch {report.input_shape[0]})",
        460,
    )


def to_html(report: MemoryReport, fit: Fit | None, curve: Sequence[CurvePoint], budget: int | None) -> str:
    """One self-contained page: the figures in words, the curves and the saved-tensor bars."""
    import html

    text = (
        summary_lines(report)
        + ([""] + fit_lines(fit, report.training is not None) if fit else [])
        + [""]
        + conventions_lines(report)
    )
    figures = ([curve_figure(curve, report.model, budget, "budget")] if curve else []) + (
        [saved_figure(report)] if report.training else []
    )
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figures)]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(report.model)}: memory</title></head>"
        "<body style='font-family: Helvetica, Arial, sans-serif; margin: 24px'>"
        f"<h2>{html.escape(report.model)}: memory</h2><p>{html.escape(report.plan)}</p>"
        f"<pre>{html.escape(chr(10).join(text))}</pre>" + "".join(parts) + "</body></html>\n"
    )
