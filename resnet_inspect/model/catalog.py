"""The registry as rows of plain data (name, parameters, description, source)."""

from __future__ import annotations

from dataclasses import dataclass

from .registry import variants


@dataclass(frozen=True)
class VariantRow:
    name: str
    parameters: int
    description: str
    source: str
    reference: str | None


def variant_rows() -> list[VariantRow]:
    """Every registered variant with its exact parameter count (built on meta: no memory)."""
    import torch

    from .network import build_from_spec

    rows = []
    for variant in variants().values():
        with torch.device("meta"):
            model = build_from_spec(variant.spec)
        params = sum(p.numel() for p in model.parameters())
        rows.append(VariantRow(variant.name, params, variant.description, variant.source, variant.reference))
    return rows
