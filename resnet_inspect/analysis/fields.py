"""The receptive field: how it travels with the tensors through the operators of one pass.

The tracer attaches a `Field` to every tensor a pass makes (as an attribute: it is freed with the tensor,
and an in-place operator simply overwrites it) and asks here what each operator makes of its inputs' fields."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# The attribute of a tensor that holds its field.
FIELD_ATTR = "_resnet_inspect_rf"
# Operators that pad a map: no arithmetic, but they move the field's offset (`pad_window`).
PADS = frozenset(("constant_pad_nd", "reflection_pad2d", "replication_pad2d", "pad"))
# Where an operator with no global window ran: `through` reads it only for "global" and "normalized".
NOWHERE = (0, "")


@dataclass(slots=True)
class Field:
    """Receptive field along one spatial axis (the height) of a tensor.

    ``size``, ``jump`` (effective stride) and ``start`` (input coordinate of the first output pixel's
    centre) are the field of the local operators alone: convolutions, pools and pads. ``global_from``
    is the first global operator the value also depends on (a global mean, a norm's statistics), as
    (order position, module), kept apart so that it never overwrites the local field. ``pooled``: a
    statistic of whole maps, with no spatial layout of its own (sliding windows over it, such as ECA's
    1-D conv across channels, leave the field as it is)."""

    size: float = 1
    jump: float = 1
    start: float = 0.5
    global_from: tuple[int, str] | None = None
    pooled: bool = False


def through(source: Field, window: Any, where: tuple[int, str]) -> Field:
    """The receptive field after an operator with ``window`` (see `counting.OpCost`), run at ``where``
    (order position, module), reads ``source``."""
    if window is None:
        return source
    if window == "global":  # a reduction over every position: a statistic of the map
        return Field(source.size, source.jump, source.start, source.global_from or where, True)
    if window == "normalized":  # each output divided by statistics of the whole map (GroupNorm)
        return Field(source.size, source.jump, source.start, source.global_from or where, source.pooled)
    if source.pooled:
        return source
    kernel, stride, padding, dilation = window
    return Field(
        source.size + (kernel - 1) * dilation * source.jump,
        source.jump * stride,
        source.start + ((kernel - 1) / 2 * dilation - padding) * source.jump,
        source.global_from,
    )


def combined(infos: Iterable[Field | None]) -> Field | None:
    """The field of a value computed from several inputs (a residual add, a map times its attention):
    the widest local field among them (a pooled statistic's only where no input has a local one), and
    the earliest global operator any of them depends on."""
    best: Field | None = None
    global_from = None
    for info in infos:
        if info is None:
            continue
        if info.global_from is not None and (global_from is None or info.global_from < global_from):
            global_from = info.global_from
        if best is None or (best.pooled and not info.pooled) or (info.pooled == best.pooled and info.size > best.size):
            best = info
    if best is None or best.global_from == global_from:
        return best
    return Field(best.size, best.jump, best.start, global_from, best.pooled)


def same_field(a: Field | None, b: Field | None) -> bool:
    """The same field, and the same global operator named (wherever in the order it was recorded)."""
    if a is None or b is None:
        return a is b
    names = (a.global_from and a.global_from[1], b.global_from and b.global_from[1])
    return (a.size, a.jump, a.start, a.pooled) == (b.size, b.jump, b.start, b.pooled) and names[0] == names[1]


def pad_window(op: str, args: tuple) -> Any:
    """A pad as a window along the height: it moves the first pixel's centre by the pixels added on top
    (``F.pad``'s list runs from the last axis: left, right, top, bottom, then channels)."""
    pads = args[1] if len(args) > 1 else None
    if not isinstance(pads, (list, tuple)) or len(pads) < 4:
        return None
    return (1, 1, int(pads[2]), 1)
