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
from resnet_inspect.analysis.trace import Tracer  # noqa: E402
from machine import machine_description, update_section  # noqa: E402

REPEATS = 15
ROUNDS = 60


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
start = time.perf_counter()
ri.inspect("resnet152", (64, 3, 1024, 1024), device="meta")
warm = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "warm": warm,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
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

    def traced_pass() -> None:
        with torch.no_grad():
            Tracer(model).run(model, x)

    # Alternate the two, one run each per round, so that the machine's drift (a shared VM) hits both
    # alike; the ratio is the median of the rounds' ratios.
    for _ in range(3):
        bare(), analysis(), traced_pass()
    bare_times, analysis_times, traced_times = [], [], []
    for _ in range(ROUNDS):
        for fn, times in ((bare, bare_times), (analysis, analysis_times), (traced_pass, traced_times)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    bare_s, analysis_s = statistics.median(bare_times), statistics.median(analysis_times)
    round_ratio = statistics.median(a / b for a, b in zip(analysis_times, bare_times))
    traced_ratio = statistics.median(a / b for a, b in zip(traced_times, bare_times))
    tools_s = median_time(lambda: three_tools(model, x), repeats=5)
    meta = [run_in_fresh_process(META_SCRIPT) for _ in range(3)]
    baseline = run_in_fresh_process(BASELINE_SCRIPT)
    results = {
        "machine": machine_description(),
        "resnet50_cpu_1x3x224x224": {
            "bare_forward_s": bare_s,
            "full_analysis_s": analysis_s,
            "three_tools_s": tools_s,
            "analysis_over_bare": round_ratio,
            "min_analysis_over_min_bare": min(analysis_times) / min(bare_times),
            "traced_pass_over_bare": traced_ratio,
            "tools_over_analysis": tools_s / analysis_s,
        },
        "resnet152_meta_64x3x1024x1024": {
            "seconds_median": statistics.median(m["seconds"] for m in meta),
            "warm_seconds_median": statistics.median(m["warm"] for m in meta),
            "peak_rss_bytes_max": max(m["peak_rss_bytes"] for m in meta),
            "import_only_peak_rss_bytes": baseline["peak_rss_bytes"],
        },
    }
    (ROOT / "reports" / "benchmarks-analyzer.json").write_text(json.dumps(results, indent=2) + "\n")
    r50, r152 = results["resnet50_cpu_1x3x224x224"], results["resnet152_meta_64x3x1024x1024"]
    ratio_ok = "met" if r50["analysis_over_bare"] <= 1.3 else "not met"
    tools_ok = "met" if r50["tools_over_analysis"] >= 4 else "not met"
    memory_ok = r152["peak_rss_bytes_max"] < 2**30
    meta_ok = (f"first call {'met' if r152['seconds_median'] < 1 and memory_ok else 'not met'}, "
               f"later calls {'met' if r152['warm_seconds_median'] < 1 and memory_ok else 'not met'}")
    text = f"""## Analyzer

Machine: {results['machine']}. Script: `benchmarks/bench_analyzer.py`. The bare pass and the analysis
alternate for {ROUNDS} rounds after warm-up; times are medians, the ratio is the median of the per-round
ratios (the fastest analysis over the fastest bare pass: {r50['min_analysis_over_min_bare']:.2f}). The three
tools: median of 5 runs.

| ResNet-50, 1x3x224x224, CPU | seconds | ratio |
| --- | ---: | ---: |
| one bare forward pass (eval, no_grad) | {bare_s:.4f} | 1.00 |
| `resnet_inspect.inspect` (the full report) | {analysis_s:.4f} | {r50['analysis_over_bare']:.2f} x bare |
| torchinfo.summary + fvcore FlopCountAnalysis + torchview draw_graph | {tools_s:.4f} | {r50['tools_over_analysis']:.1f} x ours |

Target: the analysis at most 1.3x a bare pass: **{ratio_ok}**; at least 4x faster than the three tools
together: **{tools_ok}**. Where the time goes: the forward pass under the tracer alone (module hooks and a
Python dispatch mode that sees each of the ~230 aten operators, about 20 us each, most of it torch's own
cost of calling into Python) is {r50['traced_pass_over_bare']:.2f} x bare; building the report, the
input and the memory check make up the rest. On a shared 2-core VM the ratio moves by a few hundredths
from run to run, so against 1.3 it is a narrow result either way.

| ResNet-152, 64x3x1024x1024, meta | value |
| --- | ---: |
| time of `inspect`, first call in a fresh process (median of 3 processes) | {r152['seconds_median']:.3f} s |
| time of `inspect`, second call in the same process (median of 3) | {r152['warm_seconds_median']:.3f} s |
| peak RSS of the whole process (max of 3) | {r152['peak_rss_bytes_max'] / 2**20:.0f} MiB |
| peak RSS of a process that only imports torch and resnet_inspect | {r152['import_only_peak_rss_bytes'] / 2**20:.0f} MiB |

Target: under 1 s and 1 GB: **{meta_ok}**. Most of a first call is torch itself: its first meta
operators import `torch._dynamo` (about 0.7 s here), which a second call does not pay again.
"""
    update_section(ROOT / "reports" / "benchmarks.md", "Analyzer", text)
    print(text)


if __name__ == "__main__":
    main()
