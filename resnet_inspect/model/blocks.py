"""Residual blocks, shortcuts and small modules, named so that torchvision's and timm's
state_dicts load into them unchanged.

Every residual block is a `ResidualBlock` registered under the name `ResNetSpec.block_type` gives
(``basic``, ``preact_bottleneck``, ``sk_basic``, ...). A block owns its contract: the spec fields it
reads (``spec_options``, passed to it as keyword arguments and nothing else), its ``expansion``, and
how it starts as the identity (``zero_init_last``). The network builds from the registry alone."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from .spec import EXPANSION, GROUPS_OF_GROUP_NORM


class ResidualBlock(nn.Module):
    """What the network builder relies on in a block.

    The builder calls ``cls(in_chs, width, stride, shortcut=..., inner=..., dilation=...,
    first_dilation=..., **{name: spec.<name> for name in cls.spec_options})``: ``width`` is the stage's
    base width, ``inner`` the width inside the block, ``shortcut`` the module that makes the identity
    path match (None where input and output agree), ``first_dilation`` the dilation of the block's first
    spatial conv (the previous stage's, in the first block of a dilated stage)."""

    expansion: ClassVar[int]
    spec_options: ClassVar[tuple[str, ...]] = ()

    def zero_init_last(self) -> None:
        """Zero the last scale of the residual branch, so the block starts as the identity (Goyal et al.
        2017; the spec's ``zero_init_last``)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how it starts as the identity")


def zero_weight(module: nn.Module) -> None:
    """Set a norm's scale (or a conv's kernel) to zero."""
    weight = module.weight
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{type(module).__name__} has no weight to zero")
    nn.init.zeros_(weight)


BlockClass = TypeVar("BlockClass", bound=type[ResidualBlock])
BLOCK_TYPES: dict[str, type[ResidualBlock]] = {}


def register_block(name: str) -> Callable[[BlockClass], BlockClass]:
    """Register a block class under ``name`` (a value of `ResNetSpec.block_type`); a name is taken once."""

    def register(cls: BlockClass) -> BlockClass:
        if name in BLOCK_TYPES:
            raise ValueError(f"block type {name!r} is already registered ({BLOCK_TYPES[name].__name__})")
        family = name.rsplit("_", 1)[-1]
        if EXPANSION.get(family) != cls.expansion:
            raise ValueError(
                f"block type {name!r}: {cls.__name__}.expansion is {cls.expansion}, but the spec "
                f"says {EXPANSION.get(family)} for {family!r} blocks"
            )
        BLOCK_TYPES[name] = cls
        return cls

    return register


def block_class(name: str) -> type[ResidualBlock]:
    try:
        return BLOCK_TYPES[name]
    except KeyError:
        raise UserError(f"unknown block type {name!r}; registered: {', '.join(sorted(BLOCK_TYPES))}") from None


def _unknown(what: str, kind: object, known: tuple[str, ...]) -> UserError:
    return UserError(f"unknown {what} {kind!r}; choose one of {', '.join(known)}")


class StdConv2d(nn.Conv2d):
    """A convolution whose weight is standardized (zero mean, unit variance per output channel) at
    every call: weight standardization (Qiao et al. 2019), as BiT uses it (timm's StdConv2d, eps 1e-8)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1), None, None, training=True, momentum=0.0, eps=self.eps
        ).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def conv3x3(
    in_chs: int, out_chs: int, stride: int = 1, groups: int = 1, dilation: int = 1, std: bool = False
) -> nn.Conv2d:
    return (StdConv2d if std else nn.Conv2d)(
        in_chs, out_chs, 3, stride=stride, padding=dilation, groups=groups, bias=False, dilation=dilation
    )


def conv1x1(in_chs: int, out_chs: int, stride: int = 1, std: bool = False) -> nn.Conv2d:
    return (StdConv2d if std else nn.Conv2d)(in_chs, out_chs, 1, stride=stride, bias=False)


