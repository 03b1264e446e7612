"""Keras ResNets from their weights files: Keras 3's ``.weights.h5`` (alone, or inside a ``.keras``
archive) and the legacy ``.h5`` of ``model.save`` / ``save_weights``. The layers of keras.applications'
ResNet50/101/152 (``conv1_conv``, ``conv2_block1_1_conv``, ..., ``predictions``) are put under
torchvision's names with PyTorch's layouts: a kernel (H, W, in, out) becomes (out, in, H, W), a Dense
kernel (in, out) becomes (out, in). Keras's convolutions carry biases that PyTorch's ResNets do not;
each is followed by a BatchNorm, which subtracts its mean, so the bias folds into that norm's running
mean exactly (`folded_state` does it when converting)."""

from __future__ import annotations

import json
import math
import re
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..errors import UserError
from .hdf5 import Dataset, Group, HDF5Error, read_hdf5

SUFFIXES = (".keras", ".h5", ".hdf5")
WEIGHTS_MEMBER = "model.weights.h5"
MAX_CONFIG_BYTES = 16 * 2**20
KERAS_EPSILON = 1.001e-5  # keras.applications' ResNets; Keras's own default is 1e-3
TORCH_EPSILON = 1e-5
CONV = re.compile(r"conv(\d)_block(\d+)_([0-3])_(conv|bn)$")
NORM_PARTS = ("weight", "bias", "running_mean", "running_var")  # gamma, beta, moving mean, moving variance
SHORTCUT = {"conv": "downsample.0", "bn": "downsample.1"}
NOT_RESNET_V1 = (
    "a Keras model whose convolutions and norms are not in the order of keras.applications' ResNet50/101/152 "
    "(a ResNetV2, pre-activation, or another network: not read)"
)


@dataclass(frozen=True)
class KerasRecord:
    """Where a Keras tensor's values lie: ``nbytes`` from ``offset`` in the file (or in the .keras
    archive's weights member, ``member``), stored as ``stored`` and turned by ``order`` into PyTorch's."""

    offset: int
    nbytes: int
    stored: tuple[int, ...]
    order: tuple[int, ...] | None = None
    member: str | None = None
    inline: bytes = b""


@dataclass
class KerasState:
    tensors: dict[str, Any]  # network name -> TensorInfo
    biases: dict[str, Any]  # convolution biases, by the name the convolution's bias would have
    original: dict[str, str]  # network name -> the Keras weight's path
    format: str
    notes: list[str]
    epsilon: float | None  # the BatchNorm epsilon the file's config gives; None when it has none


