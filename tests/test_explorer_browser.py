"""The graph explorer in a real headless Chromium: the exported page offline, and the app's Graph tab
linked to its Layers tab."""

import shutil

import pytest
from app_browser import EXPLORER_GRAPH, app_explorer, browser_page, node_position, open_tab, running_app
from support import run_cli

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed"),
]

GRAPH = EXPLORER_GRAPH


def shown(frame, node_id: str) -> bool:
    return frame.evaluate(f"id => {GRAPH}.getElementById(id).nonempty()", node_id)


def test_the_exported_explorer_works_offline(tmp_path):
    out = tmp_path / "resnet50.html"
    assert run_cli("graph", "resnet50", "--level", "layer", "-o", str(out)).returncode == 0
    with browser_page() as page:
        fetched, errors = [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)

        def refuse(route):  # nothing but the file itself may be loaded
            if not route.request.url.startswith("file://"):
                fetched.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        page.route("**/*", refuse)
        page.goto(out.as_uri())
        page.wait_for_selector(".ri-explorer[data-ready='1']", timeout=30_000)
        assert fetched == [] and errors == []

        # A click on a node shows its details and selects its row in the table.
        page.locator(".ri-graph").click(position=node_position(page, "layer1.0.conv2"))
        page.locator(".ri-details-title", has_text="layer1.0.conv2").wait_for(timeout=5_000)
        details = page.locator(".ri-details").inner_text()
        assert "Conv2d" in details and "115,605,504" in details and "19 px, jump 4" in details
        assert page.locator(".ri-table tr.ri-selected").all_inner_texts()[0].startswith("layer1.0.conv2")

        # A row of the table selects its node.
        page.locator(".ri-table tr[data-id='layer4.1.conv3']").click()
        page.wait_for_function(f"() => {GRAPH}.$(':selected').map(n => n.id()).includes('layer4.1.conv3')")
        assert "layer4.1.conv3" in page.locator(".ri-details-title").inner_text()

        # Search: the layer is found, centred and opened.
        page.fill("#ri-search", "layer3.4.conv2")
        page.press("#ri-search", "Enter")
        page.locator(".ri-details-title", has_text="layer3.4.conv2").wait_for(timeout=5_000)
        assert page.locator(".ri-found").inner_text() == "1 of 1"

        # Fold to stages, unfold one stage in place (double-click), fold it again from its details.
        page.get_by_role("button", name="Stages").click()
        assert shown(page, "stage:layer2") and not shown(page, "layer2.0.conv1")
        page.locator(".ri-graph").dblclick(position=node_position(page, "stage:layer2"))
        page.wait_for_function(f"() => {GRAPH}.getElementById('block:layer2.0').nonempty()")
        assert not shown(page, "layer2.0.conv1") and shown(page, "stage:layer3")  # one level, one stage
        page.get_by_role("button", name="Layers").click()
        assert shown(page, "layer2.0.conv1") and shown(page, "layer3.5.conv3")

        # Runs of identical blocks fold into one marked x N.
        page.check("#ri-fold")
        assert not shown(page, "layer3.2.conv1") and shown(page, "layer3.1.conv1")
        assert "x5, identical" in page.evaluate(f"() => {GRAPH}.getElementById('block:layer3.1').data('title')")

        # Colour by MACs: a legend with the scale, and the 3x3 convolution darker than a 1x1.
        page.select_option("#ri-overlay", "macs")
        assert page.locator(".ri-legend-title").inner_text() == "MACs (log scale)"
        fills = page.evaluate(
            f"() => ['layer1.0.conv2', 'layer1.0.conv1', 'layer1.0.bn1'].map(id => {GRAPH}.getElementById(id).data('fill'))"
        )
        darkness = [sum(int(f[i : i + 2], 16) for i in (1, 3, 5)) for f in fills]
        assert darkness[0] < darkness[1] and fills[2] == "#ffffff"  # a norm has no MACs
        assert errors == [] and fetched == []
        page.screenshot(path=str(tmp_path / "explorer.png"))

        # Drawn again in the same place (the app's frame when another network comes): the old graph goes.
        canvases = page.evaluate("() => document.querySelectorAll('canvas').length")
        page.evaluate(
            "() => RIExplorer.mount(document.getElementById('ri-root'), "
            "JSON.parse(document.getElementById('ri-data').textContent), {})"
        )
        page.wait_for_selector(".ri-explorer[data-ready='1']", timeout=30_000)
        assert page.evaluate("() => document.querySelectorAll('canvas').length") == canvases
        assert shown(page, "layer1.0.conv2") and errors == []


def test_the_graph_tab_is_linked_to_the_layers_table(tmp_path):
    with running_app() as (url, _, _), browser_page() as page:
        page.goto(url)
        page.get_by_text("25,557,032").first.wait_for(timeout=90_000)
        open_tab(page, "Graph")
        frame, inner = app_explorer(page)
        frame.locator(".ri-graph").click(position=node_position(inner, "layer2.1.conv2"))
        frame.locator(".ri-details-title", has_text="layer2.1.conv2").wait_for(timeout=5_000)
        page.wait_for_timeout(1_500)  # the click reaches the app, which runs again
        open_tab(page, "Layers")
        page.get_by_text("what was clicked in the graph (layer2.1.conv2)").first.wait_for(timeout=30_000)
        # The static diagram is still there, for DOT and SVG.
        open_tab(page, "Graph")
        page.get_by_text("Static diagram (Graphviz: DOT, SVG)").click()
        page.locator('[data-testid="stImage"] img').first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "graph-tab.png"))
        assert page.locator('[data-testid="stException"]').count() == 0
