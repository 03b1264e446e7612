"""Profiles (plain dicts, as written to JSON) as Markdown, terminal tables and a roofline chart."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from .charts import log_axis
from .export import markdown_table
from .tables import si


def roofline_points(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Each layer's arithmetic intensity and achieved FLOP/s, and the roof above it."""
    peak_f, peak_b = profile["peak_flops_per_s"], profile["peak_bytes_per_s"]
    points = []
    for layer in profile["layers"]:
        if layer["flops"] <= 0 or layer["ms"] <= 0:
            continue
        roof = min(peak_f, layer["intensity"] * peak_b)
        points.append(
            {
                "name": layer["name"],
                "type": layer["type"],
                "intensity": layer["intensity"],
                "flops_per_s": layer["flops_per_s"],
                "roof": roof,
                "fraction_of_roof": layer["flops_per_s"] / roof if roof else 0.0,
            }
        )
    return points


def ridge_point(profile: dict[str, Any]) -> float:
    """Arithmetic intensity (FLOP/byte) where the bandwidth roof meets the compute roof."""
    return profile["peak_flops_per_s"] / profile["peak_bytes_per_s"]


def roofline_figure(profile: dict[str, Any]) -> go.Figure:
    points = roofline_points(profile)
    peak_f, peak_b = profile["peak_flops_per_s"], profile["peak_bytes_per_s"]
    intensities = [p["intensity"] for p in points] or [1.0]
    lo, hi = min(intensities) / 2, max(max(intensities) * 2, ridge_point(profile) * 4)
    xs = [lo, ridge_point(profile), hi]
    fig = go.Figure()
    fig.add_scatter(
        x=xs,
        y=[min(peak_f, x * peak_b) for x in xs],
        mode="lines",
        name="roof (measured peaks)",
        line=dict(color="#444444"),
    )
    by_type: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        by_type.setdefault(p["type"], []).append(p)
    for layer_type, items in sorted(by_type.items()):
        fig.add_scatter(
            x=[p["intensity"] for p in items],
            y=[p["flops_per_s"] for p in items],
            mode="markers",
            name=layer_type,
            text=[p["name"] for p in items],
            customdata=[100 * p["fraction_of_roof"] for p in items],
            hovertemplate="%{text}<br>%{x:.2f} FLOP/byte<br>%{y:.3s}FLOP/s<br>"
            "%{customdata:.1f}% of the roof<extra></extra>",
        )
    roof = [min(peak_f, x * peak_b) for x in xs]
    fig.update_xaxes(**log_axis(xs + intensities), title_text="arithmetic intensity (FLOP per byte)")
    fig.update_yaxes(**log_axis(roof + [p["flops_per_s"] for p in points]), title_text="achieved FLOP/s")
    fig.update_layout(
        title=f"{profile['model']} on {profile['device_name']}, batch {profile['batch']}, "
        f"{profile['dtype']}{', channels-last' if profile['channels_last'] else ''}",
        height=520,
    )
    return fig


def profile_markdown(profile: dict[str, Any], top: int = 15) -> str:
    lines = [
        f"# Profile: {profile['model']}, batch {profile['batch']}, {profile['dtype']}"
        + (", channels-last" if profile["channels_last"] else ""),
        "",
        f"- device: {profile['device']} — {profile['device_name']}",
        f"- torch {profile['torch_version']}",
        f"- end to end: **{profile['end_to_end_ms']:.3f} ms** per batch (median of {profile['repeat']}), "
        f"{profile['throughput_per_s']:.1f} images/s",
        f"- sum of per-layer medians: {profile['per_layer_sum_ms']:.3f} ms "
        f"({100 * profile['per_layer_vs_end_to_end']:+.1f}% against end to end)",
        f"- peak memory: {si(profile['peak_memory_bytes'], 'B')} ({profile['memory_kind']})",
        f"- measured peaks: {si(profile['peak_flops_per_s'])}FLOP/s, {si(profile['peak_bytes_per_s'], 'B')}/s "
        f"(ridge at {ridge_point(profile):.1f} FLOP/byte)",
        "",
        f"How: {profile['how']} {profile['peak_how']}.",
    ]
    for note in profile["notes"]:
        lines += ["", f"**Note.** {note}"]
    rows = layer_rows(profile)[:top]
    lines += [
        "",
        f"## The {len(rows)} slowest layers",
        "",
        markdown_table(rows, list(rows[0]) if rows else [], numeric=["FLOPs"]),
    ]
    return "\n".join(lines) + "\n"


def layer_rows(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Timed layers, slowest first, with their measured rates as a person reads them."""
    return [
        {
            "layer": layer["name"],
            "type": layer["type"],
            "ms": f"{layer['ms']:.3f}",
            "FLOPs": layer["flops"],
            "FLOP/byte": f"{layer['intensity']:.2f}",
            "GFLOP/s": f"{layer['flops_per_s'] / 1e9:.2f}",
            "% peak FLOP/s": f"{100 * layer['frac_peak_flops']:.1f}",
            "GB/s": f"{layer['bytes_per_s'] / 1e9:.2f}",
            "% peak GB/s": f"{100 * layer['frac_peak_bytes']:.1f}",
        }
        for layer in sorted(profile["layers"], key=lambda row: -row["ms"])
    ]


def summary_rows(profiles: list[dict[str, Any]], device_peaks: bool = False) -> list[dict[str, Any]]:
    """One row per profile; ``device_peaks`` adds the device's measured compute and bandwidth."""
    rows = []
    for p in profiles:
        row = {
            "model": p["model"],
            "batch": p["batch"],
            "dtype": p["dtype"],
            "layout": "channels-last" if p["channels_last"] else "contiguous",
            "ms / batch": f"{p['end_to_end_ms']:.2f}",
            "images/s": f"{p['throughput_per_s']:.1f}",
            "layer sum vs e2e": f"{100 * p['per_layer_vs_end_to_end']:+.0f}%",
            "peak memory": si(p["peak_memory_bytes"], "B"),
        }
        if device_peaks:
            row |= {
                "device": p["device_name"],
                "peak compute": f"{si(p['peak_flops_per_s'])}FLOP/s",
                "peak bandwidth": f"{si(p['peak_bytes_per_s'], 'B')}/s",
                "torch": p["torch_version"],
            }
        rows.append(row)
    return rows
