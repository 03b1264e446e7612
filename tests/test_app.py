"""The Streamlit page, driven by Streamlit's AppTest: every tab, the editor, bad input."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import resnet_inspect as ri

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def fresh() -> AppTest:
    return AppTest.from_file(APP, default_timeout=180)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def page():
    at = fresh().run()
    no_exception(at)
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def open_tab(at: AppTest, label: str) -> AppTest:
    """Select a tab as a click does: only the open tab's content runs."""
    at.session_state["view"] = label
    return at.run()


TABS = ["Layers", "Graph", "Charts", "Audit", "Memory", "Compare", "Performance"]


def test_opens_on_resnet50_with_every_tab(page):
    assert page.title[0].value == "resnet50"
    assert metric(page, "Parameters") == "25,557,032"
    assert metric(page, "Paper depth") == "50"
    assert [t.label for t in page.tabs] == TABS
    assert len(page.table) == 1 and len(page.dataframe) == 1  # the stages; the layers of the open tab only
    assert not page.error
    shown = {}
    for label in TABS:
        open_tab(page, label)
        no_exception(page)
        assert not page.error, label
        shown[label] = (len(page.dataframe), len(page.get("plotly_chart")), len(page.table))
    # The counts and the memory breakdown are static tables (their definitions wrap), beside the stages'.
    assert shown["Charts"][1] == 3 and shown["Compare"][0] == 3 and shown["Audit"][2] == 2
    assert shown["Memory"][2] == 2
    assert shown["Memory"][1] == 2  # the curves and the saved-tensor bars
    open_tab(page, "Layers")


def test_switching_variant_and_convention():
    at = fresh().run()
    at.sidebar.selectbox(key="variant").set_value("resnet18").run()
    no_exception(at)
    assert metric(at, "Parameters") == "11,689,512"
    at.sidebar.selectbox(key="convention").set_value("fvcore").run()
    assert metric(at, "MACs (fvcore)") == "1.82G"
    assert sum(m.label == "MACs" for m in at.metric) == 1


def test_layer_filters_and_graph_levels():
    at = fresh().run()
    at.slider(key="depth").set_value(1).run()
    at.text_input(key="search").set_value("downsample").run()
    no_exception(at)
    # The search finds the shortcuts' layers (depth 4) although the slider says 1, and says so.
    names = list(at.dataframe[0].value["name"])
    assert "layer1.0.downsample.0" in names and all("downsample" in n for n in names)
    assert any("every depth" in c.value for c in at.caption)
    open_tab(at, "Graph")
    for level in ("stage", "layer", "block"):
        at.radio(key="level").set_value(level).run()
        no_exception(at)
    at.selectbox(key="graph_stage").set_value("all stages").run()
    no_exception(at)
    assert not at.error


def test_custom_editor_builds_and_rejects_invalid_specs():
    at = fresh().run()
    at.sidebar.radio(key="mode").set_value("Custom network").run()
    at.sidebar.text_input(key="layers_resnet50").set_value("2,2,2,2").run()
    no_exception(at)
    assert at.title[0].value == "Custom network"
    at.sidebar.text_input(key="layers_resnet50").set_value("3,0,6,3").run()
    no_exception(at)
    assert any("layers" in e.value for e in at.error)
    at.sidebar.text_input(key="layers_resnet50").set_value("three").run()
    assert any("comma-separated integers" in e.value for e in at.error)
    at.sidebar.text_input(key="layers_resnet50").set_value("3,4,6,3").run()
    at.sidebar.selectbox(key="block_resnet50").set_value("basic").run()
    at.sidebar.number_input(key="groups_resnet50").set_value(2).run()  # basic blocks have no groups
    no_exception(at)
    assert any("groups" in e.value for e in at.error)
    # the newer choices combine in the editor: Res2Net blocks with 6 scales and ECA
    at.sidebar.number_input(key="groups_resnet50").set_value(1).run()
    at.sidebar.selectbox(key="block_resnet50").set_value("res2net").run()
    at.sidebar.number_input(key="width_per_group_resnet50").set_value(26).run()
    at.sidebar.number_input(key="scales_resnet50").set_value(6).run()
    at.sidebar.selectbox(key="attn_resnet50").set_value("eca").run()
    no_exception(at)
    assert not at.error
    expected = ri.inspect(ri.ResNetSpec(block="res2net", width_per_group=26, scales=6, attn="eca"), device="meta")
    assert metric(at, "Parameters") == f"{expected.totals.params:,}"


