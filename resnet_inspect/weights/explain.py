"""Why a state dict does not load into a network: the key and shape mismatches grouped into a few
sentences, and the ``strict=False`` load that works where one does."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .infer import Shapes
from .read import RIDERS

if TYPE_CHECKING:
    from .read import WeightsFile

CLASSIFIERS = ("fc.", "head.fc.", "classifier.", "head.")
EMA = RIDERS[:4]
HEADS = RIDERS[4:]


@dataclass
class Explanation:
    against: str
    loads_strictly: bool
    sentences: list[str]
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    partial_load: str | None = None  # the strict=False call that loads every tensor that fits
    renamed: bool = False  # the file's names had to be mapped first: the rest is about its tensors renamed


def _stage_depths(names: list[str]) -> dict[str, int]:
    depths: dict[str, int] = {}
    for name in names:
        match = re.match(r"^(layer\d+|stages\.\d+)\.(?:blocks\.)?(\d+)\.", name)
        if match:
            depths[match.group(1)] = max(depths.get(match.group(1), 0), int(match.group(2)) + 1)
    return depths


def explain(shapes: Shapes, expected: Shapes, against: str, structure: list[str] | None = None) -> Explanation:
    """Compare a file's tensors with what ``against`` (a network's state dict) expects; ``structure``
    says first how the file's network differs from it, where that is known."""
    # Each check adds one sentence of the explanation, in the order a reader needs them, and takes the keys it
    # explained.
    # BatchNorm's loader fills in a missing num_batches_tracked itself (files from before it existed).
    missing = [k for k in expected if k not in shapes and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in shapes if k not in expected]
    mismatched = [k for k in shapes if k in expected and shapes[k] != expected[k]]
    result = Explanation(against, not (missing or unexpected or mismatched), [], missing, unexpected, mismatched)
    if result.loads_strictly:
        result.sentences.append(f"every tensor matches {against}: it loads with strict=True")
        if structure:  # what the layout settles beyond the shapes: it loads, and computes another network
            result.sentences.append(
                f"the file's network is not {against}: " + "; ".join(structure) + f": loaded into {against}, "
                "its weights compute another function"
            )
        return result
    accounted: set[str] = set()
    sentences = result.sentences
    if structure:
        sentences.append(f"the file's network is not {against}: " + "; ".join(structure))

    def take(keys: list[str]) -> list[str]:
        accounted.update(keys)
        return keys

    classifier_missing = take([k for k in missing if k.startswith(CLASSIFIERS)])
    if classifier_missing and len(classifier_missing) == sum(1 for k in expected if k.startswith(CLASSIFIERS)):
        sentences.append(f"the file has no classifier ({', '.join(classifier_missing)}): a headless backbone")
    classifier_shape = take([k for k in mismatched if k.startswith(CLASSIFIERS)])
    weight = next((k for k in classifier_shape if k.endswith("weight")), None)
    if weight:
        theirs_fc, ours_fc = shapes[weight], expected[weight]
        what = (
            f"has {theirs_fc[0]:,} classes, not {ours_fc[0]:,}"
            if theirs_fc[0] != ours_fc[0]
            else f"takes {theirs_fc[1]:,} features, not {ours_fc[1]:,}"
        )
        sentences.append(f"its classifier {what} ({weight} is {_shape(theirs_fc)}, {against} has {_shape(ours_fc)})")
    first_conv = next(iter(expected), None)
    if first_conv in mismatched and len(shapes[first_conv]) == 4 and shapes[first_conv][0] == expected[first_conv][0]:
        take([first_conv])
        sentences.append(
            f"its first convolution takes {shapes[first_conv][1]} input channel(s), not "
            f"{expected[first_conv][1]} ({first_conv} is {_shape(shapes[first_conv])})"
        )
    for prefixes, what in (
        (EMA, "an exponential-moving-average copy of the weights"),
        (HEADS, "a detection or segmentation head"),
    ):
        keys = take([k for k in unexpected if k.startswith(prefixes)])
        if keys:
            sentences.append(f"{len(keys)} extra tensors are {what} ({keys[0]}, ...): not part of {against}")
    theirs, ours = _stage_depths(list(shapes)), _stage_depths(list(expected))
    for stage in sorted(set(theirs) | set(ours)):
        if theirs.get(stage, 0) != ours.get(stage, 0):
            sentences.append(
                f"{stage} has {theirs.get(stage, 0)} blocks in the file, {ours.get(stage, 0)} in {against}"
            )
            take([k for k in missing + unexpected if k.startswith(f"{stage}.")])
    rest_missing = [k for k in missing if k not in accounted]
    rest_unexpected = [k for k in unexpected if k not in accounted]
    rest_mismatched = [k for k in mismatched if k not in accounted]
    if rest_missing:
        sentences.append(f"{len(rest_missing)} tensor(s) of {against} are not in the file, e.g. {_few(rest_missing)}")
    if rest_unexpected:
        sentences.append(
            f"{len(rest_unexpected)} tensor(s) of the file are not in {against}, e.g. {_few(rest_unexpected)}"
        )
    if rest_mismatched:
        k = rest_mismatched[0]
        sentences.append(
            f"{len(rest_mismatched)} tensor(s) have other shapes, e.g. {k}: {_shape(shapes[k])} in the "
            f"file, {_shape(expected[k])} in {against}"
        )
    if not mismatched:
        fits = len(expected) - len(missing)
        result.partial_load = (
            f"model.load_state_dict(state_dict, strict=False) loads {fits:,} of the "
            f"{len(expected):,} tensors of {against}"
            + (f"; {len(missing):,} stay as initialised" if missing else "")
            + (f"; {len(unexpected):,} of the file's are ignored" if unexpected else "")
        )
    else:
        result.partial_load = (
            f"drop the {len(mismatched):,} tensor(s) of other shapes ({_few(mismatched, 2)}) "
            f"from the state dict; then model.load_state_dict(state_dict, strict=False) loads "
            f"{len(expected) - len(missing) - len(mismatched):,} of the {len(expected):,} tensors"
        )
    return result


