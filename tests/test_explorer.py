"""The graph explorer's data and page: every figure it shows adds up to the report's, the hierarchy
and the edges hold together, and the exported page is one file that fetches nothing."""

import json
import re

import pytest
from support import run_cli

import resnet_inspect as ri
from resnet_inspect.views.explorer import explorer_data, explorer_html, latency_by_layer
from resnet_inspect.views.graphs import dataflow_nodes

# Plain and deep, with branches (Res2Net, SK), attention and a container's own parameters (CLIP).
VARIANTS = ["resnet18", "resnet152", "res2net50_26w_4s", "skresnet18", "seresnext26d_32x4d", "clip_rn50"]


@pytest.fixture(scope="module")
def reports():
    return {name: ri.inspect(name, device="meta") for name in VARIANTS}


@pytest.mark.parametrize("name", VARIANTS)
def test_every_figure_adds_up_to_the_report(reports, name):
    report = reports[name]
    data = explorer_data(report)
    assert [n["id"] for n in data["nodes"]] == [n.id for n in dataflow_nodes(report)]
    # The stages' figures are the network's; every layer's MACs and FLOPs add up to the totals.
    stages = [g for g in data["groups"] if g["kind"] == "stage"]
    for key, total in (("params", report.totals.params), ("macs", report.totals.macs), ("flops", report.totals.flops)):
        assert sum(g["values"][key] for g in stages) == total, key
    assert sum(n["values"].get("macs", 0) for n in data["nodes"]) == report.totals.macs
    assert sum(n["values"].get("flops", 0) for n in data["nodes"]) == report.totals.flops
    # A block's figures are its module's totals.
    rows = {r.name: r for r in report.layers}
    for group in data["groups"]:
        if group["kind"] == "block":
            assert group["values"]["params"] == rows[group["name"]].total_params
            assert group["values"]["macs"] == rows[group["name"]].total_macs


@pytest.mark.parametrize("name", VARIANTS)
def test_hierarchy_and_edges_hold_together(reports, name):
    data = explorer_data(reports[name])
    groups = {g["id"]: g for g in data["groups"]}
    ids = {n["id"] for n in data["nodes"]} | {"input", "output"}
    for node in data["nodes"]:
        assert node["parent"] in groups
    for group in groups.values():
        assert group["parent"] is None or groups[group["parent"]]["kind"] == "stage"
    for edge in data["edges"]:
        assert edge["source"] in ids and edge["target"] in ids
    # every layer is reached from the input and reaches the output
    forward: dict[str, list[str]] = {}
    for edge in data["edges"]:
        forward.setdefault(edge["source"], []).append(edge["target"])
    seen, todo = set(), ["input"]
    while todo:
        for target in forward.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    assert "output" in seen
    # a folded-away block's layers stand for the same layers of the first block of its run
    for node_id, head_id in data["alias"].items():
        assert head_id in ids and node_id in ids


def test_runs_of_identical_blocks_fold_into_their_first(reports):
    report = reports["resnet152"]
    data = explorer_data(report)
    blocks = {s.name: s.blocks for s in report.stages if s.blocks}
    # In each stage of ResNet-152 the blocks after the first (the one that changes the shape) are identical.
    for stage, count in blocks.items():
        assert data["repeat"][f"{stage}.1"] == [count - 1, f"{stage}.{count - 1}"]
        assert all(data["fold_into"][f"{stage}.{i}"] == f"{stage}.1" for i in range(2, count))
    assert "layer3.0" not in data["fold_into"]


def test_a_layer_says_what_it_is(reports):
    report = reports["resnet152"]
    row = next(r for r in report.layers if r.name == "layer1.0.conv2")
    node = next(n for n in explorer_data(report)["nodes"] if n["id"] == "layer1.0.conv2")
    details = dict(node["details"])
    assert details["type"] == "Conv2d" and details["kernel"] == "3x3" and details["channels"] == "64 -> 64"
    assert details["MACs (conv + linear weights)"].startswith(f"{row.macs:,}")
    assert details["parameters"].startswith(f"{row.params:,}")
    assert details["receptive field"] == f"{row.rf_size} px, jump {row.rf_stride}"
    assert details["output"] == "x".join(map(str, row.output_shapes[-1]))


