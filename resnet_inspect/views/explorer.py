"""The interactive graph explorer: the layer-level dataflow of a report as data for the browser,
and the page that draws it (cytoscape.js with a dagre layout, vendored under explorer_assets/).

Python decides what every node is and says (labels, details, figures, the stage -> block -> layer
hierarchy, which blocks repeat); the browser only lays out, folds and colours. The same page is
the app's Graph tab (a Streamlit component) and a self-contained HTML file (``graph -o x.html``)."""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..analysis.report import LayerRow, ModelReport, OpClass
from ..errors import UserError
from ..text import visible
from .graphs import COLORS, LEGEND, LEVELS, SHORTCUT_COLOR, Node, _collapse, _edge_label, dataflow_nodes, own_runs
from .tables import exact, feature_map_text, shape_text, si

ASSETS = Path(__file__).parent / "explorer_assets"
# Loaded in this order by the component page and inlined in this order into an exported file.
SCRIPTS = ("vendor/cytoscape.min.js", "vendor/cytoscape-dagre.min.js", "explorer.js")
STYLES = ("explorer.css",)
INPUT, OUTPUT = "input", "output"

# Per-layer figures a node can be coloured by: key -> (name, what it is, unit). Additive figures add
# up over a block or a stage when it is folded; the receptive field is the largest inside.
METRICS: dict[str, tuple[str, str, str]] = {
    "params": ("parameters", "the layer's own parameters", ""),
    "macs": ("MACs", "multiply-accumulates of convolution and linear weights (bias excluded)", ""),
    "flops": ("FLOPs", "2 x MACs + element-wise work (norms, activations, adds, pools)", ""),
    "out_bytes": ("output bytes", "bytes of the layer's output in the analysed dtype", "B"),
    "saved": (
        "saved for backward",
        "distinct activation bytes autograd keeps from this layer for a training step (simulated)",
        "B",
    ),
    "latency": ("latency", "median time of the layer in the profile (all calls)", "ms"),
    "rf": ("receptive field", "input pixels (along the height) one output pixel depends on", "px"),
}
NOT_ADDITIVE = ("rf",)
# In the details, each figure's name says its convention.
DETAIL_NAMES = {"macs": "MACs (conv + linear weights)", "flops": "FLOPs (2 x MACs + element-wise)"}
BYTES_PER_ELEMENT = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


def _figure_text(key: str, value: float) -> str:
    unit = METRICS[key][2]
    if key == "latency":
        return f"{value:.3f} ms"
    if key == "rf":
        return f"{int(value)} px"
    return f"{exact(value)}" + (f" ({si(value, unit)})" if value >= 1000 else (f" {unit}" if unit else ""))


def _settings(row: LayerRow) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for label, value in (
        ("kernel", row.kernel),
        ("stride", row.stride),
        ("padding", row.padding),
        ("dilation", row.dilation),
    ):
        if value:
            pairs.append((label, "x".join(map(str, value))))
    if row.groups and row.groups > 1:
        pairs.append(("groups", str(row.groups)))
    if row.in_channels is not None or row.in_features is not None:
        pairs.append(("channels", f"{row.in_channels or row.in_features} -> {row.out_channels}"))
    if row.affine is not None:
        pairs.append(("affine", "yes" if row.affine else "no"))
    return pairs


def _node_size(label: str) -> tuple[int, int]:
    lines = label.split("\n")
    return 14 + 6 * max(len(line) for line in lines), 10 + 13 * len(lines)


