"""Identify speed: which ResNet a checkpoint is, against the time to read the file.

Writes a ResNet-152 checkpoint (random weights) as .safetensors and as .pth, then times, in fresh
processes: identifying it (reading names and shapes, inferring and checking the spec, matching
the registry), and for comparison loading every tensor of it. Writes the "Identify" section of
reports/benchmarks.md.

Run: .venv/bin/python benchmarks/bench_identify.py"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import machine_description, update_section  # noqa: E402

RUNS = 5
TIMED = """
import json, sys, time
import torch
path, what = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if what == "identify":
    from resnet_inspect.weights.infer import identify_file
    weights, ident = identify_file(path)
    assert "resnet152" in ident.matches, ident
elif path.endswith(".safetensors"):
    from safetensors.torch import load_file
    load_file(path)
else:
    torch.load(path, map_location="cpu", weights_only=True)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def timed(path: Path, what: str) -> float:
    runs = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", TIMED, str(path), what], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1])["seconds"])
    return statistics.median(runs)


def main() -> None:
    import torch
    from safetensors.torch import save_file

    import resnet_inspect as ri

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        state = ri.build("resnet152").state_dict()
        for suffix in (".safetensors", ".pth"):
            path = Path(tmp) / f"resnet152{suffix}"
            save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
            rows.append((suffix, path.stat().st_size, timed(path, "identify"), timed(path, "load")))
    table = "\n".join(
        f"| {suffix} | {size / 2**20:.0f} MiB | {ident:.3f} s | {load:.3f} s |" for suffix, size, ident, load in rows
    )
    text = f"""## Identify

Machine: {machine_description()}. Script: `benchmarks/bench_identify.py`: a ResNet-152 checkpoint (random
weights) identified in a fresh process after `import torch`, median of {RUNS} processes; for comparison,
loading every tensor of the same file.

| file | size | `identify` (read names and shapes, infer, check, match) | load all tensors |
| --- | ---: | ---: | ---: |
{table}

A `.safetensors` file is identified from its header alone; a pickle is read by `torch.load(weights_only=True)`
onto `meta`, which reads its structure but no tensor data. (safetensors' `load_file` maps the file into memory,
so its column counts no reading of the data.) The target: well under a second beyond reading the file.
"""
    update_section(ROOT / "reports" / "benchmarks.md", "Identify", text)
    print(text)


if __name__ == "__main__":
    main()
