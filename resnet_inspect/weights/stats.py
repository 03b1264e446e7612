"""What only real weights show: per-tensor statistics, dead BatchNorm channels, bytes on disk and in
memory. Plain data for the report."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

import torch

from ..errors import UserError
from ..fileio import open_regular
from ..limits import LIMITS, over
from .archive import TensorRecord, zip_prefix
from .keras_file import KerasRecord
from .read import TensorInfo, WeightsFile

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
    zero_initialised: bool = False  # a norm whose every scale is exactly 0 (initialised so, not trained)


@dataclass
class WeightsSummary:
    file: str
    format: str
    prefix: str
    container: str | None
    dtypes: dict[str, int]  # dtype -> tensors
    bytes_on_disk: int
    bytes_in_memory: int  # of the tensors the network uses, as loaded
    dead_channels: int  # |scale| < DEAD_SCALE in norms not wholly zero
    zero_initialised_channels: int  # in norms whose every scale is exactly 0: a block's last norm as initialised
    tensors: list[TensorStats]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_tensors(weights: WeightsFile, names: set[str]) -> dict[str, torch.Tensor]:
    """The values of the network's tensors ``names`` of a file already read by `read_weights`, on the
    CPU, from the places its validated header or records name (nothing else in the file is read)."""
    total = sum(_info(weights, name).bytes for name in names)
    if total > LIMITS.max_weights_bytes:
        raise UserError(f"{weights.path}: " + over("the bytes of its tensors", total, "max_weights_bytes"))
    return dict(iter_tensors(weights, names))


def iter_tensors(weights: WeightsFile, names: set[str]) -> Iterator[tuple[str, torch.Tensor]]:
    """The same values one tensor at a time, for what needs only one at a time (statistics): the memory
    it takes is the largest tensor's, whatever the file's size."""
    largest = max((_info(weights, name).bytes for name in names), default=0)
    if largest > LIMITS.max_weights_bytes:
        raise UserError(f"{weights.path}: " + over("the bytes of one tensor", largest, "max_weights_bytes"))
    with open_regular(weights.path, "weights file") as (handle, size):
        if size != weights.bytes_on_disk:
            raise UserError(f"{weights.path}: the file changed while it was read")
        prefix = ""
        if weights.archive is not None and weights.archive.kind != "legacy":
            with zipfile.ZipFile(handle) as archive:
                prefix = zip_prefix(archive)
        storages: dict[str, torch.Tensor] = {}  # the last storage read: tensors that share one follow it
        for name in sorted(names):
            info = _info(weights, name)
            if info.placeholder or info.quantized or info.source is None:  # values not in the file, or not read
                continue
            yield name, _values(weights, info, handle, prefix, storages)


def _info(weights: WeightsFile, name: str) -> TensorInfo:
    """A tensor of the network, or one set aside (a Keras convolution's bias) by its name."""
    return weights.tensors[name] if name in weights.tensors else weights.extra[name]


def _values(
    weights: WeightsFile, info: TensorInfo, handle: BinaryIO, prefix: str, storages: dict[str, torch.Tensor]
) -> torch.Tensor:
    dtype = getattr(torch, info.dtype)
    if isinstance(info.source, KerasRecord):  # Keras: stored in its own layout, turned into PyTorch's
        keras = info.source
        if keras.inline:
            data = bytearray(keras.inline)
        else:
            handle.seek(keras.offset)
            data = bytearray(handle.read(keras.nbytes))
            if len(data) != keras.nbytes:
                raise UserError(f"{weights.path}: the file ended early")
        stored = (torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)).reshape(keras.stored)
        return stored.permute(keras.order).contiguous() if keras.order else stored
    if isinstance(info.source, tuple):  # safetensors: the bytes between two offsets of the data
        begin, end = info.source
        handle.seek(8 + weights.header_bytes + begin)
        data = bytearray(handle.read(end - begin))
        flat = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
        return flat.reshape(info.shape)
    record = info.source
    if not isinstance(record, TensorRecord) or weights.archive is None:
        raise UserError(f"{weights.path}: the values of a tensor cannot be read")
    storage = record.storage
    if storage.key not in storages:
        storages.clear()
        data = bytearray(weights.archive.storage_bytes(handle, storage, prefix))
        storages[storage.key] = torch.frombuffer(data, dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)
    flat = storages[storage.key].view(dtype) if storages[storage.key].numel() else torch.empty(0, dtype=dtype)
    return flat.as_strided(record.shape, record.stride, record.offset)


def summarize(weights: Any, tensors: Iterable[tuple[str, torch.Tensor]], names: set[str]) -> WeightsSummary:
    """Statistics of each tensor, given one at a time (``names``: all of them, to tell BatchNorm scales)."""
    stats: list[TensorStats] = []
    dtypes: dict[str, int] = {}
    dead_total = zero_total = in_memory = 0
    for name, tensor in tensors:
        dtypes[str(tensor.dtype).replace("torch.", "")] = dtypes.get(str(tensor.dtype).replace("torch.", ""), 0) + 1
        in_memory += tensor.numel() * tensor.element_size()
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        values = tensor.detach().float()
        dead, zero_initialised = None, False
        if name.endswith(".weight") and values.dim() == 1 and _is_norm_scale(name, names):
            # Every scale of a norm exactly 0 is how a block's last norm starts (zero_init_last): not dead
            # channels of a trained network, but an untrained (or freshly built) one.
            zero_initialised = bool((values == 0).all())
            dead = 0 if zero_initialised else int((values.abs() < DEAD_SCALE).sum())
            dead_total += dead
            zero_total += values.numel() if zero_initialised else 0
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
                zero_initialised,
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
        zero_total,
        stats,
    )


def _is_norm_scale(name: str, names: set[str]) -> bool:
    """A 1-D weight next to running statistics: a BatchNorm's scale (gamma)."""
    return name[: -len("weight")] + "running_var" in names
