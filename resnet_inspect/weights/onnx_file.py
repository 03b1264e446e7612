"""An ONNX model read by its protobuf records: the graph's nodes and the names, shapes and types of its
initializers, without the onnx package and without reading any tensor's data (each raw_data field is
skipped by its length, which is checked against the file and against the tensor's shape).

A model exported from PyTorch names each node after its module (``/layer1/layer1.0/conv1/Conv``), so
the convolution and Gemm weights get their module's names back (``layer1.0.conv1.weight``). The exporter
folds each BatchNorm into the convolution before it (the convolution gains a bias): such a network is
named from its convolutions' and classifier's shapes, with its norms as placeholders."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import UserError

# ONNX TensorProto.DataType -> (name, bytes per element)
DATA_TYPES = {
    1: ("float32", 4),
    2: ("uint8", 1),
    3: ("int8", 1),
    5: ("int16", 2),
    6: ("int32", 4),
    7: ("int64", 8),
    9: ("bool", 1),
    10: ("float16", 2),
    11: ("float64", 8),
    16: ("bfloat16", 2),
}
MAX_NODE_BYTES = 1_000_000  # one node with its attributes
MAX_NODES = 100_000
MAX_DIMS = 8
MAX_FIELDS = 2_000_000  # records in one message: a ResNet's graph has a few thousand


@dataclass
class Initializer:
    name: str
    shape: tuple[int, ...]
    dtype: str
    external: bool = False


@dataclass
class Node:
    name: str
    op_type: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass
class OnnxGraph:
    nodes: list[Node]
    initializers: dict[str, Initializer]
    producer: str


class _Reader:
    """Protobuf wire format over a byte range of a file, read field by field."""

    def __init__(self, handle: BinaryIO, start: int, end: int) -> None:
        self.handle, self.position, self.end = handle, start, end

    def varint(self) -> int:
        value = shift = 0
        while True:
            if self.position >= self.end or shift > 63:
                raise UserError("a malformed ONNX file (a number runs past its record)")
            self.handle.seek(self.position)
            byte = self.handle.read(1)
            if not byte:
                raise UserError("a truncated ONNX file")
            self.position += 1
            value |= (byte[0] & 0x7F) << shift
            if not byte[0] & 0x80:
                return value
            shift += 7

    def fields(self):  # type: ignore[no-untyped-def]
        """(field number, wire type, value): an int for varints, (start, length) for length-delimited."""
        count = 0
        while self.position < self.end:
            count += 1
            if count > MAX_FIELDS:
                raise UserError(f"an ONNX message of more than {MAX_FIELDS:,} records")
            key = self.varint()
            number, wire = key >> 3, key & 7
            if wire == 0:
                yield number, wire, self.varint()
            elif wire == 2:
                length = self.varint()
                if self.position + length > self.end:
                    raise UserError("a malformed ONNX file (a record runs past its end)")
                yield number, wire, (self.position, length)
                self.position += length
            elif wire in (1, 5):
                self.position += 8 if wire == 1 else 4
                yield number, wire, None
            else:
                raise UserError(f"a malformed ONNX file (wire type {wire})")

    def bytes_at(self, span: tuple[int, int], limit: int) -> bytes:
        start, length = span
        if length > limit:
            raise UserError(f"an ONNX record of {length:,} bytes where at most {limit:,} are expected")
        self.handle.seek(start)
        return self.handle.read(length)


def read_onnx(handle: BinaryIO, size: int) -> OnnxGraph:
    model = _Reader(handle, 0, size)
    graph_span, producer = None, ""
    for number, wire, value in model.fields():
        if number == 7 and wire == 2:
            graph_span = value
        elif number == 2 and wire == 2:
            producer = model.bytes_at(value, 1000).decode("utf-8", "replace")
    if graph_span is None:
        raise UserError("not an ONNX model (no graph)")
    nodes: list[Node] = []
    initializers: dict[str, Initializer] = {}
    graph = _Reader(handle, graph_span[0], graph_span[0] + graph_span[1])
    for number, wire, value in graph.fields():
        if wire != 2:
            continue
        if number == 1:
            if len(nodes) >= MAX_NODES:
                raise UserError(f"an ONNX graph of more than {MAX_NODES:,} nodes")
            nodes.append(_node(handle, value))
        elif number == 5:
            tensor = _initializer(handle, value)
            initializers[tensor.name] = tensor
    # The exporter writes an initializer once and gives its copies to an Identity node each (tensors of
    # equal values, such as zero biases): the copies are the initializer.
    for node in nodes:
        if node.op_type == "Identity" and len(node.inputs) == 1 and node.inputs[0] in initializers:
            for output in node.outputs:
                initializers.setdefault(output, initializers[node.inputs[0]])
    return OnnxGraph(nodes, initializers, producer)


def _text(reader: _Reader, span: tuple[int, int]) -> str:
    return reader.bytes_at(span, 10_000).decode("utf-8", "replace")


def _node(handle: BinaryIO, span: tuple[int, int]) -> Node:
    if span[1] > MAX_NODE_BYTES:
        raise UserError(f"an ONNX node of {span[1]:,} bytes")
    reader = _Reader(handle, span[0], span[0] + span[1])
    node = Node("", "")
    for number, wire, value in reader.fields():
        if wire != 2:
            continue
        if number == 1:
            node.inputs.append(_text(reader, value))
        elif number == 2:
            node.outputs.append(_text(reader, value))
        elif number == 3:
            node.name = _text(reader, value)
        elif number == 4:
            node.op_type = _text(reader, value)
    return node


def _initializer(handle: BinaryIO, span: tuple[int, int]) -> Initializer:
    reader = _Reader(handle, span[0], span[0] + span[1])
    dims: list[int] = []
    name, data_type, raw, external, typed = "", 1, None, False, 0
    for number, wire, value in reader.fields():
        if number == 1 and wire == 0:
            dims.append(value)
        elif number == 1 and wire == 2:  # packed dims
            packed = _Reader(handle, value[0], value[0] + value[1])
            while packed.position < packed.end:
                dims.append(packed.varint())
        elif number == 2 and wire == 0:
            data_type = value
        elif number == 8 and wire == 2:
            name = _text(reader, value)
        elif number == 9 and wire == 2:
            raw = value[1]
        elif number in (4, 5, 6, 7, 10, 11, 12) and wire == 2:
            typed += value[1]
        elif number == 14 and wire == 0:
            external = value == 1
    if data_type not in DATA_TYPES:
        raise UserError(f"ONNX initializer {name[:60]!r} has an unknown data type {data_type}")
    if len(dims) > MAX_DIMS or any(d >= 2**48 for d in dims):
        raise UserError(f"ONNX initializer {name[:60]!r} has an impossible shape")
    dtype, element = DATA_TYPES[data_type]
    if raw is not None and raw != math.prod(dims) * element:
        raise UserError(
            f"ONNX initializer {name[:60]!r} of shape {dims} holds {raw:,} bytes, not {math.prod(dims) * element:,}"
        )
    return Initializer(name, tuple(dims), dtype, external)


def module_path(node_name: str) -> str:
    """``/layer2/layer2.0/downsample/downsample.0/Conv`` -> ``layer2.0.downsample.0`` (the exporter
    names each scope by its module's name, relative or, for a Sequential's child, with its parent's)."""
    parts = [p for p in node_name.split("/")[:-1] if p]
    path: list[str] = []
    for part in parts:
        if path and part.startswith(path[-1] + "."):
            path[-1] = part
        elif path and part.startswith(".".join(path) + "."):
            path = [part]
        else:
            path.append(part)
    return ".".join(path)