@pytest.mark.parametrize("base", ["senet154", "ecaresnet50d_pruned", "skresnet18", "resnet50d"])
def test_the_editor_starts_from_any_variant_unchanged(base):
    """Every spec field reaches the editor: a network started from unchanged is the registered one."""
    at = fresh()
    at.run()
    at.sidebar.selectbox(key="device").set_value("meta").run()
    at.sidebar.radio(key="mode").set_value("Custom network").run()
    at.sidebar.selectbox(key="base").set_value(base).run()
    no_exception(at)
    assert not at.error
    expected = ri.inspect(base, device="meta")
    assert metric(at, "Parameters") == f"{expected.totals.params:,}"
    assert metric(at, "MACs") == f"{expected.totals.macs / 1e9:.2f}G"


def test_the_editor_reads_dilation_and_width_tables():
    at = fresh()
    at.run()
    at.sidebar.selectbox(key="device").set_value("meta").run()
    at.sidebar.radio(key="mode").set_value("Custom network").run()
    at.sidebar.text_input(key="dilate_resnet50").set_value("false,true,true").run()
    no_exception(at)
    assert at.caption[0].value.startswith("input 1x3x224x224")
    expected = ri.inspect(ri.ResNetSpec(dilate=(False, True, True)), device="meta")
    assert metric(at, "MACs") == f"{expected.totals.macs / 1e9:.2f}G"
    at.sidebar.text_input(key="dilate_resnet50").set_value("false,maybe,true").run()
    assert any("dilate" in e.value and "maybe" in e.value for e in at.error)
    at.sidebar.text_input(key="dilate_resnet50").set_value("false,false,false").run()
    at.sidebar.text_input(key="stage_channels_resnet50").set_value("256,512").run()
    no_exception(at)
    assert any("stage_channels" in e.value for e in at.error)


def test_tiny_input_and_extremes_show_messages_not_exceptions():
    at = fresh().run()
    at.sidebar.selectbox(key="device").set_value("meta").run()
    at.sidebar.number_input(key="side_224").set_value(1).run()
    no_exception(at)
    assert any("1x1" in w.value for w in at.warning)
    at.sidebar.number_input(key="side_224").set_value(8192).run()
    at.sidebar.number_input(key="batch").set_value(4096).run()
    no_exception(at)
    assert any("RESNET_INSPECT_MAX_INPUT_ELEMENTS" in e.value for e in at.error)  # at the top of the page too
    at.sidebar.number_input(key="batch").set_value(256).run()
    no_exception(at)
    assert metric(at, "Parameters") == "25,557,032"
    at.sidebar.selectbox(key="device").set_value("cpu").run()  # 8192x8192 for real: over the app's budget
    no_exception(at)
    assert any("is allowed; use --device meta" in e.value for e in at.error)
    at.sidebar.selectbox(key="device").set_value("cuda").run()
    no_exception(at)
    import torch

    if not torch.cuda.is_available():
        assert any("no CUDA GPU" in e.value for e in at.error)


def test_claims_good_and_malformed():
    at = open_tab(fresh().run(), "Audit")
    at.text_area(key="claims_text").set_value(
        "claims:\n  - model: this\n    quantity: params\n    value: 23.5M\n"
        "  - model: resnet101\n    quantity: layers\n    value: 101\n"
    ).run()
    no_exception(at)
    assert any("2 claims, 0 false" in s.value for s in at.success)
    at.text_area(key="claims_text").set_value("claims:\n  - model: this\n    quantity: depth\n    value: 50\n").run()
    no_exception(at)
    assert any("unknown quantity 'depth'" in e.value for e in at.error)
    at.text_area(key="claims_text").set_value("claims: [oops\n").run()
    assert any("invalid YAML" in e.value for e in at.error)
    at.text_area(key="claims_text").set_value(
        "claims:\n  - model: evil.py:make\n    quantity: params\n    value: 1\n"
    ).run()
    assert any("does not run" in e.value for e in at.error)


def test_compare_tab():
    at = open_tab(fresh().run(), "Compare")
    at.multiselect(key="compare").set_value(["resnet50", "resnet50_v1", "resnext50_32x4d"]).run()
    no_exception(at)
    # Any pair of the three: the first with the third.
    at.selectbox(key="diff_b").set_value("resnext50_32x4d").run()
    no_exception(at)
    assert any("between resnet50 and resnext50_32x4d" in m.value for m in at.markdown)
    at.multiselect(key="compare").set_value(["resnet50"]).run()
    assert any("two or more" in i.value for i in at.info)


