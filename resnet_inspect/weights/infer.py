"""Which ResNet a state dict is, read from its tensors' names and shapes alone.

The spec is inferred field by field (block, blocks per stage, widths, groups, stem, shortcut, SE,
classes, input channels), then checked: the network built from it on meta must have exactly the
file's tensors. Fields that leave no trace in the weights (where a bottleneck strides, whether the
stem max-pools, dilation) are said to be unknown, never guessed silently."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from ..errors import UserError
from ..model.registry import variants
from ..model.spec import ResNetSpec
from ..model.tables import shapes_digest, state_digests

if TYPE_CHECKING:
    from .read import WeightsFile

# Fields the weights cannot show: networks that differ only in these have the same tensors.
INVISIBLE = ("stride_on", "stem_pool", "dilate", "image_size", "zero_init_last", "aa", "std_conv", "avd_first")
Shapes = dict[str, tuple[int, ...]]


@dataclass
class Identification:
    spec: ResNetSpec | None  # None when the tensors are not a ResNet this tool builds
    headless: bool  # no classifier in the file
    matches: list[str]  # registered variants with exactly these tensors
    closest: str | None = None  # the nearest registered variant when none matches
    differences: list[str] = field(default_factory=list)  # how the file differs from ``closest``
    unknown: list[str] = field(default_factory=list)  # what the weights cannot tell
    problem: str | None = None  # why no spec could be inferred
    renamed_classifier: str | None = None  # the classifier's name when it is not fc (a fine-tune's "classifier")


@cache
def expected_shapes(spec: ResNetSpec) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Names and shapes of the state dict of the network ``spec`` describes (built on meta)."""
    import torch

    from ..model.network import build_from_spec

    with torch.device("meta"):
        model = build_from_spec(spec)
    return tuple((name, tuple(t.shape)) for name, t in model.state_dict().items())


def variant_state_digests() -> dict[str, dict[str, str]]:
    """Every registered variant's state-dict digest, whole and headless (built on meta): the table
    `identify` reads to name a file without torch."""
    out = {}
    for name, variant in variants().items():
        expected = dict(expected_shapes(variant.spec))
        headless = {k: v for k, v in expected.items() if k not in _classifier_keys(expected)}
        out[name] = {"whole": shapes_digest(expected.items()), "headless": shapes_digest(headless.items())}
    return out


def _registered_matches(spec: ResNetSpec, shapes: Shapes, headless: bool) -> list[str] | None:
    """The registered variants whose state dict is exactly ``shapes``, from the digest table (no torch);
    None when none is (the caller then builds the inferred network to compare)."""
    digest = shapes_digest(shapes.items())
    kind = "headless" if headless else "whole"
    table = state_digests()
    registry = variants()
    found = [
        name
        for name, variant in registry.items()
        if table.get(name, {}).get(kind) == digest
        and visible_fields(variant.spec)
        == visible_fields(spec.replace(num_classes=variant.spec.num_classes) if headless else spec)
    ]
    return found or None


def _classifier_keys(shapes: Shapes) -> list[str]:
    return [k for k in shapes if k.startswith(("fc.", "head.fc."))]


def _stage_blocks(shapes: Shapes, pattern: str) -> dict[int, set[int]]:
    stages: dict[int, set[int]] = {}
    for name in shapes:
        match = re.match(pattern, name)
        if match:
            stages.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    return stages


