"""Identify speed: which ResNet a checkpoint is, from the command line, against the time to load it.

Writes a ResNet-152 checkpoint (random weights) as .safetensors, as a .pth zip archive, in the format
before torch 1.6 (.pth.tar) and as a TorchScript archive, then times, in fresh processes, the whole
command `resnet-inspect identify FILE` (start-up and imports included) with its peak memory, and for
comparison loading every tensor of the same file after `import torch`. Writes the "Identify" section of
reports/benchmarks.md.

Run: .venv/bin/python benchmarks/bench_identify.py"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import machine_description, update_section  # noqa: E402

RUNS = 5
# The command line as a user runs it, then this process's own peak memory (VmHWM: not the parent's).
IDENTIFY = """
import sys
from resnet_inspect import cli
code = cli.main(["identify", sys.argv[1]])
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("peak-kib", peak, "torch" in sys.modules, file=sys.stderr)
sys.exit(code)
"""
LOAD = """
import json, sys, time
import torch
path = sys.argv[1]
start = time.perf_counter()
if path.endswith(".safetensors"):
    from safetensors.torch import load_file
    load_file(path)
elif path.endswith(".ts.pt"):
    torch.jit.load(path)
elif path.endswith(".h5"):
    import h5py
    with h5py.File(path) as f:
        f.visititems(lambda name, item: item[()] if isinstance(item, h5py.Dataset) else None)
else:
    torch.load(path, map_location="cpu", weights_only=True)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def identify(path: Path) -> tuple[float, int, bool]:
    """Median wall time of the command, its largest peak memory (KiB), whether it imported torch."""
    runs, peaks, imported = [], [], False
    for _ in range(RUNS):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", IDENTIFY, str(path)], capture_output=True, text=True, cwd=ROOT)
        runs.append(time.perf_counter() - start)
        assert done.returncode == 0 and "resnet152" in done.stdout, done.stdout + done.stderr  # or resnet152_v1
        _, peak, torch_seen = done.stderr.strip().splitlines()[-1].split()
        peaks.append(int(peak))
        imported = imported or torch_seen == "True"
    return statistics.median(runs), max(peaks), imported


def load(path: Path) -> float:
    runs = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
    return statistics.median(runs)


# keras.applications' ResNet152 (random weights), saved by Keras 3 (torch backend) in a process of its own.
KERAS = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import keras
model = keras.applications.ResNet152(weights=None)
model.save_weights(sys.argv[1] + ".weights.h5")
model.save(sys.argv[1] + ".keras")
"""


def main() -> None:
    import torch
    import torchvision
    from safetensors.torch import save_file

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = torchvision.models.resnet152()  # torchvision's: TorchScript can compile it
        state = model.state_dict()
        files = {
            ".safetensors": lambda p: save_file(state, str(p)),
            ".pth": lambda p: torch.save(state, p),
            ".pth.tar (before torch 1.6)": lambda p: torch.save(state, p, _use_new_zipfile_serialization=False),
            ".ts.pt (TorchScript)": lambda p: torch.jit.script(model).save(str(p)),
        }
        for label, write in files.items():
            path = Path(tmp) / f"resnet152{label.split(' ')[0]}"
            write(path)
            seconds, peak, imported = identify(path)
            rows.append((label, path.stat().st_size, seconds, peak, imported, load(path)))
        subprocess.run(
            [sys.executable, "-c", KERAS, str(Path(tmp) / "keras_resnet152")], check=True, capture_output=True
        )
        for label, suffix in (("Keras .weights.h5", ".weights.h5"), ("Keras .keras", ".keras")):
            path = Path(tmp) / f"keras_resnet152{suffix}"
            seconds, peak, imported = identify(path)
            loaded = load(path) if suffix.endswith(".h5") else None  # h5py reads a plain HDF5 file only
            rows.append((label, path.stat().st_size, seconds, peak, imported, loaded))
    table = "\n".join(
        f"| {label} | {size / 2**20:.0f} MiB | {seconds:.3f} s | {peak / 1024:.0f} MiB | {'yes' if imported else 'no'} "
        f"| {f'{loaded:.3f} s' if loaded is not None else '-'} |"
        for label, size, seconds, peak, imported, loaded in rows
    )
    text = f"""## Identify

Machine: {machine_description()}. Script: `benchmarks/bench_identify.py`: torchvision's ResNet-152 (random
weights), and keras.applications' ResNet152 saved by Keras 3, identified by the whole command line in a
fresh process (start-up and imports included), median of {RUNS} processes, with the largest peak resident
memory of those processes; for comparison, loading every tensor of the same file after `import torch`
(h5py reading every dataset for Keras's HDF5; not counted in that column).

| file | size | `resnet-inspect identify FILE` | its peak memory | imports torch | load all tensors |
| --- | ---: | ---: | ---: | --- | ---: |
{table}

A `.safetensors` file is identified from its validated header, a PyTorch file from its records (a restricted
unpickler, no tensor allocated), a Keras file from its HDF5 structures (the tool's own reader), and the network named from a table of every registered variant's state
dict, so torch is never imported. Targets: under 0.5 s for a `.safetensors` file, under 2 s for a `.pth`.
(safetensors' `load_file` maps the file into memory, so its column counts no reading of the data.)
"""
    update_section(ROOT / "reports" / "benchmarks.md", "Identify", text)
    print(text)


if __name__ == "__main__":
    main()
