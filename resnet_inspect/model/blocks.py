"""Residual blocks, shortcuts and small modules, named so that torchvision's and timm's
state_dicts load into them unchanged."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .spec import GROUPS_OF_GROUP_NORM


class StdConv2d(nn.Conv2d):
    """A convolution whose weight is standardized (zero mean, unit variance per output channel) at
    every call: weight standardization (Qiao et al. 2019), as BiT uses it (timm's StdConv2d, eps 1e-8)."""

    def __init__(self, *args: object, eps: float = 1e-8, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, training=True,
                              momentum=0.0, eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def conv3x3(in_chs: int, out_chs: int, stride: int = 1, groups: int = 1, dilation: int = 1,
            std: bool = False) -> nn.Conv2d:
    return (StdConv2d if std else nn.Conv2d)(in_chs, out_chs, 3, stride=stride, padding=dilation, groups=groups,
                                             bias=False, dilation=dilation)


def conv1x1(in_chs: int, out_chs: int, stride: int = 1, std: bool = False) -> nn.Conv2d:
    return (StdConv2d if std else nn.Conv2d)(in_chs, out_chs, 1, stride=stride, bias=False)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` (timm's rule with round_limit=0)."""
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


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
        t = int(abs(math.log(channels, 2) + beta) / gamma)
        kernel = max(t if t % 2 else t + 1, 3)
        self.conv = nn.Conv1d(1, 1, kernel, padding=(kernel - 1) // 2, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3)).view(x.shape[0], 1, -1)
        scale = self.gate(self.conv(scale)).view(x.shape[0], -1, 1, 1)
        return x * scale.expand_as(x)


def make_attention(kind: str, channels: int, reduction: int = 16) -> nn.Module | None:
    """The attention step at the end of a block's residual branch: none, SE or ECA."""
    if kind == "se":
        return SqueezeExcite(channels, reduction)
    if kind == "eca":
        return EfficientChannelAttention(channels)
    return None


def make_norm(kind: str, channels: int) -> nn.Module:
    """BatchNorm, or GroupNorm over 32 groups (timm's ``groupnorm``); both name their affine terms
    ``weight`` and ``bias``."""
    if kind == "group":
        return nn.GroupNorm(GROUPS_OF_GROUP_NORM, channels)
    return nn.BatchNorm2d(channels)


class BlurPool2d(nn.Module):
    """Blur then subsample (Zhang 2019, "Making Convolutional Networks Shift-Invariant Again"): a fixed
    binomial 3x3 filter per channel, reflect-padded, at stride 2. The filter is not a parameter."""

    def __init__(self, channels: int, stride: int = 2) -> None:
        super().__init__()
        self.channels, self.stride = channels, stride
        taps = torch.tensor([1.0, 2.0, 1.0]) / 4
        self.register_buffer("filt", (taps[:, None] * taps[None, :]).expand(channels, 1, 3, 3).clone(),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=self.stride, groups=self.channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, stride={self.stride}"


def make_aa(kind: str, channels: int, stride: int, enable: bool) -> nn.Module | None:
    """The anti-aliasing step of a strided block (timm's ``aa``): none, an average pool, or a blur pool."""
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


def make_norm_act(kind: str, channels: int) -> nn.Module:
    """A pre-activation unit's norm and ReLU: BatchNormAct or GroupNormAct."""
    return GroupNormAct(channels) if kind == "group" else BatchNormAct(channels)


def make_shortcut(kind: str, in_chs: int, out_chs: int, stride: int, *, with_norm: bool,
                  norm: str = "batch", std_conv: bool = False) -> nn.Module:
    """The shortcut of a block whose input and output differ in shape.

    ``with_norm`` is False in pre-activation blocks, where the input is already normalized.
    Indices match torchvision (``0`` conv, ``1`` bn) and timm's avg_down (``0`` pool, ``1`` conv,
    ``2`` bn); the pre-activation form matches timm's ResNetV2 (``conv`` / ``pool``)."""
    if kind == "zero_pad":
        return ZeroPadShortcut(in_chs, out_chs, stride)
    pool: nn.Module = nn.Identity()
    if kind == "avg_down" and stride > 1:
        pool = nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)
        stride = 1
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


class BasicBlock(nn.Module):
    """Two 3x3 convs (He et al. 2015, Fig. 2 left)."""

    expansion = 1

    def __init__(
        self,
        in_chs: int,
        width: int,
        stride: int = 1,
        *,
        shortcut: nn.Module | None = None,
        dilation: int = 1,
        first_dilation: int = 1,
        attn: str = "none",
        attn_reduction: int = 16,
        norm: str = "batch",
        aa: str = "none",
        **_: object,
    ) -> None:
        super().__init__()
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

    def last_norm(self) -> nn.Module:
        return self.bn2

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


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (He et al. 2015, Fig. 5 right).

    ``stride_on="1x1"`` is the paper's placement (v1); ``"3x3"`` is torchvision's (v1.5)."""

    expansion = 4

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
        **_: object,
    ) -> None:
        super().__init__()
        inner = inner or width
        out_chs = width * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        use_aa = aa != "none" and (stride == 2 or first_dilation != dilation)
        self.conv1 = conv1x1(in_chs, inner, stride_1x1)
        self.bn1 = make_norm(norm, inner)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(inner, inner, 1 if use_aa else stride_3x3, groups, first_dilation)
        self.bn2 = make_norm(norm, inner)
        self.act2 = nn.ReLU(inplace=True)
        self.aa = make_aa(aa, inner, stride, use_aa)
        self.conv3 = conv1x1(inner, out_chs)
        self.bn3 = make_norm(norm, out_chs)
        self.se = make_attention(attn, out_chs, attn_reduction)
        self.downsample = shortcut
        self.act3 = nn.ReLU(inplace=True)

    def last_norm(self) -> nn.Module:
        return self.bn3

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


class Res2NetBottleneck(nn.Module):
    """Res2Net's multi-scale bottleneck (Gao et al. 2019; timm's Bottle2neck): the 1x1 conv's output is
    split into ``scales`` groups of channels; each group but the last goes through its own 3x3 conv, and
    from the second on it first adds the previous group's output, so the receptive fields grow inside the
    block. In a block that strides or projects, every group takes its own split and the last one is
    average-pooled instead."""

    expansion = 4

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
        **_: object,
    ) -> None:
        super().__init__()
        self.width = inner or width  # channels of one scale
        self.scales = scales
        self.is_first = stride > 1 or shortcut is not None
        out_chs = width * self.expansion
        self.conv1 = conv1x1(in_chs, self.width * scales)
        self.bn1 = make_norm(norm, self.width * scales)
        self.convs = nn.ModuleList(
            nn.Conv2d(self.width, self.width, 3, stride=stride, padding=first_dilation, dilation=first_dilation,
                      groups=groups, bias=False) for _ in range(max(1, scales - 1)))
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

    def last_norm(self) -> nn.Module:
        return self.bn3

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


class PreActBasicBlock(nn.Module):
    """Pre-activation basic unit (He et al. 2016, "Identity Mappings"): BN-ReLU-conv twice."""

    expansion = 1

    def __init__(
        self,
        in_chs: int,
        width: int,
        stride: int = 1,
        *,
        shortcut: nn.Module | None = None,
        dilation: int = 1,
        first_dilation: int = 1,
        attn: str = "none",
        attn_reduction: int = 16,
        norm: str = "batch",
        std_conv: bool = False,
        **_: object,
    ) -> None:
        super().__init__()
        self.downsample = shortcut
        self.norm1 = make_norm_act(norm, in_chs)
        self.conv1 = conv3x3(in_chs, width, stride, dilation=first_dilation, std=std_conv)
        self.norm2 = make_norm_act(norm, width)
        self.conv2 = conv3x3(width, width, dilation=dilation, std=std_conv)
        self.se = make_attention(attn, width, attn_reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.norm1(x)
        # The projection reads the normalized input; the identity reads the raw input.
        shortcut = x if self.downsample is None else self.downsample(preact)
        out = self.conv2(self.norm2(self.conv1(preact)))
        if self.se is not None:
            out = self.se(out)
        return out + shortcut


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck unit (He et al. 2016; timm's ResNetV2)."""

    expansion = 4

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
        **_: object,
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.norm1(x)
        shortcut = x if self.downsample is None else self.downsample(preact)
        out = self.conv1(preact)
        out = self.conv2(self.norm2(out))
        out = self.conv3(self.norm3(out))
        if self.se is not None:
            out = self.se(out)
        return out + shortcut
