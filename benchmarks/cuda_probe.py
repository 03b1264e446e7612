"""Where the analysis spends its time on CUDA, and which operators take memory the estimate leaves out.

1. Leaves learned from their first call against every call watched: the same report for every
   variant (float32 and bfloat16), on the GPU.
2. The analysis against a bare pass, each run timed (not only medians), and the CUDA runtime calls
   each makes (torch.profiler): a synchronizing call or an allocation would show here.
3. Scratch memory: every operator of a forward pass and of a training step run under a dispatch mode
   that reads torch.cuda.max_memory_allocated around it; what an operator holds only while it runs
   (a cuDNN workspace) is its peak less what is left after it.

Run on a GPU machine: python benchmarks/cuda_probe.py  (prints; writes reports/gpu/cuda-probe.json).
``--device cpu`` runs the same steps on the CPU, to check the script (its memory figures are zeros)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

DEVICE = "cpu" if "--device=cpu" in sys.argv or sys.argv[-2:] == ["--device", "cpu"] else "cuda"
GPU = DEVICE == "cuda"
sync = torch.cuda.synchronize if GPU else (lambda: None)
allocated = torch.cuda.memory_allocated if GPU else (lambda: 0)
most_allocated = torch.cuda.max_memory_allocated if GPU else (lambda: 0)
reset_peak = torch.cuda.reset_peak_memory_stats if GPU else (lambda: None)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import machine_description  # noqa: E402

import resnet_inspect as ri  # noqa: E402
from resnet_inspect.analysis.analyze import probe_input  # noqa: E402
from resnet_inspect.analysis.trace import Tracer  # noqa: E402
from resnet_inspect.memory.estimate import estimate  # noqa: E402
from resnet_inspect.memory.plan import MemoryPlan  # noqa: E402
from resnet_inspect.memory.step import DTYPE_OF, TrainingSetup, infer, make_batch  # noqa: E402
from resnet_inspect.model.build import resolve_spec  # noqa: E402
from resnet_inspect.model.network import build_from_spec  # noqa: E402
from resnet_inspect.model.registry import variants  # noqa: E402


def same_reports() -> dict:
    """Every variant at its own input size: learned leaves against every operator watched."""
    original = Tracer.__init__

    def watch_all(self, *args, **kwargs):  # noqa: ANN001
        original(self, *args, **{**kwargs, "learn_leaves": False})

    differ = []
    compared = {"float32": 0, "bfloat16": 0}
    for dtype in compared:
        for index, name in enumerate(list(variants())[: int(os.environ.get("PROBE_VARIANTS", 10**6))]):
            if dtype == "bfloat16" and index % 4:  # a quarter of them in bfloat16
                continue
            compared[dtype] += 1
            learned = ri.inspect(name, device=DEVICE, dtype=dtype).to_dict()
            Tracer.__init__ = watch_all
            try:
                watched = ri.inspect(name, device=DEVICE, dtype=dtype).to_dict()
            finally:
                Tracer.__init__ = original
            # The measured peak is not the tracer's: it depends on the allocator and cuDNN's workspaces.
            learned["totals"].pop("peak_memory_bytes")
            watched["totals"].pop("peak_memory_bytes")
            if learned != watched:
                keys = [k for k in learned if learned[k] != watched.get(k)]
                differ.append({"variant": name, "dtype": dtype, "fields": keys})
                print("DIFFERENT", name, dtype, keys, flush=True)
    return {"compared": compared, "different": differ}


def timings(batch: int, rounds: int = 30) -> dict:
    model = ri.build("resnet50").eval().to(DEVICE)
    shape = (batch, 3, 224, 224)
    x = probe_input(shape, DEVICE, torch.float32)

    def bare() -> None:
        with torch.no_grad():
            model(x)
        sync()

    def watched() -> None:
        with torch.no_grad():
            Tracer(model).run(model, x)
        sync()

    def learned() -> None:
        with torch.no_grad():
            Tracer(model, learn_leaves=True).run(model, x)
        sync()

    def analysis() -> None:
        ri.inspect(model, shape, device=DEVICE)
        sync()

    runs = {"bare": bare, "watched": watched, "learned": learned, "analysis": analysis}
    for _ in range(3):
        for fn in runs.values():
            fn()
    times = {key: [] for key in runs}
    for _ in range(rounds):
        for key, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    from torch.profiler import ProfilerActivity, profile

    api = {}
    for key, fn in runs.items():
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fn()
        api[key] = {
            e.key: [e.count, round(e.cpu_time_total / 1e3, 3)]
            for e in prof.key_averages()
            if e.key.startswith("cuda") and "Launch" not in e.key
        }
        if not GPU:
            api[key]["cpu_ops"] = len(prof.key_averages())
    result = {
        "batch": batch,
        "median_ms": {k: 1e3 * statistics.median(v) for k, v in times.items()},
        "first_rounds_ms": {k: [round(1e3 * t, 2) for t in v[:8]] for k, v in times.items()},
        "cuda_runtime_calls": api,
    }
    print(json.dumps(result), flush=True)
    return result


class _ScratchProbe(TorchDispatchMode):
    """Per operator: the bytes allocated before it, the most during it and what is left after it."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str, int, int, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        before = allocated()
        reset_peak()
        out = func(*args, **(kwargs or {}))
        peak = most_allocated()
        after = allocated()
        shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)][:3]
        self.rows.append((str(func), str(shapes), before, peak, after))
        return out