class _Builder:
    """Walks a report once; every dictionary it returns is plain JSON."""

    def __init__(
        self,
        report: ModelReport,
        saved: Mapping[str, int] | None,
        latency: Mapping[str, float] | None,
    ) -> None:
        self.report = report
        self.rows = {row.name: row for row in report.layers}
        self.saved = saved or {}
        self.latency = latency or {}
        self.itemsize = BYTES_PER_ELEMENT.get(report.dtype.replace("torch.", ""), 4)
        # Each node a container's own operator makes, with its own figures.
        self.runs = {run.node: run for row in report.layers for op in row.ops for run in own_runs(row.name, op)}

    def figures(self, node: Node) -> dict[str, float]:
        row = self.rows.get(node.id)
        values: dict[str, float] = {}
        if row is not None:  # a module
            values.update(params=row.params, macs=row.macs, flops=row.flops, out_bytes=row.activation_bytes)
            if row.rf_size is not None:
                values["rf"] = row.rf_size
        elif node.id in self.runs:  # an operator a container ran itself ("layer1.0:add", "layer1.0:add#2")
            run = self.runs[node.id]
            values.update(params=0, macs=run.macs, flops=run.flops, out_bytes=run.elements * self.itemsize)
        if node.id in self.saved:
            values["saved"] = self.saved[node.id]
        if node.id in self.latency:
            values["latency"] = self.latency[node.id]
        return values

    def details(self, node: Node, figures: dict[str, float]) -> list[list[str]]:
        row = self.rows.get(node.id)
        pairs: list[tuple[str, str]] = []
        if row is not None:
            pairs.append(("type", row.type))
            pairs.append(("class", row.type_path))
            pairs += _settings(row)
            if row.input_shapes and row.input_shapes[0]:
                pairs.append(("input", shape_text(row.input_shapes[0])))
            if row.output_shapes and row.output_shapes[-1]:
                pairs.append(("output", shape_text(row.output_shapes[-1])))
            if row.calls > 1:
                pairs.append(("calls", str(row.calls)))
        else:
            owner, _, run_name = node.id.rpartition(":")
            op_name, _, again = run_name.partition("#")
            pairs.append(("operator", op_name + (f" (its run {again} in this module)" if again else "")))
            pairs.append(("run by", owner or "the model itself"))
            if node.shape:
                pairs.append(("output", shape_text(node.shape)))
        if node.on_shortcut:
            pairs.append(("path", "shortcut (downsample) branch"))
        for key in METRICS:
            if key in figures and key != "rf":
                pairs.append((DETAIL_NAMES.get(key, METRICS[key][0]), _figure_text(key, figures[key])))
        if row is not None and row.rf_size is not None:
            field = f"{row.rf_size} px, jump {row.rf_stride}"
            if row.rf_global:
                field += f"; also the whole input, from {row.rf_global_from}"
            pairs.append(("receptive field", field))
        return [list(pair) for pair in pairs]

    def node(self, node: Node, parent: str) -> dict[str, Any]:
        figures = self.figures(node)
        label = "+" if node.op_class == OpClass.RESIDUAL_ADD else node.label
        width, height = (30, 30) if label == "+" else _node_size(label)
        color = (
            SHORTCUT_COLOR
            if node.on_shortcut and node.op_class == OpClass.CONV
            else COLORS.get(node.op_class, "#eeeeee")
        )
        row = self.rows.get(node.id)
        return {
            "id": node.id,
            "label": label,
            "type": row.type if row is not None else node.id.rpartition(":")[2].partition("#")[0],
            "cls": str(node.op_class),
            "color": color,
            "parent": parent,
            "w": width,
            "h": height,
            "shape": feature_map_text(node.shape) if node.shape else "",
            "values": figures,
            "details": self.details(node, figures),
        }


def _group_label(title: str, values: dict[str, float], shape: list[int] | None) -> str:
    parts = [title]
    if shape:
        parts.append(f"out {feature_map_text(shape)}")
    parts.append(f"{si(values.get('params', 0))} params, {si(values.get('macs', 0))} MACs")
    return "\n".join(parts)


