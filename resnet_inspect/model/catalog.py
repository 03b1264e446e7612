"""The registry as rows of plain data (family, name, parameters, MACs, description, source).

Listing must not wait for torch, so the parameter and MAC counts come from a generated table
(`resnet_inspect.model.tables`); tests rebuild every variant and require the table to be exact."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from .registry import FAMILIES, variants
from .tables import mac_counts, parameter_counts


@dataclass(frozen=True)
class VariantRow:
    family: str
    name: str
    parameters: int
    macs: int  # at the variant's own input, batch 1
    input_shape: tuple[int, int, int, int]
    description: str
    source: str
    reference: str | None


def variant_rows(family: str | None = None, grep: str | None = None) -> list[VariantRow]:
    """Registered variants grouped by family (in FAMILIES order); ``family`` keeps one family,
    ``grep`` those whose name or description contains it (case-insensitive)."""
    if family is not None and family not in FAMILIES:
        raise UserError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    order = list(FAMILIES)
    parameters, macs = parameter_counts(), mac_counts()
    rows = []
    for v in sorted(variants().values(), key=lambda v: order.index(v.family)):
        if family is not None and v.family != family:
            continue
        if grep and grep.lower() not in f"{v.name} {v.description}".lower():
            continue
        if v.name not in parameters or v.name not in macs:
            raise ValueError(f"no counts for {v.name}; run: python -m resnet_inspect.publish")
        rows.append(
            VariantRow(
                v.family,
                v.name,
                parameters[v.name],
                macs[v.name],
                (1, v.spec.in_chans, v.spec.image_size, v.spec.image_size),
                v.description,
                v.source,
                v.reference,
            )
        )
    return rows


def counted_parameters() -> dict[str, int]:
    """Every registered variant's parameter count, from a network built on meta (no memory)."""
    import torch

    from .network import build_from_spec

    counts = {}
    for variant in variants().values():
        with torch.device("meta"):
            model = build_from_spec(variant.spec)
        counts[variant.name] = sum(p.numel() for p in model.parameters())
    return counts
