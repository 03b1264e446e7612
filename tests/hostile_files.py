"""Crafted files for the hostile-input tests, written byte by byte (no torch, no safetensors library), so
that each says exactly what an attacker would make it say."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _int(value: int) -> bytes:
    if 0 <= value < 2**31:
        return b"J" + struct.pack("<i", value)  # BININT
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data  # LONG1


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def tensor_pickle(
    tensors: dict[str, tuple[str, int, list[int]]], legacy: bool = False, extra_global: str = ""
) -> bytes:
    """A state dict pickled as torch.save writes it: ``name -> (storage key, storage numel, shape)``,
    float32, contiguous. ``extra_global`` adds an entry that asks for that class."""
    body = b"\x80\x02" + _global("collections", "OrderedDict") + b")R("
    for name, (key, numel, shape) in tensors.items():
        stride, step = [], 1
        for dim in reversed(shape):
            stride.insert(0, step)
            step *= dim
        pid = [_text("storage"), _global("torch", "FloatStorage"), _text(key), _text("cpu"), _int(numel)]
        if legacy:
            pid.append(b"N")
        body += _text(name) + _global("torch._utils", "_rebuild_tensor_v2")
        body += _tuple(
            [
                _tuple(pid) + b"Q",
                _int(0),
                _tuple([_int(d) for d in shape]),
                _tuple([_int(s) for s in stride]),
                b"\x89",
                _global("collections", "OrderedDict") + b")R",
            ]
        )
        body += b"R"
    if extra_global:
        module, name = extra_global.rsplit(".", 1)
        body += _text("payload") + _global(module, name) + _tuple([_text("echo hi")]) + b"R"
    return body + b"u."


def torch_zip(path: Path, tensors: dict[str, tuple[str, int, list[int]]], records: dict[str, bytes], **kw) -> Path:
    """A torch.save zip archive; ``compressed`` deflates the records (torch stores them)."""
    compressed = kw.pop("compressed", False)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", tensor_pickle(tensors, **kw))
        archive.writestr("archive/version", "3\n")
        for key, data in records.items():
            archive.writestr(f"archive/data/{key}", data, zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED)
    return path


def torch_legacy(path: Path, tensors: dict[str, tuple[str, int, list[int]]], records: dict[str, bytes]) -> Path:
    """The format of torch before 1.6: magic, protocol, system info, the state dict, keys, storages."""
    out = b"\x80\x02" + _int(LEGACY_MAGIC) + b"."
    out += b"\x80\x02" + _int(1001) + b"."
    out += b"\x80\x02}."
    out += tensor_pickle(tensors, legacy=True)
    out += b"\x80\x02(" + b"".join(_text(key) for key in records) + b"l."
    for key, data in records.items():
        numel = tensors[next(n for n, t in tensors.items() if t[0] == key)][1]
        out += struct.pack("<q", numel) + data
    path.write_bytes(out)
    return path


def safetensors(path: Path, header: dict | str, data: bytes = b"") -> Path:
    """A safetensors file with exactly this header (a mapping, or raw JSON text) and data."""
    text = header if isinstance(header, str) else json.dumps(header)
    raw = text.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def resnet18_header(names_and_shapes: dict[str, tuple[int, ...]]) -> tuple[dict, int]:
    """A valid float32 header for these tensors, and the bytes of data it needs."""
    header, offset = {}, 0
    for name, shape in names_and_shapes.items():
        size = 4
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    return header, offset


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def onnx_model(path: Path, initializer: bytes, node: bytes = b"") -> Path:
    """An ONNX ModelProto with one graph holding ``node`` and ``initializer`` (both encoded TensorProto /
    NodeProto bytes)."""
    graph = (_field(1, node) if node else b"") + _field(5, initializer)
    path.write_bytes(_field(2, b"pytorch") + _field(7, graph))
    return path


def onnx_tensor(name: str, dims: list[int], raw_length: int, data_type: int = 1) -> bytes:
    """A TensorProto that says ``dims`` and holds ``raw_length`` bytes of raw data."""
    out = b"".join(_varint(1 << 3) + _varint(d) for d in dims) + _varint(2 << 3) + _varint(data_type)
    return out + _field(8, name.encode()) + _field(9, b"\0" * raw_length)


def onnx_conv(name: str, weight: str) -> bytes:
    return _field(1, b"x") + _field(1, weight.encode()) + _field(3, name.encode()) + _field(4, b"Conv")