def explain_file(path: str, against: str) -> tuple[WeightsFile, Explanation]:
    """Read a weights file and explain how it loads into the registered variant ``against``.

    Where the file's names are not the network's (a prefix, another ecosystem's layout), the first
    sentence says how many of its tensors load as saved, and the rest is about its tensors renamed as
    ``resnet-inspect convert`` writes them."""
    from ..model.build import resolve_spec
    from .infer import describe_differences, expected_shapes, identify_shapes, settle
    from .read import read_weights

    spec = resolve_spec(against)
    weights = read_weights(path)
    ident = identify_shapes(weights.network_shapes)
    settle(ident, weights.fixed)  # what the shapes cannot tell (a Keras ResNet strides in its first 1x1)
    structure = describe_differences(ident.spec, spec, weights.fixed) if ident.spec is not None else None
    expected = dict(expected_shapes(spec))
    result = explain(weights.saved_shapes, expected, against, structure)
    if weights.prefix or weights.original:
        as_saved = {weights.original.get(k, weights.prefix + k): s for k, s in weights.saved_shapes.items()}
        as_saved |= {k: info.shape for k, info in weights.extra.items()}
        known = sum(1 for name, shape in as_saved.items() if expected.get(name) == shape)
        how = (
            f"its {weights.layout} names map to {against}'s"
            if weights.layout
            else f"the prefix '{weights.prefix}' comes off every name"
        )
        result.renamed = True
        if weights.format.startswith("ONNX"):
            first = (
                f"an ONNX graph holds no state dict to load: {known:,} of its weights carry a name and shape "
                f"{against} has; what follows is about its weights under their modules' names, read from the "
                "graph's node names"
            )
        else:
            first = (
                f"as saved, {known:,} of its {len(as_saved):,} tensors have a name and shape {against} has ({how}); "
                f"what follows is about its tensors renamed, as resnet-inspect convert FILE --to {against} writes them"
            )
        result.sentences.insert(0, first)
        if result.partial_load:
            result.partial_load = "after renaming: " + result.partial_load
    return weights, result


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "a scalar"


def _few(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")
