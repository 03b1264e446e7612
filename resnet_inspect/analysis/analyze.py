"""`inspect()`: one real forward pass to a `ModelReport`."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..limits import StopCheck
from ..model.build import resolve_spec
from ..model.network import build_from_spec
from ..model.spec import ResNetSpec
from .assemble import assemble
from .diagnose import explain_failure
from .memory_guard import check_memory
from .options import AnalysisError, parse_input_size, resolve_device, resolve_dtype
from .report import ModelReport
from .trace import TraceError, Tracer

log = logging.getLogger(__name__)


def inspect(
    target: str | ResNetSpec | nn.Module,
    input_size: Sequence[int] | str | None = None,
    device: str = "auto",
    dtype: str | torch.dtype = torch.float32,
    *,
    label: str | None = None,
    memory_budget: int | None = None,
    time_budget: float | None = None,
    should_stop: StopCheck | None = None,
) -> ModelReport:
    """Run one forward pass of ``target`` and report every layer.

    ``target`` is a registered name, a `ResNetSpec` or any ``nn.Module``. ``input_size``
    defaults to 1 x in_chans x image_size x image_size for specs and 1x3x224x224 otherwise.
    ``device="meta"`` computes the same report without allocating memory; a real pass that would
    need more than the free memory (or ``memory_budget`` bytes) is refused before anything is built,
    and a pass that runs longer than ``time_budget`` seconds, or for which ``should_stop()`` turns true,
    is stopped."""
    # The steps of one analysis in order; the memory check, the pass and its failure handling share the model
    # and input.
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype)
    shape = parse_input_size(input_size if input_size is not None else default_input_size(target))
    if isinstance(target, (str, ResNetSpec)) and len(shape) != 4:
        raise AnalysisError(f"invalid input size {'x'.join(map(str, shape))}: a ResNet takes 4 dimensions NxCxHxW")
    if dev != "meta":
        _check_memory_before_building(target, shape, dev, torch_dtype, memory_budget)
    model, model_name, spec = _prepare_model(target, dev, torch_dtype)
    _check_channels(model, shape)
    deadline = time.monotonic() + time_budget if time_budget is not None else None
    tracer = Tracer(
        model,
        deadline,
        meta=dev == "meta",
        leaf_rules=dev == "cpu",
        should_stop=should_stop,
        learn_leaves=dev != "meta",
    )
    training = tracer.training
    if training:
        model.eval()
    started = time.perf_counter()
    try:
        output = _traced_pass(tracer, model, shape, dev, torch_dtype)
    except TraceError as exc:
        log.debug("the pass failed in %s", exc.module or "the model", exc_info=exc.error)
        raise explain_failure(exc, model, shape, dev, torch_dtype) from None
    finally:
        if model is target:  # a caller's model keeps its train/eval state
            for module in training:
                module.training = True
    peak = int(torch.cuda.max_memory_allocated()) if dev == "cuda" else None
    report = assemble(model, tracer, label or model_name, shape, torch_dtype, dev, output, spec, peak)
    log.debug(
        "%s: one pass on %s at %s (%s) and its report in %.1f ms",
        report.model,
        dev,
        "x".join(map(str, shape)),
        torch_dtype,
        (time.perf_counter() - started) * 1e3,
    )
    return report


def _check_memory_before_building(
    target: Any, shape: tuple[int, ...], device: str, dtype: torch.dtype, budget: int | None
) -> None:
    """Refuse a real pass that cannot fit before its parameters exist there: a spec is counted
    on meta first."""
    if isinstance(target, nn.Module):
        model = target
        # Parameters already where the pass runs take no new memory; only a copy needs room for them.
        params = sum(p.numel() for p in model.parameters()) if _needs_copy(model, device, dtype) else 0
    else:
        with torch.device("meta"):
            model = build_from_spec(resolve_spec(target))
        params = sum(p.numel() for p in model.parameters())
    check_memory(
        params,
        shape,
        device,
        dtype,
        meta_report=lambda: inspect(model, shape, device="meta", dtype=dtype),
        budget=budget,
    )


def default_input_size(target: Any) -> tuple[int, int, int, int]:
    """One image at the network's own size: a spec says it; any other module gets 3x224x224."""
    spec = resolve_spec(target) if isinstance(target, (str, ResNetSpec)) else getattr(target, "spec", None)
    return (1, spec.in_chans, spec.image_size, spec.image_size) if spec else (1, 3, 224, 224)


