"""Plotly figures shared by the CLI (saved as self-contained HTML) and the app.

One look for all of them: the tool's own units (K, M, G as 10^3, 10^6, 10^9), axes on
logarithmic scales ticked only at values that occur in the network, every series named."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..analysis.report import ModelReport
from .tables import feature_map_text, si

CHARTS = ("stages", "sunburst", "shapes", "variants")
FONT = dict(family="Helvetica, Arial, sans-serif", size=13)
PARAMS_COLOR, MACS_COLOR = "#3d85c6", "#e69138"
HEIGHT_COLOR, CHANNELS_COLOR, INNER_COLOR = "#3d85c6", "#cc4125", "#cc4125"


def _style(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.01, xanchor="left"),
        font=FONT,
        height=height,
        template="plotly_white",
        margin=dict(t=80, b=60, l=70, r=70),
    )
    return fig


def stage_bars(report: ModelReport) -> go.Figure:
    """Parameters and MACs per stage, side by side, each bar labelled with its value and share."""
    names = [s.name for s in report.stages]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("parameters per stage", "MACs per stage (conv + linear)"))
    for col, values, shares, label, color in (
        (1, [s.params for s in report.stages], [s.params_share for s in report.stages], "parameters", PARAMS_COLOR),
        (2, [s.macs for s in report.stages], [s.macs_share for s in report.stages], "MACs", MACS_COLOR),
    ):
        fig.add_bar(
            x=names,
            y=values,
            name=label,
            marker_color=color,
            row=1,
            col=col,
            text=[f"{si(v)}<br>{100 * share:.1f}%" for v, share in zip(values, shares)],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}<br>%{y:,} " + label + "<extra></extra>",
        )
        # Room above the tallest bar for its label.
        fig.update_yaxes(range=[0, max(values + [1]) * 1.22], exponentformat="SI", row=1, col=col)
    fig.update_yaxes(title_text="parameters", row=1, col=1)
    fig.update_yaxes(title_text="multiply-accumulates", row=1, col=2)
    fig.update_layout(showlegend=False)
    return _style(fig, f"{report.model}: where the parameters and the compute are", 460)


def parameter_sunburst(report: ModelReport) -> go.Figure:
    """Parameters by module hierarchy (model > stage > block > layer)."""
    rows = [r for r in report.layers if r.total_params > 0]
    labels = [r.name.rsplit(".", 1)[-1] if r.name else report.model for r in rows]
    fig = go.Figure(
        go.Sunburst(
            ids=[r.name or "(model)" for r in rows],
            parents=["" if r.parent is None else (r.parent or "(model)") for r in rows],
            labels=labels,
            values=[r.total_params for r in rows],
            branchvalues="total",
            textinfo="label+percent root",
            hovertemplate="%{id}<br>%{value:,} parameters (%{percentRoot:.1%})<extra></extra>",
            maxdepth=3,
        )
    )
    return _style(fig, f"{report.model}: parameters by module (share of the whole network)", 600)


@dataclass
class _Point:
    name: str
    height: int
    channels: int
    inner: int | None  # the narrowest map inside a residual block (a bottleneck's inner width)


def _block_points(report: ModelReport) -> list[_Point]:
    """The stem's output, then each residual block's output, in order."""
    points = []
    stem = next((s for s in report.stages if s.name == "stem"), None)
    if stem and stem.output_shape and len(stem.output_shape) == 4:
        points.append(_Point("stem", stem.output_shape[2], stem.output_shape[1], None))
    blocks: dict[tuple[str, int], list] = {}
    for row in report.layers:
        if row.stage not in (None, "stem", "head") and row.block is not None:
            blocks.setdefault((row.stage, row.block), []).append(row)
    for rows in blocks.values():
        container = min(rows, key=lambda r: r.depth)
        shape = container.output_shapes[-1] if container.output_shapes else None
        if not shape or len(shape) != 4:
            continue
        inner = min(
            (
                r.output_shapes[-1][1]
                for r in rows
                if r.is_leaf
                and r.output_shapes
                and r.output_shapes[-1]
                and len(r.output_shapes[-1]) == 4
                and not r.on_shortcut
            ),
            default=None,
        )
        points.append(_Point(container.name, shape[2], shape[1], inner if inner and inner < shape[1] else None))
    return points


def _layer_points(report: ModelReport) -> list[_Point]:
    return [
        _Point(r.name, r.output_shapes[-1][2], r.output_shapes[-1][1], None)
        for r in report.leaves()
        if r.output_shapes and r.output_shapes[-1] and len(r.output_shapes[-1]) == 4
    ]


def _log_ticks(values: Sequence[int]) -> dict:
    """Ticks of a logarithmic axis at the values that occur (at most 8 of them), written whole."""
    distinct = sorted(set(v for v in values if v > 0))
    if len(distinct) > 8:
        distinct = distinct[:: math.ceil(len(distinct) / 8)] + [distinct[-1]]
    return dict(type="log", tickvals=distinct, ticktext=[f"{v:,}" for v in distinct])


def shape_profile(report: ModelReport) -> go.Figure:
    """Feature-map size and channels after the stem and each residual block (each layer for a
    network without stages): the resolution halves where the channels double."""
    points = _block_points(report) if report.stages else []
    per_block = bool(points)
    points = points or _layer_points(report)
    names = [p.name for p in points]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(
        x=names,
        y=[p.height for p in points],
        name="height = width (pixels, left axis)",
        mode="lines+markers",
        line=dict(color=HEIGHT_COLOR, shape="hv", width=3),
        hovertemplate="%{x}<br>%{y} pixels<extra></extra>",
    )
    fig.add_scatter(
        x=names,
        y=[p.channels for p in points],
        name=("output channels" if per_block else "channels of each layer's output") + " (right axis)",
        mode="lines+markers",
        line=dict(color=CHANNELS_COLOR, shape="hv", width=3),
        hovertemplate="%{x}<br>%{y:,} channels<extra></extra>",
        secondary_y=True,
    )
    inner = [p.inner for p in points]
    if any(inner):
        fig.add_scatter(
            x=names,
            y=inner,
            name="inner width of the bottleneck (right axis)",
            mode="markers",
            marker=dict(color=INNER_COLOR, symbol="circle-open", size=8),
            connectgaps=False,
            hovertemplate="%{x}<br>%{y:,} channels inside the block<extra></extra>",
            secondary_y=True,
        )
    fig.update_xaxes(
        title_text="after the stem and each residual block" if per_block else "layer (execution order)",
        tickangle=-60 if len(points) > 6 else 0,
        showticklabels=len(points) <= 80,
    )
    fig.update_yaxes(title_text="height = width (pixels)", secondary_y=False, **_log_ticks([p.height for p in points]))
    fig.update_yaxes(
        title_text="channels",
        secondary_y=True,
        showgrid=False,
        **_log_ticks([p.channels for p in points] + [i for i in inner if i]),
    )
    fig.update_layout(legend=dict(orientation="h", y=-0.35 if per_block else -0.2, x=0))
    return _style(fig, f"{report.model}: the resolution falls as the channels grow", 520)


@dataclass(frozen=True)
class NetworkPoint:
    """One network of a parameters-against-MACs chart."""

    name: str
    params: int
    macs: int
    input_shape: Sequence[int]


def network_points(reports: Sequence[ModelReport]) -> list[NetworkPoint]:
    return [NetworkPoint(r.model, r.totals.params, r.totals.macs, r.input_shape) for r in reports]


def variants_scatter(points: Sequence[NetworkPoint], families: dict[str, str] | None = None) -> go.Figure:
    """Parameters against MACs across networks (each at its own default input), one colour per
    family when ``families`` (network name -> family) is given; names written beside a few points."""
    groups: dict[str, list[NetworkPoint]] = {}
    for point in points:
        groups.setdefault((families or {}).get(point.name, "networks"), []).append(point)
    placed = label_positions(points) if len(points) <= 8 else {}
    fig = go.Figure()
    for family, members in groups.items():
        fig.add_scatter(
            x=[p.params for p in members],
            y=[p.macs for p in members],
            name=family,
            mode="markers+text" if placed else "markers",
            # A name that has no room beside its point is left to the hover text.
            text=[p.name if placed.get(p.name) else "" for p in members],
            hovertext=[p.name for p in members],
            textposition=[placed.get(p.name) or "top center" for p in members],
            textfont=dict(size=11),
            marker=dict(size=10, opacity=0.85),
            customdata=[[feature_map_text(list(p.input_shape))] for p in members],
            hovertemplate="%{hovertext} at %{customdata[0]}<br>%{x:,} parameters<br>%{y:,} MACs<extra></extra>",
        )
    fig.update_xaxes(title_text="parameters", **log_axis([p.params for p in points]))
    fig.update_yaxes(title_text="MACs per image (conv + linear)", **log_axis([p.macs for p in points]))
    # More families than Plotly's default ten colours: a 24-colour palette, so no two share one.
    fig.update_layout(
        showlegend=families is not None,
        colorway=qualitative.Dark24,
        legend=dict(title_text="family", orientation="h", y=-0.2, x=0),
    )
    return _style(fig, "Parameters against MACs, each network at its own input size", 680)


# Where a point's name may go, in order of preference, with the label's offset from the point (in
# character widths and line heights) for the overlap test.
LABEL_PLACES = (
    ("top center", 0.0, 1.0),
    ("bottom center", 0.0, -1.0),
    ("middle right", 0.5, 0.0),
    ("middle left", -0.5, 0.0),
    ("top right", 0.5, 1.0),
    ("bottom left", -0.5, -1.0),
    ("top left", -0.5, 1.0),
    ("bottom right", 0.5, -1.0),
)
PLOT_WIDTH, PLOT_HEIGHT, CHAR_WIDTH, LINE_HEIGHT = 900, 520, 7, 16  # pixels, roughly as drawn


def label_positions(points: Sequence[NetworkPoint]) -> dict[str, str | None]:
    """A text position for each point's name such that no two names (nor a name and a point) overlap,
    or None where every place is taken. Positions are judged in the plot's pixels on the log axes."""
    x_low, x_high = _log_range([p.params for p in points])
    y_low, y_high = _log_range([p.macs for p in points])

    def pixel(p: NetworkPoint) -> tuple[float, float]:
        x = (math.log10(max(p.params, 1)) - x_low) / (x_high - x_low) * PLOT_WIDTH
        y = (math.log10(max(p.macs, 1)) - y_low) / (y_high - y_low) * PLOT_HEIGHT
        return x, y

    taken = [(x - 6, y - 6, x + 6, y + 6) for x, y in map(pixel, points)]  # the markers themselves
    placed: dict[str, str | None] = {}
    for point in points:
        x, y = pixel(point)
        width = CHAR_WIDTH * len(point.name)
        placed[point.name] = None
        for place, dx, dy in LABEL_PLACES:
            cx = x + dx * (width + 14)
            cy = y + dy * (LINE_HEIGHT + 4)
            box = (cx - width / 2, cy - LINE_HEIGHT / 2, cx + width / 2, cy + LINE_HEIGHT / 2)
            if all(box[2] <= o[0] or o[2] <= box[0] or box[3] <= o[1] or o[3] <= box[1] for o in taken):
                taken.append(box)
                placed[point.name] = place
                break
    return placed


