"""End to end: the real app in a real headless Chromium."""

import base64
import shutil

import pytest
from app_browser import browser_page, choose_variant, open_tab, running_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed"),
]


def test_select_variant_check_parameters_open_graph(tmp_path):
    with running_app() as (url, _, _), browser_page() as page:
        page.goto(url)
        page.get_by_text("25,557,032").first.wait_for(timeout=90_000)
        choose_variant(page, "resnet18")
        page.get_by_text("11,689,512").first.wait_for(timeout=60_000)
        assert page.locator("h1", has_text="resnet18").count() == 1
        open_tab(page, "Graph")
        page.get_by_text("Static diagram (Graphviz: DOT, SVG)").click()
        image = page.locator('[data-testid="stImage"] img').first
        image.wait_for(timeout=60_000)
        src = image.get_attribute("src")
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1]).decode()
        assert svg.count('class="cluster"') >= 3  # resnet18's layer1: the stage and its two blocks
        page.screenshot(path=str(tmp_path / "graph.png"), full_page=True)
        assert (tmp_path / "graph.png").stat().st_size > 10_000
        assert page.locator('[data-testid="stException"]').count() == 0


def test_upload_a_safetensors_file_and_a_checkpoint(tmp_path):
    from safetensors.torch import save_file

    import resnet_inspect as ri

    path = tmp_path / "cifar_net.safetensors"
    save_file(ri.build("resnet20").state_dict(), str(path))
    with running_app() as (url, _, _), browser_page() as page:
        page.goto(url)
        page.get_by_text("25,557,032").first.wait_for(timeout=90_000)
        page.get_by_text("Weights file", exact=True).click()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
        page.get_by_text("identified as resnet20").first.wait_for(timeout=60_000)
        assert page.locator("h1", has_text="cifar_net").count() == 1
        page.get_by_text("269,722").first.wait_for(timeout=10_000)
        page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0
        # A training checkpoint (a pickle, the network under "module."): read without running anything.
        import torch

        checkpoint = tmp_path / "checkpoint.pth.tar"
        state = {f"module.{k}": v for k, v in ri.build("resnet20").state_dict().items()}
        torch.save({"epoch": 3, "state_dict": state}, checkpoint)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(checkpoint))
        page.locator("h1", has_text="checkpoint.pth").first.wait_for(timeout=60_000)
        page.get_by_text("identified as resnet20").first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "upload-pickle.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0


def test_a_long_pass_is_dropped_when_a_newer_choice_comes(tmp_path):
    """ResNet-152 at 2048x2048 on the CPU takes minutes. Streamlit starts the newer run at once but
    cannot stop the old one, which would keep the server's cores busy until its pass ended; the
    pass itself asks whether a newer run is waiting and stops."""
    import time

    from app_browser import choose_option, cpu_seconds, set_number

    with running_app() as (url, _, pid), browser_page() as page:
        page.goto(url)
        page.get_by_text("25,557,032").first.wait_for(timeout=90_000)
        choose_variant(page, "resnet152")
        page.get_by_text("60,192,808").first.wait_for(timeout=60_000)
        choose_option(page, "Device", "cpu")
        page.get_by_text("· cpu ·").first.wait_for(timeout=60_000)
        set_number(page, "Input height = width (pixels)", 2048)
        page.get_by_text("Running the forward pass").first.wait_for(timeout=30_000)
        time.sleep(2)  # well inside the pass
        busy = cpu_seconds(pid)
        time.sleep(1)
        assert cpu_seconds(pid) - busy > 0.5  # the pass is running
        choose_option(page, "Device", "meta")
        page.get_by_text("input 1x3x2048x2048 · meta").first.wait_for(timeout=60_000)
        time.sleep(1)
        idle = cpu_seconds(pid)
        time.sleep(3)
        assert cpu_seconds(pid) - idle < 0.5  # nothing left running
        page.screenshot(path=str(tmp_path / "cancelled.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0


def test_downloads_are_written_when_clicked():
    import json

    with running_app() as (url, _, _), browser_page() as page:
        page.goto(url)
        page.get_by_text("25,557,032").first.wait_for(timeout=90_000)
        page.get_by_role("button", name="JSON", exact=True).wait_for(timeout=60_000)
        with page.expect_download(timeout=60_000) as info:
            page.get_by_role("button", name="JSON", exact=True).click()
        report = json.loads(open(info.value.path()).read())
        assert report["model"] == "resnet50" and report["totals"]["params"] == 25_557_032
        with page.expect_download(timeout=60_000) as info:
            page.get_by_role("button", name="CSV", exact=True).click()
        lines = open(info.value.path()).read().splitlines()
        assert lines[0].startswith("name,") and any(line.startswith("layer4.2.conv3,") for line in lines)
