"""Profile the networks the GPU report covers and write reports/gpu/.

On a GPU machine:  python benchmarks/profile_suite.py --device cuda --batch 1,256 --dtype fp32,bf16
On the CPU:        python benchmarks/profile_suite.py --device cpu --batch 1,32 --dtype fp32,bf16
Both use channels-last. Each configuration gets a JSON and a Markdown page under
reports/gpu/<device>/; reports/gpu/README.md gets the summary table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from machine import machine_description  # noqa: E402

from resnet_inspect.analysis.options import resolve_dtype  # noqa: E402
from resnet_inspect.profiling.profile import measure_peaks, profile_model  # noqa: E402
from resnet_inspect.views.export import markdown_table  # noqa: E402
from resnet_inspect.views.profile_views import profile_markdown, summary_rows  # noqa: E402

NETWORKS = ("resnet18", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", default="1,256")
    parser.add_argument("--dtype", default="float32,bfloat16")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument(
        "--summary-only", action="store_true", help="rewrite reports/gpu/README.md from the JSON files already there"
    )
    args = parser.parse_args()
    out = ROOT / "reports" / "gpu" / args.device
    out.mkdir(parents=True, exist_ok=True)
    profiles = []
    if args.summary_only:
        order = {name: i for i, name in enumerate(args.networks.split(","))}
        found = [json.loads(p.read_text()) for p in out.glob("*.json")]
        profiles = sorted(found, key=lambda p: (p["dtype"] != "float32", order.get(p["model"], 99), p["batch"]))
        args.repeat = profiles[0]["repeat"] if profiles else args.repeat
    for dtype in [] if args.summary_only else args.dtype.split(","):
        peaks = measure_peaks(args.device, resolve_dtype(dtype))
        for name in args.networks.split(","):
            for batch in (int(b) for b in args.batch.split(",")):
                try:
                    result = profile_model(
                        name, args.device, batch, dtype, channels_last=True, repeat=args.repeat, peaks=peaks
                    ).to_dict()
                except ValueError as exc:
                    print(f"{name} batch {batch} {dtype}: {exc}", flush=True)
                    continue
                stem = f"{name}-b{batch}-{result['dtype']}-cl"
                (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
                (out / f"{stem}.md").write_text(profile_markdown(result))
                profiles.append(result)
                print(f"{stem}: {result['end_to_end_ms']:.2f} ms", flush=True)
    gpu = torch.cuda.is_available() and args.device == "cuda"
    lead = (
        "Measured on the GPU named below."
        if gpu
        else "**No GPU was available when these profiles were taken**, so this folder holds the same profiles "
        "measured on the CPU of the development machine (batches "
        f"{args.batch}, not 1 and 256: a batch of 256 through ResNet-152 takes minutes per pass on 2 cores). "
        "Run `python benchmarks/profile_suite.py --device cuda --batch 1,256` on a GPU machine to fill "
        "`reports/gpu/cuda/`."
    )
    table = markdown_table(summary_rows(profiles), list(summary_rows(profiles)[0]))
    links = "\n".join(
        f"- [{p['model']} b{p['batch']} {p['dtype']}]({args.device}/{p['model']}-b{p['batch']}-{p['dtype']}-cl.md)"
        for p in profiles
    )
    others = sorted(d.name for d in (ROOT / "reports" / "gpu").iterdir() if d.is_dir() and d.name != args.device)
    if others:
        links += (
            "\n\nThe same suite on another device (each page names its machine): "
            + ", ".join(f"[{name}/]({name}/)" for name in others)
            + "."
        )
    (ROOT / "reports" / "gpu" / "README.md").write_text(
        f"# Measured profiles\n\n{lead}\n\nMachine: {machine_description()}. Channels-last, "
        f"{args.repeat} timed passes per figure (medians), torch.no_grad, eval mode. Each page says how it was "
        f"measured; where the per-layer sum and the end-to-end time differ by more than 15% it says why.\n\n"
        f"{table}\n\n{links}\n"
    )


if __name__ == "__main__":
    main()
