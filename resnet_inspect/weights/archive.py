"""PyTorch's own files (``torch.save`` zip archives, the legacy pickle stream, TorchScript archives)
read by their records alone: nothing in them is run and no storage is allocated.

A restricted unpickler builds only plain data and `TensorInfo` records: the tensor rebuild functions of
``torch._utils`` become descriptions (shape, stride, offset, dtype and which storage), storages become
references to their records, and every other class is refused by name, except the handful of harmless
ones that checkpoints carry (``argparse.Namespace`` in timm's training checkpoints, NumPy scalars, the
classes of a TorchScript module, whose attributes are kept as a mapping). Every size a file claims is
checked against the bytes it holds before anything trusts it, so a small file cannot make the tool
allocate gigabytes. torch itself is not imported."""

from __future__ import annotations

import io
import math
import pickle
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..errors import UserError

MAX_PICKLE_BYTES = 16 * 2**20  # the pickle that names the tensors: a ResNet's is tens of kilobytes
MAX_DIMS = 8
LARGEST_ELEMENTS = 2**48

# torch's typed storage classes: dtype and element size.
STORAGE_DTYPES = {
    "FloatStorage": ("float32", 4),
    "DoubleStorage": ("float64", 8),
    "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2),
    "LongStorage": ("int64", 8),
    "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2),
    "CharStorage": ("int8", 1),
    "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1),
    "QInt8Storage": ("qint8", 1),
    "QUInt8Storage": ("quint8", 1),
    "QInt32Storage": ("qint32", 4),
    "ComplexFloatStorage": ("complex64", 8),
    "ComplexDoubleStorage": ("complex128", 16),
    "UntypedStorage": ("uint8", 1),
}
DTYPE_SIZES = {
    "float32": 4,
    "float": 4,
    "float64": 8,
    "double": 8,
    "float16": 2,
    "half": 2,
    "bfloat16": 2,
    "int64": 8,
    "long": 8,
    "int32": 4,
    "int": 4,
    "int16": 2,
    "short": 2,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
    "qint8": 1,
    "quint8": 1,
    "qint32": 4,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "complex64": 8,
    "complex128": 16,
}
CANONICAL_DTYPES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32"}
QSCHEMES = ("per_tensor_affine", "per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric")
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


@dataclass(frozen=True)
class Storage:
    """Where a tensor's bytes are: a record of the archive (or an offset in a legacy file)."""

    key: str
    dtype: str
    numel: int
    element_size: int


@dataclass(frozen=True)
class TensorRecord:
    """A tensor as the file describes it; its values stay in the file."""

    shape: tuple[int, ...]
    dtype: str
    stride: tuple[int, ...]
    offset: int
    storage: Storage
    quantized: bool = False

    @property
    def bytes(self) -> int:
        return math.prod(self.shape) * DTYPE_SIZES[self.dtype]


class Refused(Exception):
    """The file asks for something this reader does not build; the message says what, and
    ``global_name`` which class or function it asked for, when it asked for one."""

    def __init__(self, message: str, global_name: str | None = None) -> None:
        super().__init__(message)
        self.global_name = global_name


class _Token:
    """A named constant of torch (a dtype, a qscheme, a storage class) seen in a pickle."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class Record:
    """A harmless object (``argparse.Namespace``, a NumPy dtype) kept as its attributes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = kwargs or None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class ScriptModule(Record):
    """A module of a TorchScript archive: its class name and its attributes (submodules, tensors)."""

    qualified_name = ""

    def attributes(self) -> dict[str, Any]:
        return self.state if isinstance(self.state, dict) else {}


class StateDict(dict):
    """``collections.OrderedDict`` as a pickle builds it (its ``_metadata`` attribute included)."""


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) > MAX_DIMS:
        raise Refused(f"a tensor's {what} is not a short tuple of integers")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= LARGEST_ELEMENTS for v in value):
        raise Refused(f"a tensor's {what} {str(value)[:60]} is not made of non-negative integers")
    return tuple(value)


def _tensor(
    storage: Any, offset: Any, size: Any, stride: Any, dtype: str | None = None, quantized: bool = False
) -> TensorRecord:
    if not isinstance(storage, Storage):
        raise Refused("a tensor without a storage record")
    shape, strides = _ints(size, "shape"), _ints(stride, "stride")
    if len(strides) != len(shape) or not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise Refused("a tensor whose stride or offset does not match its shape")
    dtype = dtype or storage.dtype
    elements = math.prod(shape)
    if elements > LARGEST_ELEMENTS:
        raise Refused(f"a tensor of {elements:,} elements")
    # The last element the view reaches must lie inside the storage the file holds.
    if elements:
        reach = (offset + sum((n - 1) * s for n, s in zip(shape, strides)) + 1) * DTYPE_SIZES[dtype]
        if reach > storage.numel * storage.element_size:
            raise Refused(
                f"a tensor of shape {list(shape)} reaches byte {reach:,} of a storage of "
                f"{storage.numel * storage.element_size:,} bytes"
            )
    return TensorRecord(shape, dtype, strides, offset, storage, quantized)


