"""Graphviz diagrams of a report at three levels: stages, residual blocks, every layer.

Edges follow the real dataflow recorded in the forward pass (which module wrote each tensor),
so shortcuts and residual additions are drawn where they happened. Building DOT needs nothing;
SVG/PNG/PDF use Graphviz's ``dot`` binary."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

import graphviz

from ..analysis.report import LayerRow, ModelReport, OpClass, OpCount, OpRun, numel
from ..errors import UserError
from .tables import feature_map_text, shape_text, si

LEVELS = ("stage", "block", "layer")
FORMATS = ("dot", "svg", "png", "pdf")
INSTALL_DOT = "Graphviz's 'dot' is not installed; install it with: sudo apt-get install graphviz (or write .dot)"

# Fill colours by operator class, and for the other kinds of node.
COLORS = {
    OpClass.CONV: "#cfe2f3",
    OpClass.LINEAR: "#d9d2e9",
    OpClass.NORM: "#fff2cc",
    OpClass.ACTIVATION: "#d9ead3",
    OpClass.POOL: "#fce5cd",
    OpClass.RESIDUAL_ADD: "#f4cccc",
    OpClass.ELEMENTWISE: "#eeeeee",
}
SHORTCUT_COLOR, STAGE_COLOR, IO_COLOR, OTHER_COLOR = "#f6b26b", "#e8eef7", "#ffffff", "#eeeeee"
LEGEND = {
    OpClass.CONV: "convolution",
    OpClass.NORM: "normalization",
    OpClass.ACTIVATION: "activation",
    OpClass.POOL: "pooling",
    OpClass.LINEAR: "linear",
    OpClass.RESIDUAL_ADD: "residual add",
    OpClass.ELEMENTWISE: "element-wise",
}


@dataclass
class Node:
    id: str
    label: str
    op_class: OpClass
    block: str | None  # "layer1.0" etc.
    stage: str | None
    on_shortcut: bool = False
    inputs: list[str] = field(default_factory=list)
    shape: list[int] | None = None  # output shape
    input_shape: list[int] | None = None
    members: list[str] = field(default_factory=list)  # fused layer names (block level)


def _dot_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "model"


def _row_class(row: LayerRow) -> OpClass:
    """The class of the operator that does most of a layer's work."""
    compute = [op for op in row.ops if op.op_class.is_compute]
    if compute:
        return max(compute, key=lambda op: op.flops).op_class
    if "Pool" in row.type:
        return OpClass.POOL
    if all(op.op_class in (OpClass.LAYOUT, OpClass.ALLOC) for op in row.ops):
        return OpClass.LAYOUT
    return OpClass.ELEMENTWISE


def _block_of(row_name: str, report: ModelReport, rows: dict[str, LayerRow]) -> str | None:
    row = rows.get(row_name)
    if row is None or row.stage is None or row.block is None:
        return None
    match = re.match(rf"^({re.escape(row.stage)}\.(?:blocks\.)?{row.block})(?:\.|$)", row_name)
    return match.group(1) if match else None


def _layer_label(row: LayerRow, short: str) -> str:
    if row.type.startswith("Conv") and row.kernel:
        if len(row.kernel) == 1:  # a 1-D conv (ECA's, across channels)
            k = f"1-D k={row.kernel[0]}"
        else:
            k = (
                "x".join(map(str, row.kernel))
                if row.kernel[0] != row.kernel[-1]
                else f"{row.kernel[0]}x{row.kernel[0]}"
            )
        stride = f"/{row.stride[0]}" if row.stride and row.stride[0] > 1 else ""
        groups = f", g{row.groups}" if row.groups and row.groups > 1 else ""
        return f"{short}\n{k}{stride} conv, {row.in_channels}->{row.out_channels}{groups}"
    if row.type == "Linear":
        return f"{short}\nlinear {row.in_features}->{row.out_channels}"
    if row.type == "ZeroPadShortcut":
        return f"{short}\nzero-pad shortcut (no parameters)"
    if "Pool" in row.type and row.kernel:
        stride = f"/{row.stride[0]}" if row.stride and row.stride[0] > 1 else ""
        return f"{short}\n{row.type} {row.kernel[0]}x{row.kernel[0]}{stride}"
    return f"{short}\n{row.type}"


