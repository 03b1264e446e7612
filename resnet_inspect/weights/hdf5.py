"""HDF5 files read by their structures alone (Keras's .weights.h5 and .h5, the weights inside a .keras
archive): the superblock, object headers, old- and new-style groups, datasets and attributes that
h5py writes, nothing else. Every address, length and count is checked against the file before it is
followed; a dataset is described (shape, type, where its bytes lie), never read here.

No HDF5 library runs: a crafted file can only be refused."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_DEPTH = 32  # groups inside groups
MAX_OBJECTS = 200_000  # groups and datasets in one file (a ResNet-152 has about 1,000)
MAX_MESSAGES = 10_000  # header messages of one object
MAX_DIMS = 32
MAX_ATTRIBUTE_BYTES = 64 * 2**20
MAX_STRUCTURE = 64 * 2**20  # one header, heap or index read at once (a ResNet-152's are kilobytes)
FLOATS = {2: "float16", 4: "float32", 8: "float64"}
INTEGERS = {(1, True): "int8", (1, False): "uint8", (2, True): "int16", (4, True): "int32", (8, True): "int64"}


class HDF5Error(ValueError):
    """The file is not an HDF5 file this reader understands, or is malformed."""


@dataclass
class Dataset:
    shape: tuple[int, ...]
    dtype: str  # "float32", ...
    offset: int | None  # where its bytes begin in the file (contiguous); None: inline or empty
    nbytes: int
    inline: bytes = b""  # a compact dataset's bytes


@dataclass
class Group:
    children: dict[str, Group | Dataset] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str) -> Group | Dataset | None:
        node: Group | Dataset | None = self
        for part in filter(None, path.split("/")):
            node = node.children.get(part) if isinstance(node, Group) else None
        return node


class _Reader:
    def __init__(self, handle: BinaryIO, size: int, base: int = 0) -> None:
        self.handle, self.size, self.base = handle, size, base
        self.objects = 0
        self.offsets = self.lengths = 8

    def read(self, address: int, length: int) -> bytes:
        if length > MAX_STRUCTURE:  # values are never read here: only a crafted structure is this large
            raise HDF5Error(f"a structure of {length:,} bytes (more than {MAX_STRUCTURE:,})")
        if address < 0 or length < 0 or address + length > self.size:
            raise HDF5Error(f"a structure at {address:,} (+{length:,} bytes) lies past the end of the file")
        self.handle.seek(self.base + address)
        data = self.handle.read(length)
        if len(data) != length:
            raise HDF5Error("the file ended early")
        return data

    def unpack(self, data: bytes, at: int, width: int) -> int:
        if at + width > len(data):
            raise HDF5Error("a structure is cut short")
        return int.from_bytes(data[at : at + width], "little")

    # -- the superblock -----------------------------------------------------------------------
    def root(self) -> Group:
        head = self.read(0, min(self.size, 128))
        if not head.startswith(SIGNATURE):
            raise HDF5Error("not an HDF5 file (no HDF5 signature)")
        version = head[8]
        if version in (0, 1):
            self.offsets, self.lengths = head[13], head[14]
            self._check_sizes()
            at = 24 + (4 if version == 1 else 0)
            base = self.unpack(head, at, self.offsets)
            eof = self.unpack(head, at + 2 * self.offsets, self.offsets)
            entry = at + 4 * self.offsets
            header = self.unpack(head, entry + self.offsets, self.offsets)
        elif version in (2, 3):
            self.offsets, self.lengths = head[9], head[10]
            self._check_sizes()
            base = self.unpack(head, 12, self.offsets)
            eof = self.unpack(head, 12 + 2 * self.offsets, self.offsets)
            header = self.unpack(head, 12 + 3 * self.offsets, self.offsets)
        else:
            raise HDF5Error(f"HDF5 superblock version {version} is not supported")
        if base != 0:
            raise HDF5Error("an HDF5 file with a user block is not supported")
        if eof > self.size:
            raise HDF5Error(f"truncated: the file says it is {eof:,} bytes and holds {self.size:,}")
        root = self.object(header, depth=0, seen=set())
        if not isinstance(root, Group):
            raise HDF5Error("the root object is not a group")
        return root

    def _check_sizes(self) -> None:
        if self.offsets not in (4, 8) or self.lengths not in (4, 8):
            raise HDF5Error("unusual sizes of offsets and lengths")

    # -- objects ------------------------------------------------------------------------------
    def object(self, address: int, depth: int, seen: set[int]) -> Group | Dataset:
        if depth > MAX_DEPTH:
            raise HDF5Error(f"groups nested more than {MAX_DEPTH} deep")
        if address in seen:
            raise HDF5Error("a group contains itself")
        self.objects += 1
        if self.objects > MAX_OBJECTS:
            raise HDF5Error(f"more than {MAX_OBJECTS:,} objects")
        messages = self.messages(address)
        attributes = {}
        for kind, data in messages:
            if kind == 0x000C:
                name, value = self.attribute(data)
                attributes[name] = value
        kinds = {kind for kind, _ in messages}
        if 0x0008 in kinds:  # a data layout: a dataset
            return self.dataset(messages)
        group = Group(attributes=attributes)
        inner = seen | {address}
        for kind, data in messages:
            if kind == 0x0011:  # symbol table: an old-style group
                btree = self.unpack(data, 0, self.offsets)
                heap = self.unpack(data, self.offsets, self.offsets)
                names = self.local_heap(heap)
                for name, child in self.symbol_entries(btree, names, set()):
                    group.children[name] = self.object(child, depth + 1, inner)
            elif kind == 0x0006:  # a link: a new-style group stores them in its header
                name, target = self.link(data)
                if target is not None:
                    group.children[name] = self.object(target, depth + 1, inner)
            elif kind == 0x0002 and self.unpack(data, 2 + (8 if data[1] & 1 else 0), self.offsets) != _undefined(
                self.offsets
            ):
                raise HDF5Error(
                    "a group whose links are in a fractal heap (track_order or many links) is not supported"
                )
        return group

    def messages(self, address: int) -> list[tuple[int, bytes]]:
        prefix = self.read(address, 16)
        if prefix[:4] == b"OHDR":
            return self._messages_v2(address)
        if prefix[0] != 1:
            raise HDF5Error(f"object header version {prefix[0]} at {address:,} is not supported")
        size = self.unpack(prefix, 8, 4)
        blocks = [(address + 16, size)]
        found: list[tuple[int, bytes]] = []
        while blocks:
            start, length = blocks.pop(0)
            block = self.read(start, length)
            at = 0
            while at + 8 <= len(block):
                kind, data_size = self.unpack(block, at, 2), self.unpack(block, at + 2, 2)
                data = block[at + 8 : at + 8 + data_size]
                if len(data) != data_size:
                    raise HDF5Error("a header message runs past its block")
                at += 8 + data_size
                if kind == 0x0010:
                    blocks.append((self.unpack(data, 0, self.offsets), self.unpack(data, self.offsets, self.lengths)))
                elif kind:
                    found.append((kind, data))
                if len(found) > MAX_MESSAGES:
                    raise HDF5Error("too many header messages")
        return found

    def _messages_v2(self, address: int) -> list[tuple[int, bytes]]:
        head = self.read(address, 6 + 16 + 4 + 8)
        flags = head[5]
        at = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 3)
        size = self.unpack(head, at, width)
        blocks = [(address + at + width, size, False)]
        found: list[tuple[int, bytes]] = []
        while blocks:
            start, length, continued = blocks.pop(0)
            block = self.read(start, length)
            at = 4 if continued else 0  # a continuation block begins with "OCHK"
            if continued and block[:4] != b"OCHK":
                raise HDF5Error("a header continuation without its signature")
            end = len(block) - (4 if continued else 0)
            while at + 4 <= end:
                kind, data_size, message_flags = block[at], self.unpack(block, at + 1, 2), block[at + 3]
                at += 4 + (2 if flags & 0x04 else 0)
                data = block[at : at + data_size]
                if len(data) != data_size:
                    raise HDF5Error("a header message runs past its block")
                at += data_size
                if message_flags & 0x02:  # a shared message: not written by h5py for weights
                    raise HDF5Error("shared header messages are not supported")
                if kind == 0x10:
                    blocks.append(
                        (self.unpack(data, 0, self.offsets), self.unpack(data, self.offsets, self.lengths), True)
                    )
                elif kind:
                    found.append((kind, data))
                if len(found) > MAX_MESSAGES:
                    raise HDF5Error("too many header messages")
        return found

    # -- groups -------------------------------------------------------------------------------
    def local_heap(self, address: int) -> bytes:
        head = self.read(address, 8 + 2 * self.lengths + self.offsets)
        if head[:4] != b"HEAP":
            raise HDF5Error("a group's name heap without its signature")
        size = self.unpack(head, 8, self.lengths)
        data = self.unpack(head, 8 + 2 * self.lengths, self.offsets)
        return self.read(data, size)

    def symbol_entries(self, address: int, names: bytes, seen: set[int]) -> list[tuple[str, int]]:
        if address in seen or len(seen) > MAX_OBJECTS:
            raise HDF5Error("a group's index loops")
        seen.add(address)
        head = self.read(address, 8 + 2 * self.offsets)
        if head[:4] == b"SNOD":
            count = self.unpack(head, 6, 2)
            entry = 2 * self.offsets + 24
            body = self.read(address + 8, count * entry)
            entries = []
            for i in range(count):
                at = i * entry
                name = _heap_string(names, self.unpack(body, at, self.offsets))
                entries.append((name, self.unpack(body, at + self.offsets, self.offsets)))
            return entries
        if head[:4] != b"TREE" or head[4] != 0:
            raise HDF5Error("a group's index is not a group B-tree")
        used = self.unpack(head, 6, 2)
        body = self.read(address + 8 + 2 * self.offsets, (used + 1) * self.lengths + used * self.offsets)
        entries = []
        for i in range(used):
            child = self.unpack(body, (i + 1) * self.lengths + i * self.offsets, self.offsets)
            entries += self.symbol_entries(child, names, seen)
        return entries

    def link(self, data: bytes) -> tuple[str, int | None]:
        flags = data[1]
        at = 2
        kind = 0
        if flags & 0x08:
            kind = data[at]
            at += 1
        if flags & 0x04:
            at += 8
        if flags & 0x10:
            at += 1
        width = 1 << (flags & 3)
        length = self.unpack(data, at, width)
        at += width
        name = data[at : at + length].decode("utf-8", "replace")
        at += length
        return name, (self.unpack(data, at, self.offsets) if kind == 0 else None)  # soft/external links: not followed

    # -- datasets and attributes ----------------------------------------------------------------
    def dataset(self, messages: list[tuple[int, bytes]]) -> Dataset:
        by_kind = dict(messages)
        shape = self.dataspace(by_kind.get(0x0001, b""))
        dtype, itemsize = self.datatype(by_kind.get(0x0003, b""))
        if dtype is None:
            raise HDF5Error("a dataset of a type other than numbers")
        count = 1
        for d in shape:
            count *= d
        nbytes = count * itemsize
        layout = by_kind[0x0008]
        version = layout[0]
        if version not in (3, 4):
            raise HDF5Error(f"data layout version {version} is not supported")
        if layout[1] == 0:  # compact: the bytes are in the header
            size = self.unpack(layout, 2, 2)
            inline = layout[4 : 4 + size]
            if len(inline) != size or size != nbytes:
                raise HDF5Error("a compact dataset whose bytes do not match its shape")
            return Dataset(shape, dtype, None, nbytes, inline)
        if layout[1] != 1:
            raise HDF5Error("a chunked or virtual dataset (compressed?) is not supported")
        address = self.unpack(layout, 2, self.offsets)
        size = self.unpack(layout, 2 + self.offsets, self.lengths)
        if address == _undefined(self.offsets):
            if nbytes:
                raise HDF5Error("a dataset with no bytes written")
            return Dataset(shape, dtype, None, 0)
        if size != nbytes:
            raise HDF5Error(f"a dataset of {size:,} bytes where its shape and type need {nbytes:,}")
        if address + size > self.size:
            raise HDF5Error("a dataset's bytes lie past the end of the file")
        return Dataset(shape, dtype, address, nbytes)

    def dataspace(self, data: bytes) -> tuple[int, ...]:
        if not data:
            raise HDF5Error("a dataset without a dataspace")
        version, rank = data[0], data[1]
        if rank > MAX_DIMS:
            raise HDF5Error(f"a dataspace of {rank} dimensions")
        if version == 1:
            at = 8
        elif version == 2:
            if data[3] == 2:  # null
                return (0,)
            at = 4
        else:
            raise HDF5Error(f"dataspace version {version} is not supported")
        return tuple(self.unpack(data, at + i * self.lengths, self.lengths) for i in range(rank))

    def datatype(self, data: bytes) -> tuple[str | None, int]:
        """(numpy-like name, bytes per element); None for a string or another non-number."""
        if len(data) < 8:
            raise HDF5Error("a datatype cut short")
        kind, bits, size = data[0] & 0x0F, data[1], self.unpack(data, 4, 4)
        if kind in (0, 1) and bits & 0x01:
            raise HDF5Error("big-endian numbers are not supported")
        if kind == 1:
            return FLOATS.get(size) or _unsupported(f"{size}-byte floats"), size
        if kind == 0:
            return INTEGERS.get((size, bool(bits & 0x08))) or _unsupported(f"{size}-byte integers"), size
        return None, size

    def attribute(self, data: bytes) -> tuple[str, Any]:
        version = data[0]
        if version not in (1, 2, 3):
            raise HDF5Error(f"attribute version {version} is not supported")
        name_size, type_size, space_size = (self.unpack(data, 2 + 2 * i, 2) for i in range(3))
        at = 8 + (1 if version == 3 else 0)

        def take(size: int) -> bytes:
            nonlocal at
            piece = data[at : at + size]
            at += (size + 7) // 8 * 8 if version == 1 else size
            return piece

        name = take(name_size).rstrip(b"\0").decode("utf-8", "replace")
        datatype, dataspace = take(type_size), take(space_size)
        shape = self.dataspace(dataspace) if dataspace else ()
        count = 1
        for d in shape:
            count *= d
        body = data[at:]
        kind = datatype[0] & 0x0F
        size = self.unpack(datatype, 4, 4)
        if count * size > MAX_ATTRIBUTE_BYTES:
            raise HDF5Error("an attribute too large")
        if kind == 3:  # fixed-length strings
            values = [body[i * size : (i + 1) * size].rstrip(b"\0").decode("utf-8", "replace") for i in range(count)]
        elif kind == 9 and datatype[1] & 0x01:  # variable-length strings, in the global heap
            values = [self.heap_object(body[i * size : (i + 1) * size]) for i in range(count)]
        else:
            dtype, itemsize = self.datatype(datatype) if kind in (0, 1) else (None, size)
            if dtype is None:
                return name, None
            code = {"float16": "e", "float32": "f", "float64": "d", "int8": "b", "uint8": "B"}.get(dtype)
            code = code or {"int16": "h", "int32": "i", "int64": "q"}[dtype]
            values = list(struct.unpack(f"<{count}{code}", body[: count * itemsize]))
        return name, values[0] if shape == () and values else values

    def heap_object(self, reference: bytes) -> str:
        length = self.unpack(reference, 0, 4)
        collection = self.unpack(reference, 4, self.offsets)
        index = self.unpack(reference, 4 + self.offsets, 4)
        head = self.read(collection, 8 + self.lengths)
        if head[:4] != b"GCOL":
            raise HDF5Error("a global heap without its signature")
        size = self.unpack(head, 8, self.lengths)
        if size > MAX_ATTRIBUTE_BYTES:
            raise HDF5Error("a global heap too large")
        heap = self.read(collection, size)
        at = 8 + self.lengths
        while at + 8 + self.lengths <= len(heap):
            number = self.unpack(heap, at, 2)
            object_size = self.unpack(heap, at + 8, self.lengths)
            if number == 0:
                break
            if number == index:
                return heap[at + 8 + self.lengths : at + 8 + self.lengths + min(length, object_size)].decode(
                    "utf-8", "replace"
                )
            at += 8 + self.lengths + (object_size + 7) // 8 * 8
        raise HDF5Error("a string missing from its global heap")


def _undefined(width: int) -> int:
    return (1 << (8 * width)) - 1


def _unsupported(what: str) -> str:
    raise HDF5Error(f"{what} are not supported")


def _heap_string(heap: bytes, offset: int) -> str:
    if offset >= len(heap):
        raise HDF5Error("a name past the end of its heap")
    end = heap.find(b"\0", offset)
    return heap[offset : end if end >= 0 else len(heap)].decode("utf-8", "replace")


def read_hdf5(handle: BinaryIO, size: int, base: int = 0) -> Group:
    """The tree of groups, datasets (described) and attributes of the HDF5 file in ``handle``
    (``size`` bytes, starting at ``base``: a member stored in a zip archive)."""
    return _Reader(handle, size, base).root()
