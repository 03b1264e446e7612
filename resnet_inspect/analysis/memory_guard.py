"""Refuse a real pass that cannot fit in free memory, before anything is allocated."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from ..units import binary_size
from .options import AnalysisError
from .report import ModelReport, numel


def free_memory(device: str) -> int | None:
    """Bytes that a new allocation can use now: MemAvailable on the CPU, free device memory on CUDA."""
    if device == "cuda":
        return int(torch.cuda.mem_get_info()[0])
    try:  # read with one system call: this runs before every real pass
        fd = os.open("/proc/meminfo", os.O_RDONLY)
        try:
            text = os.read(fd, 8192)
        finally:
            os.close(fd)
    except OSError:
        return None
    start = text.find(b"MemAvailable:")
    if start < 0:
        return None
    return int(text[start + len(b"MemAvailable:") : text.index(b"kB", start)]) * 1024


def unused_ram() -> int | None:
    """MemFree, from one cheap system call: never more than MemAvailable (which counts reclaimable
    caches too), so a pass that fits in it fits."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def check_memory(
    params: int,
    shape: tuple[int, ...],
    device: str,
    dtype: torch.dtype,
    meta_report: Callable[[], ModelReport],
    budget: int | None = None,
) -> None:
    """Raise `AnalysisError` when a pass of a model with ``params`` parameters at ``shape`` cannot
    fit on ``device``; run before the model or the input is allocated there.

    A cheap bound comes first (activations of a ResNet stay within a few hundred times the input);
    only when that bound comes near the free memory is ``meta_report`` asked for the real estimate:
    the parameters, plus the largest layer's input and output, plus the feature map a residual
    block keeps for its shortcut."""
    element = dtype.itemsize
    param_bytes = params * element
    bound = numel(shape) * element * 400 + param_bytes
    unused = unused_ram() if device == "cpu" else None
    if unused is not None and bound < min(unused, budget if budget is not None else unused) // 2:
        return  # within half of the RAM nothing uses at all, let alone of what is available
    free = free_memory(device)
    if free is None and budget is None:
        return
    # A budget (the app's, per request) caps what a pass may take even where more is free.
    if budget is None or (free is not None and free < budget):
        limit, what = free, "is free"
    else:
        limit, what = budget, "is allowed"
    if limit is None:  # neither a budget nor a reading of free memory: nothing to hold the pass to
        return
    free = limit
    if bound < free // 2:
        return
    meta = meta_report()
    largest = max(
        (
            (numel(row.input_shapes[0]) if row.input_shapes else 0) * element
            + row.activation_bytes // max(row.calls, 1)
            for row in meta.leaves()
        ),
        default=0,
    )
    biggest_map = max((numel(row.output_shapes[-1]) * element for row in meta.leaves() if row.output_shapes), default=0)
    needed = param_bytes + largest + biggest_map
    if needed > free:
        raise AnalysisError(
            f"a {device} pass at {'x'.join(map(str, shape))} needs at least {binary_size(needed)} (all activations: "
            f"{binary_size(meta.totals.activation_bytes)}) but only {binary_size(free)} {what}; use --device meta for the "
            "same report without memory"
        )
