"""Analyzer speed: the full analysis against a bare forward pass and against the usual trio
(torchinfo.summary + fvcore FlopCountAnalysis + torchview draw_graph), all in one process on the
CPU; and a ResNet-152 64x3x1024x1024 report on meta (time and peak RSS, in a fresh process).

Run: .venv/bin/python benchmarks/bench_analyzer.py  (writes reports/benchmarks-analyzer.json and
updates the analyzer section of reports/benchmarks.md)."""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import resnet_inspect as ri  # noqa: E402
from machine import machine_description, update_section  # noqa: E402

REPEATS = 15


def median_time(fn, repeats: int = REPEATS) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def three_tools(model: torch.nn.Module, x: torch.Tensor) -> None:
    from fvcore.nn import FlopCountAnalysis
    from torchinfo import summary
    from torchview import draw_graph

    summary(model, input_data=x, verbose=0)
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analysis.total()
    draw_graph(model, input_data=x, device="cpu")


META_SCRIPT = """
import resource, time, json
import resnet_inspect as ri
start = time.perf_counter()
report = ri.inspect("resnet152", (64, 3, 1024, 1024), device="meta")
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "macs": report.totals.macs}))
"""

BASELINE_SCRIPT = """
import resource, json
import torch, resnet_inspect
print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def run_in_fresh_process(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    warnings.filterwarnings("ignore")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    model = ri.build("resnet50").eval()
    x = torch.randn(1, 3, 224, 224)

    def bare() -> None:
        with torch.no_grad():
            model(x)

    def analysis() -> None:
        ri.inspect(model, (1, 3, 224, 224), device="cpu")

    # Interleave the two cheap measurements so drift affects both alike.
    bare_times, analysis_times = [], []
    for _ in range(3):
        bare_times.append(median_time(bare))
        analysis_times.append(median_time(analysis))
    bare_s, analysis_s = statistics.median(bare_times), statistics.median(analysis_times)
    tools_s = median_time(lambda: three_tools(model, x), repeats=5)
    meta = [run_in_fresh_process(META_SCRIPT) for _ in range(3)]
    baseline = run_in_fresh_process(BASELINE_SCRIPT)
    results = {
        "machine": machine_description(),
        "resnet50_cpu_1x3x224x224": {
            "bare_forward_s": bare_s,
            "full_analysis_s": analysis_s,
            "three_tools_s": tools_s,
            "analysis_over_bare": analysis_s / bare_s,
            "tools_over_analysis": tools_s / analysis_s,
        },
        "resnet152_meta_64x3x1024x1024": {
            "seconds_median": statistics.median(m["seconds"] for m in meta),
            "peak_rss_bytes_max": max(m["peak_rss_bytes"] for m in meta),
            "import_only_peak_rss_bytes": baseline["peak_rss_bytes"],
        },
    }
    (ROOT / "reports" / "benchmarks-analyzer.json").write_text(json.dumps(results, indent=2) + "\n")
    r50, r152 = results["resnet50_cpu_1x3x224x224"], results["resnet152_meta_64x3x1024x1024"]
    ratio_ok = "met" if r50["analysis_over_bare"] <= 1.3 else "not met"
    tools_ok = "met" if r50["tools_over_analysis"] >= 4 else "not met"
    meta_ok = "met" if r152["seconds_median"] < 1 and r152["peak_rss_bytes_max"] < 2**30 else "not met"
    text = f"""## Analyzer

Machine: {results['machine']}. Script: `benchmarks/bench_analyzer.py` (medians of {REPEATS} runs after
two warm-up runs; the bare/analysis pair is measured three times interleaved and the median taken).

| ResNet-50, 1x3x224x224, CPU | seconds | ratio |
| --- | ---: | ---: |
| one bare forward pass (eval, no_grad) | {bare_s:.4f} | 1.00 |
| `resnet_inspect.inspect` (the full report) | {analysis_s:.4f} | {r50['analysis_over_bare']:.2f} x bare |
| torchinfo.summary + fvcore FlopCountAnalysis + torchview draw_graph | {tools_s:.4f} | {r50['tools_over_analysis']:.1f} x ours |

Target: the analysis at most 1.3x a bare pass: **{ratio_ok}**; at least 4x faster than the three tools
together: **{tools_ok}**. The analysis pays for a Python dispatch mode that sees each of the ~230 aten
operators (about 20 us each) plus building the report.

| ResNet-152, 64x3x1024x1024, meta | value |
| --- | ---: |
| time of `inspect` (median of 3 fresh processes) | {r152['seconds_median']:.3f} s |
| peak RSS of the whole process (max of 3) | {r152['peak_rss_bytes_max'] / 2**20:.0f} MiB |
| peak RSS of a process that only imports torch and resnet_inspect | {r152['import_only_peak_rss_bytes'] / 2**20:.0f} MiB |

Target: under 1 s and 1 GB: **{meta_ok}**.
"""
    update_section(ROOT / "reports" / "benchmarks.md", "Analyzer", text)
    print(text)


if __name__ == "__main__":
    main()
