"""Memory estimate against measurement: the peak the estimate predicts (simulated on meta) and the
peak the allocator itself records during the same work on a real device, for several variants,
batch sizes, precisions and optimizers: a forward pass (inference) and a steady-state training step.

On the CPU the measurement is torch.profiler's record of every allocation and free; on CUDA
torch.cuda.max_memory_allocated. Writes the "Memory" section of reports/benchmarks.md (or, with
--device cuda, reports/gpu/memory.md) and the raw figures as JSON beside it.

Run: .venv/bin/python benchmarks/bench_memory.py [--device cuda]"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import machine_description, update_section  # noqa: E402

from resnet_inspect.memory.estimate import estimate  # noqa: E402
from resnet_inspect.memory.measure import measure  # noqa: E402
from resnet_inspect.memory.plan import MemoryPlan  # noqa: E402

CASES = [  # (variant, batch, side, optimizer, precision)
    ("resnet18", 1, 224, "adamw", "fp32"),
    ("resnet18", 8, 224, "adamw", "fp32"),
    ("resnet18", 32, 224, "sgd", "fp32"),
    ("resnet50", 1, 224, "momentum", "fp32"),
    ("resnet50", 8, 224, "adamw", "fp32"),
    ("resnet50", 16, 224, "adamw", "bf16"),
    ("resnet50", 4, 224, "sgd", "fp16"),
    ("resnext50_32x4d", 8, 160, "adam", "fp32"),
    ("wide_resnet50_2", 4, 224, "momentum", "bf16"),
    ("seresnet50", 8, 128, "adamw", "fp32"),
    ("resnetv2_50", 8, 224, "sgd", "fp32"),
    ("resnet50d", 8, 224, "adamw", "fp32"),
    ("resnet152", 2, 224, "adamw", "fp32"),
    ("resnet20", 128, 32, "momentum", "fp32"),
]
CUDA_CASES = CASES + [
    ("resnet50", 64, 224, "adamw", "fp32"),
    ("resnet50", 128, 224, "adamw", "bf16"),
    ("resnet152", 64, 224, "momentum", "bf16"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    rows = []
    for name, batch, side, optimizer, precision in CUDA_CASES if args.device == "cuda" else CASES:
        plan = MemoryPlan(batch, (3, side, side), True, optimizer, precision, args.device)
        start = time.perf_counter()
        estimated = estimate(name, plan)
        seconds = time.perf_counter() - start
        measured = measure(name, plan, args.device)
        for what, est, real in (
            ("inference", estimated.inference.total, measured.inference_peak),
            ("training", estimated.training.total, measured.training_peak),
        ):
            rows.append(
                {
                    "variant": name,
                    "batch": batch,
                    "input": f"{side}x{side}",
                    "optimizer": optimizer,
                    "precision": precision,
                    "pass": what,
                    "estimated": est,
                    "measured": real,
                    "error": est / real - 1,
                    "estimate_seconds": seconds,
                }
            )
            print(
                f"{name:18} b{batch:<4} {side:>4} {optimizer:8} {precision} {what:9} {est:>15,} {real:>15,} "
                f"{100 * (est / real - 1):+6.2f}%",
                flush=True,
            )
    worst = max(abs(r["error"]) for r in rows)
    lines = [
        f"Machine: {machine_description()}.",
        "",
        f"Estimated on meta, measured on {args.device} with "
        + (
            "torch.cuda.max_memory_allocated"
            if args.device == "cuda"
            else "torch.profiler allocation records (profile_memory), added up in time order"
        )
        + "; both count the parameters, buffers, state and input alive before the pass. Training: the second "
        "step (the optimizer's state exists), float32 master weights for bf16/fp16.",
        "",
        f"Largest error: {100 * worst:.2f}% over {len(rows)} cases (target: 5%).",
        "",
        "| variant | batch | input | optimizer | precision | pass | estimated (B) | measured (B) | error | estimate (s) |",
        "|---|--:|---|---|---|---|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['batch']} | {r['input']} | {r['optimizer']} | {r['precision']} | "
            f"{r['pass']} | {r['estimated']:,} | {r['measured']:,} | {100 * r['error']:+.2f}% | "
            f"{r['estimate_seconds']:.2f} |"
        )
    text = (
        "## Memory\n\nWritten by `benchmarks/bench_memory.py"
        + (" --device cuda" if args.device == "cuda" else "")
        + "`.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    if args.device == "cuda":
        out = ROOT / "reports" / "gpu"
        out.mkdir(parents=True, exist_ok=True)
        (out / "memory.md").write_text("# Memory on CUDA\n\n" + text.split("\n", 2)[2])
        (out / "memory.json").write_text(json.dumps(rows, indent=2) + "\n")
    else:
        update_section(ROOT / "reports" / "benchmarks.md", "Memory", text)
        (ROOT / "reports" / "benchmarks-memory.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
