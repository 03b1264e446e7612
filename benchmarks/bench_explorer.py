"""The graph explorer in a real browser (Debian's Chromium via Playwright): how long until it is
shown, and how long a click on a node takes to show its details.

Two places: the app's Graph tab on ResNet-152 (from the click on the tab until the first frame with
the graph is painted; the tab is left and opened again, which draws it anew), and the exported page
(`graph NAME -o x.html`) of the deepest and widest networks, opened from a file. Times are taken in
the page (the explorer stamps the wall-clock time of its first painted frame, and of the frame
after a click changed the details) against the wall-clock time just before the click. Writes the
"Explorer" section of reports/benchmarks.md and screenshots under reports/screenshots/.

Run: .venv/bin/python benchmarks/bench_explorer.py"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from app_browser import (  # noqa: E402
    EXPLORER_GRAPH,
    app_explorer,
    browser_page,
    choose_variant,
    node_position,
    open_tab,
    running_app,
)
from machine import machine_description, update_section  # noqa: E402

import resnet_inspect as ri  # noqa: E402
from resnet_inspect.views.explorer import explorer_data, explorer_html  # noqa: E402

RUNS = 3
PAGES = ["resnet152", "senet154", "res2net50_26w_4s", "skresnext50_32x4d", "resnest269e"]
CLICKED = {"resnet152": "layer3.20.conv2", "senet154": "layer3.10.se.fc1"}
GRAPH = EXPLORER_GRAPH
WATCH_DETAILS = """() => {
  window.detailsPainted = null;
  if (window.detailsWatch) return;
  window.detailsWatch = new MutationObserver(() => requestAnimationFrame(() => {
    window.detailsPainted = performance.timeOrigin + performance.now(); }));
  window.detailsWatch.observe(document.querySelector('.ri-details'), { childList: true, subtree: true });
}"""


def now_ms() -> float:
    return time.time() * 1000


def click_node_ms(frame, locator, node_id: str) -> float:
    """From just before a click on ``node_id`` until the frame showing its details is painted."""
    position = node_position(frame, node_id)
    frame.evaluate(WATCH_DETAILS)
    locator.page.wait_for_timeout(300)
    start = now_ms()
    locator.click(position=position)
    frame.wait_for_function("() => window.detailsPainted !== null", timeout=10_000)
    assert node_id in frame.locator(".ri-details-title").inner_text()
    return frame.evaluate("() => window.detailsPainted") - start


def app_runs(shots: Path) -> dict[str, list[float]]:
    opened, clicked = [], []
    with running_app() as (url, _, _), browser_page(1500, 1100) as page:
        page.goto(url)
        page.get_by_text("25,557,032").first.wait_for(timeout=120_000)
        choose_variant(page, "resnet152")
        page.get_by_text("60,192,808").first.wait_for(timeout=120_000)
        page.wait_for_timeout(1500)
        for run in range(RUNS):
            start = now_ms()
            open_tab(page, "Graph")
            frame_locator, frame = app_explorer(page, "data-shown-at")
            opened.append(float(frame.evaluate("() => document.querySelector('.ri-explorer').dataset.shownAt")) - start)
            frame_locator.locator(".ri-explorer[data-ready='1']").wait_for(timeout=60_000)
            clicked.append(click_node_ms(frame, frame_locator.locator(".ri-graph"), "layer3.20.conv2"))
            if run == 0:
                page.wait_for_timeout(1500)
                page.locator("iframe[title*='explorer']").first.scroll_into_view_if_needed()
                page.screenshot(path=str(shots / "app-graph.png"))
            open_tab(page, "Layers")
            page.wait_for_timeout(2500)
    return {"opened": opened, "clicked": clicked}


def page_runs(shots: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp, browser_page(1500, 1000) as page:
        for name in PAGES:
            path = Path(tmp) / f"{name}.html"
            data = explorer_data(ri.inspect(name, device="meta"), level="layer")
            path.write_text(explorer_html(data))
            opened, clicked = [], []
            for _ in range(RUNS):
                page.goto(path.as_uri())
                page.wait_for_selector(".ri-explorer[data-ready='1']", timeout=60_000)
                shown_at = float(page.evaluate("() => document.querySelector('.ri-explorer').dataset.shownAt"))
                opened.append(shown_at - page.evaluate("() => performance.timeOrigin"))
                target = CLICKED.get(name) or data["nodes"][len(data["nodes"]) // 2]["id"]
                clicked.append(click_node_ms(page, page.locator(".ri-graph"), target))
            page.evaluate(f"() => {{ {GRAPH}.stop(true); }}")
            page.get_by_role("button", name="Layers").click()
            page.wait_for_timeout(300)
            page.screenshot(path=str(shots / f"explorer-{name}.png"))
            rows.append({"name": name, "nodes": len(data["nodes"]), "opened": opened, "clicked": clicked})
    return rows


def main() -> None:
    shots = ROOT / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    app = app_runs(shots)
    pages = page_runs(shots)

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.0f} ms | {max(values):.0f} ms"

    def verdict(values: list[float], target: float) -> str:
        return f"under {target:g} ms: **{'met' if max(values) < target else 'not met'}**"

    lines = [
        f"| exported page of {row['name']} ({row['nodes']} layers): opened from the file -> graph painted "
        f"| {cell(row['opened'])} | |\n"
        f"| {row['name']}: click on a node -> its details painted | {cell(row['clicked'])} "
        f"| {verdict(row['clicked'], 300)} |"
        for row in pages
    ]
    text = f"""## Explorer

Machine: {machine_description()}. Script: `benchmarks/bench_explorer.py`: headless Chromium (Playwright) on
the same machine; {RUNS} runs of each. The explorer opens at layer level (every layer drawn). In the app, ResNet-152
is analysed first (the report is cached, as after any visit); the Graph tab is then clicked, left for the Layers
tab and clicked again, which draws the explorer anew each time. Times are wall-clock, from just before the
click (or the navigation) until the explorer's first painted frame with the graph, or the first painted
frame after a click showing the node's details (stamped by the page).

| measurement | median | worst | target |
| --- | ---: | ---: | --- |
| app: click on the Graph tab (ResNet-152, layer level, 515 layers) -> interactive graph painted | {cell(app["opened"])} | {verdict(app["opened"], 1500)} |
| app: click on a node -> its details painted | {cell(app["clicked"])} | {verdict(app["clicked"], 300)} |
{chr(10).join(lines)}

Screenshots: `reports/screenshots/app-graph.png` (the app's Graph tab) and `reports/screenshots/explorer-*.png`
(the exported pages at layer level).
"""
    update_section(ROOT / "reports" / "benchmarks.md", "Explorer", text)
    print(text)


if __name__ == "__main__":
    main()
