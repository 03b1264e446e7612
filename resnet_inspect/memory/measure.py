"""The same step on a real device, with the allocator's own figure of its peak: on CUDA
``torch.cuda.max_memory_allocated``; on the CPU the profiler's record of every allocation and free
(torch.profiler with ``profile_memory``), added up in time order. What existed before the step
(parameters, state, input) is counted from its storages, which the allocator holds exactly."""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ..analysis.options import AnalysisError
from ..model.build import resolve_spec
from ..model.network import build_from_spec
from ..model.spec import ResNetSpec
from .plan import MemoryPlan
from .step import DTYPE_OF, TrainingSetup, infer, make_batch


@dataclass
class Measured:
    inference_peak: int
    training_peak: int | None
    device: str
    how: str


def storage_bytes(tensors: list[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors``."""
    seen: dict[int, int] = {}
    for t in tensors:
        storage = t.untyped_storage()
        seen[storage.data_ptr() or id(storage)] = storage.nbytes()
    return sum(seen.values())


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """The profiler's C++ side logs its start and stop to the process's stderr; keep it off the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def cpu_peak_during(work: Callable[[], object]) -> int:
    """Most bytes the CPU allocator held beyond its level when ``work`` started."""
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        work()
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]" and e.device_type().name == "CPU"),
        key=lambda e: e.start_ns(),
    )
    level = peak = 0
    for event in events:
        level += event.nbytes()
        peak = max(peak, level)
    return peak


def peak_during(work: Callable[[], object], device: str) -> int:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        work()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated()) - start
    return cpu_peak_during(work)


def _inference_peak(model: nn.Module, x: torch.Tensor, device: str) -> int:
    resident = storage_bytes(list(model.parameters()) + list(model.buffers()) + [x])
    infer(model, x)  # warm-up: lazily made kernels and caches
    return resident + peak_during(lambda: infer(model, x), device)


def measure(target: str | ResNetSpec | nn.Module, plan: MemoryPlan, device: str = "cpu") -> Measured:
    """The measured peaks of a forward pass and (for a training plan) of a steady-state step on ``device``,
    after one warm-up of each. Allocates for real: check the estimate first."""
    if device == "cuda" and not torch.cuda.is_available():
        raise AnalysisError("no CUDA device is available to measure on")
    torch.manual_seed(0)
    if isinstance(target, nn.Module):
        model = copy.deepcopy(target).to(device)
    else:
        with torch.device(device):
            model = build_from_spec(resolve_spec(target))
    x, labels = make_batch(plan, device)
    inference = _inference_peak(copy.deepcopy(model).to(dtype=DTYPE_OF[plan.precision]).eval(), x, device)
    training = None
    if plan.train:
        setup = TrainingSetup(model, plan)
        setup.step(x, labels)  # warm-up, and the optimizer's state
        kept = [t for group in setup.resident().values() for t in group] + [x, labels]
        training = storage_bytes(kept) + peak_during(lambda: setup.step(x, labels), device)
    how = (
        "torch.cuda.max_memory_allocated over the step"
        if device == "cuda"
        else "torch.profiler's allocation records (profile_memory) added up in time order"
    )
    return Measured(inference, training, device, how + ", plus the bytes of what existed before it")
