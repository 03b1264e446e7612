"""Reading the width tables of timm's pruned networks (``timm/models/_pruned/<name>.txt``): each stage's
output channels and each bottleneck's (first 1x1, 3x3) outputs, as ``ResNetSpec.stage_channels`` /
``block_channels`` take them. The tables themselves are kept in ``data/width_tables.json`` (see
`resnet_inspect.model.tables`); a test checks that they equal the installed timm's."""

from __future__ import annotations

import re
from pathlib import Path


def read_timm_table(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(stage_channels, block_channels) from the text of one of timm's pruning tables."""
    shapes = {}
    for entry in text.replace("\n", "").split("***"):
        if ":" in entry:
            name, shape = entry.split(":", 1)
            shapes[name.strip()] = [int(v) for v in re.findall(r"\d+", shape)]
    blocks = sorted(
        {(int(m.group(1)), int(m.group(2))) for n in shapes if (m := re.match(r"layer(\d+)\.(\d+)\.conv1\.weight$", n))}
    )
    stages = sorted({s for s, _ in blocks})
    stage_channels = tuple(shapes[f"layer{s}.0.conv3.weight"][0] for s in stages)
    block_channels = tuple(
        v for s, b in blocks for v in (shapes[f"layer{s}.{b}.conv1.weight"][0], shapes[f"layer{s}.{b}.conv2.weight"][0])
    )
    return stage_channels, block_channels


def timm_tables() -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    import timm

    folder = Path(timm.__file__).parent / "models" / "_pruned"
    return {path.stem: read_timm_table(path.read_text()) for path in sorted(folder.glob("*resnet*_pruned.txt"))}


def timm_native_inputs() -> dict[str, int]:
    """The input side of the default pretrained configuration of every timm model a variant reproduces."""
    import timm

    from .registry import variants

    references = [v.reference for v in variants().values() if v.reference and v.reference.startswith("timm:")]
    sizes = {}
    for name in sorted({reference.split(":", 1)[1] for reference in references}):
        config = timm.models.get_pretrained_cfg(name)
        if config is None or config.input_size is None:
            raise ValueError(f"timm has no pretrained configuration for {name}")
        sizes[name] = int(config.input_size[-1])
    return sizes