def log_axis(values: Sequence[float]) -> dict:
    """A logarithmic axis around ``values``, ticked at 1, 2 and 5 times powers of ten (only the powers of
    ten when that gives enough ticks), written in the tool's units (25M, 4G)."""
    low, high = _log_range(values)
    decades = range(math.floor(low), math.ceil(high) + 1)
    for mantissas in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [m * 10**e for e in decades for m in mantissas if low <= math.log10(m * 10**e) <= high]
        if len(ticks) >= 3:
            break
    return dict(type="log", range=[low, high], tickvals=ticks, ticktext=[_tick(t) for t in ticks])


def _tick(value: float) -> str:
    """25M, 1.5G, 300K: a tick label, no trailing zeros."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= factor:
            return f"{value / factor:g}{prefix}"
    return f"{value:g}"


def _log_range(values: Sequence[float]) -> list[float]:
    """Axis range (in log10 units) with room around the points, also when they are close together."""
    positive = [v for v in values if v > 0] or [1]
    low, high = math.log10(min(positive)), math.log10(max(positive))
    pad = max(0.15, (high - low) * 0.1)
    return [low - pad, high + pad]


def to_html(fig: go.Figure) -> str:
    """A self-contained page (plotly.js inlined): opens without a network."""
    return fig.to_html(include_plotlyjs=True, full_html=True)
