"""Plotly figures shared by the CLI (saved as self-contained HTML) and the app."""

from __future__ import annotations

import math
from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.report import ModelReport

CHARTS = ("stages", "sunburst", "shapes", "variants")


def stage_bars(report: ModelReport) -> go.Figure:
    """Parameters and MACs per stage, side by side."""
    names = [s.name for s in report.stages]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("parameters per stage", "MACs per stage"))
    fig.add_bar(x=names, y=[s.params for s in report.stages], name="parameters", marker_color="#6fa8dc",
                text=[f"{100 * s.params_share:.1f}%" for s in report.stages], row=1, col=1)
    fig.add_bar(x=names, y=[s.macs for s in report.stages], name="MACs", marker_color="#e69138",
                text=[f"{100 * s.macs_share:.1f}%" for s in report.stages], row=1, col=2)
    fig.update_layout(title=f"{report.model}: where the parameters and the compute are", showlegend=False,
                      height=420, margin=dict(t=80, b=40))
    return fig


def parameter_sunburst(report: ModelReport) -> go.Figure:
    """Parameters by module hierarchy (model > stage > block > layer)."""
    rows = [r for r in report.layers if r.total_params > 0]
    labels = [r.name.rsplit(".", 1)[-1] if r.name else report.model for r in rows]
    fig = go.Figure(go.Sunburst(
        ids=[r.name or "(model)" for r in rows],
        parents=["" if r.parent is None else (r.parent or "(model)") for r in rows],
        labels=labels, values=[r.total_params for r in rows], branchvalues="total",
        hovertemplate="%{id}<br>%{value:,} parameters<extra></extra>", maxdepth=3))
    fig.update_layout(title=f"{report.model}: parameters by module", height=560, margin=dict(t=60, b=10))
    return fig


def shape_profile(report: ModelReport) -> go.Figure:
    """Spatial size and channel count of each feature map, layer by layer."""
    leaves = [r for r in report.leaves() if r.output_shapes and r.output_shapes[-1] and len(r.output_shapes[-1]) == 4]
    names = [r.name for r in leaves]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=list(range(len(leaves))), y=[r.output_shapes[-1][2] for r in leaves], name="height (pixels)",
                    mode="lines", line=dict(color="#3d85c6", shape="hv"), customdata=names,
                    hovertemplate="%{customdata}<br>height %{y}<extra></extra>")
    fig.add_scatter(x=list(range(len(leaves))), y=[r.output_shapes[-1][1] for r in leaves], name="channels",
                    mode="lines", line=dict(color="#cc4125", shape="hv"), customdata=names,
                    hovertemplate="%{customdata}<br>%{y} channels<extra></extra>", secondary_y=True)
    fig.update_xaxes(title_text="layer (execution order)")
    fig.update_yaxes(title_text="height", type="log", secondary_y=False)
    fig.update_yaxes(title_text="channels", type="log", secondary_y=True)
    fig.update_layout(title=f"{report.model}: resolution falls as channels grow", height=420,
                      legend=dict(orientation="h", y=-0.2))
    return fig


def variants_scatter(reports: Sequence[ModelReport]) -> go.Figure:
    """Parameters against MACs across networks (each at its own default input)."""
    fig = go.Figure(go.Scatter(
        x=[r.totals.params for r in reports], y=[r.totals.macs for r in reports], mode="markers+text",
        text=[r.model for r in reports], textposition="top center", textfont=dict(size=9),
        hovertemplate="%{text}<br>%{x:,} parameters<br>%{y:,} MACs<extra></extra>"))
    fig.update_xaxes(title_text="parameters", type="log", range=_log_range([r.totals.params for r in reports]))
    fig.update_yaxes(title_text="MACs (conv + linear)", type="log", range=_log_range([r.totals.macs for r in reports]))
    fig.update_layout(title="Parameters against MACs", height=560)
    return fig


def _log_range(values: Sequence[float]) -> list[float]:
    """Axis range (in log10 units) with room around the points, also when they are close together."""
    low, high = math.log10(max(min(values), 1)), math.log10(max(max(values), 1))
    pad = max(0.15, (high - low) * 0.1)
    return [low - pad, high + pad]


def to_html(fig: go.Figure) -> str:
    """A self-contained page (plotly.js inlined): opens without a network."""
    return fig.to_html(include_plotlyjs=True, full_html=True)
