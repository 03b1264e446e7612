"""Read a weights file without running anything in it: names, shapes and dtypes of its tensors.

``.safetensors`` files are read by their header alone (no tensor is loaded). ``.pth``, ``.pt``,
``.bin`` and ``.ckpt`` files go through ``torch.load(weights_only=True)`` onto ``meta``, which
refuses any pickle that would build arbitrary objects. The state dict is found in the layouts people
have (a bare state dict; ``state_dict``, ``model``, ``model_state_dict``, ... entries; Lightning
checkpoints) and a common key prefix (``module.``, ``model.``, ``backbone.``, ...) is stripped."""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError

SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
# Where checkpoints keep the network's weights, most specific first.
CONTAINERS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "weights", "params")
PREFIXES = ("module.", "model.", "backbone.", "encoder.", "net.", "network.", "body.", "_orig_mod.")
DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}
MAX_HEADER_BYTES = 100_000_000  # the safetensors format's own limit
MAX_NAME = 1_000  # characters of a tensor's name: a network's are under a hundred
# Tensors that travel with a network's in one state dict without being part of it.
RIDERS = (
    "ema.",
    "model_ema.",
    "ema_model.",
    "module_ema.",
    "fpn.",
    "rpn.",
    "roi_heads.",
    "decode_head.",
    "aux_head.",
    "neck.",
    "bbox_head.",
    "mask_head.",
)


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str  # "float32", "bfloat16", ...
    bytes: int


@dataclass
class WeightsFile:
    path: str
    format: str  # "safetensors" or "pickle (weights_only)"
    container: str | None  # the entry that held the state dict ("state_dict"), None for a bare one
    prefix: str  # the key prefix stripped from every name ("" when none)
    tensors: dict[str, TensorInfo]  # names as the network knows them
    extra: dict[str, TensorInfo] = field(default_factory=dict)  # entries outside the prefix (EMA copies, heads)
    bytes_on_disk: int = 0

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: info.shape for name, info in self.tensors.items()}

    @property
    def network_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes without riders in the same state dict (an EMA copy, a detection head)."""
        return {name: shape for name, shape in self.shapes.items() if not name.startswith(RIDERS)}


def is_weights_file(text: str) -> bool:
    return text.lower().endswith(SUFFIXES)


def read_weights(path: str | Path) -> WeightsFile:
    """The tensors of a weights file, as names and shapes; one-line errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if not is_weights_file(path.name):
        raise UserError(f"{path}: not a weights file (expected {', '.join(SUFFIXES)})")
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"{path}: the file is empty")
    if path.suffix.lower() == ".safetensors":
        raw, fmt = _safetensors_header(path, size), "safetensors"
    else:
        raw, fmt = _pickled(path), "pickle (weights_only)"
    container, state = _find_state_dict(raw, path)
    longest = max(state, key=len)
    if len(longest) > MAX_NAME:
        raise UserError(
            f"{path}: malformed: a tensor name of {len(longest):,} characters (a network's are under {MAX_NAME:,})"
        )
    prefix, tensors, extra = _strip_prefix(state)
    return WeightsFile(str(path), fmt, container, prefix, tensors, extra, size)


def _safetensors_header(path: Path, size: int) -> dict[str, TensorInfo]:
    """The header of a safetensors file: an 8-byte length, then JSON naming every tensor."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise UserError(f"{path}: truncated: no safetensors header")
            (length,) = struct.unpack("<Q", head)
            if length > min(MAX_HEADER_BYTES, size - 8):
                raise UserError(
                    f"{path}: truncated or not a safetensors file (header of {length:,} bytes in a file of {size:,})"
                )
            header = json.loads(handle.read(length))
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise UserError(f"{path}: not a safetensors file (its header is not a mapping)")
    tensors = {}
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            shape = tuple(int(d) for d in entry["shape"])
            dtype = str(entry["dtype"])
            start, stop = (int(v) for v in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path}: not a safetensors file (entry {name[:60]!r} is malformed)") from None
        end = max(end, stop)
        tensors[name] = TensorInfo(shape, _dtype_name(dtype), stop - start)
    if 8 + length + end > size:
        raise UserError(f"{path}: truncated: the header describes {8 + length + end:,} bytes, the file has {size:,}")
    return tensors


def _dtype_name(code: str) -> str:
    names = {
        "F64": "float64",
        "F32": "float32",
        "F16": "float16",
        "BF16": "bfloat16",
        "I64": "int64",
        "I32": "int32",
        "I16": "int16",
        "I8": "int8",
        "U8": "uint8",
        "BOOL": "bool",
    }
    return names.get(code, code.lower())


def _pickled(path: Path) -> Any:
    import pickle

    import torch

    try:
        return torch.load(path, map_location="meta", weights_only=True, mmap=False)
    except pickle.UnpicklingError as exc:
        # An object beyond tensors and plain data names the class or function that would build it.
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise UserError(
                f"{path}: refused: it holds more than tensors, and loading it would build arbitrary "
                f"objects or run code (it asks for {found.group(1)}); nothing in it was run"
            ) from None
        raise UserError(f"{path}: not a readable PyTorch weights file (not a pickle of tensors)") from None
    except Exception as exc:  # truncated zip, bad magic, a storage that does not match: never a traceback
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{path}: not a readable PyTorch weights file (truncated or corrupt?): {reason[:160]}"
        ) from None


def _tensor_info(value: Any) -> TensorInfo | None:
    if isinstance(value, TensorInfo):
        return value
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is None or dtype is None or not hasattr(value, "element_size"):
        return None
    return TensorInfo(
        tuple(int(d) for d in shape), str(dtype).replace("torch.", ""), int(value.numel()) * int(value.element_size())
    )


def _as_state(mapping: Any) -> dict[str, TensorInfo] | None:
    """``mapping`` as names -> tensors, when at least half of it is tensors with text names."""
    if not isinstance(mapping, dict) or not mapping:
        return None
    state = {k: info for k, v in mapping.items() if isinstance(k, str) and (info := _tensor_info(v)) is not None}
    return state if state and len(state) * 2 >= len(mapping) else None


def _find_state_dict(raw: Any, path: Path) -> tuple[str | None, dict[str, TensorInfo]]:
    state = _as_state(raw)
    if state is not None:
        return None, state
    if isinstance(raw, dict):
        for key in CONTAINERS:
            state = _as_state(raw.get(key))
            if state is not None:
                return key, state
        for key, value in raw.items():  # a container under another name ("state_dict_ema", ...)
            state = _as_state(value)
            if state is not None:
                return str(key), state
    raise UserError(
        f"{path}: holds no state dict (no mapping of names to tensors at its top level or under "
        f"{', '.join(CONTAINERS)})"
    )


def _strip_prefix(state: dict[str, TensorInfo]) -> tuple[str, dict[str, TensorInfo], dict[str, TensorInfo]]:
    """The most common known prefix, when most names carry it, stripped; the rest kept aside."""
    best, count = "", 0
    for prefix in PREFIXES:
        n = sum(1 for name in state if name.startswith(prefix))
        if n > count:
            best, count = prefix, n
    if not best or count * 2 < len(state):
        return "", state, {}
    # Nested wrappers ("module.model.") are stripped one after the other.
    inner = {name[len(best) :]: info for name, info in state.items() if name.startswith(best)}
    rest = {name: info for name, info in state.items() if not name.startswith(best)}
    deeper, inner, extra = _strip_prefix(inner)
    return best + deeper, inner, {**rest, **{best + k: v for k, v in extra.items()}}
