"""What a pass is asked for: input size, device and dtype, as a command line or the app gives them.

Defined once here for the CLI, the app and the analyzer. Importing this module does not import
torch; resolving a device or dtype does."""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import TYPE_CHECKING

from ..errors import UserError
from ..limits import LIMITS, over

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cuda", "cpu", "meta")
MEASURING_DEVICES = ("auto", "cuda", "cpu")  # where time and memory can be measured
DTYPES = ("float32", "float16", "bfloat16", "float64")
DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class AnalysisError(UserError):
    """A user-facing analysis failure (bad input, a model that does not run)."""


MAX_INPUT_RANK = 6


def parse_input_size(text: str | Sequence[int]) -> tuple[int, ...]:
    """``1x3x224x224`` (or a sequence) to a validated shape tuple. A ResNet takes NxCxHxW; a
    module of another kind may take another rank (``1x197x192``: a transformer's tokens)."""
    if isinstance(text, str):
        parts = text.lower().replace("×", "x").split("x")
        try:
            shape = tuple(int(p) for p in parts)
        except ValueError:
            raise AnalysisError(f"invalid input size {text!r}: expected NxCxHxW, e.g. 1x3x224x224") from None
    else:
        shape = tuple(int(p) for p in text)
    if not 1 <= len(shape) <= MAX_INPUT_RANK:
        raise AnalysisError(
            f"invalid input size {'x'.join(map(str, shape)) or text!r}: expected 1 to "
            f"{MAX_INPUT_RANK} dimensions, e.g. NxCxHxW"
        )
    if any(d <= 0 for d in shape):
        raise AnalysisError(f"invalid input size {'x'.join(map(str, shape))}: every dimension must be positive")
    if max(shape) > LIMITS.max_input_side:
        raise AnalysisError("invalid input size: " + over("a dimension of", max(shape), "max_input_side"))
    if prod(shape) > LIMITS.max_input_elements:
        raise AnalysisError("invalid input size: " + over("the number of elements", prod(shape), "max_input_elements"))
    return shape


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when a GPU is there, else ``cpu``; ``cuda`` without a GPU is refused."""
    if device not in DEVICES:
        raise AnalysisError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device in ("cpu", "meta"):
        return device
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise AnalysisError("device 'cuda' requested but no CUDA GPU is available; use --device cpu or meta")
    return device


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    name = DTYPE_ALIASES.get(dtype, dtype)
    if name not in DTYPES:
        raise AnalysisError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES + tuple(DTYPE_ALIASES))}")
    return getattr(torch, name)