def _rebuild_v2(storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any) -> TensorRecord:
    return _tensor(storage, offset, size, stride)


def _rebuild_v3(
    storage: Any, offset: Any, size: Any, stride: Any, _grad: Any, _hooks: Any, dtype: Any, *_: Any
) -> TensorRecord:
    if not isinstance(dtype, _Token) or dtype.kind != "dtype":
        raise Refused("a tensor with an unknown dtype")
    return _tensor(storage, offset, size, stride, dtype.name)


def _rebuild_qtensor(storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any) -> TensorRecord:
    return _tensor(storage, offset, size, stride, quantized=True)


def _rebuild_parameter(data: Any, *_rest: Any) -> Any:
    if not isinstance(data, TensorRecord):
        raise Refused("a parameter without a tensor")
    return data


def _rebuild_from_type(function: Any, _new_type: Any, args: Any, _state: Any) -> Any:
    if function not in (_rebuild_v2, _rebuild_v3, _rebuild_parameter) or not isinstance(args, tuple):
        raise Refused("a tensor subclass")
    return function(*args)


def _passthrough(value: Any, *_rest: Any) -> Any:
    return value


ALLOWED: dict[str, Any] = {
    "collections.OrderedDict": StateDict,
    "torch._utils._rebuild_tensor_v2": _rebuild_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_v3,
    "torch._utils._rebuild_qtensor": _rebuild_qtensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type,
    "torch.nn.parameter.Parameter": _rebuild_parameter,
    "torch.Tensor": _Token("class", "Tensor"),
    "torch.Size": tuple,
    "torch.device": str,
    "torch.jit._pickle.build_intlist": _passthrough,
    "torch.jit._pickle.build_doublelist": _passthrough,
    "torch.jit._pickle.build_boollist": _passthrough,
    "torch.jit._pickle.build_tensorlist": _passthrough,
    "torch.jit._pickle.build_tensor_from_id": _passthrough,
    "torch.jit._pickle.restore_type_tag": _passthrough,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "argparse.Namespace": Record,
    "numpy.dtype": Record,
    "numpy.core.multiarray.scalar": Record,
    "numpy._core.multiarray.scalar": Record,
    "_codecs.encode": lambda text, _encoding="latin1": str(text).encode("latin-1", "replace"),
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, stream: BinaryIO, storage: Callable[[tuple], Storage]) -> None:
        super().__init__(stream)
        self._storage = storage
        self.script_classes: list[str] = []

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full in ALLOWED:
            return ALLOWED[full]
        if module == "torch" and name in STORAGE_DTYPES:
            return _Token("storage", name)
        if module == "torch" and name in DTYPE_SIZES:
            return _Token("dtype", CANONICAL_DTYPES.get(name, name))
        if module == "torch" and name in QSCHEMES:
            return _Token("qscheme", name)
        if module.startswith("__torch__.") or module == "__torch__":
            # A TorchScript module's class: only its attributes are kept, none of its code is used.
            qualified = f"{module.removeprefix('__torch__.')}.{name}"
            self.script_classes.append(qualified)
            return type(name, (ScriptModule,), {"qualified_name": qualified})
        raise Refused(f"it asks for {full}", global_name=full)

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] not in ("storage", b"storage"):
            raise Refused("an object reference other than a storage")
        return self._storage(pid)


def _storage_from(pid: tuple, sizes: dict[str, int]) -> Storage:
    """A storage reference checked against the bytes the file holds for it (``sizes``: key -> bytes)."""
    if len(pid) not in (5, 6) or not isinstance(pid[1], _Token) or pid[1].kind != "storage":
        raise Refused("a malformed storage reference")
    key, numel = pid[2], pid[4]
    key = key.decode("ascii", "replace") if isinstance(key, bytes) else key
    if not isinstance(key, str) or not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
        raise Refused("a malformed storage reference")
    dtype, size = STORAGE_DTYPES[pid[1].name]
    if key not in sizes:
        raise Refused(f"storage {key[:40]!r} is named but not in the file")
    if numel * size != sizes[key]:
        raise Refused(f"storage {key[:40]!r} claims {numel * size:,} bytes; the file holds {sizes[key]:,}")
    return Storage(key, dtype, numel, size)


@dataclass
class Archive:
    """What a PyTorch file holds: its top-level object (tensors as `TensorRecord`) and its kind."""

    root: Any
    kind: str  # "zip", "legacy" or "torchscript"
    script_class: str | None = None  # the TorchScript module's class (torchvision.models.resnet.ResNet)
    record_offsets: dict[str, int] | None = None  # legacy files: where each storage's bytes start

    def storage_bytes(self, handle: BinaryIO, storage: Storage, prefix: str = "") -> bytes:
        """The bytes of one storage (the caller bounds the total it asks for)."""
        nbytes = storage.numel * storage.element_size
        if self.record_offsets is not None:
            handle.seek(self.record_offsets[storage.key])
            return handle.read(nbytes)
        handle.seek(0)
        with zipfile.ZipFile(handle) as archive:
            return archive.read(f"{prefix}data/{storage.key}")


