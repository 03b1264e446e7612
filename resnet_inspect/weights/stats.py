"""What only real weights show: per-tensor statistics, dead BatchNorm channels, bytes on disk and in
memory. Plain data for the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

DEAD_SCALE = 1e-3  # a BatchNorm scale this close to zero switches its channel off


@dataclass
class TensorStats:
    name: str
    shape: list[int]
    dtype: str
    norm: float  # L2 norm
    mean: float
    std: float
    zeros: float  # fraction of exact zeros
    dead_channels: int | None = None  # BatchNorm scales with |gamma| < DEAD_SCALE


@dataclass
class WeightsSummary:
    file: str
    format: str
    prefix: str
    container: str | None
    dtypes: dict[str, int]  # dtype -> tensors
    bytes_on_disk: int
    bytes_in_memory: int  # of the tensors the network uses, as loaded
    dead_channels: int
    tensors: list[TensorStats]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_tensors(path: str, names: set[str], prefix: str, container: str | None) -> dict[str, torch.Tensor]:
    """The network's tensors of a weights file (already read once by `read_weights`), on the CPU."""
    if path.lower().endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, framework="pt", device="cpu") as handle:
            return {name: handle.get_tensor(prefix + name) for name in names}
    raw = torch.load(path, map_location="cpu", weights_only=True)
    state = raw[container] if container else raw
    return {name: state[prefix + name] for name in names}


def summarize(weights: Any, tensors: dict[str, torch.Tensor]) -> WeightsSummary:
    stats: list[TensorStats] = []
    dtypes: dict[str, int] = {}
    dead_total = in_memory = 0
    for name, tensor in tensors.items():
        dtypes[str(tensor.dtype).replace("torch.", "")] = dtypes.get(str(tensor.dtype).replace("torch.", ""), 0) + 1
        in_memory += tensor.numel() * tensor.element_size()
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        values = tensor.detach().float()
        dead = None
        if name.endswith(".weight") and values.dim() == 1 and _is_norm_scale(name, tensors):
            dead = int((values.abs() < DEAD_SCALE).sum())
            dead_total += dead
        stats.append(
            TensorStats(
                name,
                list(tensor.shape),
                str(tensor.dtype).replace("torch.", ""),
                float(values.norm()),
                float(values.mean()),
                float(values.std()) if values.numel() > 1 else 0.0,
                float((values == 0).float().mean()),
                dead,
            )
        )
    return WeightsSummary(
        weights.path,
        weights.format,
        weights.prefix,
        weights.container,
        dtypes,
        weights.bytes_on_disk,
        in_memory,
        dead_total,
        stats,
    )


def _is_norm_scale(name: str, tensors: dict[str, torch.Tensor]) -> bool:
    """A 1-D weight next to running statistics: a BatchNorm's scale (gamma)."""
    return name[: -len("weight")] + "running_var" in tensors
