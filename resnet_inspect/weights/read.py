"""Read a weights file without running anything in it: names, shapes and dtypes of its tensors.

A file is opened once and must be a regular file. ``.safetensors`` files are read by their header
alone, validated in full before anything trusts it. PyTorch files (``.pth``, ``.pt``, ``.bin``,
``.ckpt``, ``.pth.tar``; zip archives, the legacy format and TorchScript archives) are read by their
records with a restricted unpickler (`archive`): no code in them runs, no storage is allocated, and
every size they claim is checked against the bytes they hold. The state dict is found in the layouts people
have (a bare state dict; ``state_dict``, ``model``, ``model_state_dict``, ... entries; Lightning
checkpoints) and a common key prefix (``module.``, ``model.``, ``backbone.``, ...) is stripped."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..fileio import open_regular
from .archive import DTYPE_SIZES, Archive, Refused, ScriptModule, TensorRecord, read_archive
from .keras_file import KERAS_EPSILON, KerasRecord, is_keras_name, keras_state
from .layouts import find_layout
from .onnx_file import OnnxGraph, module_path, read_onnx

SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".pth.tar", ".tar", ".onnx", ".keras", ".h5", ".hdf5")
# Formats of other frameworks, named when refused.
OTHER_FORMATS = {
    ".pb": "a TensorFlow graph, not read",
    ".tflite": "a TensorFlow Lite model, not read",
}
# Where checkpoints keep the network's weights, most specific first.
CONTAINERS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "weights", "params")
SAFETENSORS_DTYPES = {
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
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
}
MAX_HEADER_BYTES = 16 * 2**20  # a safetensors header: a ResNet's is about 30 KB, a large language model's 2 MB
MAX_NAME = 1_000  # characters of a tensor's name: a network's are under a hundred
MAX_DIMS = 8
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
    # Where its values are: (begin, end) of a safetensors file's data, or the record of a PyTorch file.
    source: tuple[int, int] | TensorRecord | KerasRecord | None = field(default=None, compare=False)
    quantized: bool = False
    placeholder: bool = False  # not in the file: a buffer load_state_dict fills in (num_batches_tracked)


@dataclass
class WeightsFile:
    path: str
    format: str  # "safetensors" or "pickle (weights_only)"
    container: str | None  # the entry that held the state dict ("state_dict"), None for a bare one
    prefix: str  # the key prefix stripped from every name ("" when none)
    tensors: dict[str, TensorInfo]  # names as the network knows them
    extra: dict[str, TensorInfo] = field(default_factory=dict)  # entries outside the prefix (EMA copies, heads)
    bytes_on_disk: int = 0
    archive: Archive | None = field(default=None, repr=False)  # a PyTorch file's records
    header_bytes: int = 0  # a safetensors file's header length: its data starts at 8 + this
    layout: str = ""  # the ecosystem whose names were mapped ("Hugging Face transformers"); "" for torchvision's
    notes: list[str] = field(default_factory=list)  # what was read, renamed, set aside or filled in
    original: dict[str, str] = field(default_factory=dict)  # network name -> the file's name, where they differ
    fixed: dict[str, str] = field(default_factory=dict)  # spec fields the layout settles (Keras: stride_on 1x1)
    epsilon: float | None = None  # a Keras file's BatchNorm epsilon (its config's, else keras.applications')

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: info.shape for name, info in self.tensors.items()}

    @property
    def saved_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes of the tensors the file holds, by their network names (no placeholder)."""
        return {name: info.shape for name, info in self.tensors.items() if not info.placeholder}

    @property
    def network_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes without riders in the same state dict (an EMA copy, a detection head)."""
        return {name: shape for name, shape in self.shapes.items() if not name.startswith(RIDERS)}


def is_weights_file(text: str) -> bool:
    return text.lower().endswith(SUFFIXES)


def read_weights(path: str | Path) -> WeightsFile:
    """The tensors of a weights file, as names and shapes; one-line errors for anything else."""
    path = Path(path)
    other = OTHER_FORMATS.get(path.suffix.lower())
    if other:
        raise UserError(f"{path}: {other}; this tool reads PyTorch and safetensors weights ({', '.join(SUFFIXES)})")
    if not is_weights_file(path.name):
        raise UserError(f"{path}: not a weights file (expected {', '.join(SUFFIXES)})")
    archive, header_bytes = None, 0
    onnx_names: dict[str, str] = {}
    with open_regular(path, "weights file") as (handle, size):
        if size == 0:
            raise UserError(f"{path}: the file is empty")
        if is_keras_name(path.name):
            try:
                keras = keras_state(handle, size, path.name)
            except UserError as exc:
                raise UserError(f"{path}: {exc}") from None
            except OSError as exc:
                raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
            return WeightsFile(
                str(path),
                keras.format,
                None,
                "",
                keras.tensors,
                keras.biases,
                size,
                layout="Keras",
                notes=keras.notes,
                original=keras.original,
                fixed={"stride_on": "1x1", "aa": "none"},
                epsilon=keras.epsilon if keras.epsilon is not None else KERAS_EPSILON,
            )
        try:
            if path.suffix.lower() == ".safetensors":
                raw, header_bytes = safetensors_header(handle, size)
                fmt = "safetensors"
            elif path.suffix.lower() == ".onnx":
                raw, fmt, onnx_names = onnx_state(read_onnx(handle, size))
            else:
                archive = read_archive(handle, size)
                raw, fmt = _archive_root(archive), _ARCHIVE_FORMATS[archive.kind]
                if archive.script_class:
                    fmt += f" of {archive.script_class} (its code was not run)"
        except Refused as exc:
            if exc.global_name:
                raise UserError(
                    f"{path}: refused: it holds more than tensors, and loading it would build arbitrary "
                    f"objects or run code ({exc}); nothing in it was run"
                ) from None
            raise UserError(f"{path}: malformed: {exc}") from None
        except UserError as exc:
            raise UserError(f"{path}: {exc}") from None
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    container, state = _find_state_dict(raw, path)
    longest = max(state, key=len)
    if len(longest) > MAX_NAME:
        raise UserError(
            f"{path}: malformed: a tensor name of {len(longest):,} characters (a network's are under {MAX_NAME:,})"
        )
    layout = find_layout(state)
    if onnx_names:  # an exported graph's initializers have the exporter's names, not the modules'
        layout.name = "ONNX initializer"
        layout.original = {k: onnx_names[k] for k in layout.tensors if k in onnx_names} | layout.original
    return WeightsFile(
        str(path),
        fmt,
        container,
        layout.prefix,
        layout.tensors,
        layout.extra,
        size,
        archive,
        header_bytes,
        layout.name,
        layout.notes,
        layout.original,
    )


_ARCHIVE_FORMATS = {
    "zip": "PyTorch archive",
    "legacy": "PyTorch legacy file (before 1.6)",
    "torchscript": "TorchScript archive",
}


def _archive_root(archive: Archive) -> Any:
    """The object to find a state dict in: a TorchScript module's tensors by their dotted names."""
    if archive.kind != "torchscript" or not isinstance(archive.root, ScriptModule):
        return archive.root
    state: dict[str, Any] = {}

    def walk(module: ScriptModule, prefix: str, depth: int) -> None:
        if depth > 64:
            raise UserError("its modules are nested too deeply")
        for name, value in module.attributes().items():
            if isinstance(value, TensorRecord):
                state[prefix + name] = value
            elif isinstance(value, ScriptModule):
                walk(value, f"{prefix}{name}.", depth + 1)

    walk(archive.root, "", 0)
    return state


