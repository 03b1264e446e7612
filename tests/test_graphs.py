"""Diagram structure (clusters, nodes, edges, labels) for every variant; SVG validity."""

import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from support import run_cli
from variants import every_variant

import resnet_inspect as ri
from resnet_inspect.views.graphs import build_graph, dataflow_nodes, render_graph


def block_clusters(source):
    return re.findall(r"subgraph cluster_(?!stage_|legend)(\w+)", source)


def projection_edges(source):
    return re.findall('label="projection\n', source)


@pytest.mark.parametrize("name", every_variant())
def test_block_diagram_structure_for_every_variant(name):
    report = ri.inspect(name, device="meta")
    source = build_graph(report, "block").source
    blocks = sum(s.blocks for s in report.stages)
    assert len(block_clusters(source)) == blocks
    projections = sum(1 for r in report.leaves() if r.on_shortcut and r.type.endswith("Conv2d"))  # StdConv2d too
    assert len(projection_edges(source)) == projections
    adds = source.count('label="+"')
    assert adds == blocks  # one residual add per block
    identity = source.count("label=identity")
    shortcut_blocks = len({r.name.split(".downsample")[0] for r in report.leaves() if r.on_shortcut})
    assert identity == blocks - shortcut_blocks


def test_resnet50_block_diagram_details():
    report = ri.inspect("resnet50", device="meta")
    source = build_graph(report, "block").source
    assert len(block_clusters(source)) == 16 and len(projection_edges(source)) == 4
    assert "3x3/2 conv, 128->128 · BN · ReLU" in source  # v1.5: the stride is on the 3x3
    assert "56x56x256" in source and "7x7x2048" in source
    collapsed = build_graph(report, "block", collapse=True).source
    assert len(block_clusters(collapsed)) == 8  # first block of each stage + one run of identical ones
    assert "layer3.1 .. layer3.5  (x5, identical)" in collapsed


def test_layer_and_stage_levels():
    report = ri.inspect("resnet18", device="meta")
    layer = build_graph(report, "layer").source
    for row in report.leaves():
        assert f"{re.sub(r'[^A-Za-z0-9_]', '_', row.name)} [" in layer
    stage = build_graph(report, "stage").source
    assert stage.count("stage_") >= 6 and "layer1 (conv2_x)" in stage
    only = build_graph(report, "block", stage="layer2").source
    assert len(block_clusters(only)) == 2 and "layer2 input\n56x56x64" in only
    with pytest.raises(ValueError, match="unknown level 'cells'; choose one of stage, block, layer"):
        build_graph(report, "cells")


def test_dataflow_follows_the_real_shortcut_of_preactivation_units():
    report = ri.inspect("resnetv2_50", device="meta")
    nodes = {n.id: n for n in dataflow_nodes(report)}
    # the projection reads the pre-activated input (after norm1), not the raw block input
    assert nodes["stages.0.blocks.0.downsample.conv"].inputs == ["stages.0.blocks.0.norm1.act"]
    add = nodes["stages.0.blocks.1:add"]
    assert set(add.inputs) == {"stages.0.blocks.1.conv3", "stages.0.blocks.0:add"}


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
def test_svg_is_valid_and_cli_writes_it(tmp_path):
    out = tmp_path / "resnet50.svg"
    result = run_cli("graph", "resnet50", "--level", "block", "-o", str(out))
    assert result.returncode == 0, result.stderr
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    groups = [g for g in root.iter() if g.get("class") == "cluster"]
    titles = [g.find("{http://www.w3.org/2000/svg}title").text for g in groups]
    assert sum(1 for t in titles if re.fullmatch(r"cluster_layer\d_\d+", t)) == 16
    png = render_graph(build_graph(ri.inspect("resnet18", device="meta"), "stage"), "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_cli_bad_input(tmp_path):
    cases = [
        (["graph", "resnet50", "--level", "cells", "-o", str(tmp_path / "x.svg")], "choose one of stage, block, layer"),
        (["graph", "resnet50", "-o", str(tmp_path / "x.gif")], "use one of .dot, .svg, .png, .pdf"),
        (["graph", "resnet50", "-o", str(tmp_path / "missing" / "x.svg")], "does not exist"),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_the_stage_diagram_gives_each_stage_its_receptive_field():
    report = ri.inspect("seresnext26d_32x4d", device="meta")
    source = build_graph(report, "stage").source
    assert "RF 199 px /32 + global" in source  # layer4: the local field, and the SE means besides
    plain = build_graph(ri.inspect("resnet50", device="meta"), "stage").source
    assert 'RF 427 px /32"' in plain  # no global operator in a plain ResNet-50


def test_names_beside_close_points_never_overlap():
    from resnet_inspect.views.charts import NetworkPoint, label_positions, variants_scatter

    # resnet50 and resnet50_v1 lie almost on one point; a third name close by.
    points = [
        NetworkPoint("resnet50", 25_557_032, 4_089_184_256, [1, 3, 224, 224]),
        NetworkPoint("resnet50_v1", 25_557_032, 4_089_184_256, [1, 3, 224, 224]),
        NetworkPoint("resnext50_32x4d", 25_028_904, 4_230_000_000, [1, 3, 224, 224]),
        NetworkPoint("resnet18", 11_689_512, 1_814_073_344, [1, 3, 224, 224]),
    ]
    places = label_positions(points)
    assert places["resnet50"] != places["resnet50_v1"]
    assert places["resnet18"] == "top center"  # alone: the usual place
    scatter = variants_scatter(points).data[0]
    assert list(scatter.textposition) == [places[p.name] or "top center" for p in points]
    assert list(scatter.hovertext) == [p.name for p in points]  # every name on hover, placed or not


def test_an_operator_a_module_runs_twice_is_two_nodes():
    """CLIP's attention pool scales q and k (two multiplies) and runs two matrix products: each run is
    its own node with its own inputs and figures."""
    report = ri.inspect("clip_rn50", device="meta")
    nodes = {n.id: n for n in dataflow_nodes(report)}
    assert nodes["attnpool:mul"].inputs == ["attnpool.q_proj"]
    assert nodes["attnpool:mul#2"].inputs == ["attnpool.k_proj"]
    assert nodes["attnpool:bmm"].inputs == ["attnpool:mul", "attnpool:mul#2"]
    assert "attnpool.v_proj" in nodes["attnpool:bmm#2"].inputs
    assert nodes["attnpool.c_proj"].inputs == ["attnpool:bmm#2"]
    pool = next(r for r in report.layers if r.name == "attnpool")
    bmm = next(op for op in pool.ops if op.op == "bmm")
    assert [run.node for run in bmm.runs] == ["attnpool:bmm", "attnpool:bmm#2"]
    assert sum(run.macs for run in bmm.runs) == bmm.macs > 0