def read_archive(handle: BinaryIO, size: int) -> Archive:
    """The top-level object of a torch file; `Refused` names what it would not build, `UserError` what is
    malformed."""
    handle.seek(0)
    if zipfile.is_zipfile(handle):
        handle.seek(0)
        return _read_zip(handle, size)
    handle.seek(0)
    return _read_legacy(handle, size)


def zip_prefix(archive: zipfile.ZipFile) -> str:
    """The one folder every record of a torch archive sits in (``archive/``, ``resnet50/``)."""
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise UserError("a zip file, but not a PyTorch archive (no single data.pkl)")
    return pickles[0][: -len("data.pkl")]


def _read_zip(handle: BinaryIO, size: int) -> Archive:
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UserError(f"a damaged zip archive ({exc})") from None
    with archive:
        prefix = zip_prefix(archive)
        sizes: dict[str, int] = {}
        total = 0
        for info in archive.infolist():
            if not info.filename.startswith(prefix + "data/"):
                continue
            if info.compress_type != zipfile.ZIP_STORED:
                raise UserError(f"record {info.filename[:60]!r} is compressed; PyTorch stores tensors uncompressed")
            total += info.file_size
            sizes[info.filename[len(prefix) + len("data/") :]] = info.file_size
        if total > size:
            raise UserError(f"its records claim {total:,} bytes in a file of {size:,}")
        pickled = archive.getinfo(prefix + "data.pkl")
        if pickled.file_size > MAX_PICKLE_BYTES:
            raise UserError(f"its data.pkl has {pickled.file_size:,} bytes (at most {MAX_PICKLE_BYTES:,} are read)")
        with archive.open(pickled) as stream:
            data = stream.read(MAX_PICKLE_BYTES + 1)
        if len(data) > MAX_PICKLE_BYTES:
            raise UserError(f"its data.pkl expands beyond {MAX_PICKLE_BYTES:,} bytes")
        is_script = any(name.startswith(prefix + "code/") for name in archive.namelist())
    unpickler = _Unpickler(io.BytesIO(data), lambda pid: _storage_from(pid, sizes))
    root = _load(unpickler)
    if is_script:
        return Archive(root, "torchscript", unpickler.script_classes[0] if unpickler.script_classes else None)
    return Archive(root, "zip")


def _load(unpickler: _Unpickler) -> Any:
    try:
        return unpickler.load()
    except (Refused, UserError):
        raise
    except RecursionError:
        raise UserError("its pickle is nested too deeply") from None
    except Exception as exc:  # a malformed pickle: truncated, wrong opcodes, wrong arguments
        raise UserError(f"a malformed pickle ({type(exc).__name__}: {str(exc)[:100]})") from None


def _read_legacy(handle: BinaryIO, size: int) -> Archive:
    """The format of torch before 1.6 (still written with ``_use_new_zipfile_serialization=False``):
    three small pickles (magic number, protocol, system), the main one, the list of storage keys, then
    each storage's bytes in turn, after its element count."""
    stream = io.BytesIO(handle.read(MAX_PICKLE_BYTES + 1))
    claimed: dict[str, Storage] = {}

    def storage(pid: tuple) -> Storage:
        if len(pid) != 6 or not isinstance(pid[1], _Token) or pid[1].kind != "storage":
            raise Refused("a malformed storage reference")
        key, numel = str(pid[2]), pid[4]
        if not isinstance(numel, int) or isinstance(numel, bool) or not 0 <= numel <= LARGEST_ELEMENTS:
            raise Refused("a malformed storage reference")
        if pid[5] is not None:
            raise Refused("a storage view (written by torch before 1.0)")
        dtype, element = STORAGE_DTYPES[pid[1].name]
        claimed[key] = Storage(key, dtype, numel, element)
        return claimed[key]

    try:
        magic = _Unpickler(stream, storage).load()
        protocol = _Unpickler(stream, storage).load() if magic == LEGACY_MAGIC else None
    except Exception:
        magic = protocol = None
    if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL:
        raise UserError(
            "not a readable PyTorch weights file (neither a zip archive nor a pickle written by torch.save)"
        )
    _load(_Unpickler(stream, storage))  # the system it was saved on
    root = _load(_Unpickler(stream, storage))
    keys = _load(_Unpickler(stream, storage))
    if not isinstance(keys, list) or set(map(str, keys)) != set(claimed):
        raise UserError("its list of storages does not match the storages its tensors name")
    # Each storage: its element count (8 bytes), then its bytes; all of them must be in the file.
    offsets: dict[str, int] = {}
    position = stream.tell()
    for key in map(str, keys):
        handle.seek(position)
        head = handle.read(8)
        if len(head) < 8 or struct.unpack("<q", head)[0] != claimed[key].numel:
            raise UserError(f"truncated or corrupt: storage {key[:40]!r} is not where its count says")
        offsets[key] = position + 8
        position += 8 + claimed[key].numel * claimed[key].element_size
        if position > size:
            raise UserError(f"truncated: its storages claim {position:,} bytes in a file of {size:,}")
    return Archive(root, "legacy", record_offsets=offsets)