ONNX_WEIGHT_INPUTS = ("weight", "bias", "running_mean", "running_var")


def onnx_state(graph: OnnxGraph) -> tuple[dict[str, TensorInfo], str, dict[str, str]]:
    """An exported ONNX graph's weights under their modules' names (from the nodes' names), and the format
    in words. A convolution with a bias where the network's has none had a BatchNorm folded into it: the
    norm is a placeholder (its shapes follow from the convolution's)."""
    from .layouts import fold_placeholders

    state: dict[str, TensorInfo] = {}
    names: dict[str, str] = {}  # module name -> the initializer's
    folded = 0

    def tensor(name: str) -> TensorInfo | None:
        found = graph.initializers.get(name)
        if found is None:
            return None
        return TensorInfo(found.shape, found.dtype, math.prod(found.shape) * DTYPE_SIZES[found.dtype])

    for node in graph.nodes:
        path = module_path(node.name)
        weights = [tensor(name) for name in node.inputs[1:]]
        if not path or not weights or weights[0] is None:
            continue
        # A node's weight inputs in order (a BatchNormalization's: scale, bias, mean, variance).
        names.update({f"{path}.{part}": name for part, name in zip(ONNX_WEIGHT_INPUTS, node.inputs[1:])})
        if node.op_type == "Conv":
            state[f"{path}.weight"] = weights[0]
            if len(weights) > 1 and weights[1] is not None:
                folded += fold_placeholders(state, path, weights[0].shape[0])
        elif node.op_type == "Gemm" and len(weights) > 1 and weights[1] is not None:
            state[f"{path}.weight"], state[f"{path}.bias"] = weights[0], weights[1]
        elif node.op_type == "BatchNormalization" and len(weights) == 4:
            state.update(
                {f"{path}.{part}": info for part, info in zip(ONNX_WEIGHT_INPUTS, weights) if info is not None}
            )
    if not state:
        raise UserError("an ONNX model whose nodes are not named after PyTorch modules (no /conv1/Conv)")
    fmt = "ONNX model" + (f" from {graph.producer}" if graph.producer else "")
    if folded:
        fmt += f"; {folded} BatchNorm layers folded into the convolutions by the exporter"
    return state, fmt, {name: names[name] for name in state if name in names}


