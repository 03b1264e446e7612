"""Start the app on localhost and drive it with Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(timeout: float = 90.0, plain: bool = False):
    """Yield (url, seconds until the server answered its health check, the server's process id).

    Started as `make app` starts it (``python -m resnet_inspect.serve``); ``plain``: as
    ``streamlit run app.py``, without the background warm-up."""
    port = free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            *(["streamlit", "run", str(ROOT / "app.py")] if plain else ["resnet_inspect.serve"]),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    start = time.perf_counter()
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.perf_counter() - start > timeout:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise RuntimeError(f"streamlit did not start: {output[-2000:]}")
            time.sleep(0.2)
        yield url, time.perf_counter() - start, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def browser_page(width: int = 1500, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def variant_option(page, name: str):
    """Open the sidebar's variant select box, type ``name`` and return its option, ready to click."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Variant").first
    box.click()
    page.keyboard.type(name)
    option = page.locator('[role="option"]', has_text=f"{name} —").first
    option.wait_for()
    return option


def choose_variant(page, name: str) -> None:
    """Pick ``name`` in the sidebar's variant select box."""
    variant_option(page, name).click()


def open_tab(page, label: str) -> None:
    page.get_by_role("tab", name=label).click()


def choose_option(page, label: str, option: str) -> None:
    """Pick ``option`` in the sidebar's select box labelled ``label``."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    page.locator('[role="option"]', has_text=option).first.click()


def set_number(page, label: str, value: int) -> None:
    """Type ``value`` into the number input labelled ``label`` and submit it."""
    field = page.get_by_label(label)
    field.fill(str(value))
    field.press("Enter")


# The graph explorer's cytoscape instance, in its page (the exported file, or the app's frame).
EXPLORER_GRAPH = "document.getElementById('ri-root').riExplorer.cy"


def app_explorer(page, shown: str = "data-ready='1'", index: int = 0):
    """The app's graph explorer once its page says ``shown``: (a locator inside its frame, the frame)."""
    holder = page.locator("iframe[title*='explorer']").nth(index)
    holder.wait_for(timeout=60_000)
    inside = holder.content_frame
    inside.locator(f".ri-explorer[{shown}]").wait_for(timeout=60_000)
    frame = [f for f in page.frames if "explorer" in f.url][index]
    return inside, frame


def node_position(frame, node_id: str) -> dict:
    """Centre the explorer's view on a node (stopping a pan under way) and return where it is drawn,
    relative to the graph's box: where to click it."""
    return frame.evaluate(
        f"id => {{ const cy = {EXPLORER_GRAPH}; cy.stop(true); const n = cy.getElementById(id); cy.center(n); "
        "return n.renderedPosition(); }",
        node_id,
    )


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far, all its threads together (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