def explorer_data(
    report: ModelReport,
    *,
    saved: Mapping[str, int] | None = None,
    latency: Mapping[str, float] | None = None,
    marked: Iterable[str] = (),
    level: str = "layer",
    fold: bool = False,
    stage: str | None = None,
) -> dict[str, Any]:
    """Everything the explorer draws. ``saved`` (bytes per layer, from a training simulation) and
    ``latency`` (ms per layer, from a profile) add overlays; ``marked`` names layers to outline
    (the layers that differ from another network). It opens at ``level`` (stage, block or layer),
    with runs of identical blocks folded when ``fold``, only ``stage`` unfolded when given."""
    if level not in LEVELS:
        raise UserError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    if stage is not None and stage not in {s.name for s in report.stages}:
        raise UserError(f"unknown stage {stage!r}; stages: {', '.join(s.name for s in report.stages)}")
    builder = _Builder(report, saved, latency)
    nodes = dataflow_nodes(report)
    alias, repeat = _collapse(nodes)
    groups: dict[str, dict[str, Any]] = {}
    drawn = [builder.node(node, _parent_group(node, groups)) for node in nodes]
    _add_up(groups, drawn, nodes, builder, report)
    for entry in groups.values():
        _describe_group(entry, groups, drawn, builder, report)
    by_id = {n.id: n for n in nodes}
    edges = _edges(nodes, by_id, report)
    fold_into = {
        block: head
        for head, (_, last) in repeat.items()
        for block in _blocks_between(nodes, head, last)
        if block != head
    }
    present = {str(n.op_class) for n in nodes}
    legend = [[str(cls), text, COLORS[cls]] for cls, text in LEGEND.items() if str(cls) in present]
    if any(n.on_shortcut and n.op_class == OpClass.CONV for n in nodes):
        legend.append(["shortcut", "projection shortcut", SHORTCUT_COLOR])
    metrics = {
        key: {"name": name, "what": what, "unit": unit, "log": key not in NOT_ADDITIVE}
        for key, (name, what, unit) in METRICS.items()
        if any(key in n["values"] for n in drawn)
    }
    data: dict[str, Any] = {
        "model": report.model,
        "title": f"{report.model}: {shape_text(report.input_shape)} input, {report.totals.params:,} parameters, "
        f"{si(report.totals.macs)} MACs",
        "open": {"level": level, "fold": fold, "stage": stage},
        "input": {"id": INPUT, "label": f"input\n{feature_map_text(report.input_shape)}"},
        "output": {"id": OUTPUT, "label": f"output\n{feature_map_text(report.output_shape)}"},
        "groups": list(groups.values()),
        "nodes": drawn,
        "edges": edges,
        "fold_into": fold_into,
        "repeat": {head: list(value) for head, value in repeat.items()},
        "alias": alias,
        "metrics": metrics,
        "legend": legend,
        "marked": sorted(set(marked) & {n.id for n in nodes}),
    }
    data["positions"] = layer_positions(drawn, edges, groups)
    # allow_nan=False: the page's JSON.parse would refuse NaN; a figure that is not finite is a bug here.
    data["key"] = hashlib.sha256(json.dumps(data, sort_keys=True, allow_nan=False).encode()).hexdigest()[:16]
    return data


# Graphviz lays out the whole network at layer level (the view the explorer opens at) in tens of
# milliseconds, where the browser's dagre takes several hundred on a deep network; the browser lays out
# the views it folds itself. Positions are cached by the graph they were made for.
_POSITIONS: dict[str, dict[str, list[float]]] = {}
POINTS_PER_INCH = 72


