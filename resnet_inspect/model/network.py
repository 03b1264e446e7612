"""Turn a `ResNetSpec` into an `nn.Module`.

Post-activation networks use torchvision's and timm's names (``conv1``, ``bn1``,
``layer1.0.conv1``, ``fc``); pre-activation networks use timm ResNetV2's (``stem.conv``,
``stages.0.blocks.0.norm1``, ``norm``, ``head.fc``), so reference weights load with
``strict=True``."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import (
    BlurPool2d,
    ResidualBlock,
    StdConv2d,
    block_class,
    conv3x3,
    make_norm,
    make_norm_act,
    make_shortcut,
)
from .spec import ResNetSpec


def _stem_convs(spec: ResNetSpec) -> nn.Module:
    """The stem's convolutions; the norm and activation after the last one are added by the caller."""
    out_chs = spec.stem_out_channels
    if spec.stem == "classic":
        return nn.Conv2d(spec.in_chans, out_chs, 7, stride=2, padding=3, bias=False)
    if spec.stem == "cifar":
        return nn.Conv2d(spec.in_chans, out_chs, 3, stride=1, padding=1, bias=False)
    first, second = spec.stem_width, spec.stem_width
    if spec.stem == "tiered":
        first = 3 * (spec.stem_width // 4)
    return nn.Sequential(
        nn.Conv2d(spec.in_chans, first, 3, stride=2, padding=1, bias=False),
        make_norm(spec.norm, first),
        nn.ReLU(inplace=True),
        nn.Conv2d(first, second, 3, stride=1, padding=1, bias=False),
        make_norm(spec.norm, second),
        nn.ReLU(inplace=True),
        nn.Conv2d(second, out_chs, 3, stride=1, padding=1, bias=False),
    )


def _stem_pool(spec: ResNetSpec) -> nn.Module:
    """The stem's pooling: a 3x3 max-pool at stride 2, its anti-aliased form, or (ResNet-RS) a strided
    3x3 conv with its norm and ReLU (timm's layout)."""
    if spec.stem_pool == "none":
        return nn.Identity()
    if spec.stem_pool == "conv":
        channels = spec.stem_out_channels
        return nn.Sequential(
            nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
            make_norm(spec.norm, channels),
            nn.ReLU(inplace=True),
        )
    if spec.aa == "avg" or spec.stem_pool == "avg":
        return nn.AvgPool2d(2)
    if spec.aa == "blur":
        return nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), BlurPool2d(spec.stem_out_channels, 2))
    return nn.MaxPool2d(3, stride=2, padding=1)


def _channels(spec: ResNetSpec, stage: int, index: int) -> dict[str, int]:
    """A block's inner width, and (from a pruned network's width table) its first 1x1's and its output's."""
    if not spec.block_channels:
        return dict(inner=spec.inner_width(spec.widths[stage]))
    first, inner = spec.block_widths(stage, index)
    return dict(first=first, inner=inner, out_chs=spec.stage_out(stage))


def _make_stages(spec: ResNetSpec) -> list[nn.Sequential]:
    """One Sequential of blocks per stage, with torchvision's stride/dilation bookkeeping."""
    block_cls = block_class(spec.block_type)
    # The spec's choices this block reads; each block class names its own.
    options = {name: getattr(spec, name) for name in block_cls.spec_options}
    in_chs = spec.stem_out_channels
    dilation = 1
    stages = []
    for index, count in enumerate(spec.layers):
        stride = 1 if index == 0 else 2
        previous_dilation = dilation
        if index > 0 and spec.dilate[index - 1]:
            dilation *= stride
            stride = 1
        out_chs = spec.stage_out(index)
        blocks = []
        for block_index in range(count):
            block_stride = stride if block_index == 0 else 1
            shortcut = None
            if block_stride != 1 or in_chs != out_chs:
                shortcut = make_shortcut(
                    spec.shortcut,
                    in_chs,
                    out_chs,
                    block_stride,
                    with_norm=not spec.preact,
                    norm=spec.norm,
                    std_conv=spec.std_conv,
                    kernel=spec.shortcut_kernel,
                )
            blocks.append(
                block_cls(
                    in_chs,
                    spec.widths[index],
                    block_stride,
                    shortcut=shortcut,
                    dilation=dilation,
                    first_dilation=previous_dilation if block_index == 0 else dilation,
                    **_channels(spec, index, block_index),
                    **options,
                )
            )
            in_chs = out_chs
        stages.append(nn.Sequential(*blocks))
    return stages