def _refuse(reason: str) -> UserError:
    return UserError(f"not a valid safetensors file ({reason})")


def safetensors_header(handle: Any, size: int) -> tuple[dict[str, TensorInfo], int]:
    """The tensors a safetensors file's header describes, and the header's length, after checking all of
    it: known dtypes, shapes of non-negative integers, byte lengths equal to shape x dtype size, and
    data offsets that tile the rest of the file exactly (in order, no gap, no overlap)."""
    head = handle.read(8)
    if len(head) < 8:
        raise UserError("truncated: no safetensors header")
    (length,) = struct.unpack("<Q", head)
    if length > size - 8:
        raise UserError(f"truncated or not a safetensors file (header of {length:,} bytes in a file of {size:,})")
    if length > MAX_HEADER_BYTES:
        raise _refuse(f"a header of {length:,} bytes; at most {MAX_HEADER_BYTES:,} are read")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise _refuse("a name appears twice in its header")
        return dict(pairs)

    try:
        header = json.loads(handle.read(length), object_pairs_hook=no_duplicates)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError("not a safetensors file (its header is not JSON)") from None
    except RecursionError:
        raise _refuse("its header is nested too deeply") from None
    if not isinstance(header, dict):
        raise UserError("not a safetensors file (its header is not a mapping)")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _refuse("its __metadata__ is not a mapping of names to text")
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        tensors[name] = _header_entry(name, entry)
    spans = sorted(info.source for info in tensors.values() if isinstance(info.source, tuple))
    end = 0
    for begin, stop in spans:
        if begin != end:
            raise _refuse(f"tensor data {'overlaps' if begin < end else 'leaves a gap'} at byte {min(begin, end):,}")
        end = stop
    if end != size - 8 - length:
        if end > size - 8 - length:
            raise UserError(f"truncated: the header describes {8 + length + end:,} bytes, the file has {size:,}")
        raise _refuse(f"the header describes {8 + length + end:,} bytes, the file has {size:,}")
    return tensors, length


def _header_entry(name: str, entry: Any) -> TensorInfo:
    quoted = repr(name[:60])
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _refuse(f"entry {quoted} is not dtype, shape and data_offsets")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if code not in SAFETENSORS_DTYPES:
        raise _refuse(f"entry {quoted} has an unknown dtype {str(code)[:20]!r}")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(_count(d) for d in shape):
        raise _refuse(f"entry {quoted} has a shape that is not a short list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_count(v) for v in offsets):
        raise _refuse(f"entry {quoted} has data_offsets that are not two non-negative integers")
    begin, stop = offsets
    dtype = SAFETENSORS_DTYPES[code]
    nbytes = math.prod(shape) * DTYPE_SIZES[dtype]
    if stop - begin != nbytes:
        raise _refuse(f"entry {quoted} has shape {shape} of {nbytes:,} bytes but {stop - begin:,} bytes of data")
    return TensorInfo(tuple(shape), dtype, nbytes, (begin, stop))


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**53


def _tensor_info(value: Any) -> TensorInfo | None:
    if isinstance(value, TensorInfo):
        return value
    if isinstance(value, TensorRecord):
        return TensorInfo(value.shape, value.dtype, value.bytes, value, value.quantized)
    return None


def _as_state(mapping: Any) -> dict[str, TensorInfo] | None:
    """``mapping`` as names -> tensors, when at least half of it is tensors with text names."""
    if not isinstance(mapping, dict) or not mapping:
        return None
    state = {k: info for k, v in mapping.items() if isinstance(k, str) and (info := _tensor_info(v)) is not None}
    # A tuple of tensors under one name (a quantized Linear's packed weight and bias): one name each.
    for key, value in mapping.items():
        if isinstance(key, str) and isinstance(value, tuple) and 0 < len(value) <= 4:
            parts = [_tensor_info(item) for item in value]
            state.update({f"{key}.{i}": info for i, info in enumerate(parts) if info is not None})
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
