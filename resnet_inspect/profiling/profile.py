"""Measured cost: end-to-end latency, per-layer latency, peak memory, and each layer against the
device's own measured peaks (a roofline). Every number here comes from a timed run."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..analysis.analyze import inspect
from ..analysis.memory_guard import check_memory
from ..analysis.options import resolve_device, resolve_dtype
from ..analysis.report import ModelReport, numel
from ..errors import UserError
from ..memory.measure import cpu_peak_during, storage_bytes
from ..model.build import build, resolve_spec

PROFILE_KIND = "resnet-inspect-profile"
DISAGREEMENT = 0.15  # per-layer sum vs end-to-end, beyond which the page explains the gap


@dataclass
class LayerTiming:
    name: str
    type: str
    calls: int
    ms: float  # median over runs, all calls of the module summed
    flops: int  # tool convention (2 x MACs + element-wise), from the analyzer
    bytes: int  # input + output activations + parameters, once each
    intensity: float  # flops / bytes
    flops_per_s: float
    bytes_per_s: float
    frac_peak_flops: float
    frac_peak_bytes: float


@dataclass
class Profile:
    model: str
    device: str
    device_name: str
    torch_version: str
    dtype: str
    batch: int
    channels_last: bool
    repeat: int
    end_to_end_ms: float
    end_to_end_ms_all: list[float]
    throughput_per_s: float
    per_layer_sum_ms: float
    per_layer_vs_end_to_end: float
    peak_memory_bytes: int
    memory_kind: str
    peak_flops_per_s: float
    peak_bytes_per_s: float
    peak_how: str
    how: str
    notes: list[str] = field(default_factory=list)
    layers: list[LayerTiming] = field(default_factory=list)
    kind: str = PROFILE_KIND

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu} ({torch.get_num_threads()} threads)"


class _Clock:
    """Wall time on the CPU; CUDA events on the GPU (read after a synchronize)."""

    def __init__(self, device: str) -> None:
        self.cuda = device == "cuda"

    def mark(self) -> Any:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def ms(self, start: Any, end: Any) -> float:
        if self.cuda:
            return start.elapsed_time(end)
        return (end - start) * 1e3

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


def _median_ms(run: Callable[[], object], clock: _Clock, repeat: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        run()
    clock.sync()
    times = []
    for _ in range(repeat):
        start = clock.mark()
        run()
        end = clock.mark()
        clock.sync()
        times.append(clock.ms(start, end))
    return times


def measure_peaks(device: str, dtype: torch.dtype) -> tuple[float, float, str]:
    """The device's attainable compute (a large matmul in ``dtype``) and memory bandwidth (a
    device-to-device copy), measured now."""
    clock = _Clock(device)
    n = 8192 if device == "cuda" else 2048
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    matmul = statistics.median(_median_ms(lambda: torch.mm(a, b), clock, repeat=5, warmup=2))
    # The same GEMM as a 1x1 convolution: the library's convolution kernels can beat its plain
    # matmul (oneDNN on CPUs), and the roof must be the best the device showed.
    # On a GPU one 32x32 map is far too little work to fill the device: a batch of them.
    side, images = 32, 16 if device == "cuda" else 1
    conv_in = torch.randn(images, n // 4, side, side, device=device).to(dtype)
    conv_w = torch.randn(n // 4, n // 4, 1, 1, device=device).to(dtype)
    with torch.no_grad():
        conv = statistics.median(
            _median_ms(lambda: torch.nn.functional.conv2d(conv_in, conv_w), clock, repeat=5, warmup=2)
        )
    conv_flops = 2 * (n // 4) ** 2 * side * side * images / (conv / 1e3)
    flops = max(2 * n**3 / (matmul / 1e3), conv_flops)
    elements = (1 << 28) if device == "cuda" else (1 << 26)
    src = torch.empty(elements, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    src.fill_(1.0)
    copy = statistics.median(_median_ms(lambda: dst.copy_(src), clock, repeat=5, warmup=2))
    bandwidth = 2 * src.numel() * src.element_size() / (copy / 1e3)  # read + write
    how = (
        f"peak compute: the better of a {n}x{n} @ {n}x{n} matmul and a {n // 4}->{n // 4} 1x1 convolution "
        f"on {images}x{side}x{side} (medians of 5) in {str(dtype).replace('torch.', '')}; "
        f"peak bandwidth: median of 5 copies of {src.numel() * 4 / 2**20:.0f} MiB (bytes read + written). "
        "Both are what this device showed now, not its limits: a layer can reach more than 100%"
    )
    if device == "cuda" and dtype == torch.float32:
        # cuDNN's float32 convolutions (the model's and the 1x1 one above) may run on TF32 tensor cores.
        how += (
            f"; TF32 allowed: cuDNN {torch.backends.cudnn.allow_tf32}, matmul {torch.backends.cuda.matmul.allow_tf32}"
        )
    return flops, bandwidth, how


def _leaf_timings(model: nn.Module, x: torch.Tensor, clock: _Clock, repeat: int) -> dict[str, list[float]]:
    """Per leaf module: the time of all its calls in each run (marks around each call)."""
    names = {id(m): name for name, m in model.named_modules() if not m._modules and name}
    marks: list[tuple[str, Any, Any]] = []
    starts: dict[int, list[Any]] = {}

    def pre(module: nn.Module, args: tuple) -> None:
        starts.setdefault(id(module), []).append(clock.mark())

    def post(module: nn.Module, args: tuple, output: Any) -> None:
        marks.append((names[id(module)], starts[id(module)].pop(), clock.mark()))

    handles = []
    for module in model.modules():
        if id(module) in names:
            handles.append(module.register_forward_pre_hook(pre))
            handles.append(module.register_forward_hook(post))
    per_run: dict[str, list[float]] = {}
    try:
        with torch.no_grad():
            model(x)  # warm-up with hooks
            clock.sync()
            for _ in range(repeat):
                marks.clear()
                model(x)
                clock.sync()
                totals: dict[str, float] = {}
                for name, start, end in marks:
                    totals[name] = totals.get(name, 0.0) + clock.ms(start, end)
                for name, value in totals.items():
                    per_run.setdefault(name, []).append(value)
    finally:
        for handle in handles:
            handle.remove()
    return per_run


def profile_model(
    target: Any,
    device: str = "cpu",
    batch: int = 1,
    dtype: str = "float32",
    channels_last: bool = False,
    repeat: int = 20,
    warmup: int = 3,
    label: str | None = None,
    peaks: tuple[float, float, str] | None = None,
) -> Profile:
    """Time one network at one (batch, dtype, memory format) on ``device``."""
    dev = resolve_device(device)
    if dev == "meta":
        raise UserError("profiling needs a real device: cpu or cuda (meta runs take no time)")
    if repeat < 1:
        raise UserError(f"--repeat must be at least 1, got {repeat}")
    torch_dtype = resolve_dtype(dtype)
    clock = _Clock(dev)
    subject, name, shape = _subject_and_input(target, batch, label)
    report: ModelReport = inspect(subject, shape, device="meta", dtype=torch_dtype, label=name)
    check_memory(report.totals.params, shape, dev, torch_dtype, lambda: report)
    model = subject if isinstance(subject, nn.Module) else build(subject)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=dev, dtype=torch_dtype).to(memory_format=memory_format).eval()
    x = torch.randn(shape, device=dev).to(dtype=torch_dtype, memory_format=memory_format)
    if dev == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    e2e, layer_runs = _timed_runs(model, x, clock, repeat, warmup, dev, batch, dtype)
    peak_memory, memory_kind = _peak_memory(dev, model, x)
    peak_flops, peak_bytes, peak_how = peaks or measure_peaks(dev, torch_dtype)
    element = torch_dtype.itemsize
    layers = _layer_timings(report, layer_runs, element, peak_flops, peak_bytes)
    median_e2e = statistics.median(e2e)
    layer_sum = sum(layer.ms for layer in layers)
    gap = (layer_sum - median_e2e) / median_e2e
    return Profile(
        model=name,
        device=dev,
        device_name=device_name(dev),
        torch_version=torch.__version__,
        dtype=str(torch_dtype).replace("torch.", ""),
        batch=batch,
        channels_last=channels_last,
        repeat=repeat,
        end_to_end_ms=median_e2e,
        end_to_end_ms_all=e2e,
        throughput_per_s=batch / (median_e2e / 1e3),
        per_layer_sum_ms=layer_sum,
        per_layer_vs_end_to_end=gap,
        peak_memory_bytes=peak_memory,
        memory_kind=memory_kind,
        peak_flops_per_s=peak_flops,
        peak_bytes_per_s=peak_bytes,
        peak_how=peak_how,
        how=_method(dev, repeat, warmup),
        notes=_spread_notes(e2e) or _gap_notes(report, dev, gap, layer_sum, median_e2e),
        layers=layers,
    )


def _subject_and_input(target: Any, batch: int, label: str | None) -> tuple[Any, str, tuple[int, ...]]:
    """The module or spec to profile, its label and its input (nothing is built yet)."""
    if isinstance(target, nn.Module):
        return target, label or type(target).__name__, (batch, 3, 224, 224)
    spec = resolve_spec(target)
    return spec, label or str(target), (batch, spec.in_chans, spec.image_size, spec.image_size)


def _timed_runs(
    model: nn.Module, x: torch.Tensor, clock: _Clock, repeat: int, warmup: int, dev: str, batch: int, dtype: str
) -> tuple[list[float], dict[str, list[float]]]:
    """End-to-end times without hooks, then per-layer times in a second series."""

    def forward() -> None:
        with torch.no_grad():
            model(x)

    try:
        return _median_ms(forward, clock, repeat, warmup), _leaf_timings(model, x, clock, repeat)
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[0]
        if "out of memory" in message.lower():
            raise UserError(f"out of memory on {dev} at batch {batch}; try a smaller --batch") from None
        raise UserError(f"{dtype} on {dev} failed: {message}") from None


def _peak_memory(dev: str, model: nn.Module, x: torch.Tensor) -> tuple[int, str]:
    if dev == "cuda":
        return int(torch.cuda.max_memory_allocated()), "torch.cuda.max_memory_allocated"
    resident = storage_bytes(list(model.parameters()) + list(model.buffers()) + [x])

    def forward() -> None:
        with torch.no_grad():
            model(x)

    return (
        resident + cpu_peak_during(forward),
        "the model's own peak in one forward pass: parameters, buffers and input, plus the most the CPU "
        "allocator held beyond them (torch.profiler's allocation records)",
    )


def _layer_timings(
    report: ModelReport, layer_runs: dict[str, list[float]], element: int, peak_flops: float, peak_bytes: float
) -> list[LayerTiming]:
    """Each timed leaf with its FLOPs and bytes from the analyzer, against the device's peaks."""
    rows = {row.name: row for row in report.leaves()}
    layers = []
    for layer, runs in layer_runs.items():
        row = rows.get(layer)
        if row is None:
            continue
        ms = statistics.median(runs)
        inputs = sum(numel(s) for s in row.input_shapes) * element
        moved = inputs + row.activation_bytes + row.params * element
        seconds = ms / 1e3 if ms > 0 else float("nan")
        flops_per_s = row.flops / seconds if row.flops else 0.0
        bytes_per_s = moved / seconds
        layers.append(
            LayerTiming(
                layer,
                row.type,
                row.calls,
                ms,
                row.flops,
                moved,
                row.flops / moved if moved else 0.0,
                flops_per_s,
                bytes_per_s,
                flops_per_s / peak_flops,
                bytes_per_s / peak_bytes,
            )
        )
    return layers


