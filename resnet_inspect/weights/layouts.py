"""The layouts other ecosystems save a ResNet in, brought to torchvision's and timm's names.

A state dict is read as one of:

- **Hugging Face transformers** (``ResNetForImageClassification``, ``ResNetModel``, ``ResNetBackbone``):
  ``resnet.embedder.embedder.convolution`` is ``conv1``, ``encoder.stages.S.layers.B.layer.I`` is
  ``layerS+1.B.convI+1``/``bnI+1``, ``shortcut`` is ``downsample``, ``classifier.1`` is ``fc``;
- **detectron2** (``backbone.bottom_up.stem.conv1``, ``res2.0.conv1.norm``, ``shortcut``);
- **fastai** learners (a numbered ``Sequential``: ``0.0`` the stem's conv, ``0.4`` ... ``0.7`` the stages,
  ``1.*`` fastai's own head);
- anything else by the key prefix under which a network's first block sits (``module.encoder_q.``,
  ``online_network.encoder.``, ``backbone.body.``, ``student.backbone.``): when several copies exist
  (MoCo's query and key encoders, BYOL's online and target networks, EMA, teacher and student) the primary
  one is read and the others are named; what lies outside it (a feature pyramid, detection heads, a
  projection head) is set aside and named.

Files without ``num_batches_tracked`` buffers (FrozenBatchNorm2d in detection backbones, files from before
PyTorch 0.4.1) get them back as placeholders, as ``load_state_dict`` itself does."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .read import TensorInfo

# A network's first residual block: where its names start.
ANCHORS = ("layer1.0.conv1.weight", "stages.0.blocks.0.conv1.weight")
# Words that mark a copy other than the one a user means (the averaged, momentum or teacher network).
SECONDARY = ("ema", "teacher", "target", "momentum", "key", "shadow", "average", "swa")
GROUP_WORDS = {
    "fpn": "a feature pyramid network",
    "rpn": "a region proposal network",
    "roi_heads": "box and mask heads (R-CNN)",
    "head": "a head",
    "classifier": "a classifier or segmentation head",
    "aux_classifier": "an auxiliary segmentation head",
    "decode_head": "a segmentation decoder (mmseg)",
    "auxiliary_head": "an auxiliary segmentation head (mmseg)",
    "neck": "a neck (mmdet)",
    "bbox_head": "a box head (mmdet)",
    "projector": "a projection head",
    "predictor": "a predictor head",
    "proposal_generator": "a region proposal network (detectron2)",
    "sem_seg_head": "a segmentation head (detectron2)",
    "transformer": "CLIP's text encoder",
    "token_embedding": "CLIP's text token embedding",
    "positional_embedding": "CLIP's text positions",
    "ln_final": "CLIP's text encoder's last norm",
    "text_projection": "CLIP's text projection",
    "logit_scale": "CLIP's similarity temperature",
}


@dataclass
class Layout:
    """Where a network's tensors are in a state dict, under torchvision's and timm's names."""

    name: str  # the ecosystem whose layout it is ("Hugging Face transformers"), "" for torchvision/timm names
    prefix: str  # stripped from the names read
    tensors: dict[str, TensorInfo]  # the network's, by its names
    extra: dict[str, TensorInfo] = field(default_factory=dict)  # everything else, by the file's names
    notes: list[str] = field(default_factory=list)  # what was read, renamed, set aside, filled in
    original: dict[str, str] = field(default_factory=dict)  # network name -> the file's name, where renamed
    copies: list[str] = field(default_factory=list)  # prefixes of the network's other copies (not read)
    explained: set[str] = field(default_factory=set)  # set-aside names a note of their own already describes


def find_layout(state: dict[str, TensorInfo]) -> Layout:
    for recognise in (_quantized, _transformers, _detectron2, _fastai):
        layout = recognise(state)
        if layout is not None:
            break
    else:
        layout = _by_prefix(state)
    _classifier_outside(layout)
    _mlp_head(layout)
    _describe_extra(layout)
    _fill_batch_counts(layout)
    return layout


# --- renamed layouts -----------------------------------------------------------------------------------


