"""Named variants: each a spec, a one-line description, where it comes from, and the
reference implementation (if any) whose weights it loads."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from .spec import ResNetSpec
from .tables import native_inputs, width_tables

HE2015 = "He et al. 2015, Deep Residual Learning for Image Recognition (arXiv:1512.03385)"
HE2016 = "He et al. 2016, Identity Mappings in Deep Residual Networks (arXiv:1603.05027)"
XIE2017 = "Xie et al. 2017, Aggregated Residual Transformations (ResNeXt, arXiv:1611.05431)"
ZAGORUYKO2016 = "Zagoruyko & Komodakis 2016, Wide Residual Networks (arXiv:1605.07146)"
HE2019 = "He et al. 2019, Bag of Tricks for Image Classification (arXiv:1812.01187)"
HU2018 = "Hu et al. 2018, Squeeze-and-Excitation Networks (arXiv:1709.01507)"
WANG2020 = "Wang et al. 2020, ECA-Net: Efficient Channel Attention (arXiv:1910.03151)"
BELLO2021 = "Bello et al. 2021, Revisiting ResNets: Improved Training and Scaling Strategies (arXiv:2103.07579)"
WU2018 = "Wu & He 2018, Group Normalization (arXiv:1803.08494)"
GAO2019 = "Gao et al. 2019, Res2Net: A New Multi-scale Backbone Architecture (arXiv:1904.01169)"
ZHANG2020 = "Zhang et al. 2020, ResNeSt: Split-Attention Networks (arXiv:2004.08955)"
LI2019 = "Li et al. 2019, Selective Kernel Networks (arXiv:1903.06586)"
LIU2020 = "Liu et al. 2020, Evolving Normalization-Activation Layers (arXiv:2004.02967)"
SINGH2020 = "Singh & Krishnan 2020, Filter Response Normalization Layer (arXiv:1911.09737)"
AFLALO2020 = "Aflalo et al. 2020, Knapsack Pruning with Inner Distillation (arXiv:2002.08258)"
RADFORD2021 = "Radford et al. 2021, Learning Transferable Visual Models From Natural Language Supervision (CLIP, arXiv:2103.00020)"
KOLESNIKOV2020 = "Kolesnikov et al. 2020, Big Transfer (BiT): General Visual Representation Learning (arXiv:1912.11370)"


# Families as `list` groups them, with the heading it prints.
FAMILIES = {
    "resnet": "ResNet (torchvision layout: the stride on the bottleneck's 3x3)",
    "wide": "Wide ResNet",
    "resnext": "ResNeXt",
    "v1": "ResNet as in the 2015 paper (the stride on the first 1x1)",
    "tweaks": "ResNet-C/D/S/T and deeper (Bag of Tricks stems and shortcuts; timm layout)",
    "se": "Squeeze-and-excitation",
    "eca": "Efficient channel attention (ECA)",
    "rs": "ResNet-RS (SE with reduction 4, deep stem, a strided conv for the stem's pool)",
    "norm": "Other normalizations",
    "preact": "Pre-activation ResNet (v2)",
    "res2net": "Res2Net (multi-scale bottlenecks)",
    "resnest": "ResNeSt (split-attention bottlenecks)",
    "sknet": "SKNet (selective-kernel convolutions)",
    "bit": "BiT: pre-activation, weight-standardized convolutions, GroupNorm",
    "aa": "Anti-aliased ResNets (a blur or average pool in each strided block)",
    "cifar": "CIFAR-10 ResNets (option A shortcuts, 32x32)",
    "clip": "CLIP image encoders (ModifiedResNet: three-conv stem, average-pool anti-aliasing, attention pooling)",
}


@dataclass(frozen=True)
class Variant:
    name: str
    family: str  # a key of FAMILIES
    spec: ResNetSpec
    description: str
    source: str
    # "torchvision:resnet50" or "timm:resnet50d": the implementation whose state_dict this
    # variant reproduces exactly; None when no library defines it.
    reference: str | None = None


_REGISTRY: dict[str, Variant] = {}


def _register(name: str, family: str, description: str, source: str, reference: str | None = None,
              **spec: Any) -> None:
    if family not in FAMILIES:
        raise ValueError(f"variant {name}: unknown family {family!r}")
    native = native_inputs().get(reference.split(":", 1)[1]) if reference and reference.startswith("timm:") else None
    if native is not None:
        # The default input is the one the reference was trained and evaluated at (torchvision's: 224).
        # A reference not in the table yet keeps the spec's default, so that the command that writes the
        # table can run; a test fails until it has.
        if spec.setdefault("image_size", native) != native:
            raise ValueError(f"variant {name}: image_size {spec['image_size']} is not {reference}'s {native}")
    _REGISTRY[name] = Variant(name, family, ResNetSpec(**spec), description, source, reference)


BASIC = dict(block="basic")
DEEP_D = dict(stem="deep", stem_width=32, shortcut="avg_down")

# torchvision layout (v1.5: the stride sits on the bottleneck's 3x3 conv).
_register("resnet18", "resnet", "ResNet-18, basic blocks [2,2,2,2]", HE2015, "torchvision:resnet18",
          layers=(2, 2, 2, 2), **BASIC)
_register("resnet34", "resnet", "ResNet-34, basic blocks [3,4,6,3]", HE2015, "torchvision:resnet34",
          layers=(3, 4, 6, 3), **BASIC)
_register("resnet50", "resnet", "ResNet-50 v1.5, bottlenecks [3,4,6,3], stride on the 3x3", HE2015, "torchvision:resnet50")
_register("resnet101", "resnet", "ResNet-101 v1.5, bottlenecks [3,4,23,3]", HE2015, "torchvision:resnet101", layers=(3, 4, 23, 3))
_register("resnet152", "resnet", "ResNet-152 v1.5, bottlenecks [3,8,36,3]", HE2015, "torchvision:resnet152", layers=(3, 8, 36, 3))
_register("wide_resnet50_2", "wide", "Wide ResNet-50-2: bottleneck inner width doubled", ZAGORUYKO2016,
          "torchvision:wide_resnet50_2", width_per_group=128)
_register("wide_resnet101_2", "wide", "Wide ResNet-101-2: bottleneck inner width doubled", ZAGORUYKO2016,
          "torchvision:wide_resnet101_2", layers=(3, 4, 23, 3), width_per_group=128)
_register("resnext50_32x4d", "resnext", "ResNeXt-50 32x4d: 32 groups of width 4 in each 3x3", XIE2017,
          "torchvision:resnext50_32x4d", groups=32, width_per_group=4)
_register("resnext101_32x8d", "resnext", "ResNeXt-101 32x8d", XIE2017, "torchvision:resnext101_32x8d",
          layers=(3, 4, 23, 3), groups=32, width_per_group=8)
_register("resnext101_64x4d", "resnext", "ResNeXt-101 64x4d", XIE2017, "torchvision:resnext101_64x4d",
          layers=(3, 4, 23, 3), groups=64, width_per_group=4)

# The 2015 paper's layout: the stride sits on the bottleneck's first 1x1 conv.
_register("resnet50_v1", "v1", "ResNet-50 as in the 2015 paper: stride on the first 1x1", HE2015, stride_on="1x1")
_register("resnet101_v1", "v1", "ResNet-101 as in the 2015 paper: stride on the first 1x1", HE2015,
          layers=(3, 4, 23, 3), stride_on="1x1")
_register("resnet152_v1", "v1", "ResNet-152 as in the 2015 paper: stride on the first 1x1", HE2015,
          layers=(3, 8, 36, 3), stride_on="1x1")

# timm layout: Bag of Tricks tweaks (deep stem "c", avg-pool shortcut "d", wide stem "s",
# tiered stem "t") and more.
_register("resnet18d", "tweaks", "ResNet-18-D: deep 3x3 stem, avg-pool shortcut", HE2019, "timm:resnet18d",
          layers=(2, 2, 2, 2), **BASIC, **DEEP_D)
_register("resnet26", "tweaks", "ResNet-26: bottlenecks [2,2,2,2]", "timm", "timm:resnet26", layers=(2, 2, 2, 2))
_register("resnet26d", "tweaks", "ResNet-26-D: deep stem, avg-pool shortcut", HE2019, "timm:resnet26d",
          layers=(2, 2, 2, 2), **DEEP_D)
_register("resnet34d", "tweaks", "ResNet-34-D: deep stem, avg-pool shortcut", HE2019, "timm:resnet34d",
          layers=(3, 4, 6, 3), **BASIC, **DEEP_D)
_register("resnet50c", "tweaks", "ResNet-50-C: deep 3x3 stem (32, 32, 64)", HE2019, "timm:resnet50c",
          stem="deep", stem_width=32)
_register("resnet50d", "tweaks", "ResNet-50-D: deep stem and avg-pool shortcut", HE2019, "timm:resnet50d", **DEEP_D)
_register("resnet50s", "tweaks", "ResNet-50-S: deep stem of width 64 (64, 64, 128)", "timm (from the PSPNet stem)",
          "timm:resnet50s", stem="deep", stem_width=64)
_register("resnet50t", "tweaks", "ResNet-50-T: tiered deep stem (24, 32, 64), avg-pool shortcut", "timm",
          "timm:resnet50t", stem="tiered", stem_width=32, shortcut="avg_down")
_register("resnet101d", "tweaks", "ResNet-101-D", HE2019, "timm:resnet101d", layers=(3, 4, 23, 3), **DEEP_D)
_register("resnet152d", "tweaks", "ResNet-152-D", HE2019, "timm:resnet152d", layers=(3, 8, 36, 3), **DEEP_D)
_register("resnet200", "tweaks", "ResNet-200: bottlenecks [3,24,36,3]", HE2016, "timm:resnet200",
          layers=(3, 24, 36, 3))
_register("resnet200d", "tweaks", "ResNet-200-D", HE2019, "timm:resnet200d", layers=(3, 24, 36, 3), **DEEP_D)
_register("resnext101_32x4d", "resnext", "ResNeXt-101 32x4d", XIE2017, "timm:resnext101_32x4d",
          layers=(3, 4, 23, 3), groups=32, width_per_group=4)
_register("seresnet50", "se", "SE-ResNet-50: squeeze-and-excitation in every block", HU2018, "timm:seresnet50",
          attn="se")
_register("resnetv2_50", "preact", "ResNet-50 v2: pre-activation bottlenecks", HE2016, "timm:resnetv2_50", preact=True)
_register("preact_resnet18", "preact", "Pre-activation ResNet-18 (basic units)", HE2016, "timm:resnetv2_18",
          layers=(2, 2, 2, 2), preact=True, **BASIC)

# More of timm's ResNets: Bag-of-Tricks stems and shortcuts at other depths, wider ResNeXts, and
# squeeze-and-excitation on every kind of block (timm's seresnet*/seresnext*).
TIERED_D = dict(stem="tiered", stem_width=32, shortcut="avg_down")
DEEP_C = dict(stem="deep", stem_width=32)
_register("resnet10t", "tweaks", "ResNet-10-T: basic blocks [1,1,1,1], tiered stem, avg-pool shortcut", "timm",
          "timm:resnet10t", layers=(1, 1, 1, 1), **BASIC, **TIERED_D)
_register("resnet14t", "tweaks", "ResNet-14-T: bottlenecks [1,1,1,1], tiered stem, avg-pool shortcut", "timm",
          "timm:resnet14t", layers=(1, 1, 1, 1), **TIERED_D)
_register("resnet26t", "tweaks", "ResNet-26-T: bottlenecks [2,2,2,2], tiered stem, avg-pool shortcut", "timm",
          "timm:resnet26t", layers=(2, 2, 2, 2), **TIERED_D)
_register("resnet101c", "tweaks", "ResNet-101-C: deep 3x3 stem (32, 32, 64)", HE2019, "timm:resnet101c",
          layers=(3, 4, 23, 3), **DEEP_C)
_register("resnet101s", "tweaks", "ResNet-101-S: deep stem of width 64", "timm (from the PSPNet stem)",
          "timm:resnet101s", layers=(3, 4, 23, 3), stem="deep")
_register("resnet152c", "tweaks", "ResNet-152-C: deep 3x3 stem (32, 32, 64)", HE2019, "timm:resnet152c",
          layers=(3, 8, 36, 3), **DEEP_C)
_register("resnet152s", "tweaks", "ResNet-152-S: deep stem of width 64", "timm (from the PSPNet stem)",
          "timm:resnet152s", layers=(3, 8, 36, 3), stem="deep")
_register("resnext50d_32x4d", "resnext", "ResNeXt-50-D 32x4d: deep stem, avg-pool shortcut", XIE2017,
          "timm:resnext50d_32x4d", groups=32, width_per_group=4, **DEEP_D)
_register("resnext101_32x16d", "resnext", "ResNeXt-101 32x16d", XIE2017, "timm:resnext101_32x16d",
          layers=(3, 4, 23, 3), groups=32, width_per_group=16)
_register("resnext101_32x32d", "resnext", "ResNeXt-101 32x32d", XIE2017, "timm:resnext101_32x32d",
          layers=(3, 4, 23, 3), groups=32, width_per_group=32)
_register("seresnet18", "se", "SE-ResNet-18: basic blocks with squeeze-and-excitation", HU2018, "timm:seresnet18",
          layers=(2, 2, 2, 2), attn="se", **BASIC)
_register("seresnet34", "se", "SE-ResNet-34: basic blocks with squeeze-and-excitation", HU2018, "timm:seresnet34",
          attn="se", **BASIC)
_register("seresnet50t", "se", "SE-ResNet-50-T: tiered stem, avg-pool shortcut", HU2018, "timm:seresnet50t",
          attn="se", **TIERED_D)
_register("seresnet101", "se", "SE-ResNet-101", HU2018, "timm:seresnet101", layers=(3, 4, 23, 3), attn="se")
_register("seresnet152", "se", "SE-ResNet-152", HU2018, "timm:seresnet152", layers=(3, 8, 36, 3), attn="se")
_register("seresnet152d", "se", "SE-ResNet-152-D: deep stem, avg-pool shortcut", HU2018, "timm:seresnet152d",
          layers=(3, 8, 36, 3), attn="se", **DEEP_D)
_register("seresnet200d", "se", "SE-ResNet-200-D", HU2018, "timm:seresnet200d", layers=(3, 24, 36, 3), attn="se",
          **DEEP_D)
_register("seresnet269d", "se", "SE-ResNet-269-D: bottlenecks [3,30,48,8]", HU2018, "timm:seresnet269d",
          layers=(3, 30, 48, 8), attn="se", **DEEP_D)
_register("seresnext26d_32x4d", "se", "SE-ResNeXt-26-D 32x4d", HU2018, "timm:seresnext26d_32x4d",
          layers=(2, 2, 2, 2), groups=32, width_per_group=4, attn="se", **DEEP_D)
_register("seresnext26t_32x4d", "se", "SE-ResNeXt-26-T 32x4d: tiered stem", HU2018, "timm:seresnext26t_32x4d",
          layers=(2, 2, 2, 2), groups=32, width_per_group=4, attn="se", **TIERED_D)
_register("seresnext50_32x4d", "se", "SE-ResNeXt-50 32x4d", HU2018, "timm:seresnext50_32x4d", groups=32,
          width_per_group=4, attn="se")
_register("seresnext101_32x4d", "se", "SE-ResNeXt-101 32x4d", HU2018, "timm:seresnext101_32x4d",
          layers=(3, 4, 23, 3), groups=32, width_per_group=4, attn="se")
_register("seresnext101_32x8d", "se", "SE-ResNeXt-101 32x8d", HU2018, "timm:seresnext101_32x8d",
          layers=(3, 4, 23, 3), groups=32, width_per_group=8, attn="se")
_register("seresnext101_64x4d", "se", "SE-ResNeXt-101 64x4d", HU2018, "timm:seresnext101_64x4d",
          layers=(3, 4, 23, 3), groups=64, width_per_group=4, attn="se")
_register("seresnext101d_32x8d", "se", "SE-ResNeXt-101-D 32x8d: deep stem, avg-pool shortcut", HU2018,
          "timm:seresnext101d_32x8d", layers=(3, 4, 23, 3), groups=32, width_per_group=8, attn="se", **DEEP_D)

# Anti-aliased downsampling (timm's resnetblur*, resnetaa*): the same tensors as the plain networks,
# other logits.
ZHANG2019 = "Zhang 2019, Making Convolutional Networks Shift-Invariant Again (arXiv:1904.11486)"
_register("resnetblur18", "aa", "ResNet-18 with blur-pool anti-aliasing", ZHANG2019, "timm:resnetblur18",
          layers=(2, 2, 2, 2), aa="blur", **BASIC)
_register("resnetblur50", "aa", "ResNet-50 with blur-pool anti-aliasing", ZHANG2019, "timm:resnetblur50", aa="blur")
_register("resnetblur50d", "aa", "ResNet-50-D with blur-pool anti-aliasing", ZHANG2019, "timm:resnetblur50d",
          aa="blur", **DEEP_D)
_register("resnetblur101d", "aa", "ResNet-101-D with blur-pool anti-aliasing", ZHANG2019, "timm:resnetblur101d",
          layers=(3, 4, 23, 3), aa="blur", **DEEP_D)
_register("resnetaa34d", "aa", "ResNet-34-D with average-pool anti-aliasing", ZHANG2019, "timm:resnetaa34d",
          aa="avg", **BASIC, **DEEP_D)
_register("resnetaa50", "aa", "ResNet-50 with average-pool anti-aliasing", ZHANG2019, "timm:resnetaa50", aa="avg")
_register("resnetaa50d", "aa", "ResNet-50-D with average-pool anti-aliasing", ZHANG2019, "timm:resnetaa50d",
          aa="avg", **DEEP_D)
_register("resnetaa101d", "aa", "ResNet-101-D with average-pool anti-aliasing", ZHANG2019, "timm:resnetaa101d",
          layers=(3, 4, 23, 3), aa="avg", **DEEP_D)
_register("seresnetaa50d", "aa", "SE-ResNet-50-D with average-pool anti-aliasing", ZHANG2019,
          "timm:seresnetaa50d", aa="avg", attn="se", **DEEP_D)
_register("seresnextaa101d_32x8d", "aa", "SE-ResNeXt-101-D 32x8d with average-pool anti-aliasing", ZHANG2019,
          "timm:seresnextaa101d_32x8d", layers=(3, 4, 23, 3), groups=32, width_per_group=8, aa="avg", attn="se",
          **DEEP_D)
_register("seresnextaa201d_32x8d", "aa", "SE-ResNeXt-201-D 32x8d with average-pool anti-aliasing, stem width 64",
          ZHANG2019, "timm:seresnextaa201d_32x8d", layers=(3, 24, 36, 4), groups=32, width_per_group=8, aa="avg",
          attn="se", stem="deep", stem_width=64, shortcut="avg_down")

# timm's ResNetV2: pre-activation units; "d": deep stem and avg-pool shortcuts, "t": tiered stem.
V2 = dict(preact=True)
V2_D = dict(preact=True, stem="deep", stem_width=32, shortcut="avg_down")
V2_T = dict(preact=True, stem="tiered", stem_width=32, shortcut="avg_down")
_register("resnetv2_18", "preact", "ResNet-18 v2: pre-activation basic units", HE2016, "timm:resnetv2_18",
          layers=(2, 2, 2, 2), **BASIC, **V2)
_register("resnetv2_18d", "preact", "ResNet-18-D v2: deep stem, avg-pool shortcut", HE2016, "timm:resnetv2_18d",
          layers=(2, 2, 2, 2), **BASIC, **V2_D)
_register("resnetv2_34", "preact", "ResNet-34 v2: pre-activation basic units", HE2016, "timm:resnetv2_34",
          **BASIC, **V2)
_register("resnetv2_34d", "preact", "ResNet-34-D v2: deep stem, avg-pool shortcut", HE2016, "timm:resnetv2_34d",
          **BASIC, **V2_D)
_register("resnetv2_50d", "preact", "ResNet-50-D v2: deep stem, avg-pool shortcut", HE2016, "timm:resnetv2_50d",
          **V2_D)
_register("resnetv2_50t", "preact", "ResNet-50-T v2: tiered stem, avg-pool shortcut", HE2016, "timm:resnetv2_50t",
          **V2_T)
_register("resnetv2_101", "preact", "ResNet-101 v2: pre-activation bottlenecks", HE2016, "timm:resnetv2_101",
          layers=(3, 4, 23, 3), **V2)
_register("resnetv2_101d", "preact", "ResNet-101-D v2", HE2016, "timm:resnetv2_101d", layers=(3, 4, 23, 3), **V2_D)
_register("resnetv2_152", "preact", "ResNet-152 v2: pre-activation bottlenecks", HE2016, "timm:resnetv2_152",
          layers=(3, 8, 36, 3), **V2)
_register("resnetv2_152d", "preact", "ResNet-152-D v2", HE2016, "timm:resnetv2_152d", layers=(3, 8, 36, 3), **V2_D)
_register("resnetv2_50d_evos", "preact", "ResNet-50-D v2 with EvoNorm-S0 in place of BN-ReLU", LIU2020,
          "timm:resnetv2_50d_evos", norm="evonorm", **V2_D)
_register("resnetv2_50d_frn", "preact", "ResNet-50-D v2 with filter response norm and TLU", SINGH2020,
          "timm:resnetv2_50d_frn", norm="frn", **V2_D)
_register("resnetv2_50d_gn", "preact", "ResNet-50-D v2 with GroupNorm (32 groups)", WU2018, "timm:resnetv2_50d_gn",
          norm="group", **V2_D)

# BiT (Big Transfer): pre-activation, weight-standardized convs, GroupNorm, BiT's zero-padded stem pool;
# "xN" multiplies every width.
BIT = dict(preact=True, std_conv=True, norm="group", stem_pool="fixed")
for _depth, _layers, _factors in ((50, (3, 4, 6, 3), (1, 3)), (101, (3, 4, 23, 3), (1, 3)),
                                  (152, (3, 8, 36, 3), (2, 4))):
    for _wf in _factors:
        _register(f"resnetv2_{_depth}x{_wf}_bit", "bit", f"BiT ResNet-{_depth}x{_wf}: widths x{_wf}", KOLESNIKOV2020,
                  f"timm:resnetv2_{_depth}x{_wf}_bit", layers=_layers, widths=tuple(w * _wf for w in (64, 128, 256, 512)),
                  stem_width=64 * _wf, **BIT)

# Res2Net: "26w_4s" is 26 channels per scale (per 64 of stage width) and 4 scales.
R2 = dict(block="res2net")
for _name, _layers, _wpg, _scales in (("res2net50_26w_4s", (3, 4, 6, 3), 26, 4), ("res2net50_26w_6s", (3, 4, 6, 3), 26, 6),
                                      ("res2net50_26w_8s", (3, 4, 6, 3), 26, 8), ("res2net50_48w_2s", (3, 4, 6, 3), 48, 2),
                                      ("res2net50_14w_8s", (3, 4, 6, 3), 14, 8), ("res2net101_26w_4s", (3, 4, 23, 3), 26, 4)):
    _register(_name, "res2net", f"Res2Net-{50 if _layers[2] == 6 else 101}: {_scales} scales of {_wpg} channels",
              GAO2019, f"timm:{_name}", layers=_layers, width_per_group=_wpg, scales=_scales, **R2)
_register("res2next50", "res2net", "Res2NeXt-50: 4 scales, 8 groups of 4 channels", GAO2019, "timm:res2next50",
          width_per_group=4, groups=8, scales=4, **R2)
_register("res2net50d", "res2net", "Res2Net-50-D: deep stem, avg-pool shortcut", GAO2019, "timm:res2net50d",
          width_per_group=26, scales=4, **R2, **DEEP_D)
_register("res2net101d", "res2net", "Res2Net-101-D: deep stem, avg-pool shortcut", GAO2019, "timm:res2net101d",
          layers=(3, 4, 23, 3), width_per_group=26, scales=4, **R2, **DEEP_D)

# ResNeSt: "d" deep stem of 32, "e" of 64, avg-pool shortcuts; "4s2x40d": radix 4, 2 groups of 40.
NEST = dict(block="resnest", stem="deep", shortcut="avg_down")
for _name, _layers, _stem in (("resnest14d", (1, 1, 1, 1), 32), ("resnest26d", (2, 2, 2, 2), 32),
                              ("resnest50d", (3, 4, 6, 3), 32), ("resnest101e", (3, 4, 23, 3), 64),
                              ("resnest200e", (3, 24, 36, 3), 64), ("resnest269e", (3, 30, 48, 8), 64)):
    _register(_name, "resnest", f"ResNeSt-{_name[7:-1]}: radix 2, stem width {_stem}", ZHANG2020, f"timm:{_name}",
              layers=_layers, stem_width=_stem, **NEST)
_register("resnest50d_4s2x40d", "resnest", "ResNeSt-50: radix 4, 2 groups of 40, pool before the 3x3", ZHANG2020,
          "timm:resnest50d_4s2x40d", stem_width=32, radix=4, groups=2, width_per_group=40, avd_first=True, **NEST)
_register("resnest50d_1s4x24d", "resnest", "ResNeSt-50: radix 1, 4 groups of 24, pool before the 3x3", ZHANG2020,
          "timm:resnest50d_1s4x24d", stem_width=32, radix=1, groups=4, width_per_group=24, avd_first=True, **NEST)

# SKNet as timm builds it: the selective-kernel conv replaces each block's 3x3.
SK_BASIC = dict(sk="split", sk_reduction=8, sk_divisor=16, **BASIC)
_register("skresnet18", "sknet", "SK-ResNet-18: selective-kernel basic blocks", LI2019, "timm:skresnet18",
          layers=(2, 2, 2, 2), **SK_BASIC)
_register("skresnet34", "sknet", "SK-ResNet-34: selective-kernel basic blocks", LI2019, "timm:skresnet34", **SK_BASIC)
_register("skresnet50", "sknet", "SK-ResNet-50: selective-kernel bottlenecks", LI2019, "timm:skresnet50", sk="split")
_register("skresnet50d", "sknet", "SK-ResNet-50-D: deep stem, avg-pool shortcut", LI2019, "timm:skresnet50d",
          sk="split", **DEEP_D)
_register("skresnext50_32x4d", "sknet", "SK-ResNeXt-50 32x4d: paths read every input channel", LI2019,
          "timm:skresnext50_32x4d", groups=32, width_per_group=4, sk="whole", sk_divisor=32)

_register("senet154", "se", "SENet-154: SE-ResNeXt 64x4d [3,8,36,3], deep stem of 64, 3x3 projections, first "
          "1x1 halved", HU2018, "timm:senet154", layers=(3, 8, 36, 3), groups=64, width_per_group=4, attn="se",
          stem="deep", stem_width=64, shortcut_kernel=3, reduce_first=2)

# Efficient channel attention in every block (timm's ecaresnet*).
ECA = dict(attn="eca")
_register("ecaresnet26t", "eca", "ECA-ResNet-26-T: tiered stem, avg-pool shortcut", WANG2020, "timm:ecaresnet26t",
          layers=(2, 2, 2, 2), **ECA, **TIERED_D)
_register("ecaresnet50d", "eca", "ECA-ResNet-50-D: deep stem, avg-pool shortcut", WANG2020, "timm:ecaresnet50d",
          **ECA, **DEEP_D)
_register("ecaresnet50t", "eca", "ECA-ResNet-50-T: tiered stem, avg-pool shortcut", WANG2020, "timm:ecaresnet50t",
          **ECA, **TIERED_D)
_register("ecaresnetlight", "eca", "ECA-ResNet-light: bottlenecks [1,1,11,3], avg-pool shortcut", WANG2020,
          "timm:ecaresnetlight", layers=(1, 1, 11, 3), shortcut="avg_down", **ECA)
_register("ecaresnet101d", "eca", "ECA-ResNet-101-D", WANG2020, "timm:ecaresnet101d", layers=(3, 4, 23, 3),
          **ECA, **DEEP_D)
_register("ecaresnet200d", "eca", "ECA-ResNet-200-D", WANG2020, "timm:ecaresnet200d", layers=(3, 24, 36, 3),
          **ECA, **DEEP_D)
_register("ecaresnet269d", "eca", "ECA-ResNet-269-D: bottlenecks [3,30,48,8]", WANG2020, "timm:ecaresnet269d",
          layers=(3, 30, 48, 8), **ECA, **DEEP_D)
_register("ecaresnext26t_32x4d", "eca", "ECA-ResNeXt-26-T 32x4d: tiered stem", WANG2020, "timm:ecaresnext26t_32x4d",
          layers=(2, 2, 2, 2), groups=32, width_per_group=4, **ECA, **TIERED_D)
_register("ecaresnext50t_32x4d", "eca", "ECA-ResNeXt-50-T 32x4d: tiered stem", WANG2020, "timm:ecaresnext50t_32x4d",
          groups=32, width_per_group=4, **ECA, **TIERED_D)

# Pruned (Aflalo et al. 2020): every layer its own width, from timm's pruning tables.
for _name, _layers in (("ecaresnet50d_pruned", (3, 4, 6, 3)), ("ecaresnet101d_pruned", (3, 4, 23, 3))):
    _stages, _blocks = width_tables()[_name]
    _register(_name, "eca", f"ECA-ResNet-{_name[9:-8].upper()} pruned: per-layer widths from a width table",
              AFLALO2020, f"timm:{_name}", layers=_layers, stage_channels=_stages, block_channels=_blocks,
              **ECA, **DEEP_D)

# ResNet-RS: SE (reduction 4) in every block, deep stem, a strided 3x3 conv in place of the max-pool.
RS = dict(attn="se", attn_reduction=4, stem_pool="conv", **DEEP_D)
for _name, _layers, _size in (("resnetrs50", (3, 4, 6, 3), 160), ("resnetrs101", (3, 4, 23, 3), 192),
                              ("resnetrs152", (3, 8, 36, 3), 256), ("resnetrs200", (3, 24, 36, 3), 256),
                              ("resnetrs270", (4, 29, 53, 4), 256), ("resnetrs350", (4, 36, 72, 4), 288),
                              ("resnetrs420", (4, 44, 87, 4), 320)):
    _register(_name, "rs", f"ResNet-RS-{_name[8:]}: bottlenecks [{','.join(map(str, _layers))}], trained at "
              f"{_size}x{_size}", BELLO2021, f"timm:{_name}", layers=_layers, image_size=_size, **RS)

_register("resnet50_gn", "norm", "ResNet-50 with GroupNorm (32 groups) in place of BatchNorm", WU2018,
          "timm:resnet50_gn", norm="group")

# CIFAR-10 networks of the 2015 paper (Sec. 4.2): 6n+2 layers, option A shortcuts, 32x32 input.
for _depth in (20, 32, 44, 56, 110, 1202):
    _n = (_depth - 2) // 6
    _register(f"resnet{_depth}", "cifar", f"CIFAR ResNet-{_depth}: 3 stages of {_n} basic blocks, zero-pad shortcuts",
              HE2015 + ", Sec. 4.2", layers=(_n, _n, _n), widths=(16, 32, 64), stem="cifar", stem_width=16,
              stem_pool="none", shortcut="zero_pad", num_classes=10, image_size=32, **BASIC)

# CLIP's image encoders (OpenAI, OpenCLIP): ``num_classes`` is the width of the image embedding the attention
# pool projects to, ``image_size`` the side its positional embedding is made for.
CLIP = dict(stem="deep", stem_pool="avg", shortcut="avg_down", aa="avg", global_pool="attention")
for _name, _layers, _width, _embed, _size in (("RN50", (3, 4, 6, 3), 64, 1024, 224),
                                              ("RN101", (3, 4, 23, 3), 64, 512, 224),
                                              ("RN50x4", (4, 6, 10, 6), 80, 640, 288),
                                              ("RN50x16", (6, 8, 18, 8), 96, 768, 384),
                                              ("RN50x64", (3, 15, 36, 10), 128, 1024, 448)):
    _register(f"clip_{_name.lower()}", "clip", f"CLIP {_name} image encoder: bottlenecks [{','.join(map(str, _layers))}], "
              f"width {_width}, a {_embed}-wide embedding at {_size}x{_size}", RADFORD2021, f"open_clip:{_name}",
              layers=_layers, widths=tuple(_width * 2**i for i in range(4)), stem_width=_width // 2,
              num_classes=_embed, image_size=_size, **CLIP)


def variants() -> dict[str, Variant]:
    """All registered variants by name, in registration order."""
    return dict(_REGISTRY)


def get_variant(name: str) -> Variant:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=4, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else "; run 'resnet-inspect list' for all"
        raise UserError(f"unknown variant {name!r}{hint}") from None
