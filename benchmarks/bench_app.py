"""App timings in a real browser (Debian's Chromium via Playwright), and screenshots.

Measures, on this machine, from the server answering its health check: the ResNet-50 page (title,
metrics, stage table and the open Layers tab), the graph explorer after a click on the Graph tab, and
the switch back to a variant already analyzed (cached), from the click on its name until its page
shows. Writes the "App" section of reports/benchmarks.md, the first page's screenshot and the charts'.

Run: .venv/bin/python benchmarks/bench_app.py"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from app_browser import browser_page, choose_variant, open_tab, running_app, variant_option  # noqa: E402
from machine import machine_description, update_section  # noqa: E402

GRAPH = '[data-testid="stImage"] img'
DATAFRAME = '[data-testid="stDataFrame"]'
RUNS = 3
SWITCHES = 4


def page_shown(page, name: str, params: str, timeout: float = 120_000) -> None:
    """The page of ``name``: its title, its parameter count and its tables."""
    page.locator("h1", has_text=name).first.wait_for(timeout=timeout)
    page.get_by_text(params).first.wait_for(timeout=timeout)
    page.locator(DATAFRAME).first.wait_for(timeout=timeout)


def plain_first_page() -> float:
    """The same first page from ``streamlit run app.py``: torch imported only when the page first runs."""
    with running_app(plain=True) as (url, _, _), browser_page() as page:
        ready = time.perf_counter()
        page.goto(url)
        page_shown(page, "resnet50", "25,557,032")
        return time.perf_counter() - ready


def one_run(shots: Path | None) -> dict[str, float | list[float]]:
    with running_app() as (url, startup, _), browser_page() as page:
        ready = time.perf_counter()
        page.goto(url)
        page_shown(page, "resnet50", "25,557,032")
        first_page = time.perf_counter() - ready
        start = time.perf_counter()
        open_tab(page, "Graph")
        explorer = page.locator("iframe[title*='explorer']").first
        explorer.wait_for(timeout=120_000)
        explorer.content_frame.locator(".ri-explorer[data-shown-at]").wait_for(timeout=120_000)
        graph = time.perf_counter() - start
        if shots:
            page.wait_for_timeout(800)
            page.screenshot(path=str(shots / "app-top.png"))
        open_tab(page, "Layers")
        choose_variant(page, "resnet18")
        page_shown(page, "resnet18", "11,689,512")
        switches = []
        for index in range(SWITCHES):  # back and forth between two analyzed networks
            name, params = ("resnet50", "25,557,032") if index % 2 == 0 else ("resnet18", "11,689,512")
            option = variant_option(page, name)
            start = time.perf_counter()
            option.click()
            page_shown(page, name, params, timeout=60_000)
            switches.append(time.perf_counter() - start)
        return {
            "server_start_s": startup,
            "first_page_s": first_page,
            "graph_s": graph,
            "cached_switch_s": statistics.median(switches),
        }


def chart_screenshots(shots: Path) -> None:
    """The command line's charts (self-contained HTML), as a reader's browser shows them."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, browser_page(1300, 760) as page:
        for kind in ("stages", "sunburst", "shapes", "variants"):
            html = Path(tmp) / f"{kind}.html"
            subprocess.run(
                [sys.executable, "-m", "resnet_inspect", "chart", "resnet50", "--kind", kind, "-o", str(html)],
                check=True,
                capture_output=True,
                cwd=ROOT,
            )
            page.goto(html.as_uri())
            page.locator(".main-svg").first.wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / f"chart-{kind}.png"))


def main() -> None:
    shots = ROOT / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    chart_screenshots(shots)
    runs = [one_run(shots if i == 0 else None) for i in range(RUNS)]
    for run in runs:
        run["plain_first_page_s"] = plain_first_page()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    worst = {k: max(r[k] for r in runs) for k in runs[0]}

    def verdict(key: str, target: float) -> str:
        return f"under {target:g} s: **{'met' if worst[key] < target else 'not met'}**"

    text = f"""## App

Machine: {machine_description()}. Script: `benchmarks/bench_app.py`: {RUNS} fresh app servers, each driven by
headless Chromium (Playwright) on the same machine. Times are from the server answering `/_stcore/health`;
the page analyzes ResNet-50 with device auto (here the CPU: a real forward pass). Only the open tab runs.
The server is started as `make app` starts it, `python -m resnet_inspect.serve`: torch and the analyzer
are imported in the background from the server's start, while the browser starts and loads Streamlit's
front end; the last row is the same first page from a plain `streamlit run app.py`, which imports torch
only when the page first runs.

| measurement | median | worst | target |
| --- | ---: | ---: | --- |
| server ready -> ResNet-50 page (title, metrics, stage table, Layers table) | {med["first_page_s"]:.2f} s | {worst["first_page_s"]:.2f} s | {verdict("first_page_s", 3)} |
| click on the Graph tab -> graph explorer shown (layer level; `bench_explorer.py` times it in the page) | {med["graph_s"]:.2f} s | {worst["graph_s"]:.2f} s | |
| click on a variant already analyzed -> its page (median of {SWITCHES} switches per server) | {med["cached_switch_s"]:.2f} s | {worst["cached_switch_s"]:.2f} s | {verdict("cached_switch_s", 0.3)} |
| (for reference) process start -> server ready | {med["server_start_s"]:.2f} s | {worst["server_start_s"]:.2f} s | |
| (for reference) server ready -> ResNet-50 page, plain `streamlit run app.py` | {med["plain_first_page_s"]:.2f} s | {worst["plain_first_page_s"]:.2f} s | |

Screenshots: the page as it opens, `reports/screenshots/app-top.png`; every tab, `app-<tab>.png`
(`benchmarks/app_screenshots.py`); the command line's charts as HTML in a browser: `chart-*.png`.
"""
    update_section(ROOT / "reports" / "benchmarks.md", "App", text)
    print(text)


if __name__ == "__main__":
    main()