def dataflow_nodes(report: ModelReport) -> list[Node]:
    """Every leaf module and every operator a container ran itself (residual add, SE multiply),
    in execution order, with the nodes that fed it."""
    # One walk over the rows in execution order; every step shares its bookkeeping (producers seen,
    # containers' own operators).
    rows = {row.name: row for row in report.layers}
    items: list[tuple[int, Node]] = []
    for row in report.layers:
        block = _block_of(row.name, report, rows)
        if row.is_leaf and row.name:
            if not row.ops and row.type == "Identity":
                continue
            short = row.name[len(block) + 1 :] if block else row.name
            node = Node(
                row.name,
                _layer_label(row, short),
                _row_class(row),
                block,
                row.stage,
                row.on_shortcut,
                [p for p in row.inputs_from if p] or ([row.input_from] if row.input_from else []),
                row.output_shapes[-1] if row.output_shapes else None,
                row.input_shapes[0] if row.input_shapes else None,
                [row.name],
            )
            items.append((row.index, node))
        for op in row.ops:
            if row.is_leaf:
                continue
            short = row.name[len(block) + 1 :] if block and len(row.name) > len(block) else (row.name or "model")
            word = "BatchNorm" if op.op_class == OpClass.NORM else op.op
            for run in own_runs(row.name, op):
                joins = op.op_class == OpClass.LAYOUT and len(run.inputs_from) > 1  # a concatenation of branches
                if not run.inputs_from or not (op.op_class.is_compute or joins):
                    continue
                again = run.node.rpartition("#")[2] if "#" in run.node else ""
                label = (
                    "+"
                    if op.op_class == OpClass.RESIDUAL_ADD
                    else f"{short}\n{word}" + (f" ({again})" if again else "")
                )
                items.append(
                    (
                        run.index,
                        Node(
                            run.node,
                            label,
                            op.op_class,
                            block if block else None,
                            row.stage,
                            False,
                            [p for p in run.inputs_from if p],
                            None,
                            None,
                            [run.node],
                        ),
                    )
                )
    items.sort(key=lambda item: item[0])
    nodes = [node for _, node in items]
    # Skip modules that do no work (Identity, Dropout(0)): their consumers read their producer.
    known = {n.id for n in nodes}
    skipped = {row.name: row.input_from for row in report.layers if row.is_leaf and row.name and row.name not in known}
    for node in nodes:
        node.inputs = [_resolve(p, skipped) for p in node.inputs]
    # Operator nodes get the shape of their largest input (element-wise ops broadcast to it).
    by_id = {n.id: n for n in nodes}
    for node in nodes:
        if node.shape is None:
            shapes = [by_id[p].shape for p in node.inputs if p in by_id and by_id[p].shape]
            node.shape = max(shapes, key=numel) if shapes else None
    return nodes


def own_runs(owner: str, op: OpCount) -> list[OpRun]:
    """The runs of an operator a container did itself, each its own node; a report written before
    runs were recorded has one, named after the operator."""
    if op.runs:
        return op.runs
    node = f"{owner}:{op.op}"
    return [OpRun(node, op.index, op.inputs_from, op.macs, op.flops, op.elements)] if op.inputs_from else []


def _resolve(name: str, skipped: dict[str, str | None]) -> str:
    seen = set()
    while (target := skipped.get(name)) and name not in seen:
        seen.add(name)
        name = target
    return name


_FOLDABLE = (OpClass.NORM, OpClass.ACTIVATION, OpClass.LAYOUT)


