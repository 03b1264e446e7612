"""A screenshot of every tab of the app, as a reader's browser shows it (Debian's Chromium via
Playwright, 1500 pixels wide and tall enough that no tab scrolls). Writes reports/screenshots/app-*.png.

Run: .venv/bin/python benchmarks/app_screenshots.py"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from app_browser import browser_page, open_tab, running_app  # noqa: E402

TABS = {  # tab -> what shows it is drawn, and the height that holds it
    "Layers": ('[data-testid="stDataFrame"]', 1900),
    "Graph": ("iframe[title*='explorer']", 2000),
    "Charts": (".main-svg", 2300),
    "Audit": ("text=weighted layers (paper depth)", 2700),
    "Memory": ("text=Largest batch that fits", 3000),
    "Compare": ("text=Layers that differ", 3400),
    "Performance": ("text=Peak memory", 2400),
}


def main() -> None:
    shots = ROOT / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with running_app() as (url, _, _), browser_page(1500, 1000) as page:
        page.goto(url)
        page.get_by_text("25,557,032").first.wait_for(timeout=120_000)
        for tab, (marker, height) in TABS.items():
            page.set_viewport_size({"width": 1500, "height": height})
            open_tab(page, tab)
            page.locator(marker).first.wait_for(timeout=120_000)
            if tab == "Compare":
                page.get_by_text("as graphs, the layers that differ").first.click()
                page.locator("iframe[title*='explorer']").nth(1).wait_for(timeout=60_000)
            if tab == "Graph":
                page.locator("iframe[title*='explorer']").first.content_frame.locator(
                    ".ri-explorer[data-ready='1']"
                ).wait_for(timeout=60_000)
            page.wait_for_timeout(3000)  # charts and frames finish drawing
            page.screenshot(path=str(shots / f"app-{tab.lower()}.png"))
            print("wrote", shots / f"app-{tab.lower()}.png")


if __name__ == "__main__":
    main()
