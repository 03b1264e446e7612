"""Turn a failed forward pass into one sentence a user can act on."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import UserError
from ..limits import Cancelled
from .options import AnalysisError
from .trace import TraceError


def explain_failure(
    exc: TraceError, model: nn.Module, shape: tuple[int, ...], device: str, dtype: torch.dtype
) -> AnalysisError:
    message = str(exc.error).strip().splitlines()[0] if str(exc.error).strip() else type(exc.error).__name__
    where = f" in {exc.module}" if exc.module else ""
    if isinstance(exc.error, UserError):  # a stop check that says why (a command's time limit)
        return AnalysisError(str(exc.error))
    if isinstance(exc.error, Cancelled):
        return AnalysisError(f"the analysis was cancelled{where}")
    if isinstance(exc.error, TimeoutError):
        return AnalysisError(
            f"the pass was stopped{where}: it ran past its time budget (setting "
            "RESNET_INSPECT_APP_SECONDS); try a smaller input, or --device meta"
        )
    if isinstance(exc.error, torch.cuda.OutOfMemoryError) or "out of memory" in message.lower():
        return AnalysisError(
            f"out of memory on {device}{where} for input {'x'.join(map(str, shape))}; "
            "try --device meta, which needs no memory"
        )
    if isinstance(exc.error, RuntimeError) and "size" in message.lower() and len(shape) == 4:
        smallest = smallest_input(model, shape, dtype)
        if smallest is not None and min(shape[2:]) < smallest[2]:
            return AnalysisError(
                f"input {'x'.join(map(str, shape))} is too small: it fails{where}; "
                f"the smallest input that works is {'x'.join(map(str, smallest))}"
            )
    return AnalysisError(f"the forward pass failed{where}: {type(exc.error).__name__}: {message}")


def smallest_input(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype) -> tuple[int, ...] | None:
    """Smallest square H=W (up to 4096) for which the model runs, found with meta passes."""
    meta_model = copy.deepcopy(model).to("meta")

    def runs(size: int) -> bool:
        try:
            with torch.no_grad():
                meta_model(torch.empty((shape[0], shape[1], size, size), device="meta", dtype=dtype))
            return True
        except Exception:
            return False

    low, high = 1, 4096
    if not runs(high):
        return None
    while low < high:
        mid = (low + high) // 2
        if runs(mid):
            high = mid
        else:
            low = mid + 1
    return (shape[0], shape[1], low, low)