def _method(dev: str, repeat: int, warmup: int) -> str:
    timer = "CUDA events, read after torch.cuda.synchronize()" if dev == "cuda" else "time.perf_counter"
    return (
        f"End to end: {warmup} warm-up passes, then the median of {repeat} timed passes without hooks "
        f"({timer}), torch.no_grad, eval mode. Per layer: a second series of {repeat} passes with marks "
        f"around every leaf module's calls; each layer's median. FLOPs per layer from the analyzer "
        f"(2 x MACs + element-wise) are nominal: a convolution library that uses a fast algorithm "
        f"(Winograd, FFT) does fewer operations, so such a layer can show more than 100% of the peak. "
        f"Bytes = layer inputs + outputs + parameters, each once."
    )


UNSTEADY = 0.25  # the middle half of the timed passes spread over more than this share of their median


def _spread_notes(runs: list[float]) -> list[str]:
    """A warning when the timed passes disagree widely: the machine was busy, and no figure (nor the gap
    between the per-layer and end-to-end times) can be trusted."""
    if len(runs) < 4:
        return []
    quartiles = statistics.quantiles(runs, n=4)
    median = statistics.median(runs)
    if median <= 0 or (quartiles[2] - quartiles[0]) / median <= UNSTEADY:
        return []
    return [
        f"The timed passes disagree widely ({min(runs):.2f} to {max(runs):.2f} ms, the middle half "
        f"{quartiles[0]:.2f}-{quartiles[2]:.2f} ms): another job was probably using the machine, so these "
        "times are unreliable; run again on an idle machine (or with more --repeat)."
    ]


def _gap_notes(report: ModelReport, dev: str, gap: float, layer_sum: float, median_e2e: float) -> list[str]:
    """Why the per-layer times do not add up to the end-to-end time, when they differ a lot."""
    if abs(gap) <= DISAGREEMENT:
        return []
    if gap < 0:
        outside = sum(op.flops for row in report.layers if not row.is_leaf for op in row.ops)
        why = (
            f"the work outside leaf modules is in no layer: the residual additions and views, "
            f"{100 * outside / max(report.totals.flops, 1):.1f}% of the FLOPs but memory-bound element-wise "
            "passes over the largest feature maps, plus the time between one layer's end and the next "
            "one's start"
        )
    else:
        why = "per-layer timing pays for two hooks and two clock reads per call" + (
            "; a synchronize per pass keeps GPU kernels of consecutive layers from overlapping with Python launch work"
            if dev == "cuda"
            else ""
        )
    return [
        f"The per-layer times add up to {layer_sum:.2f} ms, {100 * gap:+.0f}% against the end-to-end "
        f"{median_e2e:.2f} ms: {why}. The end-to-end figure is the one to quote."
    ]
