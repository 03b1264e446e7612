"""`ResNetSpec`: a frozen, validated description of one ResNet network."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn

from ..errors import UserError
from ..limits import LIMITS, over, shown
from ..userfiles import parse, read_text

BLOCKS = ("basic", "bottleneck", "res2net", "resnest")
STEMS = ("classic", "deep", "tiered", "cifar")
STEM_POOLS = ("max", "fixed", "conv", "avg", "none")
SHORTCUTS = ("projection", "avg_down", "zero_pad")
STRIDE_PLACEMENTS = ("3x3", "1x1")
ANTI_ALIASING = ("none", "avg", "blur")
GLOBAL_POOLS = ("avg", "catavgmax", "attention")
ATTENTION = ("none", "se", "eca")
NORMS = ("batch", "group", "evonorm", "frn")
SELECTIVE_KERNELS = ("none", "split", "whole")
GROUPS_OF_GROUP_NORM = 32  # timm's GroupNorm default, used by resnet50_gn

# Output channels of a block per unit of stage width, by block family; each block class says the same.
EXPANSION = {"basic": 1, "bottleneck": 4, "res2net": 4, "resnest": 4}


def _fail(name: str, reason: str) -> NoReturn:
    raise UserError(f"invalid spec: {name}: {reason}")


def _check_choice(spec: ResNetSpec, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(spec, name)
    if not isinstance(value, str) or value not in choices:
        _fail(name, f"{shown(value)} is not one of {', '.join(choices)}")


def _check_positive_int(name: str, value: Any, limit: str | None = "max_width") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        _fail(name, f"must be a positive integer, got {shown(value)}")
    if limit and value > getattr(LIMITS, limit):
        _fail(name, over("value", value, limit))


@dataclass(frozen=True)
class ResNetSpec:
    """Everything that decides a ResNet's structure.

    Field names follow the vocabulary of the papers and of torchvision/timm:

    * ``block``: ``basic`` (two 3x3 convs), ``bottleneck`` (1x1, 3x3, 1x1, expansion 4) or ``res2net``
      (Res2Net's multi-scale bottleneck: ``scales`` groups of channels, each with its own 3x3 conv; the
      inner width is one scale's, e.g. 26 channels per 64 of stage width for res2net50_26w_4s) or
      ``resnest`` (ResNeSt's: a split-attention 3x3 conv over ``radix`` splits, and a strided block
      average-pools after that conv, or before it with ``avd_first``).
    * ``layers``: residual blocks per stage, any number of stages.
    * ``widths``: base width ("planes") of each stage; a bottleneck's output is 4x this.
    * ``groups`` / ``width_per_group``: ResNeXt cardinality and width; a bottleneck's inner
      width is ``int(width * width_per_group / 64) * groups`` (wide ResNets use 128).
    * ``stem``: ``classic`` 7x7/2, ``deep`` three 3x3 convs (stem_width, stem_width, 2x),
      ``tiered`` like deep with a narrower first conv, ``cifar`` one 3x3/1 conv.
    * ``shortcut``: ``projection`` 1x1 conv (+BN) with the block's stride, ``avg_down``
      average pool then 1x1 conv (ResNet-D), ``zero_pad`` parameter-free subsample and
      channel zero padding (CIFAR option A).
    * ``stride_on``: where a bottleneck downsamples: ``1x1`` (the 2015 paper, "v1") or
      ``3x3`` (torchvision, "v1.5").
    * ``stem_pool``: after the stem, ``max`` a 3x3/2 max-pool, ``fixed`` the same after zero-padding
      one pixel (BiT), ``conv`` a 3x3/2 conv + norm + ReLU (ResNet-RS), ``none`` nothing.
    * ``std_conv``: weight-standardized convolutions (BiT; pre-activation networks).
    * ``sk``: selective-kernel 3x3 convs (SKNet, Li et al. 2019, as timm builds them): two paths (3x3 and
      3x3 dilated 2) weighed by attention; ``split`` gives each path half the input channels, ``whole``
      all of them. The attention reduces by ``sk_reduction`` to a multiple of ``sk_divisor``.
    * ``shortcut_kernel``: 3 makes a strided projection shortcut a 3x3 conv (SENet-154); ``reduce_first``:
      a bottleneck's first 1x1 outputs its inner width divided by this (2 in SENet-154).
    * ``stage_channels`` / ``block_channels``: a width table for pruned networks (timm's *_pruned): each
      stage's output channels, and for each bottleneck in order its first 1x1's and its 3x3's outputs
      (two numbers a block). Empty: the widths above. ECA keeps the kernel of the unpruned width.
    * ``preact``: pre-activation units (ResNet v2, BN-ReLU before each conv).
    * ``attn``: the attention module after the last norm of each block (timm names it ``se``):
      ``se`` squeeze-and-excitation (Hu et al. 2018) with reduction ``attn_reduction`` (16; ResNet-RS
      uses 4), ``eca`` efficient channel attention (Wang et al. 2020: a 1-D conv across channels
      whose kernel size follows the channel count).
    * ``norm``: ``batch`` (BatchNorm), ``group`` (GroupNorm with 32 groups: timm's resnet50_gn, BiT), and
      for pre-activation networks ``evonorm`` (EvoNorm-S0, 32 groups) or ``frn`` (filter response
      normalization with a TLU), each a normalization and activation in one.
    * ``dilate``: per stage after the first, use dilation instead of stride.
    * ``global_pool``: ``avg`` (the usual head), ``catavgmax`` (timm's ``global_pool='catavgmax'``: the
      average and the maximum of each channel, concatenated, so the classifier takes twice the features)
      or ``attention`` (CLIP's ModifiedResNet: a multi-head attention over the last map and its mean, with
      a positional embedding for ``image_size``; ``num_classes`` is then the embedding's width).
    * ``aa``: anti-aliased downsampling (Zhang 2019; timm's resnetaa*/resnetblur*): a strided block
      convolves at stride 1, then ``avg`` average-pools or ``blur`` blurs (binomial 3x3) at stride 2;
      the stem's max-pool becomes the same.
    """

    block: str = "bottleneck"
    layers: tuple[int, ...] = (3, 4, 6, 3)
    widths: tuple[int, ...] = (64, 128, 256, 512)
    groups: int = 1
    width_per_group: int = 64
    stem: str = "classic"
    stem_width: int = 64
    stem_pool: str = "max"
    shortcut: str = "projection"
    stride_on: str = "3x3"
    preact: bool = False
    attn: str = "none"
    attn_reduction: int = 16
    norm: str = "batch"
    std_conv: bool = False
    scales: int = 4
    radix: int = 2
    avd_first: bool = False
    sk: str = "none"
    sk_reduction: int = 16
    sk_divisor: int = 8
    shortcut_kernel: int = 1
    reduce_first: int = 1
    stage_channels: tuple[int, ...] = field(default=())
    block_channels: tuple[int, ...] = field(default=())
    dilate: tuple[bool, ...] = field(default=())
    num_classes: int = 1000
    in_chans: int = 3
    image_size: int = 224
    zero_init_last: bool = False
    aa: str = "none"
    global_pool: str = "avg"

    def __post_init__(self) -> None:
        # Accept lists from JSON/YAML/CLI and store tuples so the spec stays hashable.
        for name in ("layers", "widths", "dilate", "stage_channels", "block_channels"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if not self.dilate and isinstance(self.layers, tuple):
            object.__setattr__(self, "dilate", (False,) * max(len(self.layers) - 1, 0))
        self._validate()

    def _validate(self) -> None:
        self._check_values()
        self._check_widths()
        self._check_width_table()
        self._check_combinations()

    def _check_values(self) -> None:
        """Each field on its own: its type, its choices, its range."""
        for name in ("layers", "widths", "dilate", "stage_channels", "block_channels"):
            if not isinstance(getattr(self, name), tuple):
                _fail(name, f"must be a list, got {shown(getattr(self, name))}")
        _check_choice(self, "block", BLOCKS)
        _check_choice(self, "stem", STEMS)
        _check_choice(self, "stem_pool", STEM_POOLS)
        _check_choice(self, "shortcut", SHORTCUTS)
        _check_choice(self, "stride_on", STRIDE_PLACEMENTS)
        _check_choice(self, "aa", ANTI_ALIASING)
        _check_choice(self, "global_pool", GLOBAL_POOLS)
        _check_choice(self, "attn", ATTENTION)
        _check_choice(self, "norm", NORMS)
        _check_choice(self, "sk", SELECTIVE_KERNELS)
        if not isinstance(self.layers, tuple) or not self.layers:
            _fail("layers", "needs at least one stage")
        if len(self.layers) > LIMITS.max_stages:
            _fail("layers", over("the number of stages", len(self.layers), "max_stages"))
        for count in self.layers:
            if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
                _fail("layers", f"every stage needs at least one block, got {shown(list(self.layers))}")
        if sum(self.layers) > LIMITS.max_blocks:
            _fail("layers", over("the number of blocks", sum(self.layers), "max_blocks"))
        if not isinstance(self.widths, tuple) or len(self.widths) != len(self.layers):
            _fail("widths", f"needs one width per stage ({len(self.layers)}), got {shown(self.widths)}")
        for width in self.widths:
            _check_positive_int("widths", width)
        for name in (
            "groups",
            "width_per_group",
            "stem_width",
            "num_classes",
            "in_chans",
            "attn_reduction",
            "sk_reduction",
            "sk_divisor",
            "shortcut_kernel",
            "reduce_first",
        ):
            _check_positive_int(name, getattr(self, name))
        _check_positive_int("image_size", self.image_size, "max_input_side")
        for name in ("preact", "zero_init_last", "std_conv", "avd_first"):
            if not isinstance(getattr(self, name), bool):
                _fail(name, f"must be true or false, got {getattr(self, name)!r}")
        if len(self.dilate) != len(self.layers) - 1 or not all(isinstance(d, bool) for d in self.dilate):
            _fail("dilate", f"needs one true/false per stage after the first ({len(self.layers) - 1})")
        for name in ("scales", "radix"):  # parallel branches of one block
            _check_positive_int(name, getattr(self, name), "max_branches")

    def _check_widths(self) -> None:
        """The channels every layer gets: positive, within the limit, whole groups."""
        if self.block == "basic":
            if self.groups != 1 or self.width_per_group != 64:
                _fail("groups", "the basic block supports only groups=1 and width_per_group=64")
            if self.stride_on != "3x3":
                _fail(
                    "stride_on", "'1x1' places the stride on a bottleneck's first 1x1 conv; it needs block='bottleneck'"
                )
        for width in self.widths:
            inner = self.inner_width(width)
            if inner <= 0:
                _fail("width_per_group", f"gives an inner width of {inner} for stage width {width}")
            if inner > LIMITS.max_width or inner * self.expansion > LIMITS.max_width:
                _fail(
                    "widths",
                    over(f"stage width {width} gives a layer of", max(inner, width * self.expansion), "max_width"),
                )
            if inner % self.groups:
                _fail("groups", f"{self.groups} does not divide the inner width {inner} (stage width {width})")
        if self.shortcut == "zero_pad":
            # Option A pads new channels with zeros; it has no way to drop channels.
            channels = [self.stem_out_channels] + [w * self.expansion for w in self.widths]
            for index, (before, after) in enumerate(zip(channels, channels[1:]), start=1):
                if after < before:
                    _fail(
                        "shortcut",
                        f"'zero_pad' cannot reduce channels, but stage {index} goes from {before} to {after}",
                    )
        if self.norm in ("group", "evonorm"):
            group_channels = (
                {self.stem_out_channels, self.stem_width}
                | {w * self.expansion for w in self.widths}
                | {self.inner_width(w) for w in self.widths}
            )
            if self.stem == "tiered":
                group_channels.add(3 * (self.stem_width // 4))
            odd = sorted(c for c in group_channels if c % GROUPS_OF_GROUP_NORM)
            if odd:
                _fail(
                    "norm",
                    f"group norm splits channels into {GROUPS_OF_GROUP_NORM} groups, but the network has "
                    f"{odd[0]} channels somewhere",
                )

    def _check_width_table(self) -> None:
        """A pruned network's widths: positive and within the limit, both lists, one entry per stage and
        two per block, for plain bottlenecks."""
        for name in ("stage_channels", "block_channels"):
            for value in getattr(self, name):
                _check_positive_int(name, value)
        if not (self.stage_channels or self.block_channels):
            return
        if not (self.stage_channels and self.block_channels):
            _fail(
                "stage_channels" if self.stage_channels else "block_channels",
                "a width table needs both stage_channels and block_channels",
            )
        if self.block != "bottleneck" or self.preact or self.attn == "se" or self.sk != "none" or self.groups != 1:
            _fail(
                "stage_channels",
                "a width table is for plain post-activation bottlenecks (timm's pruned networks: groups 1, no SE)",
            )
        if len(self.stage_channels) != len(self.layers):
            _fail("stage_channels", f"needs one output width per stage ({len(self.layers)})")
        if len(self.block_channels) != 2 * sum(self.layers):
            _fail("block_channels", f"needs two widths per block ({2 * sum(self.layers)})")

    def _check_combinations(self) -> None:
        """Choices that only some blocks, stems and norms support."""
        if self.aa != "none" and (self.preact or self.stride_on != "3x3"):
            _fail(
                "aa",
                "anti-aliasing (as timm's resnetaa*/resnetblur*) needs post-activation blocks that stride on the 3x3",
            )
        if self.global_pool != "avg" and self.preact:
            _fail("global_pool", f"{self.global_pool} is built for post-activation networks")
        clip = dict(block="bottleneck", stem="deep", stem_pool="avg", shortcut="avg_down", aa="avg", stride_on="3x3")
        if self.global_pool == "attention":
            for name, value in clip.items():
                if getattr(self, name) != value:
                    _fail("global_pool", f"attention pooling is CLIP's ModifiedResNet head: it needs {name}={value}")
            if self.feature_channels % 64 or self.image_size % 32 or self.groups != 1 or self.attn != "none":
                _fail(
                    "global_pool",
                    "attention pooling (CLIP) needs features in whole 64-channel heads, an image_size that is a "
                    "multiple of 32 (its positional embedding), no groups and no other attention",
                )
        elif self.stem_pool == "avg" and self.stem != "deep":
            _fail("stem_pool", "avg (a 2x2 average pool, CLIP's) follows a deep stem")
        if self.norm in ("evonorm", "frn") and not self.preact:
            _fail("norm", f"{self.norm} is a pre-activation norm-and-activation (preact: true)")
        if self.block in ("res2net", "resnest") and (self.preact or self.stride_on != "3x3" or self.aa != "none"):
            _fail(
                "block", f"{self.block} blocks are post-activation, stride on their 3x3 convs and have no anti-aliasing"
            )
        if self.sk != "none" and (
            self.block not in ("basic", "bottleneck")
            or self.preact
            or self.attn != "none"
            or self.aa != "none"
            or self.norm != "batch"
            or self.stride_on != "3x3"
        ):
            _fail(
                "sk",
                "selective kernels replace the 3x3 conv of plain post-activation basic or bottleneck blocks "
                "(no attention, anti-aliasing or group norm besides)",
            )
        if self.shortcut_kernel not in (1, 3):
            _fail("shortcut_kernel", f"must be 1 or 3, got {shown(self.shortcut_kernel)}")
        if self.shortcut_kernel == 3 and (self.shortcut != "projection" or self.preact):
            _fail("shortcut_kernel", "3x3 shortcuts are post-activation projections (shortcut: projection)")
        if self.reduce_first != 1:
            if self.block != "bottleneck" or self.preact or self.sk != "none":
                _fail("reduce_first", "only a plain post-activation bottleneck narrows its first 1x1")
            for width in self.widths:
                first = self.inner_width(width) // self.reduce_first
                if first * self.reduce_first != self.inner_width(width) or first % self.groups:
                    _fail(
                        "reduce_first",
                        f"{self.reduce_first} does not split the inner width "
                        f"{self.inner_width(width)} into whole groups of {self.groups}",
                    )
        if self.block == "resnest" and self.attn != "none":
            _fail("attn", "a resnest block's split attention is its attention; it takes no other")
        if self.std_conv and not self.preact:
            _fail("std_conv", "weight-standardized convolutions are built for pre-activation networks (BiT)")
        if self.stem_pool == "fixed" and not self.preact:
            _fail("stem_pool", "'fixed' is BiT's pre-activation stem pool; post-activation networks use 'max'")
        if self.stem_pool == "conv" and (self.stem == "cifar" or self.preact or self.aa != "none"):
            _fail("stem_pool", "'conv' (ResNet-RS) follows a post-activation ImageNet stem without anti-aliasing")
        if self.stem == "tiered" and self.stem_width < 4:
            _fail("stem_width", "a tiered stem needs stem_width >= 4")

    # Derived quantities, shared by the builder and the analyzer.
    @property
    def expansion(self) -> int:
        return EXPANSION[self.block]

    @property
    def block_type(self) -> str:
        """The registered block class this spec builds (see `model.blocks.BLOCK_TYPES`): the ``block``
        family, as a pre-activation unit or with selective-kernel convs where the spec says so."""
        if self.preact:
            return f"preact_{self.block}"
        if self.sk != "none":
            return f"sk_{self.block}"
        return self.block

    def inner_width(self, width: int) -> int:
        """Channels inside a block of a stage with base width ``width``."""
        if self.block == "basic":
            return width
        return int(width * (self.width_per_group / 64.0)) * self.groups

    @property
    def stem_out_channels(self) -> int:
        # timm doubles the stem width for its deep stems (resnet50s: 64 -> 128).
        return self.stem_width * 2 if self.stem in ("deep", "tiered") else self.stem_width

    @property
    def feature_channels(self) -> int:
        return self.stage_out(len(self.widths) - 1)

    def stage_out(self, stage: int) -> int:
        """Output channels of stage ``stage`` (from 0): its width table's, or width x expansion."""
        return self.stage_channels[stage] if self.stage_channels else self.widths[stage] * self.expansion

    def block_widths(self, stage: int, index: int) -> tuple[int, int]:
        """(first 1x1's output, 3x3's output) of block ``index`` of stage ``stage``."""
        if self.block_channels:
            at = 2 * (sum(self.layers[:stage]) + index)
            return self.block_channels[at], self.block_channels[at + 1]
        inner = self.inner_width(self.widths[stage])
        return inner // self.reduce_first, inner

    def replace(self, **overrides: Any) -> ResNetSpec:
        _check_field_names(overrides)
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResNetSpec:
        if not isinstance(data, Mapping):
            raise UserError(f"invalid spec: expected a mapping of fields, got {type(data).__name__}")
        data = legacy_fields(data)
        _check_field_names(data)
        return cls(**dict(data))


FIELD_NAMES = tuple(f.name for f in fields(ResNetSpec))


def legacy_fields(data: Mapping[Any, Any]) -> dict[Any, Any]:
    """Spec files written before ``attn`` existed said ``se: true``; read them as ``attn: se``."""
    data = dict(data)
    if "se" in data and "attn" not in data:
        value = data.pop("se")
        if not isinstance(value, bool):
            raise UserError(f"invalid spec: se: must be true or false, got {shown(value)} (or use attn: se)")
        data["attn"] = "se" if value else "none"
    return data


def _check_field_names(data: Mapping[Any, Any]) -> None:
    for key in data:
        if not isinstance(key, str):
            raise UserError(f"invalid spec: field names are text, got {shown(key)}")
        if key not in FIELD_NAMES:
            raise UserError(f"invalid spec: unknown field {shown(key)}; known fields: {', '.join(FIELD_NAMES)}")


def load_spec_file(path: str | Path) -> ResNetSpec:
    """Read a spec from a JSON or YAML file (a mapping of ResNetSpec fields)."""
    path = Path(path)
    data = parse(read_text(path, "spec file"), str(path), as_json=path.suffix.lower() == ".json")
    return ResNetSpec.from_dict(data)