def _renamed(
    state: dict[str, TensorInfo], rules: list[tuple[str, Callable[[re.Match], str]]], name: str
) -> Layout | None:
    """Apply the first matching rule to each name; unmatched names are set aside."""
    compiled = [(re.compile(pattern), rename) for pattern, rename in rules]
    tensors, extra, original = {}, {}, {}
    for key, info in state.items():
        for pattern, rename in compiled:
            match = pattern.match(key)
            if match:
                new = rename(match) + key[match.end() :]
                tensors[new], original[new] = info, key
                break
        else:
            extra[key] = info
    if not any(anchor in tensors for anchor in ANCHORS):
        return None
    layout = Layout(name, "", tensors, extra, original=original)
    layout.notes.append(f"a {name} layout: its names were mapped to torchvision's ({_example(original)})")
    return layout


def _example(original: dict[str, str]) -> str:
    return f"{original['conv1.weight']} is conv1.weight" if "conv1.weight" in original else ""


_HF_BLOCK = r"^(?:resnet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\."


def _transformers(state: dict[str, TensorInfo]) -> Layout | None:
    if not any(re.match(r"^(?:resnet\.)?embedder\.embedder\.convolution\.weight$", k) for k in state):
        return None

    def block(m: re.Match) -> str:
        return f"layer{int(m[1]) + 1}.{m[2]}."

    rules = [
        (r"^(?:resnet\.)?embedder\.embedder\.convolution\.", lambda m: "conv1."),
        (r"^(?:resnet\.)?embedder\.embedder\.normalization\.", lambda m: "bn1."),
        (_HF_BLOCK + r"shortcut\.convolution\.", lambda m: block(m) + "downsample.0."),
        (_HF_BLOCK + r"shortcut\.normalization\.", lambda m: block(m) + "downsample.1."),
        (_HF_BLOCK + r"layer\.(\d+)\.convolution\.", lambda m: block(m) + f"conv{int(m[3]) + 1}."),
        (_HF_BLOCK + r"layer\.(\d+)\.normalization\.", lambda m: block(m) + f"bn{int(m[3]) + 1}."),
        (r"^classifier\.1\.", lambda m: "fc."),
    ]
    return _renamed(state, rules, "Hugging Face transformers")


def _detectron2(state: dict[str, TensorInfo]) -> Layout | None:
    if not any(re.match(r"^(?:.*\.)?stem\.conv1\.norm\.weight$", k) for k in state):
        return None
    base = r"^((?:backbone\.)?(?:bottom_up\.)?)"
    block = base + r"res(\d)\.(\d+)\."

    def stage(m: re.Match) -> str:
        return f"layer{int(m[2]) - 1}.{m[3]}."

    rules = [
        (base + r"stem\.conv1\.norm\.", lambda m: "bn1."),
        (base + r"stem\.conv1\.", lambda m: "conv1."),
        (block + r"shortcut\.norm\.", lambda m: stage(m) + "downsample.1."),
        (block + r"shortcut\.", lambda m: stage(m) + "downsample.0."),
        (block + r"conv(\d)\.norm\.", lambda m: stage(m) + f"bn{m[4]}."),
        (block + r"conv(\d)\.", lambda m: stage(m) + f"conv{m[4]}."),
        (base + r"linear\.", lambda m: "fc."),
    ]
    layout = _renamed(state, rules, "detectron2")
    if layout is not None:
        layout.notes.append(
            "detectron2's MSRA models stride in the first 1x1 of a bottleneck (resnet50_v1), its torchvision "
            "ports in the 3x3: the weights cannot tell which"
        )
    return layout


def _fastai(state: dict[str, TensorInfo]) -> Layout | None:
    if "0.4.0.conv1.weight" not in state or "0.0.weight" not in state:
        return None
    parts = {"0": "conv1.", "1": "bn1.", "4": "layer1.", "5": "layer2.", "6": "layer3.", "7": "layer4."}

    def constant(new: str) -> Callable[[re.Match], str]:
        return lambda match: new

    rules = [(rf"^0\.{index}\.", constant(new)) for index, new in parts.items()]
    layout = _renamed(state, rules, "fastai")
    if layout is not None and any(k.startswith("1.") for k in layout.extra):
        layout.explained |= {k for k in layout.extra if k.startswith("1.")}
        linear = [k for k in layout.extra if k.startswith("1.") and len(layout.extra[k].shape) == 2]
        classes = layout.extra[linear[-1]].shape[0] if linear else None
        layout.notes.append(
            "fastai's own head (1.*: pooling, BatchNorm, dropout and linear layers"
            + (f", {classes:,} classes" if classes else "")
            + ") is set aside: the network is read headless"
        )
    return layout