def test_memory_tab_matches_the_estimate_and_refuses_a_tiny_budget():
    from resnet_inspect.memory.estimate import Simulator
    from resnet_inspect.memory.plan import MemoryPlan

    at = fresh().run()
    at.sidebar.selectbox(key="variant").set_value("resnet18").run()
    open_tab(at, "Memory")
    import torch

    # The allocator of the machine the server runs on, unless asked for the other one.
    assert at.selectbox(key="mem_allocator").value == ("cuda" if torch.cuda.is_available() else "cpu")
    at.selectbox(key="mem_allocator").set_value("cuda").run()
    at.selectbox(key="mem_precision").set_value("bf16").run()
    no_exception(at)
    simulator = Simulator("resnet18")
    plan = MemoryPlan(1, (3, 224, 224), optimizer="adamw", precision="bf16", device="cuda")
    fit = simulator.fit(plan, 24 * 10**9)
    assert metric(at, "Largest batch that fits") == f"{fit.training_batch:,}"
    at.toggle(key="mem_train").set_value(False).run()
    assert metric(at, "Largest batch that fits") == f"{fit.inference_batch:,}"
    at.number_input(key="mem_budget").set_value(0.1).run()  # 100 MB: below batch 1 of a training step
    at.toggle(key="mem_train").set_value(True).run()
    no_exception(at)
    assert any("Not even batch 1" in w.value for w in at.warning)


def test_performance_tab_shows_committed_profiles():
    at = open_tab(fresh().run(), "Performance")  # resnet50 is open: its own profiles only
    no_exception(at)
    profiles = at.selectbox(key="profile_True")
    assert any("batch 32" in option for option in profiles.options)
    assert all(option.startswith("resnet50 ") for option in profiles.options)
    profiles.set_value(profiles.options[-1]).run()
    no_exception(at)
    # A network without a profile says so and how to make one, and offers the others'.
    at.sidebar.selectbox(key="variant").set_value("resnet26d").run()
    no_exception(at)
    assert any("No measured profile of resnet26d" in i.value for i in at.info)
    assert any(o.startswith("resnet152 ") for o in at.selectbox(key="profile_False").options)


def test_the_editor_asks_for_every_spec_field_but_the_input_size():
    from resnet_inspect.model.spec import FIELD_NAMES
    from resnet_inspect.webapp import EDITOR_CHOICES, EDITOR_FIELDS

    assert {f.name for f in EDITOR_FIELDS} | {"image_size"} == set(FIELD_NAMES)
    assert len({f.name for f in EDITOR_FIELDS}) == len(EDITOR_FIELDS)
    assert all(f.name in EDITOR_CHOICES for f in EDITOR_FIELDS if f.kind == "choice")


def test_graph_tab_overlay_of_saved_tensors_and_clicks_reaching_the_layers_tab():
    at = fresh().run()
    at.sidebar.selectbox(key="variant").set_value("resnet18").run()
    open_tab(at, "Graph")
    at.checkbox(key="graph_saved").check().run()  # one simulated training step of resnet18
    no_exception(at)
    assert not at.error
    # What a click in the graph sends back, as the component would: the Layers tab shows it first, selected.
    at.session_state["graph_picked"] = ["layer2.1.conv2"]
    open_tab(at, "Layers")
    no_exception(at)
    assert any("what was clicked in the graph (layer2.1.conv2)" in c.value for c in at.caption)
    assert at.dataframe[0].value.iloc[0]["name"] == "layer2.1.conv2"


def test_a_saved_overlay_that_cannot_be_simulated_is_a_warning():
    """A training step at batch 1 on 32 pixels reaches BatchNorm with one value per channel: the overlay
    is refused in words, the graph still drawn."""
    at = fresh().run()
    at.sidebar.selectbox(key="variant").set_value("resnet18").run()
    at.sidebar.number_input(key="side_224").set_value(32).run()
    open_tab(at, "Graph")
    at.checkbox(key="graph_saved").check().run()
    no_exception(at)
    assert any("No saved-for-backward overlay" in w.value for w in at.warning)
    assert not at.error