def layer_positions(
    nodes: list[dict[str, Any]], edges: list[dict[str, str]], groups: dict[str, dict[str, Any]]
) -> dict[str, list[float]] | None:
    """Centre of every layer (and of the input and output) in pixels, every stage and block
    unfolded, laid out by Graphviz's ``dot``; None without ``dot``. An edge that leaves or enters a
    stage or block spans one more rank per box border it crosses: room for the boxes drawn around
    the layers (the explorer's own layout does the same)."""
    if shutil.which("dot") is None:
        return None
    boxes = {n["id"]: _boxes(n["parent"], groups) for n in nodes}
    lines = [
        "digraph g { rankdir=TB; nodesep=0.22; ranksep=0.22; splines=false;",
        'node [shape=box, fixedsize=true, label=""];',
        f'"{INPUT}" [width=1.25, height=0.47]; "{OUTPUT}" [width=1.25, height=0.47];',
    ]
    lines += [
        f'"{n["id"]}" [width={n["w"] / POINTS_PER_INCH:.3f}, height={n["h"] / POINTS_PER_INCH:.3f}];' for n in nodes
    ]
    for edge in edges:
        a, b = boxes.get(edge["source"], []), boxes.get(edge["target"], [])
        common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        lines.append(f'"{edge["source"]}" -> "{edge["target"]}" [minlen={1 + len(a) - common + len(b) - common}];')
    source = "\n".join(lines) + "\n}\n"
    key = hashlib.sha256(source.encode()).hexdigest()
    if key not in _POSITIONS:
        try:
            result = subprocess.run(["dot", "-Tplain"], input=source.encode(), capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if result.returncode != 0:
            return None
        positions: dict[str, list[float]] = {}
        for line in result.stdout.decode().splitlines():
            if line.startswith("node "):
                _, name, x, y, *_ = shlex.split(line)
                positions[name] = [round(float(x) * POINTS_PER_INCH, 1), round(-float(y) * POINTS_PER_INCH, 1)]
        if len(_POSITIONS) > 64:
            _POSITIONS.clear()
        _POSITIONS[key] = positions
    return _POSITIONS[key]


def _boxes(parent: str | None, groups: dict[str, dict[str, Any]]) -> list[str]:
    """The stage and block boxes a layer is drawn in, outermost first."""
    chain: list[str] = []
    while parent is not None:
        chain.insert(0, parent)
        parent = groups[parent]["parent"]
    return chain


def _parent_group(node: Node, groups: dict[str, dict[str, Any]]) -> str:
    """The box a layer is drawn in (its block, else its stage), made on first use."""

    def group(kind: str, name: str, parent: str | None) -> str:
        gid = f"{kind}:{name}"
        if gid not in groups:
            groups[gid] = {"id": gid, "kind": kind, "name": name, "parent": parent, "values": {}, "shape": None}
        return gid

    stage_id = group("stage", node.stage or "model", None)
    return group("block", node.block, stage_id) if node.block else stage_id


def _add_up(
    groups: dict[str, dict[str, Any]],
    drawn: list[dict[str, Any]],
    nodes: list[Node],
    builder: _Builder,
    report: ModelReport,
) -> None:
    """Each figure of the layers added up into their block and stage (the receptive field: the largest);
    parameters, MACs and FLOPs then taken from the module's or stage's totals, since a container's own
    parameters (CLIP's positional embedding) belong to no layer-level node."""
    for item, node in zip(drawn, nodes):
        gid: str | None = item["parent"]
        while gid is not None:
            entry = groups[gid]
            for key, value in item["values"].items():
                current = entry["values"].get(key, 0)
                entry["values"][key] = max(current, value) if key in NOT_ADDITIVE else current + value
            entry["shape"] = node.shape or entry["shape"]
            gid = entry["parent"]
    stage_rows = {s.name: s for s in report.stages}
    for entry in groups.values():
        module = builder.rows.get(entry["name"]) if entry["kind"] == "block" else None
        if module is not None:
            entry["values"].update(params=module.total_params, macs=module.total_macs, flops=module.total_flops)
        elif entry["name"] in stage_rows:
            stage = stage_rows[entry["name"]]
            entry["values"].update(params=stage.params, macs=stage.macs, flops=stage.flops)


def _describe_group(
    entry: dict[str, Any],
    groups: dict[str, dict[str, Any]],
    drawn: list[dict[str, Any]],
    builder: _Builder,
    report: ModelReport,
) -> None:
    """A stage's or block's label (its title, output and totals) and details."""
    name = entry["name"]
    if entry["kind"] == "stage":
        residual = [s.name for s in report.stages if s.name not in ("stem", "head")]
        paper = f" (conv{residual.index(name) + 2}_x)" if name in residual else ""  # the 2015 paper's names
        stage = next((s for s in report.stages if s.name == name), None)
        title = f"{name}{paper}" + (f", {stage.blocks} blocks" if stage and stage.blocks else "")
    else:
        row = builder.rows.get(name)
        title = f"{name}  {row.type}" if row else name
    shape = entry.pop("shape")
    entry["label"] = _group_label(title, entry["values"], shape)
    entry["w"], entry["h"] = _node_size(entry["label"])
    entry["details"] = [
        ["contains", f"{sum(1 for n in drawn if _inside(n, entry['id'], groups))} layers"],
        *([["output", shape_text(shape)]] if shape else []),
        *[[DETAIL_NAMES.get(k, METRICS[k][0]), _figure_text(k, v)] for k, v in entry["values"].items()],
    ]


def _inside(node: dict[str, Any], gid: str, groups: dict[str, dict[str, Any]]) -> bool:
    parent = node["parent"]
    while parent is not None:
        if parent == gid:
            return True
        parent = groups[parent]["parent"]
    return False


def _blocks_between(nodes: list[Node], head: str, last: str) -> list[str]:
    blocks: list[str] = []
    for node in nodes:
        if node.block and node.block not in blocks:
            blocks.append(node.block)
    return blocks[blocks.index(head) : blocks.index(last) + 1]


def _edges(nodes: list[Node], by_id: dict[str, Node], report: ModelReport) -> list[dict[str, str]]:
    """Dataflow edges; into a residual add, the shortcut is told apart (identity or projection)."""
    edges: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    consumers: set[str] = set()
    for node in nodes:
        for producer_id in node.inputs:
            source = producer_id if producer_id in by_id else INPUT
            if source == node.id or (source, node.id) in seen:
                continue
            if source == INPUT and producer_id not in ("input", None, ""):
                continue  # from a module that was skipped and had no producer of its own
            seen.add((source, node.id))
            consumers.add(source)
            producer = by_id.get(source)
            kind = ""
            if node.op_class == OpClass.RESIDUAL_ADD:
                if producer is not None and producer.on_shortcut:
                    kind = "projection"
                elif producer is None or producer.block != node.block:
                    kind = "identity"
            label = _edge_label(producer, node) if source != INPUT else feature_map_text(report.input_shape)
            edges.append({"source": source, "target": node.id, "label": label, "kind": kind})
    sinks = [n for n in nodes if n.id not in consumers]
    if sinks:
        edges.append({"source": sinks[-1].id, "target": OUTPUT, "label": "", "kind": ""})
    return edges


def latency_by_layer(profile: Mapping[str, Any]) -> dict[str, float]:
    """Milliseconds per layer from a profile (as written by ``resnet-inspect profile``); ValueError for a
    time that is not a finite, non-negative number."""
    times: dict[str, float] = {}
    for layer in profile.get("layers", []):
        if not isinstance(layer, Mapping) or "name" not in layer:
            continue
        ms = layer.get("ms")
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) or ms < 0:
            raise ValueError(f"layer '{visible(str(layer['name']))[:80]}': a time of {visible(str(ms))[:40]} ms")
        times[str(layer["name"])] = float(ms)
    return times


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _script_safe(text: str) -> str:
    """A script that cannot end the <script> element holding it: "</script" and "<!--" only occur
    inside strings, where "<\\/" and "<\\!" mean the same."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE).replace("<!--", "<\\!--")


def explorer_html(data: Mapping[str, Any], title: str | None = None) -> str:
    """One self-contained page: the vendored scripts, the styles and the data inline; it fetches
    nothing, so it works offline and from a file."""
    # "<" written as its JSON escape: no text in the data can close or open an element.
    payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    scripts = "\n".join(f"<script>{_script_safe(_asset(name))}</script>" for name in SCRIPTS)
    styles = "\n".join(f"<style>{_asset(name)}</style>" for name in STYLES)
    heading = title or str(data.get("title", data.get("model", "network")))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; img-src data: blob:\">"
        f"<title>{html.escape(heading)}</title>{styles}</head>\n"
        "<body class='ri-standalone'><div id='ri-root'></div>\n"
        f"<script type='application/json' id='ri-data'>{payload}</script>\n{scripts}\n"
        "<script>RIExplorer.mount(document.getElementById('ri-root'), "
        "JSON.parse(document.getElementById('ri-data').textContent), {});</script>\n"
        "</body></html>\n"
    )
