"""The tensors inside a module's inputs or outputs: a tensor, or lists, tuples and dicts of them, nested."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    """Every tensor in ``value``, depth first, in order."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)


def first_tensor(value: Any) -> torch.Tensor | None:
    """The first of `tensors_in`, found without a generator (it runs for every module call)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (list, tuple)):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        return first_tensor(list(value.values()))
    return None


def tensor_bytes(value: Any) -> int:
    """Bytes of every tensor in ``value`` (their elements, not their storages)."""
    return sum(t.numel() * t.element_size() for t in tensors_in(value))