def _fuse(nodes: list[Node]) -> list[Node]:
    """Block level: fold BN / activation / flatten into the node before them when the chain is
    linear (one producer, one consumer, same block), e.g. "conv1 1x1 conv · BN · ReLU"."""
    consumers: dict[str, list[str]] = {}
    for node in nodes:
        for p in node.inputs:
            consumers.setdefault(p, []).append(node.id)
    by_id = {n.id: n for n in nodes}
    alias: dict[str, str] = {}
    kept: list[Node] = []
    for node in nodes:
        producer_id = alias.get(node.inputs[0], node.inputs[0]) if len(node.inputs) == 1 else None
        producer = by_id.get(producer_id) if producer_id else None
        foldable = (
            node.op_class in _FOLDABLE
            and producer is not None
            and producer.op_class != OpClass.RESIDUAL_ADD
            and producer.block == node.block
            and len(consumers.get(node.inputs[0], [])) == 1
            and producer in kept
        )
        if foldable and producer is not None:
            word = {OpClass.NORM: "BN", OpClass.LAYOUT: "flatten"}.get(node.op_class, node.label.split("\n")[-1])
            producer.label += f" · {word}"
            producer.shape = node.shape
            producer.members.append(node.id)
            alias[node.id] = producer.id
            continue
        node.inputs = [alias.get(p, p) for p in node.inputs]
        kept.append(node)
    for node in kept:
        node.inputs = [alias.get(p, p) for p in node.inputs]
    return kept


def _block_signature(nodes: list[Node], block: str) -> tuple:
    return tuple((n.id[len(block) :], n.label, tuple(n.shape or [])) for n in nodes if n.block == block)


def _edge_label(producer: Node | None, consumer: Node) -> str:
    shape = (
        consumer.input_shape
        if consumer.input_shape and len(consumer.inputs) == 1
        else (producer.shape if producer else None)
    )
    return feature_map_text(shape) if shape else ""


def build_graph(
    report: ModelReport, level: str = "block", collapse: bool = False, stage: str | None = None
) -> graphviz.Digraph:
    """The diagram at ``level`` (stage, block or layer). ``collapse`` draws identical consecutive
    blocks once ("x5"); ``stage`` limits the block/layer levels to one stage."""
    if level not in LEVELS:
        raise UserError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    graph = graphviz.Digraph(
        name=_dot_id(report.model),
        graph_attr={
            "rankdir": "TB",
            "fontname": "Helvetica",
            "fontsize": "11",
            "nodesep": "0.25",
            "ranksep": "0.3",
            "label": f"{report.model}  ({shape_text(report.input_shape)}; {report.totals.params:,} parameters, "
            f"{si(report.totals.macs)} MACs)",
            "labelloc": "t",
        },
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8", "color": "#555555"},
    )
    if level == "stage":
        _stage_graph(graph, report)
    else:
        _dataflow_graph(graph, report, fuse=level == "block", collapse=collapse, only_stage=stage)
    return graph


def _field_line(report: ModelReport, name: str) -> str:
    """The receptive field of a stage's output, as a line of its node: "RF 199 px /32 + global"."""
    row = next((r for r in report.layers if r.name == name), None)
    if row is None or row.rf_size is None or name == "head":
        return ""
    return f"\nRF {row.rf_size} px /{row.rf_stride}" + (" + global" if row.rf_global else "")


def _stage_graph(graph: graphviz.Digraph, report: ModelReport) -> None:
    graph.node("input", f"input\n{feature_map_text(report.input_shape)}", fillcolor=IO_COLOR, shape="oval")
    previous = "input"
    previous_shape: list[int] | None = report.input_shape
    residual = [s.name for s in report.stages if s.name not in ("stem", "head")]
    for stage in report.stages:
        blocks = f"{stage.blocks} blocks\n" if stage.blocks else ""
        # The 2015 paper names the stages conv2_x .. conv5_x (conv1 being the stem).
        paper = f" (conv{residual.index(stage.name) + 2}_x)" if stage.name in residual else ""
        label = (
            f"{stage.name}{paper}\n{blocks}out {feature_map_text(stage.output_shape)}\n"
            f"{stage.params:,} params\n{si(stage.macs)} MACs ({100 * stage.macs_share:.1f}%)"
            + _field_line(report, stage.name)
        )
        node_id = f"stage_{_dot_id(stage.name)}"
        graph.node(node_id, label, fillcolor=STAGE_COLOR)
        graph.edge(previous, node_id, label=feature_map_text(previous_shape))
        previous, previous_shape = node_id, stage.output_shape
    graph.node("output", f"output\n{feature_map_text(report.output_shape)}", fillcolor=IO_COLOR, shape="oval")
    graph.edge(previous, "output", label=feature_map_text(previous_shape))