def is_keras_name(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def keras_state(handle: BinaryIO, size: int, filename: str) -> KerasState:
    """The tensors of a Keras file (described, not read) under a PyTorch ResNet's names."""
    from .read import TensorInfo

    config: dict[str, Any] | None = None
    member = None
    try:
        if filename.lower().endswith(".keras"):
            base, length, member, config = _archive(handle)
            root = read_hdf5(handle, length, base)
            fmt = "Keras 3 archive (.keras)"
        else:
            root = read_hdf5(handle, size)
            base = 0
            fmt = "Keras HDF5 weights"
    except HDF5Error as exc:
        raise UserError(f"malformed: {exc}") from None
    layers, legacy = _layers(root)
    if legacy:
        fmt += " (legacy h5 layout of Keras 2 and model.save('.h5'))"
        config = config or _legacy_config(root)
        if any(name.endswith(("preact_bn", "post_bn")) for name in layers):
            raise UserError(
                "a Keras ResNetV2 (pre-activation): its layout is not read; keras.applications ResNet50/101/152 are"
            )
        modules = [(*named, variables) for name, variables in layers.items() if (named := _torch_name(name, variables))]
    else:
        modules = _in_order(layers)
    tensors: dict[str, Any] = {}
    biases: dict[str, Any] = {}
    original: dict[str, str] = {}

    def put(target: dict[str, Any], name: str, dataset: Dataset, path: str, order: tuple[int, ...] | None) -> None:
        shape = tuple(dataset.shape[i] for i in order) if order else dataset.shape
        if order and len(order) != len(dataset.shape):
            raise UserError(f"malformed: {path} has {len(dataset.shape)} dimensions where {len(order)} belong")
        record = KerasRecord(
            base + dataset.offset if dataset.offset is not None else 0,
            dataset.nbytes,
            dataset.shape,
            order,
            member,
            dataset.inline,
        )
        target[name] = TensorInfo(shape, dataset.dtype, dataset.nbytes, record)
        original[name] = path

    for module, kind, variables in modules:
        paths = [path for path, _ in variables]
        values = [dataset for _, dataset in variables]
        if kind == "conv":
            put(tensors, f"{module}.weight", values[0], paths[0], (3, 2, 0, 1))
            if len(values) > 1:
                put(biases, f"{module}.bias", values[1], paths[1], None)
        elif kind == "bn":
            for part, dataset, path in zip(NORM_PARTS, values, paths):
                put(tensors, f"{module}.{part}", dataset, path, None)
            tensors[f"{module}.num_batches_tracked"] = TensorInfo((), "int64", 0, placeholder=True)
        else:
            put(tensors, f"{module}.weight", values[0], paths[0], (1, 0))
            if len(values) > 1:
                put(tensors, f"{module}.bias", values[1], paths[1], None)
    if not tensors:
        raise UserError(
            "a Keras model whose layers do not have keras.applications' ResNet names (conv1_conv, "
            "conv2_block1_1_conv, ..., predictions)"
        )
    epsilon = _epsilon(config)
    notes = [
        "Keras layers under torchvision's names (conv2_block1_1_conv -> layer1.0.conv1), kernels turned from "
        "(H, W, in, out) to (out, in, H, W)",
        "Keras's ResNet strides in the first 1x1 convolution of a bottleneck (ResNet v1)",
    ]
    if biases:
        notes.append(
            f"its {len(biases)} convolutions carry biases (Keras's default) that PyTorch's ResNets do not: each "
            "is followed by a BatchNorm, so convert folds it into that norm's running mean (exact)"
        )
    notes.append(
        f"BatchNorm epsilon {epsilon:g} (from the model's config)"
        if epsilon is not None
        else f"no config in the file: BatchNorm epsilon taken as keras.applications' {KERAS_EPSILON:g}"
    )
    return KerasState(tensors, biases, original, fmt, notes, epsilon)


def _archive(handle: BinaryIO) -> tuple[int, int, str, dict[str, Any] | None]:
    """Where the weights member of a .keras archive lies (stored, not compressed), and its config."""
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile as exc:
        raise UserError(f"malformed: a .keras file that is not a zip archive ({exc})") from None
    with archive:
        try:
            info = archive.getinfo(WEIGHTS_MEMBER)
        except KeyError:
            raise UserError(f"a .keras archive without {WEIGHTS_MEMBER}") from None
        if info.compress_type != zipfile.ZIP_STORED:
            raise UserError(f"a .keras archive whose {WEIGHTS_MEMBER} is compressed (Keras stores it as it is)")
        config = None
        if "config.json" in archive.namelist():
            config_info = archive.getinfo("config.json")
            if config_info.file_size > MAX_CONFIG_BYTES:
                raise UserError(f"a .keras archive whose config.json is over {MAX_CONFIG_BYTES:,} bytes")
            try:
                config = json.loads(archive.read("config.json"))
            except ValueError:
                config = None
        handle.seek(info.header_offset)
        local = handle.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise UserError("malformed: a .keras archive whose member headers are damaged")
        name_length, extra_length = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
        return info.header_offset + 30 + name_length + extra_length, info.file_size, WEIGHTS_MEMBER, config


def _layers(root: Group) -> tuple[dict[str, list[tuple[str, Dataset]]], bool]:
    """Each layer's variables in order, by the layer's name; whether the file has the legacy layout."""
    holder = root.get("model_weights") if isinstance(root.get("model_weights"), Group) else root
    names = holder.attributes.get("layer_names") if isinstance(holder, Group) else None
    layers: dict[str, list[tuple[str, Dataset]]] = {}
    if isinstance(names, list) and isinstance(holder, Group):  # Keras 2 and model.save(".h5")
        for name in names:
            group = holder.get(str(name))
            if not isinstance(group, Group):
                continue
            weight_names = group.attributes.get("weight_names") or []
            found = [(f"{name}/{w}", group.get(str(w))) for w in weight_names]
            layers[str(name)] = [(path, d) for path, d in found if isinstance(d, Dataset)]
        return layers, True

    def visit(group: Group, depth: int) -> None:  # Keras 3: layers/<name>/vars/0, 1, ...
        for name, child in group.children.items():
            if not isinstance(child, Group) or depth > 8:
                continue
            variables = child.get("vars")
            if isinstance(variables, Group) and variables.children:
                ordered = sorted(variables.children.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0)
                layers[name] = [(f"layers/{name}/vars/{k}", d) for k, d in ordered if isinstance(d, Dataset)]
            inner = child.get("layers")
            if isinstance(inner, Group):
                visit(inner, depth + 1)

    top = root.get("layers")
    if isinstance(top, Group):
        visit(top, 0)
    return layers, False


def _in_order(layers: dict[str, list[tuple[str, Dataset]]]) -> list[tuple[str, str, list[tuple[str, Dataset]]]]:
    """Keras 3 names a layer's weights by its class and its rank among that class (conv2d, conv2d_1, ...,
    batch_normalization_52, dense), in the model's order. keras.applications builds a bottleneck as
    1x1, 3x3, then the shortcut's 1x1 (first block of a stage) and the last 1x1, norms in the same order;
    a block has a shortcut when three 1x1 convolutions come before the next 3x3 (two at the end)."""

    def ranked(kind: str) -> list[tuple[str, list[tuple[str, Dataset]]]]:
        found = [(name, v) for name, v in layers.items() if re.fullmatch(rf"{kind}(_\d+)?", name) and v]
        return sorted(found, key=lambda item: int(item[0].rsplit("_", 1)[1]) if item[0][-1].isdigit() else 0)

    convs, norms, dense = ranked("conv2d"), ranked("batch_normalization"), ranked("dense")
    if not convs:
        return []
    kernels = [v[0][1].shape[:2] for _, v in convs]
    names = ["conv1"]
    stage_of = {}  # the stage a block belongs to: a new one at each stride (a shortcut block)
    i, stage, block = 1, 0, 0
    while i + 1 < len(convs):
        if kernels[i] != (1, 1) or kernels[i + 1] != (3, 3):
            raise UserError(NOT_RESNET_V1)
        following = next((j for j in range(i + 2, len(convs)) if kernels[j] == (3, 3)), len(convs) + 1)
        shortcut = following - 1 - (i + 2) == 2
        if shortcut:
            stage, block = stage + 1, 0
        prefix = f"layer{stage}.{block}"
        stage_of[prefix] = stage
        names += (
            [f"{prefix}.conv1", f"{prefix}.conv2"]
            + ([f"{prefix}.downsample.0"] if shortcut else [])
            + [f"{prefix}.conv3"]
        )
        i += 4 if shortcut else 3
        block += 1
    if len(names) != len(convs) or len(norms) != len(convs):
        raise UserError(NOT_RESNET_V1)
    modules = [(name, "conv", v) for name, (_, v) in zip(names, convs)]
    modules += [(_norm_after(name) or name, "bn", v) for name, (_, v) in zip(names, norms)]
    modules += [("fc", "dense", v) for _, v in dense[-1:]]
    return modules


def _torch_name(layer: str, variables: list[tuple[str, Dataset]]) -> tuple[str, str] | None:
    """(module, "conv" | "bn" | "dense") for a keras.applications ResNet layer; None for others."""
    if not variables:
        return None
    if layer in ("conv1_conv", "conv1_bn"):
        return ("conv1", "conv") if layer.endswith("conv") else ("bn1", "bn")
    match = CONV.match(layer)
    if match:
        stage, block, index, kind = match.groups()
        prefix = f"layer{int(stage) - 1}.{int(block) - 1}"
        if index == "0":
            return f"{prefix}.{SHORTCUT[kind]}", kind
        return f"{prefix}.{kind}{index}", kind
    if len(variables[0][1].shape) == 2 and layer in ("predictions", "probs", "fc", "dense"):
        return "fc", "dense"
    return None


def _legacy_config(root: Group) -> dict[str, Any] | None:
    text = root.attributes.get("model_config")
    if isinstance(text, str) and len(text) <= MAX_CONFIG_BYTES:
        try:
            return json.loads(text)
        except ValueError:
            return None
    return None


def _epsilon(config: dict[str, Any] | None) -> float | None:
    """The BatchNorm epsilon of a Keras model config (every norm of a keras.applications ResNet shares one)."""
    found: list[float] = []

    def walk(node: Any, depth: int) -> None:
        if depth > 64 or len(found) > 1:
            return
        if isinstance(node, dict):
            if node.get("class_name") == "BatchNormalization" and isinstance(node.get("config"), dict):
                value = node["config"].get("epsilon")
                if isinstance(value, (int, float)) and math.isfinite(value):
                    found.append(float(value))
            for value in node.values():
                walk(value, depth + 1)
        elif isinstance(node, list):
            for value in node:
                walk(value, depth + 1)

    walk(config, 0)
    return found[0] if found else None


def folded_state(tensors: dict[str, Any], biases: dict[str, Any], epsilon: float) -> None:
    """Fold each convolution's bias into the BatchNorm after it (running_mean - bias) and Keras's epsilon
    into the running variance (var + eps_keras - eps_torch): the same outputs in evaluation, and in
    training the bias before a BatchNorm changes nothing."""
    for name, bias in biases.items():
        norm = _norm_after(name[: -len(".bias")])
        if norm is not None and f"{norm}.running_mean" in tensors:
            tensors[f"{norm}.running_mean"] = tensors[f"{norm}.running_mean"] - bias
    if epsilon != TORCH_EPSILON:
        for name in list(tensors):
            if name.endswith(".running_var"):
                tensors[name] = tensors[name] + (epsilon - TORCH_EPSILON)


def _norm_after(conv: str) -> str | None:
    if conv == "conv1":
        return "bn1"
    if conv.endswith("downsample.0"):
        return conv[:-1] + "1"
    match = re.match(r"(.*)\.conv(\d)$", conv)
    return f"{match.group(1)}.bn{match.group(2)}" if match else None
