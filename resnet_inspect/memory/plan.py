"""What a memory estimate is asked for (batch, input, training set-up, whose allocator), as plain
data the command line and the app both build. Importing this module does not import torch."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..analysis.options import AnalysisError
from ..limits import LIMITS, over

OPTIMIZERS = {
    "sgd": "SGD without momentum: no state",
    "momentum": "SGD with momentum: one buffer per parameter",
    "adam": "Adam: two moments per parameter",
    "adamw": "AdamW: two moments per parameter",
}
PRECISIONS = {
    "fp32": "weights, activations, gradients and optimizer state in float32",
    "bf16": "weights, activations and gradients in bfloat16; float32 master weights and optimizer state",
    "fp16": "weights, activations and gradients in float16; float32 master weights and optimizer state",
}
# Whose allocator the figure is in: the CPU allocator takes exactly what a tensor asks for;
# CUDA's caching allocator hands out blocks in multiples of 512 bytes.
ACCOUNTING = {"cpu": 1, "cuda": 512}
BYTE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pb": 10**15,
    "eb": 10**18,
    "pib": 2**50,
    "eib": 2**60,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
}


@dataclass(frozen=True)
class MemoryPlan:
    """One estimate: ``batch`` inputs of ``image`` (CxHxW), for inference, and for a training
    step with ``optimizer`` in ``precision`` when ``train`` is set, in ``device``'s allocator."""

    batch: int = 1
    image: tuple[int, ...] = (3, 224, 224)
    train: bool = True
    optimizer: str = "adamw"
    precision: str = "fp32"
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not isinstance(self.batch, int) or isinstance(self.batch, bool) or self.batch < 1:
            raise AnalysisError(f"invalid batch {self.batch!r}: must be a whole number of at least 1")
        if self.optimizer not in OPTIMIZERS:
            raise AnalysisError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.precision not in PRECISIONS:
            raise AnalysisError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.device not in ACCOUNTING:
            raise AnalysisError(f"unknown device {self.device!r} for memory; choose one of {', '.join(ACCOUNTING)}")
        if not self.image or any(not isinstance(d, int) or d < 1 for d in self.image):
            raise AnalysisError(f"invalid input {self.image!r}: every dimension must be a positive integer")
        elements = self.batch
        for d in self.image:
            elements *= d
        if elements > LIMITS.max_input_elements:
            raise AnalysisError(
                "invalid batch: " + over("the number of input elements", elements, "max_input_elements")
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, *self.image)

    def with_batch(self, batch: int) -> MemoryPlan:
        return MemoryPlan(batch, self.image, self.train, self.optimizer, self.precision, self.device)

    def with_side(self, side: int) -> MemoryPlan:
        image = (*self.image[:-2], side, side) if len(self.image) >= 2 else self.image
        return MemoryPlan(self.batch, image, self.train, self.optimizer, self.precision, self.device)

    def describe(self) -> str:
        setup = f"training step with {self.optimizer} ({OPTIMIZERS[self.optimizer]})" if self.train else "inference"
        return (
            f"batch {self.batch} of {'x'.join(map(str, self.image))}, {self.precision} "
            f"({PRECISIONS[self.precision]}), {setup}, {self.device} allocator"
        )


def parse_bytes(text: str) -> int:
    """``24GB`` (10^9), ``24GiB`` (2^30), ``512MiB``, ``1.5e9`` to bytes; refuses zero and negatives."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in BYTE_UNITS:
        raise AnalysisError(
            f"invalid memory size {str(text)[:40]!r}: expected a number with a unit, "
            "e.g. 24GB (10^9 bytes) or 24GiB (2^30 bytes); units B, kB, MB, GB, TB, PB, EB and KiB ... EiB"
        )
    value = float(match.group(1)) * BYTE_UNITS[unit]
    if not 1 <= value <= 2**60:
        raise AnalysisError(f"invalid memory size {str(text)[:40]!r}: must be between 1 byte and 1 EiB")
    return int(value)