def _quantized(state: dict[str, TensorInfo]) -> Layout | None:
    """torchvision's int8 ResNets: each BatchNorm folded into the convolution before it (which gains a
    bias), scales and zero points beside each layer, the classifier's weight and bias packed together."""

    if not any(info.quantized for info in state.values()):
        return None
    tensors: dict[str, TensorInfo] = {}
    original: dict[str, str] = {}
    extra: dict[str, TensorInfo] = {}
    folded = 0
    for key, info in state.items():
        packed = re.match(r"^(.*)\._packed_params\._packed_params\.([01])$", key)
        if packed:
            name = f"{packed[1]}.{'weight' if packed[2] == '0' else 'bias'}"
            tensors[name], original[name] = info, key
        elif key.endswith(".weight") and len(info.shape) == 4:
            tensors[key], original[key] = info, key
            folded += fold_placeholders(tensors, key[: -len(".weight")], info.shape[0])
        else:
            extra[key] = info  # the folded convolutions' biases, scales and zero points, the quantizer's
    layout = Layout("torchvision int8 quantized", "", tensors, extra, original=original)
    layout.notes.append(
        f"int8 quantized (torchvision's quantized ResNets): {folded} BatchNorm layers are folded into the "
        "convolutions before them, so the network is named from its convolutions' and classifier's shapes; "
        "its values are int8 and are not read"
    )
    return layout


def folded_norm(conv: str) -> str | None:
    """The BatchNorm that follows convolution ``conv`` in torchvision's and timm's names (the one an
    exporter or a quantizer folds into it): conv1 -> bn1, layer1.0.conv2 -> layer1.0.bn2,
    downsample.0 -> downsample.1 (downsample.1 -> downsample.2 after a pool), a deep stem's conv1.3 ->
    conv1.4 and its last conv1.6 -> bn1."""
    if conv == "conv1" or conv == "conv1.6":
        return "bn1"
    for pattern, replace in (
        (r"^conv1\.(\d+)$", lambda m: f"conv1.{int(m[1]) + 1}"),
        (r"^(.*)conv(\d)$", lambda m: f"{m[1]}bn{m[2]}"),
        (r"^(.*downsample\.)(\d+)$", lambda m: f"{m[1]}{int(m[2]) + 1}"),
    ):
        match = re.match(pattern, conv)
        if match:
            return replace(match)
    return None


def fold_placeholders(tensors: dict[str, TensorInfo], conv: str, channels: int) -> bool:
    """Add the folded BatchNorm of ``conv`` as placeholders (shapes only); False when none follows it."""
    from .read import TensorInfo

    norm = folded_norm(conv)
    if norm is None:
        return False
    for part in ("weight", "bias", "running_mean", "running_var"):
        tensors[f"{norm}.{part}"] = TensorInfo((channels,), "float32", 0, placeholder=True)
    tensors[f"{norm}.num_batches_tracked"] = TensorInfo((), "int64", 0, placeholder=True)
    return True


# --- by prefix -----------------------------------------------------------------------------------------


def _by_prefix(state: dict[str, TensorInfo]) -> Layout:
    candidates = sorted({key[: -len(anchor)] for key in state for anchor in ANCHORS if key.endswith(anchor)})
    if not candidates:
        return Layout("", "", dict(state))
    prefix = min(candidates, key=lambda p: (_is_secondary(p), len(p), p))
    others = [c for c in candidates if c != prefix]
    tensors, extra = {}, {}
    for key, info in state.items():
        inside = key.startswith(prefix) and not any(key.startswith(o) for o in others if o.startswith(prefix))
        if inside:
            tensors[key[len(prefix) :]] = info
        else:
            extra[key] = info
    layout = Layout("", prefix, tensors, extra, copies=others)
    if others:
        layout.notes.append(
            f"the network under '{prefix}' was read; the file holds other copies of it under "
            + ", ".join(f"'{o}'" for o in others)
            + " (an EMA, momentum, key, target or teacher copy), not read"
        )
    return layout