def _feature_info(spec: ResNetSpec, stem_module: str, stage_modules: list[str]) -> list[dict]:
    """timm's ``feature_info``: the stem's output, then each stage's (channels, total stride, module)."""
    reduction = 1 if spec.stem == "cifar" else 2
    info = [dict(num_chs=spec.stem_out_channels, reduction=reduction, module=stem_module)]
    if spec.stem_pool != "none":
        reduction *= 2
    for index, module in enumerate(stage_modules):
        if index > 0 and not spec.dilate[index - 1]:
            reduction *= 2
        info.append(dict(num_chs=spec.stage_out(index), reduction=reduction, module=module))
    return info


def _init_weights(model: nn.Module, spec: ResNetSpec) -> None:
    if any(p.is_meta for p in model.parameters()):
        return  # meta tensors hold no values; initialising them only costs time
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)) and module.affine:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if spec.zero_init_last:
        for module in model.modules():
            if isinstance(module, ResidualBlock):
                module.zero_init_last()


class CatAvgMaxPool(nn.Module):
    """The average and the maximum of each channel over the whole map, concatenated (timm's catavgmax)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.adaptive_avg_pool2d(x, 1), F.adaptive_max_pool2d(x, 1)], 1)


class ResNet(nn.Module):
    """Post-activation ResNet (v1 / v1.5 / ResNeXt / wide / D / SE / CIFAR), from a spec."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.conv1 = _stem_convs(spec)
        self.bn1 = make_norm(spec.norm, spec.stem_out_channels)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = _stem_pool(spec)
        self.stage_names = []
        for index, stage in enumerate(_make_stages(spec), start=1):
            self.add_module(f"layer{index}", stage)
            self.stage_names.append(f"layer{index}")
        self.feature_info = _feature_info(spec, "act1", self.stage_names)
        self.avgpool = nn.AdaptiveAvgPool2d(1) if spec.global_pool == "avg" else CatAvgMaxPool()
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(spec.feature_channels * (2 if spec.global_pool == "catavgmax" else 1), spec.num_classes)
        _init_weights(self, spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.fc(self.flatten(self.avgpool(x)))


def _preact_stem(spec: ResNetSpec) -> nn.Sequential:
    """timm ResNetV2's stem: ``conv`` (7x7), or ``conv1``/``norm1``/``conv2``/``norm2``/``conv3`` (deep,
    tiered), then the pool: ``max`` padded as usual, ``fixed`` (BiT) zero-padded by one pixel first."""
    std = spec.std_conv
    stem = nn.Sequential()
    if spec.stem in ("classic", "cifar"):
        stem.add_module(
            "conv",
            _stem_convs(spec)
            if not std
            else StdConv2d(
                spec.in_chans,
                spec.stem_out_channels,
                7 if spec.stem == "classic" else 3,
                stride=2 if spec.stem == "classic" else 1,
                padding=3 if spec.stem == "classic" else 1,
                bias=False,
            ),
        )
    else:
        first = 3 * (spec.stem_width // 4) if spec.stem == "tiered" else spec.stem_width
        stem.add_module("conv1", conv3x3(spec.in_chans, first, 2, std=std))
        stem.add_module("norm1", make_norm_act(spec.norm, first))
        stem.add_module("conv2", conv3x3(first, spec.stem_width, std=std))
        stem.add_module("norm2", make_norm_act(spec.norm, spec.stem_width))
        stem.add_module("conv3", conv3x3(spec.stem_width, spec.stem_out_channels, std=std))
    if spec.stem_pool == "fixed":
        stem.add_module("pad", nn.ConstantPad2d(1, 0.0))
        stem.add_module("pool", nn.MaxPool2d(3, stride=2, padding=0))
    elif spec.stem_pool == "max":
        stem.add_module("pool", nn.MaxPool2d(3, stride=2, padding=1))
    return stem


class _Stage(nn.Module):
    def __init__(self, blocks: nn.Sequential) -> None:
        super().__init__()
        self.blocks = blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class _ClassifierHead(nn.Module):
    """Global average pool, 1x1 conv classifier, flatten (timm ResNetV2's head)."""

    def __init__(self, in_chs: int, num_classes: int) -> None:
        super().__init__()
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(in_chs, num_classes, 1)
        self.flatten = nn.Flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.fc(self.global_pool(x)))


class PreActResNet(nn.Module):
    """Pre-activation ResNet (v2, He et al. 2016), laid out like timm's ResNetV2."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.stem = _preact_stem(spec)
        self.stages = nn.Sequential(*[_Stage(blocks) for blocks in _make_stages(spec)])
        # The stem's feature is its last convolution's output (a layer, not a container of blocks).
        stem_conv = "stem.conv" if hasattr(self.stem, "conv") else "stem.conv3"
        self.feature_info = _feature_info(spec, stem_conv, [f"stages.{i}" for i in range(len(spec.layers))])
        self.norm = make_norm_act(spec.norm, spec.feature_channels)
        self.head = _ClassifierHead(spec.feature_channels, spec.num_classes)
        _init_weights(self, spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.stages(self.stem(x))))


class AttentionPool2d(nn.Module):
    """CLIP's head: the last map's positions and their mean, each with a learned position, attend to one
    another (``heads`` heads); the mean's output, projected to ``out_dim``, is the image embedding."""

    def __init__(self, side: int, channels: int, heads: int, out_dim: int) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(side**2 + 1, channels) / channels**0.5)
        self.k_proj = nn.Linear(channels, channels)
        self.q_proj = nn.Linear(channels, channels)
        self.v_proj = nn.Linear(channels, channels)
        self.c_proj = nn.Linear(channels, out_dim)
        self.num_heads = heads
        self.side = side

    def _positions(self, height: int, width: int) -> torch.Tensor:
        """The positional embedding for a ``height`` x ``width`` map: as learned at the native size; at any
        other, its grid resized bicubically (as OpenCLIP does to load weights for another size)."""
        if (height, width) == (self.side, self.side):
            return self.positional_embedding
        mean, grid = self.positional_embedding[:1], self.positional_embedding[1:]
        grid = grid.reshape(1, self.side, self.side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)
        return torch.cat([mean, grid.permute(0, 2, 3, 1).reshape(height * width, -1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # What F.multi_head_attention_forward does for CLIP, one module call per projection, so that each
        # projection is a layer of its own with its own MACs.
        height, width = x.shape[-2:]
        x = x.flatten(2).permute(2, 0, 1)  # NCHW -> (HW)NC
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0)
        x = x + self._positions(height, width)[:, None, :].to(x.dtype)
        tokens, batch, channels = x.shape
        heads = self.num_heads

        def split(t: torch.Tensor) -> torch.Tensor:  # (L, N, C) -> (N, heads, L, C / heads)
            return t.reshape(tokens, batch * heads, channels // heads).transpose(0, 1).view(batch, heads, tokens, -1)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        attended = F.scaled_dot_product_attention(q, k, v)
        attended = attended.permute(2, 0, 1, 3).reshape(tokens, batch, channels)
        return self.c_proj(attended)[0]


class ClipResNet(nn.Module):
    """CLIP's ModifiedResNet (Radford et al. 2021), with OpenAI's and OpenCLIP's names so their weights load:
    a three-conv stem ending in a 2x2 average pool, bottlenecks that average-pool before their last 1x1
    and in their shortcut where they stride, and attention pooling in place of the average pool and fc."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        half, width = spec.stem_width, spec.stem_out_channels
        self.conv1 = nn.Conv2d(spec.in_chans, half, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(half, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.act3 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(2)
        self.stage_names = []
        for index, stage in enumerate(_make_stages(spec), start=1):
            for block in stage:
                _clip_shortcut(block)
            self.add_module(f"layer{index}", stage)
            self.stage_names.append(f"layer{index}")
        self.feature_info = _feature_info(spec, "act3", self.stage_names)
        features = spec.feature_channels
        self.attnpool = AttentionPool2d(spec.image_size // 32, features, features // 64, spec.num_classes)
        _init_weights(self, spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.avgpool(self.act3(self.bn3(self.conv3(x))))
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.attnpool(x)


def _clip_shortcut(block: nn.Module) -> None:
    """CLIP's shortcut: an average pool over the stride (a 1x1 pool where it does not stride), then the
    1x1 conv and its norm, named ``-1``, ``0`` and ``1``."""
    shortcut = getattr(block, "downsample", None)
    if not isinstance(shortcut, nn.Sequential):
        return
    pool, conv, norm = shortcut
    stride = pool.stride if isinstance(pool, nn.AvgPool2d) else 1
    block.downsample = nn.Sequential(OrderedDict([("-1", nn.AvgPool2d(stride)), ("0", conv), ("1", norm)]))


def build_from_spec(spec: ResNetSpec) -> nn.Module:
    if spec.preact:
        return PreActResNet(spec)
    return ClipResNet(spec) if spec.global_pool == "attention" else ResNet(spec)