def make_divisible(value: float, divisor: int = 8, minimum: int | None = None, round_limit: float = 0.0) -> int:
    """timm's make_divisible: ``value`` rounded to the nearest multiple of ``divisor`` (at least
    ``minimum``), and one multiple more if that fell below ``round_limit x value`` (SE layers use 0, so
    never; ResNeSt's and SK's attention 0.9, so never more than 10% below)."""
    new = max(minimum or divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < round_limit * value else new


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): global mean, 1x1 reduce, ReLU, 1x1 expand, sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        reduced = make_divisible(channels / reduction)
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.gate(self.fc2(self.act(self.fc1(scale))))
        return x * scale


class EfficientChannelAttention(nn.Module):
    """ECA (Wang et al. 2020): global mean, a 1-D conv across neighbouring channels, sigmoid gate.
    The kernel grows with log2(channels) (odd, at least 3); no reduction, no bias (timm's EcaModule)."""

    def __init__(self, channels: int, gamma: int = 2, beta: int = 1) -> None:
        super().__init__()
        t = int(abs(math.log(channels, 2) + beta) / gamma)  # the conv is 1 -> 1: only its kernel depends on C
        kernel = max(t if t % 2 else t + 1, 3)
        self.conv = nn.Conv1d(1, 1, kernel, padding=(kernel - 1) // 2, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3)).view(x.shape[0], 1, -1)
        scale = self.gate(self.conv(scale)).view(x.shape[0], -1, 1, 1)
        return x * scale.expand_as(x)


def make_attention(kind: str, channels: int, reduction: int = 16, kernel_of: int | None = None) -> nn.Module | None:
    """The attention step at the end of a block's residual branch: none, SE or ECA (whose kernel follows
    ``kernel_of`` channels when given)."""
    if kind == "se":
        return SqueezeExcite(channels, reduction)
    if kind == "eca":
        return EfficientChannelAttention(kernel_of or channels)
    if kind == "none":
        return None
    raise _unknown("attention", kind, ("none", "se", "eca"))


def make_norm(kind: str, channels: int) -> nn.Module:
    """BatchNorm, or GroupNorm over 32 groups (timm's ``groupnorm``); both name their affine terms
    ``weight`` and ``bias``."""
    if kind == "group":
        return nn.GroupNorm(GROUPS_OF_GROUP_NORM, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise _unknown("norm for post-activation blocks", kind, ("batch", "group"))


class BlurPool2d(nn.Module):
    """Blur then subsample (Zhang 2019, "Making Convolutional Networks Shift-Invariant Again"): a fixed
    binomial 3x3 filter per channel, reflect-padded, at stride 2. The filter is not a parameter."""

    filt: torch.Tensor

    def __init__(self, channels: int, stride: int = 2) -> None:
        super().__init__()
        self.channels, self.stride = channels, stride
        taps = torch.tensor([1.0, 2.0, 1.0]) / 4
        self.register_buffer(
            "filt", (taps[:, None] * taps[None, :]).expand(channels, 1, 3, 3).clone(), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=self.stride, groups=self.channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, stride={self.stride}"


def make_aa(kind: str, channels: int, stride: int, enable: bool) -> nn.Module | None:
    """The anti-aliasing step of a strided block (timm's ``aa``): none, an average pool, or a blur pool."""
    if kind not in ("none", "avg", "blur"):
        raise _unknown("anti-aliasing", kind, ("none", "avg", "blur"))
    if kind == "none" or not enable:
        return None  # no module at all, so plain networks keep torchvision's module tree
    return nn.AvgPool2d(stride) if kind == "avg" else BlurPool2d(channels, stride)


class ZeroPadShortcut(nn.Module):
    """CIFAR option A: subsample by the stride, pad the new channels with zeros; no parameters."""

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad_front = (out_chs - in_chs) // 2
        self.pad_back = out_chs - in_chs - self.pad_front

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_front, self.pad_back))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad=({self.pad_front}, {self.pad_back})"


class BatchNormAct(nn.BatchNorm2d):
    """BN followed by ReLU in one module, as pre-activation nets use it (timm's BatchNormAct2d).

    Subclassing BatchNorm2d keeps the parameter names (``norm1.weight``, ...)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class GroupNormAct(nn.GroupNorm):
    """GroupNorm (32 groups) followed by ReLU in one module (timm's GroupNormAct)."""

    def __init__(self, channels: int) -> None:
        super().__init__(GROUPS_OF_GROUP_NORM, channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class EvoNormS0(nn.Module):
    """EvoNorm-S0 (Liu et al. 2020; timm's EvoNorm2dS0): ``x * sigmoid(v x) / group std``, then a scale and
    a shift: a normalization and an activation in one, with no running statistics."""

    def __init__(self, channels: int, groups: int = GROUPS_OF_GROUP_NORM, eps: float = 1e-5) -> None:
        super().__init__()
        self.groups, self.eps = groups, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.v = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        grouped = x.reshape(batch, self.groups, channels // self.groups, height, width)
        std = grouped.float().var(dim=(2, 3, 4), unbiased=False, keepdim=True).add(self.eps).sqrt().to(x.dtype)
        std = std.expand(grouped.shape).reshape(batch, channels, height, width)
        shape = (1, -1, 1, 1)
        x = x * (x * self.v.view(shape).to(x.dtype)).sigmoid() / std
        return x * self.weight.view(shape).to(x.dtype) + self.bias.view(shape).to(x.dtype)


class FilterResponseNormTlu(nn.Module):
    """Filter response normalization with a thresholded linear unit (Singh & Krishnan 2020; timm's
    FilterResponseNormTlu2d): divide by the root mean square over each map, scale and shift, then
    ``max(x, tau)``."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.tau = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rms = x.square().float().mean(dim=(2, 3), keepdim=True).add(self.eps).rsqrt().to(x.dtype)
        shape = (1, -1, 1, 1)
        x = x * rms.expand(x.shape)
        x = x * self.weight.view(shape).to(dtype=x.dtype) + self.bias.view(shape).to(dtype=x.dtype)
        return torch.maximum(x, self.tau.reshape(shape).to(dtype=x.dtype))


def make_norm_act(kind: str, channels: int) -> nn.Module:
    """A pre-activation unit's norm and activation: BatchNorm or GroupNorm with ReLU, EvoNorm-S0, or FRN
    with its TLU."""
    makers: dict[str, Callable[[int], nn.Module]] = {
        "batch": BatchNormAct,
        "group": GroupNormAct,
        "evonorm": EvoNormS0,
        "frn": FilterResponseNormTlu,
    }
    if kind not in makers:
        raise _unknown("norm", kind, tuple(makers))
    return makers[kind](channels)


def make_shortcut(
    kind: str,
    in_chs: int,
    out_chs: int,
    stride: int,
    *,
    with_norm: bool,
    norm: str = "batch",
    std_conv: bool = False,
    kernel: int = 1,
) -> nn.Module:
    """The shortcut of a block whose input and output differ in shape.

    ``with_norm`` is False in pre-activation blocks, where the input is already normalized.
    Indices match torchvision (``0`` conv, ``1`` bn) and timm's avg_down (``0`` pool, ``1`` conv,
    ``2`` bn); the pre-activation form matches timm's ResNetV2 (``conv`` / ``pool``)."""
    if kind == "zero_pad":
        return ZeroPadShortcut(in_chs, out_chs, stride)
    if kind not in ("projection", "avg_down"):
        raise _unknown("shortcut", kind, ("projection", "avg_down", "zero_pad"))
    pool: nn.Module = nn.Identity()
    if kind == "avg_down" and stride > 1:
        pool = nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)
        stride = 1
    if kernel > 1 and stride > 1:  # SENet-154's strided 3x3 projection (a 1x1 where it does not stride)
        conv = nn.Conv2d(in_chs, out_chs, kernel, stride, padding=(stride - 1 + kernel - 1) // 2, bias=False)
    else:
        conv = conv1x1(in_chs, out_chs, stride, std=std_conv)
    if not with_norm:
        return PreActProjection(conv, pool if kind == "avg_down" else None)
    if kind == "avg_down":
        return nn.Sequential(pool, conv, make_norm(norm, out_chs))
    return nn.Sequential(conv, make_norm(norm, out_chs))


class PreActProjection(nn.Module):
    """Projection shortcut of a pre-activation unit: optional average pool, then a 1x1 conv."""

    def __init__(self, conv: nn.Conv2d, pool: nn.Module | None = None) -> None:
        super().__init__()
        if pool is not None:
            self.pool = pool
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "pool"):
            x = self.pool(x)
        return self.conv(x)


@register_block("basic")
class BasicBlock(ResidualBlock):
    """Two 3x3 convs (He et al. 2015, Fig. 2 left)."""

    expansion = 1
    spec_options = ("attn", "attn_reduction", "norm", "aa")

    def __init__(
        self,
        in_chs: int,
        width: int,
        stride: int = 1,
        *,
        shortcut: nn.Module | None = None,
        inner: int | None = None,
        dilation: int = 1,
        first_dilation: int = 1,
        attn: str = "none",
        attn_reduction: int = 16,
        norm: str = "batch",
        aa: str = "none",
    ) -> None:
        super().__init__()
        if inner not in (None, width):
            raise ValueError(f"a basic block's inner width is its width ({width}), got {inner}")
        use_aa = aa != "none" and (stride == 2 or first_dilation != dilation)
        self.conv1 = conv3x3(in_chs, width, 1 if use_aa else stride, dilation=first_dilation)
        self.bn1 = make_norm(norm, width)
        self.act1 = nn.ReLU(inplace=True)
        self.aa = make_aa(aa, width, stride, use_aa)
        self.conv2 = conv3x3(width, width, dilation=dilation)
        self.bn2 = make_norm(norm, width)
        self.se = make_attention(attn, width, attn_reduction)
        self.downsample = shortcut
        self.act2 = nn.ReLU(inplace=True)

    def zero_init_last(self) -> None:
        zero_weight(self.bn2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        if self.aa is not None:
            out = self.aa(out)
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        identity = x if self.downsample is None else self.downsample(x)
        out = out + identity
        return self.act2(out)


@register_block("bottleneck")
class Bottleneck(ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand (He et al. 2015, Fig. 5 right).

    ``stride_on="1x1"`` is the paper's placement (v1); ``"3x3"`` is torchvision's (v1.5). ``first`` and
    ``out_chs`` come from a pruned network's width table (its first 1x1's and its own output widths)."""

    expansion = 4
    spec_options = ("groups", "stride_on", "attn", "attn_reduction", "norm", "aa", "reduce_first")

    def __init__(
        self,
        in_chs: int,
        width: int,
        stride: int = 1,
        *,
        shortcut: nn.Module | None = None,
        inner: int | None = None,
        groups: int = 1,
        dilation: int = 1,
        first_dilation: int = 1,
        stride_on: str = "3x3",
        attn: str = "none",
        attn_reduction: int = 16,
        norm: str = "batch",
        aa: str = "none",
        reduce_first: int = 1,
        first: int | None = None,
        out_chs: int | None = None,
    ) -> None:
        super().__init__()
        inner = inner or width
        first = first or inner // reduce_first  # SENet-154 halves the first 1x1's output; pruned nets set it
        nominal = width * self.expansion
        out_chs = out_chs or nominal
        stride_1x1, stride_3x3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        use_aa = aa != "none" and (stride == 2 or first_dilation != dilation)
        self.conv1 = conv1x1(in_chs, first, stride_1x1)
        self.bn1 = make_norm(norm, first)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(first, inner, 1 if use_aa else stride_3x3, groups, first_dilation)
        self.bn2 = make_norm(norm, inner)
        self.act2 = nn.ReLU(inplace=True)
        self.aa = make_aa(aa, inner, stride, use_aa)
        self.conv3 = conv1x1(inner, out_chs)
        self.bn3 = make_norm(norm, out_chs)
        # A pruned network's ECA keeps the kernel of its unpruned width.
        self.se = make_attention(attn, out_chs, attn_reduction, kernel_of=nominal)
        self.downsample = shortcut
        self.act3 = nn.ReLU(inplace=True)

    def zero_init_last(self) -> None:
        zero_weight(self.bn3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        if self.aa is not None:
            out = self.aa(out)
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        identity = x if self.downsample is None else self.downsample(x)
        out = out + identity
        return self.act3(out)


class Add(nn.Module):
    """``a + b`` as a module, so that a diagram shows each addition of a block as its own node."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class Concat(nn.Module):
    """Concatenation along the channels, as a module (a node that joins branches in a diagram)."""

    def forward(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(tensors, 1)


@register_block("res2net")
class Res2NetBottleneck(ResidualBlock):
    """Res2Net's multi-scale bottleneck (Gao et al. 2019; timm's Bottle2neck): the 1x1 conv's output is
    split into ``scales`` groups of channels; each group but the last goes through its own 3x3 conv, and
    from the second on it first adds the previous group's output, so the receptive fields grow inside the
    block. In a block that strides or projects, every group takes its own split and the last one is
    average-pooled instead."""

    expansion = 4
    spec_options = ("groups", "attn", "attn_reduction", "norm", "scales")

    def __init__(
        self,
        in_chs: int,
        width: int,
        stride: int = 1,
        *,
        shortcut: nn.Module | None = None,
        inner: int | None = None,
        groups: int = 1,
        dilation: int = 1,
        first_dilation: int = 1,
        attn: str = "none",
        attn_reduction: int = 16,
        norm: str = "batch",
        scales: int = 4,
    ) -> None:
        super().__init__()
        self.width = inner or width  # channels of one scale
        self.scales = scales
        self.is_first = stride > 1 or shortcut is not None
        out_chs = width * self.expansion
        self.conv1 = conv1x1(in_chs, self.width * scales)
        self.bn1 = make_norm(norm, self.width * scales)
        self.convs = nn.ModuleList(
            nn.Conv2d(
                self.width,
                self.width,
                3,
                stride=stride,
                padding=first_dilation,
                dilation=first_dilation,
                groups=groups,
                bias=False,
            )
            for _ in range(max(1, scales - 1))
        )
        self.bns = nn.ModuleList(make_norm(norm, self.width) for _ in range(max(1, scales - 1)))
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1) if self.is_first else None
        self.conv3 = conv1x1(self.width * scales, out_chs)
        self.bn3 = make_norm(norm, out_chs)
        self.se = make_attention(attn, out_chs, attn_reduction)
        # timm calls one ReLU module everywhere and adds and concatenates in its forward; a module per
        # use (none holds a tensor, so the state_dict is the same) keeps the diagram's branches apart.
        self.act1 = nn.ReLU(inplace=True)
        self.acts = nn.ModuleList(nn.ReLU(inplace=True) for _ in range(max(1, scales - 1)))
        self.adds = nn.ModuleList(Add() for _ in range(max(1, scales - 1) - 1))
        self.merge = Concat()
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = shortcut

    def zero_init_last(self) -> None:
        zero_weight(self.bn3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        splits = torch.split(out, self.width, 1)
        outputs = []
        current = splits[0]
        for index, (conv, bn, act) in enumerate(zip(self.convs, self.bns, self.acts)):
            current = splits[index] if index == 0 or self.is_first else self.adds[index - 1](current, splits[index])
            current = act(bn(conv(current)))
            outputs.append(current)
        if self.scales > 1:
            outputs.append(self.pool(splits[-1]) if self.pool is not None else splits[-1])
        out = self.bn3(self.conv3(self.merge(outputs)))
        if self.se is not None:
            out = self.se(out)
        identity = x if self.downsample is None else self.downsample(x)
        out = out + identity
        return self.act3(out)


class RadixSoftmax(nn.Module):
    """Softmax across the ``radix`` splits of each group (a sigmoid gate when there is one split)."""

    def __init__(self, radix: int, groups: int) -> None:
        super().__init__()
        self.radix, self.groups = radix, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.size(0)
        if self.radix > 1:
            x = x.view(batch, self.groups, self.radix, -1).transpose(1, 2)
            return F.softmax(x, dim=1).reshape(batch, -1)
        return torch.sigmoid(x)


class SplitAttention(nn.Module):
    """ResNeSt's split-attention 3x3 conv (Zhang et al. 2020; timm's SplitAttn): one grouped conv makes
    ``radix`` versions of the map; their sum, pooled, gives per-channel weights (softmax across the
    versions) with which they are added up."""

    def __init__(
        self, channels: int, stride: int = 1, dilation: int = 1, groups: int = 1, radix: int = 2, norm: str = "batch"
    ) -> None:
        super().__init__()
        self.radix = radix
        mid = channels * radix
        attn = make_divisible(channels * radix * 0.25, 8, minimum=32, round_limit=0.9)
        self.conv = nn.Conv2d(channels, mid, 3, stride, dilation, dilation, groups=groups * radix, bias=False)
        self.bn0 = make_norm(norm, mid)
        self.act0 = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, attn, 1, groups=groups)
        self.bn1 = make_norm(norm, attn)
        self.act1 = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(attn, mid, 1, groups=groups)
        self.rsoftmax = RadixSoftmax(radix, groups)
        self.combine = RadixCombine(radix)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act0(self.bn0(self.conv(x)))
        batch, channels, height, width = x.shape
        if self.radix > 1:
            x = x.reshape((batch, self.radix, channels // self.radix, height, width))
            gap = x.sum(dim=1)
        else:
            gap = x
        gap = self.act1(self.bn1(self.fc1(gap.mean((2, 3), keepdim=True))))
        return self.combine(x, self.rsoftmax(self.fc2(gap)).view(batch, -1, 1, 1))


class RadixCombine(nn.Module):
    """The splits weighed by their attention and added up (a module: its own node in a diagram)."""

    def __init__(self, radix: int) -> None:
        super().__init__()
        self.radix = radix

    def forward(self, x: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        if self.radix > 1:
            batch, radix, channels = x.shape[:3]
            out = (x * attn.reshape((batch, radix, channels, 1, 1))).sum(dim=1)
        else:
            out = x * attn
        return out.contiguous()


@register_block("resnest")
class ResNeStBottleneck(ResidualBlock):
    """ResNeSt's bottleneck (Zhang et al. 2020; timm's ResNestBottleneck): the 3x3 conv is a split-attention
    conv, and a strided block average-pools (3x3) after it, or before it with ``avd_first``."""

    expansion = 4
    spec_options = ("groups", "norm", "radix", "avd_first")

    def __init__(
        self,
        in_chs: int,
        width: int,
        stride: int = 1,
        *,
        shortcut: nn.Module | None = None,
        inner: int | None = None,
        groups: int = 1,
        dilation: int = 1,
        first_dilation: int = 1,
        norm: str = "batch",
        radix: int = 2,
        avd_first: bool = False,
    ) -> None:
        super().__init__()
        inner = inner or width
        pool_stride, stride = (stride, 1) if stride > 1 else (0, stride)
        self.conv1 = conv1x1(in_chs, inner)
        self.bn1 = make_norm(norm, inner)
        self.act1 = nn.ReLU(inplace=True)
        self.avd_first = nn.AvgPool2d(3, pool_stride, padding=1) if pool_stride and avd_first else None
        self.conv2 = SplitAttention(inner, stride, first_dilation, groups, radix, norm)
        self.avd_last = nn.AvgPool2d(3, pool_stride, padding=1) if pool_stride and not avd_first else None
        self.conv3 = conv1x1(inner, width * self.expansion)
        self.bn3 = make_norm(norm, width * self.expansion)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = shortcut

    def zero_init_last(self) -> None:
        zero_weight(self.bn3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        if self.avd_first is not None:
            out = self.avd_first(out)
        out = self.conv2(out)
        if self.avd_last is not None:
            out = self.avd_last(out)
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        out = out + identity
        return self.act3(out)


class ConvNormAct(nn.Module):
    """conv, then norm (with ReLU unless ``act`` is off), named ``conv`` and ``bn`` as timm's ConvNormAct."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_chs, out_chs, kernel, stride, dilation * (kernel - 1) // 2, dilation, groups, bias=False
        )
        self.bn = BatchNormAct(out_chs) if act else nn.BatchNorm2d(out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class SelectiveKernelAttention(nn.Module):
    """The selection of a selective-kernel conv: pooled sum of the paths, reduce, expand to one weight
    per path and channel, softmax across the paths."""

    def __init__(self, channels: int, paths: int, reduced: int) -> None:
        super().__init__()
        self.paths = paths
        self.fc_reduce = nn.Conv2d(channels, reduced, 1, bias=False)
        self.bn = BatchNormAct(reduced)
        self.fc_select = nn.Conv2d(reduced, channels * paths, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.fc_reduce(x.sum(1).mean((2, 3), keepdim=True)))
        x = self.fc_select(x)
        batch, channels, height, width = x.shape
        return F.softmax(x.view(batch, self.paths, channels // self.paths, height, width), dim=1)


class SelectiveKernelConv(nn.Module):
    """A selective-kernel 3x3 conv (Li et al. 2019, as timm builds it): two paths, a 3x3 conv and a 3x3
    conv dilated 2 (a 5x5's field); with ``split`` each reads half the input channels. Attention over
    the paths picks, per channel, how much of each to keep."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        split: bool = True,
        reduction: int = 16,
        divisor: int = 8,
    ) -> None:
        super().__init__()
        self.in_chs, self.split = in_chs, split
        path_in = in_chs // 2 if split else in_chs
        self.paths = nn.ModuleList(
            ConvNormAct(path_in, out_chs, 3, stride, dilation * d, min(out_chs, groups)) for d in (1, 2)
        )
        self.attn = SelectiveKernelAttention(out_chs, 2, make_divisible(out_chs / reduction, divisor, round_limit=0.9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split:
            pieces = torch.split(x, self.in_chs // 2, 1)
            outputs = [path(pieces[i]) for i, path in enumerate(self.paths)]
        else:
            outputs = [path(x) for path in self.paths]
        x = torch.stack(outputs, dim=1)
        return torch.sum(x * self.attn(x), dim=1)


@register_block("sk_basic")
class SelectiveKernelBasic(ResidualBlock):
    """SKNet's basic block: a selective-kernel 3x3, then a 3x3 conv (timm's SelectiveKernelBasic)."""

    expansion = 1
    spec_options = ("sk", "sk_reduction", "sk_divisor")

    def __init__(
        self,
        in_chs: int,
        width: int,
        stride: int = 1,
        *,
        shortcut: nn.Module | None = None,
        inner: int | None = None,
        dilation: int = 1,
        first_dilation: int = 1,
        sk: str = "split",
        sk_reduction: int = 16,
        sk_divisor: int = 8,
    ) -> None:
        super().__init__()
        if inner not in (None, width):
            raise ValueError(f"a basic block's inner width is its width ({width}), got {inner}")
        self.conv1 = SelectiveKernelConv(
            in_chs, width, stride, first_dilation, 1, sk == "split", sk_reduction, sk_divisor
        )
        self.conv2 = ConvNormAct(width, width, 3, dilation=dilation, act=False)
        self.act = nn.ReLU(inplace=True)
        self.downsample = shortcut

    def zero_init_last(self) -> None:
        zero_weight(self.conv2.bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        identity = x if self.downsample is None else self.downsample(x)
        return self.act(out + identity)


@register_block("sk_bottleneck")
class SelectiveKernelBottleneck(ResidualBlock):
    """SKNet's bottleneck: 1x1, a selective-kernel 3x3, 1x1 (timm's SelectiveKernelBottleneck)."""

    expansion = 4
    spec_options = ("groups", "sk", "sk_reduction", "sk_divisor")

    def __init__(
        self,
        in_chs: int,
        width: int,
        stride: int = 1,
        *,
        shortcut: nn.Module | None = None,
        inner: int | None = None,
        groups: int = 1,
        dilation: int = 1,
        first_dilation: int = 1,
        sk: str = "split",
        sk_reduction: int = 16,
        sk_divisor: int = 8,
    ) -> None:
        super().__init__()
        inner = inner or width
        self.conv1 = ConvNormAct(in_chs, inner, 1)
        self.conv2 = SelectiveKernelConv(
            inner, inner, stride, first_dilation, groups, sk == "split", sk_reduction, sk_divisor
        )
        self.conv3 = ConvNormAct(inner, width * self.expansion, 1, act=False)
        self.act = nn.ReLU(inplace=True)
        self.downsample = shortcut

    def zero_init_last(self) -> None:
        zero_weight(self.conv3.bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.act(out + identity)


@register_block("preact_basic")
class PreActBasicBlock(ResidualBlock):
    """Pre-activation basic unit (He et al. 2016, "Identity Mappings"): BN-ReLU-conv twice."""

    expansion = 1
    spec_options = ("attn", "attn_reduction", "norm", "std_conv")

    def __init__(
        self,
        in_chs: int,
        width: int,
        stride: int = 1,
        *,
        shortcut: nn.Module | None = None,
        inner: int | None = None,
        dilation: int = 1,
        first_dilation: int = 1,
        attn: str = "none",
        attn_reduction: int = 16,
        norm: str = "batch",
        std_conv: bool = False,
    ) -> None:
        super().__init__()
        if inner not in (None, width):
            raise ValueError(f"a basic block's inner width is its width ({width}), got {inner}")
        self.downsample = shortcut
        self.norm1 = make_norm_act(norm, in_chs)
        self.conv1 = conv3x3(in_chs, width, stride, dilation=first_dilation, std=std_conv)
        self.norm2 = make_norm_act(norm, width)
        self.conv2 = conv3x3(width, width, dilation=dilation, std=std_conv)
        self.se = make_attention(attn, width, attn_reduction)

    def zero_init_last(self) -> None:
        zero_weight(self.conv2)  # no norm after the last conv of a pre-activation unit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.norm1(x)
        # The projection reads the normalized input; the identity reads the raw input.
        shortcut = x if self.downsample is None else self.downsample(preact)
        out = self.conv2(self.norm2(self.conv1(preact)))
        if self.se is not None:
            out = self.se(out)
        return out + shortcut


@register_block("preact_bottleneck")
class PreActBottleneck(ResidualBlock):
    """Pre-activation bottleneck unit (He et al. 2016; timm's ResNetV2)."""

    expansion = 4
    spec_options = ("groups", "stride_on", "attn", "attn_reduction", "norm", "std_conv")

    def __init__(
        self,
        in_chs: int,
        width: int,
        stride: int = 1,
        *,
        shortcut: nn.Module | None = None,
        inner: int | None = None,
        groups: int = 1,
        dilation: int = 1,
        first_dilation: int = 1,
        stride_on: str = "3x3",
        attn: str = "none",
        attn_reduction: int = 16,
        norm: str = "batch",
        std_conv: bool = False,
    ) -> None:
        super().__init__()
        inner = inner or width
        out_chs = width * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        self.downsample = shortcut
        self.norm1 = make_norm_act(norm, in_chs)
        self.conv1 = conv1x1(in_chs, inner, stride_1x1, std=std_conv)
        self.norm2 = make_norm_act(norm, inner)
        self.conv2 = conv3x3(inner, inner, stride_3x3, groups, first_dilation, std=std_conv)
        self.norm3 = make_norm_act(norm, inner)
        self.conv3 = conv1x1(inner, out_chs, std=std_conv)
        self.se = make_attention(attn, out_chs, attn_reduction)

    def zero_init_last(self) -> None:
        zero_weight(self.conv3)  # no norm after the last conv of a pre-activation unit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.norm1(x)
        shortcut = x if self.downsample is None else self.downsample(preact)
        out = self.conv1(preact)
        out = self.conv2(self.norm2(out))
        out = self.conv3(self.norm3(out))
        if self.se is not None:
            out = self.se(out)
        return out + shortcut