def scratch(name: str, batch: int, side: int, optimizer: str, precision: str) -> dict:
    """Per operator, what it holds only while it runs; and where the step's peak is. The eval copy and
    the training model are both on the device, so the levels here are not the estimate's: compare the
    bytes held only during an operator with the shortfall in memory.md."""
    plan = MemoryPlan(batch, (3, side, side), True, optimizer, precision, DEVICE)
    estimated = estimate(name, plan)
    torch.manual_seed(0)
    with torch.device(DEVICE):
        model = build_from_spec(resolve_spec(name))
    x, labels = make_batch(plan, DEVICE)
    out = {"case": f"{name} b{batch} {side} {optimizer} {precision}"}
    eval_model = build_from_spec(resolve_spec(name)).to(DEVICE).to(dtype=DTYPE_OF[precision]).eval()
    for what, work in (("inference", lambda: infer(eval_model, x)), ("training", None)):
        if work is None:
            setup = TrainingSetup(model, plan)
            setup.step(x, labels)

            def work(setup: TrainingSetup = setup) -> None:
                setup.step(x, labels)

        work()
        sync()
        probe = _ScratchProbe()
        with probe:
            work()
        sync()
        rows = probe.rows
        peak_row = max(rows, key=lambda r: r[3])
        held = Counter()
        for op, shapes, before, peak, after in rows:
            if peak - max(before, after) > 0:
                held[(op, shapes)] = max(held[(op, shapes)], peak - max(before, after))
        total = getattr(estimated, what).total
        out[what] = {
            "estimated": total,
            "probe_peak_allocated": peak_row[3],
            "ops_seen": len(rows),
            "peak_at": {
                "op": peak_row[0],
                "shapes": peak_row[1],
                "before": peak_row[2],
                "after": peak_row[4],
                "held_only_during": peak_row[3] - max(peak_row[2], peak_row[4]),
            },
            "largest_held_only_during": [[op, shapes, b] for (op, shapes), b in held.most_common(8)],
        }
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    results = {"machine": machine_description()}
    start = time.perf_counter()
    results["timings"] = [timings(64 if GPU else 2), timings(1)]
    results["scratch"] = [
        scratch(*case)
        for case in (
            ("resnet20", 128, 32, "momentum", "fp32"),
            ("resnet18", 8, 224, "adamw", "fp32"),
            ("resnext50_32x4d", 8, 160, "adam", "fp32"),
        )
    ]
    results["same_reports"] = same_reports()
    results["seconds"] = time.perf_counter() - start
    if GPU:
        (ROOT / "reports" / "gpu" / "cuda-probe.json").write_text(json.dumps(results, indent=2) + "\n")
    print("compared", results["same_reports"]["compared"], "different", len(results["same_reports"]["different"]))


if __name__ == "__main__":
    main()