def _is_secondary(prefix: str) -> bool:
    # MoCo's key encoder is "encoder_k": a word only with its underscore.
    return any(word in SECONDARY for word in re.split(r"[._]", prefix.lower())) or "encoder_k" in prefix


def _describe_extra(layout: Layout) -> None:
    """Name the groups of tensors set aside, by where their names leave the network's prefix (the other
    copies and what a note of its own describes are left to those notes)."""
    groups: dict[str, int] = {}
    base = layout.prefix.split(".")[:-1]
    for key in layout.extra:
        if key in layout.explained or any(key.startswith(c) for c in layout.copies):
            continue
        parts = key.split(".")
        depth = next((i for i, (a, b) in enumerate(zip(parts, base)) if a != b), min(len(base), len(parts) - 1))
        group = ".".join(parts[: depth + 1])
        groups[group] = groups.get(group, 0) + 1
    if not groups:
        return
    described = [
        f"{group} ({count:,} tensors{': ' + GROUP_WORDS[group.rsplit('.', 1)[-1]] if group.rsplit('.', 1)[-1] in GROUP_WORDS else ''})"
        for group, count in groups.items()
    ]
    layout.notes.append("set aside, not part of the network: " + "; ".join(described))


# --- heads and buffers ---------------------------------------------------------------------------------


def _feature_widths(tensors: dict[str, TensorInfo]) -> set[int]:
    return {
        info.shape[0] for name, info in tensors.items() if len(info.shape) == 4 and name.startswith(("layer", "stages"))
    }


def _classifier_outside(layout: Layout) -> None:
    """A lone linear layer set aside (a Lightning module's ``model.head`` beside ``model.backbone``) whose
    input is the network's features is its classifier: read as ``fc``."""
    if any(k.startswith(("fc.", "head.fc.")) for k in layout.tensors):
        return
    weights = [k for k, info in layout.extra.items() if k.endswith(".weight") and len(info.shape) == 2]
    widths = _feature_widths(layout.tensors)
    found = [k for k in weights if layout.extra[k].shape[1] in widths | {2 * w for w in widths}]
    if len(found) != 1:
        return
    stem = found[0][: -len("weight")]
    group = [k for k in layout.extra if k.startswith(stem) and k[len(stem) :] in ("weight", "bias")]
    for key in group:
        new = "fc." + key[len(stem) :]
        layout.tensors[new] = layout.extra.pop(key)
        layout.original[new] = key
    layout.notes.append(f"its classifier is {stem[:-1]}, outside the network's prefix: read as fc")


def _mlp_head(layout: Layout) -> None:
    """``fc.0``, ``fc.2``, ... : the MLP projection head of MoCo v2 / SimCLR, not a classifier."""
    mlp = [k for k in layout.tensors if re.match(r"^fc\.\d+\.", k)]
    if not mlp:
        return
    widths = [layout.tensors[k].shape for k in mlp if k.endswith("weight") and len(layout.tensors[k].shape) == 2]
    for key in mlp:
        layout.extra[layout.prefix + key] = layout.tensors.pop(key)
        layout.explained.add(layout.prefix + key)
    chain = " -> ".join([str(widths[0][1])] + [str(s[0]) for s in widths]) if widths else ""
    layout.notes.append(
        f"fc is an MLP projection head ({chain}), as self-supervised training (MoCo v2, SimCLR) adds: set "
        "aside, the network is read headless"
    )


def _fill_batch_counts(layout: Layout) -> None:
    from .read import TensorInfo

    norms = [k[: -len("running_var")] for k in layout.tensors if k.endswith(".running_var")]
    if not norms or any(k.endswith(".num_batches_tracked") for k in layout.tensors):
        return
    for stem in norms:
        name = stem + "num_batches_tracked"
        layout.tensors[name] = TensorInfo((), "int64", 0, placeholder=True)
    layout.notes.append(
        "it has no num_batches_tracked buffers (FrozenBatchNorm2d, as in torchvision's detection backbones, or a "
        "file saved before PyTorch 0.4.1): load_state_dict fills them in"
    )