def _dataflow_graph(
    graph: graphviz.Digraph, report: ModelReport, fuse: bool, collapse: bool, only_stage: str | None
) -> None:
    nodes = dataflow_nodes(report)
    if fuse:
        nodes = _fuse(nodes)
    if only_stage is not None and only_stage not in {n.stage for n in nodes}:
        raise UserError(f"unknown stage {only_stage!r}; stages: {', '.join(s.name for s in report.stages)}")
    alias, repeat = _collapse(nodes) if collapse else ({}, {})
    drawn = [n for n in nodes if n.id not in alias and (only_stage is None or n.stage == only_stage)]
    _draw_clusters(graph, drawn, repeat)
    by_id = {n.id: n for n in nodes}
    graph.node(
        "input",
        f"{'input' if only_stage is None else only_stage + ' input'}\n"
        f"{feature_map_text(_entry_shape(report, drawn, by_id, only_stage))}",
        shape="oval",
        fillcolor=IO_COLOR,
    )
    consumers = _draw_edges(graph, drawn, by_id, alias, whole_network=only_stage is None)
    sinks = [n for n in drawn if n.id not in consumers]
    exit_shape = report.output_shape if only_stage is None else (sinks[-1].shape if sinks else None)
    graph.node("output", f"output\n{feature_map_text(exit_shape)}", shape="oval", fillcolor=IO_COLOR)
    if sinks:
        graph.edge(_dot_id(sinks[-1].id), "output")
    _draw_legend(graph, drawn)


def _draw_clusters(graph: graphviz.Digraph, drawn: list[Node], repeat: dict[str, tuple[int, str]]) -> None:
    """One cluster per stage holding one per block; nodes outside blocks (stem, head) in their stage's."""
    stages: dict[str, dict[str | None, list[Node]]] = {}
    for node in drawn:
        stages.setdefault(node.stage or "model", {}).setdefault(node.block, []).append(node)
    for stage_name, blocks in stages.items():
        with graph.subgraph(name=f"cluster_stage_{_dot_id(stage_name)}") as sg:
            sg.attr(label=stage_name, style="dashed", color="#999999", fontsize="11")
            for block, members in blocks.items():
                if block is None:
                    for node in members:
                        _draw_node(sg, node)
                    continue
                with sg.subgraph(name=f"cluster_{_dot_id(block)}") as bg:
                    times, last = repeat.get(block, (1, block))
                    title = f"{block} .. {last}  (x{times}, identical)" if times > 1 else block
                    bg.attr(label=title, style="rounded,filled", fillcolor="#fafafa", color="#666666", fontsize="10")
                    for node in members:
                        _draw_node(bg, node)


def _entry_shape(
    report: ModelReport, drawn: list[Node], by_id: dict[str, Node], only_stage: str | None
) -> list[int] | None:
    if only_stage is None or not drawn:
        return report.input_shape
    first = drawn[0]
    producer = by_id.get(first.inputs[0]) if first.inputs else None
    return first.input_shape or (producer.shape if producer else None)


