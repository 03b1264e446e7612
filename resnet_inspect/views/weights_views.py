"""A weights file's identity, and why it does not load, as terminal text and JSON-ready data."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from ..limits import shown
from ..text import visible
from .tables import si


def identification_lines(weights: Any, ident: Any) -> list[str]:
    """What a person needs to know of a weights file, one statement a line."""
    lines = [
        f"{weights.path}: {len(weights.tensors):,} tensors, {si(weights.bytes_on_disk, 'B')} on disk ({weights.format})"
    ]
    where = []
    if weights.container:
        where.append(f"the state dict is under '{weights.container}'")
    if weights.prefix:
        where.append(f"the prefix '{weights.prefix}' was stripped from its names")
    riders = len(weights.tensors) - len(weights.network_shapes)
    if riders:
        where.append(f"{riders:,} tensors ride along that are not the network's (an EMA copy or a head)")
    if weights.extra and not any(note.startswith("set aside") for note in weights.notes):
        where.append(
            f"{len(weights.extra):,} tensors outside it were set aside (e.g. {shown(next(iter(weights.extra)))})"
        )
    if where:
        lines.append("; ".join(where))
    lines += weights.notes
    if ident.spec is None:
        lines.append(ident.problem)
        return lines
    if ident.renamed_classifier:
        lines.append(
            f"its classifier is named '{ident.renamed_classifier}' (fc in the network): rename its two "
            f"tensors to load it"
        )
    if ident.matches:
        headless = " (headless: no classifier)" if ident.headless else ""
        if len(ident.matches) == 1:
            lines.append(f"it is {ident.matches[0]}{headless}")
        else:
            names = ", ".join(ident.matches)
            lines.append(f"it is one of {len(ident.matches)} registered variants{headless}: {names}")
            lines.append("the weights cannot tell them apart: they have the same tensors")
    else:
        lines.append(
            f"no registered variant has these tensors; closest: {ident.closest}, with "
            + "; ".join(ident.differences)
            + (" (headless: no classifier)" if ident.headless else "")
        )
    spec = ident.spec
    lines.append(
        f"spec: {spec.block} blocks {list(spec.layers)}, widths {list(spec.widths)}"
        + (
            f", {spec.groups} groups x width {spec.width_per_group}"
            if spec.block == "bottleneck" and (spec.groups, spec.width_per_group) != (1, 64)
            else ""
        )
        + f", {spec.stem} stem (width {spec.stem_width}), {spec.shortcut} shortcuts"
        + (", pre-activation" if spec.preact else "")
        + ({"se": ", SE", "eca": ", ECA"}.get(spec.attn, ""))
        + (", GroupNorm" if spec.norm == "group" else "")
        + (", catavgmax head (average and maximum pooled)" if spec.global_pool == "catavgmax" else "")
        + (
            f", attention pooling to a {spec.num_classes:,}-wide embedding (CLIP) at {spec.image_size}x{spec.image_size}"
            if spec.global_pool == "attention"
            else f", {spec.num_classes:,} classes"
            if not ident.headless
            else ""
        )
        + f", {spec.in_chans} input channel(s)"
    )
    if ident.unknown:
        lines.append("the weights cannot show: " + "; ".join(ident.unknown))
    return lines


def identification_json(weights: Any, ident: Any) -> dict:
    return {
        "file": weights.path,
        "format": weights.format,
        "container": weights.container,
        "prefix": weights.prefix,
        "layout": weights.layout or "torchvision/timm",
        "notes": weights.notes,
        "tensors": len(weights.tensors),
        "set_aside": sorted(weights.extra),
        "bytes_on_disk": weights.bytes_on_disk,
        "spec": ident.spec.to_dict() if ident.spec else None,
        "headless": ident.headless,
        "matches": ident.matches,
        "closest": ident.closest,
        "differences": ident.differences,
        "unknown": ident.unknown,
        "problem": ident.problem,
        "renamed_classifier": ident.renamed_classifier,
    }


def print_lines(lines: list[str], console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    for line in lines:  # names and paths from the file: control characters made visible
        console.print(visible(line), markup=False)


def explanation_lines(explanation: Any) -> list[str]:
    lines = [
        f"against {explanation.against}: "
        + (
            ("loads with strict=True" + (" once renamed (resnet-inspect convert)" if explanation.renamed else ""))
            if explanation.loads_strictly
            else f"{len(explanation.missing):,} missing, {len(explanation.unexpected):,} unexpected, "
            f"{len(explanation.mismatched):,} of other shapes"
        )
    ]
    lines += [
        f"- {sentence}"
        for index, sentence in enumerate(explanation.sentences)
        if not explanation.loads_strictly
        or (explanation.renamed and index == 0)
        or sentence.startswith("the file's network is not")  # loads, but another network (v1 against v1.5)
    ]
    if explanation.partial_load:
        lines.append(f"what works: {explanation.partial_load}")
    return lines