def test_overlays_from_a_simulation_and_a_profile(reports):
    report = reports["resnet18"]
    profile = {"layers": [{"name": "layer1.0.conv1", "ms": 0.25}, {"name": "fc", "ms": 0.01}]}
    data = explorer_data(report, saved={"layer1.0.bn1": 802816}, latency=latency_by_layer(profile))
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["layer1.0.conv1"]["values"]["latency"] == 0.25
    assert nodes["layer1.0.bn1"]["values"]["saved"] == 802816
    assert {"saved", "latency"} <= set(data["metrics"])
    assert "saved" not in explorer_data(report)["metrics"]  # an overlay only where there are figures


def test_the_page_fetches_nothing_and_cannot_be_broken_out_of(reports):
    report = reports["resnet18"]
    report.model = "x</script><script>alert(1)</script><!--"
    page = explorer_html(explorer_data(report))
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "@import" not in page and not re.search(r"url\(\s*['\"]?https?:", page)
    assert "default-src 'none'" in page  # and the browser is told to refuse any fetch
    # The only script elements are the ones the page puts there: the name stays text.
    assert page.count("<script") == 5
    payload = re.search(r"<script type='application/json' id='ri-data'>(.*?)</script>", page, re.S).group(1)
    assert json.loads(payload)["model"] == report.model


def test_graph_cli_writes_the_explorer(tmp_path):
    out = tmp_path / "resnet18.html"
    result = run_cli("graph", "resnet18", "--level", "layer", "--stage", "layer2", "--collapse", "-o", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    data = json.loads(re.search(r"id='ri-data'>(.*?)</script>", page, re.S).group(1))
    assert data["open"] == {"level": "layer", "fold": True, "stage": "layer2"}
    assert "cytoscape" in page and "RIExplorer.mount" in page


def test_graph_cli_refuses_what_it_cannot_do(tmp_path):
    bad_profile = tmp_path / "profile.json"
    bad_profile.write_text('{"model": "resnet18"}')
    cases = [
        (["-o", str(tmp_path / "x.svg"), "--saved"], "write .html"),
        (["-o", str(tmp_path / "x.html"), "--stage", "layer9"], "unknown stage 'layer9'"),
        (["-o", str(tmp_path / "x.html"), "--profile", str(bad_profile)], "is not a profile: no list of layers"),
        (["-o", str(tmp_path / "x.html"), "--profile", str(tmp_path / "none.json")], "no such file"),
    ]
    for number in ("NaN", "Infinity", '"fast"', "-1", "true", "1e400"):
        bad = tmp_path / f"profile-{len(cases)}.json"
        bad.write_text('{"layers": [{"name": "conv1\\u001b[31m", "ms": ' + number + "}]}")
        cases.append(
            (["-o", str(tmp_path / "x.html"), "--profile", str(bad)], "not a profile's time: layer 'conv1\\x1b[31m'")
        )
    for args, message in cases:
        result = run_cli("graph", "resnet18", *args)
        assert result.returncode != 0 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "x.svg").exists()


def test_graphviz_places_every_layer_or_the_browser_does(reports, monkeypatch):
    import shutil

    data = explorer_data(reports["res2net50_26w_4s"])
    if shutil.which("dot") is not None:
        assert set(data["positions"]) == {n["id"] for n in data["nodes"]} | {"input", "output"}
        # top to bottom in execution order, along the main path
        assert data["positions"]["input"][1] < data["positions"]["conv1"][1] < data["positions"]["output"][1]
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert explorer_data(reports["resnet18"])["positions"] is None  # the explorer lays out itself


def test_graph_cli_adds_the_overlays_it_is_asked_for(tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps({"kind": "resnet-inspect-profile", "layers": [{"name": "layer1.0.conv1", "ms": 0.5}]})
    )
    out = tmp_path / "r18.html"
    result = run_cli("graph", "resnet18", "--input", "1x3x64x64", "--saved", "--profile", str(profile), "-o", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(re.search(r"id='ri-data'>(.*?)</script>", out.read_text(), re.S).group(1))
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["layer1.0.conv1"]["values"]["latency"] == 0.5
    # What the training simulation says a ReLU keeps for backward: its output, 64x16x16 floats.
    assert nodes["layer1.0.act1"]["values"]["saved"] == 64 * 16 * 16 * 4
    assert {"saved", "latency"} <= set(data["metrics"])
