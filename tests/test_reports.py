"""The committed reports are what the tool generates now; exports and charts are well-formed."""

import csv
import io
import json
import shutil

import pytest
from support import ROOT, run_cli
from variants import COVERING

import resnet_inspect as ri
from resnet_inspect.views import charts
from resnet_inspect.views.export import export_report


def stale_reports(folder) -> list[str]:
    """The files under ``folder`` that differ from (or are missing in) the committed reports/."""
    committed = ROOT / "reports"
    fresh = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert fresh
    return [
        str(p)
        for p in fresh
        if not (committed / p).exists() or (committed / p).read_bytes() != (folder / p).read_bytes()
    ]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
def test_committed_reports_of_the_covering_set_are_current(tmp_path):
    result = run_cli("report", *sorted(COVERING), "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.rglob("*.md"))) == len(COVERING)
    stale = stale_reports(tmp_path)
    assert not stale, f"stale reports (run: resnet-inspect report --all -o reports/): {stale[:5]}"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
def test_committed_index_is_current_for_the_covering_set(tmp_path):
    """The index's heading and the rows of the covering set, as `report --all` would write them now."""
    from resnet_inspect.publish import write_reports

    write_reports(sorted(COVERING), tmp_path, index=True)
    fresh = (tmp_path / "index.md").read_text().splitlines()
    committed = (ROOT / "reports" / "index.md").read_text().splitlines()
    heading = fresh[: next(i for i, line in enumerate(fresh) if line.startswith("| ["))]
    assert committed[: len(heading)] == heading, "stale index (run: resnet-inspect report --all -o reports/)"
    rows = [line for line in fresh if line.startswith("| [")]
    assert len(rows) == len(COVERING)
    assert [row for row in rows if row not in committed] == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
def test_committed_reports_are_current(tmp_path):
    result = run_cli("report", "--all", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 2 * len(ri.variants()) + 1
    stale = stale_reports(tmp_path)
    assert not stale, f"stale reports (run: resnet-inspect report --all -o reports/): {stale[:5]}"


def test_exports_in_every_format():
    report = ri.inspect("resnet18", device="meta")
    data = json.loads(export_report(report, "json"))
    assert data["totals"]["params"] == 11_689_512
    rows = list(csv.DictReader(io.StringIO(export_report(report, "csv", depth=None))))
    assert len(rows) == len(report.layers) - 1 and rows[0]["name"] == "conv1"
    md = export_report(report, "md")
    assert "| layer1 | 2 | 56x56x64 |" in md and "## Totals under each convention" in md
    html = export_report(report, "html")
    assert html.startswith("<!DOCTYPE html>") and "<table>" in html
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        export_report(report, "xml")


def test_charts_are_built_from_the_report():
    report = ri.inspect("resnet50", device="meta")
    bars = charts.stage_bars(report)
    assert list(bars.data[0].x) == [s.name for s in report.stages]
    assert sum(bars.data[0].y) == report.totals.params
    sun = charts.parameter_sunburst(report)
    assert sun.data[0].values[0] == report.totals.params
    shapes = charts.shape_profile(report)  # after the stem and each of the 16 blocks
    assert list(shapes.data[0].x) == ["stem"] + [
        f"layer{i + 1}.{j}" for i, n in enumerate((3, 4, 6, 3)) for j in range(n)
    ]
    assert list(shapes.data[0].y) == [56, 56, 56, 56] + [28] * 4 + [14] * 6 + [7] * 3
    assert max(shapes.data[1].y) == 2048 and shapes.data[2].y[1] == 64  # layer1.0's bottleneck is 64 wide inside
    assert list(shapes.layout.yaxis.tickvals) == [7, 14, 28, 56]  # ticks only where the network has values
    assert list(shapes.layout.yaxis2.ticktext) == ["64", "128", "256", "512", "1,024", "2,048"]
    scatter = charts.variants_scatter(charts.network_points([report, ri.inspect("resnet18", device="meta")]))
    assert list(scatter.data[0].text) == ["resnet50", "resnet18"]
    html = charts.to_html(bars)
    assert "plotly" in html and "<script" in html and "<script src=" not in html  # no CDN needed


def test_chart_cli_writes_self_contained_html(tmp_path):
    out = tmp_path / "r50.html"
    result = run_cli("chart", "resnet50", "--kind", "sunburst", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1_000_000  # plotly.js is inlined


def test_a_pages_inference_peak_is_the_memory_commands(tmp_path):
    import re

    page = (ROOT / "reports" / "variants" / "resnet50.md").read_text()
    stated = int(re.search(r"\| inference peak, 1x3x224x224[^|]*\| ([\d,]+) \|", page).group(1).replace(",", ""))
    result = run_cli("memory", "resnet50", "--device", "cuda", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert stated == json.loads(result.stdout)["report"]["inference"]["total"]
    # more than the parameters and the input, less than every output kept at once
    report = ri.inspect("resnet50", device="meta")
    assert (
        report.totals.param_bytes + report.totals.input_bytes
        < stated
        < report.totals.param_bytes + report.totals.activation_bytes + report.totals.input_bytes
    )