def _prepare_model(target: Any, device: str, dtype: torch.dtype) -> tuple[nn.Module, str, ResNetSpec | None]:
    if isinstance(target, nn.Module):
        model = target
        if _needs_copy(model, device, dtype):
            model = copy.deepcopy(model).to(device=device, dtype=dtype)  # never move the caller's model
        return model, type(target).__name__, getattr(target, "spec", None)
    if isinstance(target, (str, ResNetSpec)):
        spec = resolve_spec(target)
        with torch.device(device):
            model = build_from_spec(spec).to(dtype=dtype)
        return model, target if isinstance(target, str) else "custom", spec
    raise AnalysisError(
        f"cannot inspect a {type(target).__name__}: expected a variant name, a ResNetSpec or an nn.Module"
    )


def _needs_copy(model: nn.Module, device: str, dtype: torch.dtype) -> bool:
    """The pass runs on a copy: on meta, or where the model's parameters are elsewhere or of another dtype."""
    current = next(iter(model.parameters()), None)
    return device == "meta" or (current is not None and (current.device.type != device or current.dtype != dtype))


def _check_channels(model: nn.Module, shape: tuple[int, ...]) -> None:
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first_conv is not None and len(shape) == 4 and shape[1] != first_conv.in_channels:
        raise AnalysisError(
            f"input has {shape[1]} channels but the model's first convolution expects {first_conv.in_channels}"
        )


# The input pattern's step along each axis (cycled): irrational, so nearby elements do not repeat.
_PATTERN_STEPS = (0.7548776662, 0.5698402910, 0.6180339887, 0.4142135624)


# Patterns made before on the CPU, by (shape, dtype): a pass gets a copy (one operator instead of a
# dozen), so a model that writes into its input cannot change the next one. Only small ones are kept, and
# none on a GPU, where they would count in the peak memory a pass reports.
_PATTERNS: dict[tuple, torch.Tensor] = {}
_PATTERN_BYTES_KEPT = 8 * 2**20


def probe_input(shape: Sequence[int], device: str, dtype: torch.dtype) -> torch.Tensor:
    """The pass's input: a fixed pattern in [-1, 1) that varies along every axis, the same on every
    call. It leaves torch's random state alone, and a few small ramps added by broadcasting make it
    in a tenth of the time of `torch.randn` at 1x3x224x224."""
    if device == "meta":
        return torch.empty(shape, device="meta", dtype=dtype)
    if device != "cpu":
        return _pattern(shape, device, dtype)
    key = (tuple(shape), dtype)
    kept = _PATTERNS.get(key)
    if kept is not None:
        return kept.clone()
    x = _pattern(shape, device, dtype)
    if x.numel() * x.element_size() <= _PATTERN_BYTES_KEPT:
        if sum(t.numel() * t.element_size() for t in _PATTERNS.values()) > _PATTERN_BYTES_KEPT:
            _PATTERNS.clear()
        _PATTERNS[key] = x.clone()
    return x


def _pattern(shape: Sequence[int], device: str, dtype: torch.dtype) -> torch.Tensor:
    x = torch.zeros((), device=device, dtype=torch.float32)
    for axis, size in enumerate(shape):
        ramp = torch.arange(size, device=device, dtype=torch.float32).mul_(_PATTERN_STEPS[axis % len(_PATTERN_STEPS)])
        x = x + ramp.view([size if i == axis else 1 for i in range(len(shape))])
    return x.frac_().mul_(2).sub_(1).to(dtype)


def _traced_pass(tracer: Tracer, model: nn.Module, shape: tuple[int, ...], device: str, dtype: torch.dtype) -> Any:
    # Inference mode (and its tensors) skip the autograd layer where composite operators (conv2d,
    # batch_norm, linear) are taken apart into the ones the counting rules know: the pass leaves it, makes
    # its input outside it, and runs without grad.
    with torch.inference_mode(False), torch.no_grad():
        x = probe_input(shape, device, dtype)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        return tracer.run(model, x)
