"""`build()`: a registered name or a spec, with overrides, to a model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .registry import get_variant
from .spec import ResNetSpec

if TYPE_CHECKING:
    from torch import nn


def resolve_spec(name_or_spec: str | ResNetSpec, **overrides: Any) -> ResNetSpec:
    """The spec a name or spec stands for, with ``overrides`` applied (e.g. ``num_classes=10``)."""
    if isinstance(name_or_spec, ResNetSpec):
        spec = name_or_spec
    elif isinstance(name_or_spec, str):
        spec = get_variant(name_or_spec).spec
    else:
        raise ValueError(f"expected a variant name or a ResNetSpec, got {type(name_or_spec).__name__}")
    return spec.replace(**overrides) if overrides else spec


def build(name_or_spec: str | ResNetSpec, **overrides: Any) -> nn.Module:
    """Instantiate a ResNet from a registered name (see `variants()`) or a `ResNetSpec`."""
    from .network import build_from_spec

    return build_from_spec(resolve_spec(name_or_spec, **overrides))
