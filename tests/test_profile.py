"""Measured profiles: the CPU path end to end, the roofline arithmetic, the CLI; GPU when present."""

import json

import pytest
import torch
from support import run_cli

import resnet_inspect as ri
from resnet_inspect.profiling.profile import PROFILE_KIND, profile_model
from resnet_inspect.views.profile_views import profile_markdown, ridge_point, roofline_figure, roofline_points


@pytest.fixture(scope="module")
def cpu_profile():
    return profile_model(
        "resnet18", "cpu", batch=2, dtype="float32", repeat=2, warmup=1, peaks=(1e11, 1e10, "given")
    ).to_dict()


def test_cpu_profile_is_complete_and_consistent(cpu_profile):
    p = cpu_profile
    assert p["kind"] == PROFILE_KIND and p["device"] == "cpu" and p["batch"] == 2
    assert p["end_to_end_ms"] > 0 and len(p["end_to_end_ms_all"]) == 2
    assert p["throughput_per_s"] == pytest.approx(2 / (p["end_to_end_ms"] / 1e3))
    report = ri.inspect("resnet18", (2, 3, 224, 224), device="meta")
    ran = {r.name for r in report.leaves()}
    assert {layer["name"] for layer in p["layers"]} == ran
    # every FLOP done inside a leaf module is in the layer table; the rest are the residual adds
    outside = sum(op.flops for r in report.layers if not r.is_leaf for op in r.ops)
    assert sum(layer["flops"] for layer in p["layers"]) + outside == report.totals.flops
    assert p["per_layer_sum_ms"] == pytest.approx(sum(layer["ms"] for layer in p["layers"]))
    # the model's own measured peak, not the process's: what the memory estimate predicts for the same pass
    from resnet_inspect.memory.estimate import estimate
    from resnet_inspect.memory.plan import MemoryPlan

    predicted = estimate("resnet18", MemoryPlan(2, (3, 224, 224), train=False, device="cpu")).inference.total
    assert p["peak_memory_bytes"] == pytest.approx(predicted, rel=0.05) and "profiler" in p["memory_kind"]
    json.dumps(p)  # JSON-safe
    md = profile_markdown(p)
    assert p["device_name"] in md and "How:" in md


def test_roofline_arithmetic():
    profile = {
        "model": "m",
        "device_name": "d",
        "batch": 1,
        "dtype": "float32",
        "channels_last": False,
        "peak_flops_per_s": 100.0,
        "peak_bytes_per_s": 10.0,
        "layers": [
            {"name": "a", "type": "Conv2d", "flops": 40, "ms": 1000.0, "intensity": 2.0, "flops_per_s": 10.0},
            {"name": "b", "type": "Conv2d", "flops": 900, "ms": 1000.0, "intensity": 50.0, "flops_per_s": 80.0},
            {"name": "c", "type": "ReLU", "flops": 0, "ms": 1.0, "intensity": 0.0, "flops_per_s": 0.0},
        ],
    }
    assert ridge_point(profile) == 10.0
    points = {p["name"]: p for p in roofline_points(profile)}
    assert set(points) == {"a", "b"}  # no work, no point
    assert points["a"]["roof"] == 20.0 and points["a"]["fraction_of_roof"] == 0.5  # bandwidth-bound
    assert points["b"]["roof"] == 100.0 and points["b"]["fraction_of_roof"] == 0.8  # compute-bound
    fig = roofline_figure(profile)
    roof = fig.data[0]
    assert list(roof.y) == [min(100.0, x * 10.0) for x in roof.x]
    # Clean logarithmic axes: ticks at 1, 2 or 5 times a power of ten, labelled in the tool's units.
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert axis.type == "log" and len(axis.tickvals) >= 3
        assert all(f"{v:.0e}"[0] in "125" for v in axis.tickvals)
    assert list(fig.layout.xaxis.ticktext) == ["1", "10", "100"]


def test_profile_cli_writes_json_and_markdown(tmp_path):
    result = run_cli("profile", "resnet20", "--device", "cpu", "--batch", "1,4", "--repeat", "2", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "resnet20-cpu-b1-float32.json",
        "resnet20-cpu-b1-float32.md",
        "resnet20-cpu-b4-float32.json",
        "resnet20-cpu-b4-float32.md",
    ]
    assert json.loads((tmp_path / "resnet20-cpu-b4-float32.json").read_text())["batch"] == 4
    assert "resnet20" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batch", "1,x"], "invalid --batch"),
        (["--batch", "0"], "at least 1"),
        (["--dtype", "int8"], "unknown dtype"),
        (["--device", "meta"], "invalid choice"),
    ],
)
def test_profile_cli_bad_input(tmp_path, args, message):
    result = run_cli("profile", "resnet20", "-o", str(tmp_path), *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine; GPU timing needs one")
def test_cuda_profile_uses_events_and_device_memory():
    p = profile_model("resnet18", "cuda", batch=8, dtype="bfloat16", channels_last=True, repeat=3).to_dict()
    assert p["device"] == "cuda" and "CUDA events" in p["how"]
    assert p["memory_kind"] == "torch.cuda.max_memory_allocated" and p["peak_memory_bytes"] > 0


def test_profile_writes_only_where_told_and_warns_of_a_busy_machine(tmp_path):
    from resnet_inspect.profiling.profile import _spread_notes

    result = run_cli("profile", "resnet20", "--device", "cpu", "--repeat", "2", cwd=tmp_path, columns=80)
    assert result.returncode == 0 and "nothing written" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert max(len(line) for line in result.stdout.splitlines()) <= 80 and "…" not in result.stdout
    # Passes that disagree widely (another job on the machine) are said to be unreliable.
    assert "unreliable" in _spread_notes([10.0, 10.2, 25.0, 31.0, 10.1, 29.0])[0]
    assert _spread_notes([10.0, 10.1, 10.2, 10.05, 9.95, 10.1]) == []