def _draw_edges(
    graph: graphviz.Digraph, drawn: list[Node], by_id: dict[str, Node], alias: dict[str, str], whole_network: bool
) -> set[str]:
    """Edges from each node's producers, identity and projection shortcuts told apart at the add
    node; returns the nodes that feed another. Drawing one stage, what comes from outside it
    comes from its input."""
    drawn_ids = {n.id for n in drawn}
    edges: set[tuple[str, str]] = set()
    consumers: set[str] = set()
    for node in drawn:
        for producer_id in node.inputs:
            source = alias.get(producer_id, producer_id)
            if source not in drawn_ids and source != "input":
                if whole_network:
                    continue
                source = "input"
            if source == node.id or (source, node.id) in edges:
                continue
            edges.add((source, node.id))
            consumers.add(source)
            graph.edge(
                _dot_id(source) if source != "input" else "input",
                _dot_id(node.id),
                **_edge_attributes(by_id.get(producer_id), node),
            )
    return consumers


def _edge_attributes(producer: Node | None, node: Node) -> dict[str, str]:
    attrs = {"label": _edge_label(producer, node)}
    if node.op_class == OpClass.RESIDUAL_ADD:
        if producer is not None and producer.on_shortcut:
            kind = "projection" if producer.op_class in (OpClass.CONV, OpClass.NORM) else "shortcut"
            attrs.update(color="#cc4125", penwidth="2", fontcolor="#cc4125", label=f"{kind}\n{attrs['label']}")
        elif producer is None or producer.block != node.block:
            attrs.update(style="dashed", color="#888888", label="identity")
    return attrs


def _draw_legend(graph: graphviz.Digraph, drawn: list[Node]) -> None:
    present = {n.op_class for n in drawn}
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label="legend", fontsize="10", color="#bbbbbb", style="rounded")
        for op_class, text in LEGEND.items():
            if op_class in present:
                legend.node(f"legend_{op_class}", text, fillcolor=COLORS[op_class], fontsize="9")
        if any(n.on_shortcut and n.op_class == OpClass.CONV for n in drawn):
            legend.node("legend_shortcut", "projection shortcut", fillcolor=SHORTCUT_COLOR, fontsize="9")


def _draw_node(graph: graphviz.Digraph, node: Node) -> None:
    if node.on_shortcut and node.op_class == OpClass.CONV:
        color = SHORTCUT_COLOR
    else:
        color = COLORS.get(node.op_class, OTHER_COLOR)
    if node.op_class == OpClass.RESIDUAL_ADD:
        graph.node(
            _dot_id(node.id), "+", shape="circle", fillcolor=color, width="0.35", fixedsize="true", fontsize="14"
        )
        return
    graph.node(_dot_id(node.id), node.label, fillcolor=color)


def _collapse(nodes: list[Node]) -> tuple[dict[str, str], dict[str, tuple[int, str]]]:
    """Hide each block identical to the one before it (same nodes, labels and shapes), pointing
    its nodes at the first block of the run."""
    blocks: list[str] = []
    for node in nodes:
        if node.block and node.block not in blocks:
            blocks.append(node.block)
    alias: dict[str, str] = {}
    repeat: dict[str, tuple[int, str]] = {}
    signatures = {b: _block_signature(nodes, b) for b in blocks}
    head = blocks[0] if blocks else ""
    for previous, block in zip(blocks, blocks[1:]):
        same_stage = previous.rsplit(".", 1)[0] == block.rsplit(".", 1)[0]
        if same_stage and signatures[block] == signatures[previous]:
            repeat[head] = (repeat.get(head, (1, head))[0] + 1, block)
            for node in nodes:
                if node.block == block:
                    alias[node.id] = head + node.id[len(block) :]
        else:
            head = block
    return alias, repeat


def render_graph(graph: graphviz.Digraph, fmt: str) -> bytes:
    """DOT source as text for ``dot``; otherwise run Graphviz's ``dot`` to render it."""
    return render_source(graph.source, fmt)


def render_source(source: str, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "dot":
        return source.encode()
    if shutil.which("dot") is None:
        raise UserError(INSTALL_DOT)
    result = subprocess.run(["dot", f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=300)
    if result.returncode != 0:
        raise UserError(f"dot failed: {result.stderr.decode(errors='replace').strip().splitlines()[0]}")
    return result.stdout