def infer_spec(shapes: Shapes) -> tuple[ResNetSpec, bool]:
    """The spec of a state dict, and whether it has no classifier; ValueError when it is not a ResNet."""
    # The spec read field by field from the tensors' shapes; each step uses what the ones before it found.
    preact = any(name.startswith("stages.") for name in shapes)
    block_pattern = r"^stages\.(\d+)\.blocks\.(\d+)\." if preact else r"^layer(\d+)\.(\d+)\."
    stages = _stage_blocks(shapes, block_pattern)
    if not stages:
        raise UserError("no residual stages (layer1.0.* or stages.0.blocks.0.*) among its tensors")
    order = sorted(stages)
    if order != list(range(order[0], order[0] + len(order))) or any(
        sorted(b) != list(range(len(b))) for b in stages.values()
    ):
        raise UserError("its stages or blocks are not numbered consecutively")

    def block(stage: int, index: int) -> str:
        return f"stages.{stage}.blocks.{index}." if preact else f"layer{stage}.{index}."

    if "attnpool.positional_embedding" in shapes:
        return _clip_spec(shapes, stages, order)

    def shape(name: str) -> tuple[int, ...]:
        if name not in shapes:
            raise UserError(f"it has no {name} although the rest looks like a ResNet")
        return shapes[name]

    bottleneck = block(order[0], 0) + "conv3.weight" in shapes
    if block(order[0], 0) + "convs.0.weight" in shapes:
        return _res2net_spec(shapes, stages, order, block)
    if not preact and (
        block(order[0], 0) + "conv2.fc1.weight" in shapes
        or any(block(order[0], 0) + f"conv{i}.paths.0.conv.weight" in shapes for i in (1, 2))
    ):
        return _branchy_spec(shapes, stages, order, block)
    widths = []
    for stage in order:
        out = shape(block(stage, 0) + ("conv3.weight" if bottleneck else "conv2.weight"))[0]
        widths.append(out // 4 if bottleneck else out)
    fields: dict = dict(
        block="bottleneck" if bottleneck else "basic",
        layers=tuple(len(stages[s]) for s in order),
        widths=tuple(widths),
        preact=preact,
    )
    if bottleneck and not preact and _is_pruned(shapes, stages, order, block):
        # Every layer its own width (timm's *_pruned): a width table, around the usual nominal widths.
        fields.update(
            widths=tuple(64 * 2**i for i in range(len(order))),
            stage_channels=tuple(shape(block(s, 0) + "conv3.weight")[0] for s in order),
            block_channels=tuple(
                shape(block(s, b) + f"conv{c}.weight")[0] for s in order for b in sorted(stages[s]) for c in (1, 2)
            ),
        )
        bottleneck = False  # widths and groups are set
    if bottleneck:
        conv2 = shape(block(order[0], 0) + "conv2.weight")
        first = shape(block(order[0], 0) + "conv1.weight")[0]
        inner, groups = conv2[0], first // conv2[1]
        fields.update(groups=groups, width_per_group=inner // groups * 64 // widths[0])
        if first != inner and not preact:
            fields["reduce_first"] = inner // first
    if any(len(v) == 4 and v[-1] == 3 for k, v in shapes.items() if k.endswith("downsample.0.weight")):
        fields["shortcut_kernel"] = 3
    fields.update(_stem(shapes, preact))
    fields["shortcut"] = _shortcut(shapes, [block(s, 0) for s in order], preact)
    fields.update(_attention(shapes, block(order[0], 0)))
    first_norm = block(order[0], 0) + ("norm1" if preact else "bn1")
    if f"{first_norm}.v" in shapes:
        fields["norm"] = "evonorm"
    elif f"{first_norm}.tau" in shapes:
        fields["norm"] = "frn"
    elif f"{first_norm}.weight" in shapes and f"{first_norm}.running_mean" not in shapes:
        fields["norm"] = "group"  # a norm with affine terms and no running statistics
    if not preact and "maxpool.0.weight" in shapes:
        fields["stem_pool"] = "conv"
    if fields.get("stem") == "cifar":
        fields.update(stem_pool="none", image_size=32)
    return _with_head(fields, shapes)


def _branchy_spec(
    shapes: Shapes, stages: dict, order: list[int], block: Callable[[int, int], str]
) -> tuple[ResNetSpec, bool]:
    """ResNeSt (``conv2.conv`` + ``conv2.fc1``: split attention) and SKNet (``paths``: selective kernels)."""
    first = block(order[0], 0)
    fields: dict = dict(layers=tuple(len(stages[s]) for s in order))
    if first + "conv2.fc1.weight" in shapes:
        inner = shapes[first + "conv1.weight"][0]
        widths = [shapes[block(s, 0) + "conv3.weight"][0] // 4 for s in order]
        groups = inner // shapes[first + "conv2.fc1.weight"][1]
        fields.update(
            block="resnest",
            radix=shapes[first + "conv2.conv.weight"][0] // inner,
            groups=groups,
            width_per_group=inner // groups * 64 // widths[0],
        )
    else:
        basic = first + "conv1.paths.0.conv.weight" in shapes
        sk_conv = "conv1" if basic else "conv2"
        path = shapes[f"{first}{sk_conv}.paths.0.conv.weight"]
        out_key = "conv2.conv.weight" if basic else "conv3.conv.weight"
        widths = [shapes[block(s, 0) + out_key][0] // (1 if basic else 4) for s in order]
        stem = _stem(shapes, False)
        # What the selective-kernel conv reads: the block's input (basic) or its 1x1's output.
        in_chs = (
            stem["stem_width"] * (2 if stem["stem"] in ("deep", "tiered") else 1)
            if basic
            else shapes[first + "conv1.conv.weight"][0]
        )
        split = path[1] * 2 == in_chs
        groups = 1 if split else in_chs // path[1]
        fields.update(block="basic" if basic else "bottleneck", sk="split" if split else "whole", groups=groups)
        if not basic:
            fields["width_per_group"] = path[0] // groups * 64 // widths[0]
        reduced = {shapes[f"{block(s, 0)}{sk_conv}.attn.fc_reduce.weight"][:2] for s in order}
        for reduction, divisor in ((16, 8), (8, 16), (16, 32)):
            if all(r == max(divisor, int(c / reduction + divisor / 2) // divisor * divisor) for r, c in reduced):
                fields.update(sk_reduction=reduction, sk_divisor=divisor)
                break
        else:
            raise UserError("its selective-kernel attention reduces channels in a way no known SKNet does")
    fields["widths"] = tuple(widths)
    fields.update(_stem(shapes, False))
    fields["shortcut"] = _shortcut(shapes, [block(s, 0) for s in order], False)
    return _with_head(fields, shapes)


def _clip_spec(shapes: Shapes, stages: dict, order: list[int]) -> tuple[ResNetSpec, bool]:
    """CLIP's ModifiedResNet: a three-conv stem with top-level names, attention pooling whose positional
    embedding gives the input side (one position per cell of the last map, plus the mean)."""
    positions = shapes["attnpool.positional_embedding"][0] - 1
    side = math.isqrt(positions)
    if side * side != positions or "conv3.weight" not in shapes or "attnpool.c_proj.weight" not in shapes:
        raise UserError("an attention pool without a square grid of positions or a three-conv stem")
    spec = ResNetSpec(
        layers=tuple(len(stages[s]) for s in order),
        widths=tuple(shapes[f"layer{s}.0.conv3.weight"][0] // 4 for s in order),
        stem="deep",
        stem_width=shapes["conv1.weight"][0],
        stem_pool="avg",
        shortcut="avg_down",
        aa="avg",
        global_pool="attention",
        num_classes=shapes["attnpool.c_proj.weight"][0],
        image_size=side * 32,
        in_chans=shapes["conv1.weight"][1],
    )
    return spec, False


def _with_head(fields: dict, shapes: Shapes) -> tuple[ResNetSpec, bool]:
    """The spec with its classifier read from the tensors (classes; a classifier taking twice the features
    is timm's catavgmax head), and whether there is none."""
    weight = next((k for k in _classifier_keys(shapes) if k.endswith("weight")), None)
    if weight is not None:
        fields["num_classes"] = shapes[weight][0]
    spec = ResNetSpec(**fields)
    if weight is not None and not spec.preact and shapes[weight][-1] == 2 * spec.feature_channels:
        spec = spec.replace(global_pool="catavgmax")
    return spec, weight is None


def _is_pruned(shapes: Shapes, stages: dict, order: list[int], block: Callable[[int, int], str]) -> bool:
    """Blocks of one stage with different inner widths, a first block's 1x1 whose width does not divide its
    3x3's (a first block that reduces, ``reduce_first``, divides it), or a stage output no multiple of 4."""
    for stage in order:
        if shapes.get(block(stage, 0) + "conv3.weight", (4,))[0] % 4:
            return True
        inner = {shapes.get(block(stage, b) + "conv2.weight", (0,))[0] for b in stages[stage]}
        first = {shapes.get(block(stage, b) + "conv1.weight", (0,))[0] for b in sorted(stages[stage])[1:]}
        if len(inner) > 1 or len(first) > 1:
            return True
        opening = shapes.get(block(stage, 0) + "conv1.weight", (1,))[0]
        if not opening or max(inner) % opening:
            return True
    return False


def _res2net_spec(
    shapes: Shapes, stages: dict, order: list[int], block: Callable[[int, int], str]
) -> tuple[ResNetSpec, bool]:
    """Res2Net: ``convs.N`` hold one scale each (the last scale has no conv)."""
    first = block(order[0], 0)
    widths = [shapes[block(stage, 0) + "conv3.weight"][0] // 4 for stage in order]
    conv = shapes[first + "convs.0.weight"]
    inner, groups = conv[0], conv[0] // conv[1]
    scales = 1 + sum(1 for name in shapes if name.startswith(first + "convs.") and name.endswith(".weight"))
    fields: dict = dict(
        block="res2net",
        layers=tuple(len(stages[s]) for s in order),
        widths=tuple(widths),
        groups=groups,
        width_per_group=inner // groups * 64 // widths[0],
        scales=scales,
    )
    fields.update(_stem(shapes, False))
    fields["shortcut"] = _shortcut(shapes, [block(s, 0) for s in order], False)
    fields.update(_attention(shapes, first))
    return _with_head(fields, shapes)


def _attention(shapes: Shapes, first_block: str) -> dict:
    """SE (``se.fc1``, with the reduction its reduced width implies) or ECA (``se.conv``)."""
    if f"{first_block}se.conv.weight" in shapes:
        return dict(attn="eca")
    fc1 = shapes.get(f"{first_block}se.fc1.weight")
    if fc1 is None:
        return dict(attn="none")
    reduced, channels = fc1[0], fc1[1]
    for reduction in (16, 4, 8, 2, 32):
        if max(8, int(channels / reduction + 4) // 8 * 8) == reduced:
            return dict(attn="se", attn_reduction=reduction)
    raise UserError(
        f"its squeeze-and-excitation reduces {channels} channels to {reduced}, which no reduction "
        "ratio of 2 to 32 gives"
    )


def _stem(shapes: Shapes, preact: bool) -> dict:
    conv = "stem.conv" if preact else "conv1"
    if f"{conv}.weight" in shapes:
        out, in_chans, kernel = shapes[f"{conv}.weight"][:3]
        return dict(stem="classic" if kernel == 7 else "cifar", stem_width=out, in_chans=in_chans)
    first, second = (
        (shapes.get("stem.conv1.weight"), shapes.get("stem.conv2.weight"))
        if preact
        else (shapes.get(f"{conv}.0.weight"), shapes.get(f"{conv}.3.weight"))
    )
    if first is None or second is None:
        raise UserError(f"it has no stem convolution ({conv}.weight, {conv}.0.weight or stem.conv1.weight)")
    return dict(stem="deep" if first[0] == second[0] else "tiered", stem_width=second[0], in_chans=first[1])


def _shortcut(shapes: Shapes, first_blocks: list[str], preact: bool) -> str:
    for prefix in first_blocks:
        if preact and f"{prefix}downsample.conv.weight" in shapes:
            return "projection"  # an average pool before it has no weights: see `unknown`
        if f"{prefix}downsample.0.weight" in shapes and len(shapes[f"{prefix}downsample.0.weight"]) == 4:
            return "projection"
        if f"{prefix}downsample.1.weight" in shapes and len(shapes[f"{prefix}downsample.1.weight"]) == 4:
            return "avg_down"
    return "zero_pad"


def visible_fields(spec: ResNetSpec) -> dict:
    """The fields a spec's tensors show (what a weights file can tell)."""
    visible = {k: v for k, v in spec.to_dict().items() if k not in INVISIBLE}
    if spec.preact and spec.shortcut == "avg_down":
        visible["shortcut"] = "projection"  # a pre-activation projection has no norm: its pool leaves no trace
    return visible


def same_tensors(spec: ResNetSpec, shapes: Shapes, headless: bool) -> bool:
    expected = dict(expected_shapes(spec))
    if headless:
        expected = {k: v for k, v in expected.items() if k not in _classifier_keys(expected)}
    return expected == shapes


def describe_differences(spec: ResNetSpec, other: ResNetSpec, settled: Iterable[str] = ()) -> list[str]:
    """How a network ``spec`` differs from the registered ``other``, in words: the fields its tensors show,
    and the ``settled`` ones a file's layout or config fixes (where a bottleneck strides)."""
    words = {
        "num_classes": "classes",
        "in_chans": "input channels",
        "layers": "blocks per stage",
        "widths": "stage widths",
        "width_per_group": "width per group",
        "stem_width": "stem width",
        "global_pool": "global pooling",
        "stage_channels": "a width table: stage outputs",
        "block_channels": "a width table: block widths",
        "stride_on": "a bottleneck strides in its",
        "aa": "anti-aliasing",
    }
    out = []
    fields = visible_fields(spec) | {key: getattr(spec, key) for key in settled}
    for key, value in fields.items():
        theirs = getattr(other, key)
        if value != (list(theirs) if isinstance(theirs, tuple) else theirs):
            if key == "stem":
                out.append(f"the stem is {value} ({_STEMS[value]}), not {theirs}")
            else:
                out.append(f"{words.get(key, key)} {_text(value)} instead of {_text(theirs)}")
    return out


_STEMS = {
    "classic": "one 7x7 conv",
    "deep": "three 3x3 convs",
    "tiered": "three 3x3 convs, the first narrower",
    "cifar": "one 3x3 conv",
}


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        if not value:
            return "none (the regular widths)"
        items = list(map(str, value))
        return ",".join(items) if len(items) <= 8 else ",".join(items[:6]) + f",... ({len(items)} values)"
    return str(value).lower()


_NETWORK_PARTS = ("conv1", "bn1", "layer", "stem", "stages", "norm.", "fc.", "head.")


def _renamed_classifier(shapes: Shapes) -> str | None:
    """The prefix of a lone linear layer outside the network's own names, when there is no fc: a
    classifier a fine-tune gave another name ("classifier", "head", "linear")."""
    if any(k.startswith(("fc.", "head.fc.")) for k in shapes):
        return None
    outside = [k for k in shapes if not k.startswith(_NETWORK_PARTS)]
    weights = [k[: -len(".weight")] for k in outside if k.endswith(".weight") and len(shapes[k]) == 2]
    if len(weights) != 1 or not set(outside) <= {f"{weights[0]}.weight", f"{weights[0]}.bias"}:
        return None
    return weights[0]


def identify_shapes(shapes: Shapes) -> Identification:
    """Infer the spec of ``shapes`` and name the registered variants it matches, or the closest."""
    renamed = _renamed_classifier(shapes)
    if renamed is not None:
        result = identify_shapes(
            {(f"fc.{k[len(renamed) + 1 :]}" if k.startswith(renamed + ".") else k): v for k, v in shapes.items()}
        )
        result.renamed_classifier = renamed
        return result
    try:
        spec, headless = infer_spec(shapes)
    except ValueError as exc:
        return Identification(None, False, [], problem=f"not a ResNet this tool knows: {exc}")
    except (ArithmeticError, IndexError, TypeError):  # shapes no ResNet has (a zero or missing dimension)
        return Identification(
            None,
            False,
            [],
            problem="not a ResNet this tool knows: its tensors' shapes do not fit together as a ResNet's",
        )
    fast = _registered_matches(spec, shapes, headless)
    if fast is None and not same_tensors(spec, shapes, headless):
        return Identification(
            None,
            headless,
            [],
            problem="not a ResNet this tool builds: a network from the "
            "inferred spec would have other tensors (" + _first_gap(spec, shapes, headless) + ")",
        )
    unknown = [
        "where a bottleneck strides (the first 1x1 as in the 2015 paper, or the 3x3 as in torchvision)"
        if spec.block == "bottleneck"
        else None,
        "whether the stem max-pools (a pool has no weights)",
        "dilation",
        "whether strided blocks blur or average-pool first (anti-aliasing, as timm's resnetblur* and "
        "resnetaa* do; those layers have no weights)",
        "whether the projection shortcuts average-pool first (ResNet-D; a pool has no weights)"
        if spec.preact and spec.shortcut == "projection"
        else None,
        "whether the convolutions standardize their weights (BiT; that has no weights either)"
        if spec.preact and spec.norm == "group"
        else None,
    ]
    if spec.global_pool == "attention":  # CLIP's design: its attention pool says which network it is
        unknown = ["dilation"]
    registry = variants()
    matches = fast or [
        v.name
        for v in registry.values()
        if visible_fields(v.spec) == visible_fields(spec.replace(num_classes=v.spec.num_classes) if headless else spec)
        and same_tensors(v.spec, shapes, headless)
    ]
    result = Identification(spec, headless, matches, unknown=[u for u in unknown if u])
    if not matches:
        closest = min(registry.values(), key=lambda v: len(describe_differences(spec, v.spec)))
        result.closest = closest.name
        result.differences = describe_differences(spec, closest.spec)
    return result


def identify_file(path: str) -> tuple[WeightsFile, Identification]:
    """Read a weights file (headers only where the format allows) and identify it."""
    from .read import read_weights

    weights = read_weights(path)
    ident = identify_shapes(weights.network_shapes)
    settle(ident, weights.fixed)
    return weights, ident


def settle(ident: Identification, fixed: dict[str, str]) -> None:
    """What the file's layout or a config settles that the shapes cannot (a Keras ResNet strides in its
    first 1x1): the matching variants narrowed to those that agree, the inferred spec given it."""
    if not fixed:
        return
    from .hub import narrowed

    ident.matches = narrowed(ident.matches, fixed)
    if ident.spec is not None:
        ident.spec = ident.spec.replace(**fixed)


def _first_gap(spec: ResNetSpec, shapes: Shapes, headless: bool) -> str:
    expected = dict(expected_shapes(spec))
    missing = [k for k in expected if k not in shapes and not (headless and k in _classifier_keys(expected))]
    extra = [k for k in shapes if k not in expected]
    wrong = [k for k in shapes if k in expected and expected[k] != shapes[k]]
    parts = [
        f"{len(missing)} missing, e.g. {missing[0]}" if missing else "",
        f"{len(extra)} more, e.g. {extra[0]}" if extra else "",
        f"{len(wrong)} of other shapes, e.g. {wrong[0]}" if wrong else "",
    ]
    return "; ".join(p for p in parts if p)
