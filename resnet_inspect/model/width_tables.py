"""Width tables of pruned networks (timm's ``*_pruned``): each stage's output channels and each
bottleneck's (first 1x1, 3x3) outputs, as ``ResNetSpec.stage_channels`` / ``block_channels`` take them.

Read from the tables timm ships (``timm/models/_pruned/<name>.txt``); ``python -m
resnet_inspect.model.width_tables`` rewrites ``TABLES`` from the installed timm, and a test checks that
they agree."""

from __future__ import annotations

import re
from pathlib import Path

TABLES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    'ecaresnet101d_pruned': (
        (
            26, 142, 278, 2042,
        ),
        (
            45, 25, 53, 20, 60, 27, 81, 24, 93, 49, 102, 54, 122, 78, 101, 25, 239, 160, 234, 156,
            250, 176, 253, 191, 251, 175, 230, 128, 244, 154, 244, 159, 238, 97, 244, 149, 253, 181,
            245, 119, 255, 216, 256, 201, 253, 149, 254, 141, 256, 190, 256, 217, 255, 156, 256,
            155, 256, 232, 256, 214, 499, 289, 512, 512, 512, 502,
        ),
    ),
    'ecaresnet50d_pruned': (
        (
            19, 171, 818, 2022,
        ),
        (
            47, 18, 52, 22, 64, 35, 85, 37, 107, 80, 120, 85, 125, 87, 198, 126, 255, 232, 256, 233,
            253, 235, 256, 225, 256, 239, 492, 237, 512, 500, 512, 490,
        ),
    ),
}


def read_timm_table(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(stage_channels, block_channels) from the text of one of timm's pruning tables."""
    shapes = {}
    for entry in text.replace("\n", "").split("***"):
        if ":" in entry:
            name, shape = entry.split(":", 1)
            shapes[name.strip()] = [int(v) for v in re.findall(r"\d+", shape)]
    blocks = sorted({(int(m.group(1)), int(m.group(2))) for n in shapes
                     if (m := re.match(r"layer(\d+)\.(\d+)\.conv1\.weight$", n))})
    stages = sorted({s for s, _ in blocks})
    stage_channels = tuple(shapes[f"layer{s}.0.conv3.weight"][0] for s in stages)
    block_channels = tuple(v for s, b in blocks
                           for v in (shapes[f"layer{s}.{b}.conv1.weight"][0], shapes[f"layer{s}.{b}.conv2.weight"][0]))
    return stage_channels, block_channels


def timm_tables() -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    import timm

    folder = Path(timm.__file__).parent / "models" / "_pruned"
    return {path.stem: read_timm_table(path.read_text()) for path in sorted(folder.glob("*resnet*_pruned.txt"))}


def write_tables() -> None:
    import textwrap

    def wrapped(values: tuple[int, ...]) -> str:
        return textwrap.fill(", ".join(map(str, values)), 100, initial_indent=" " * 12,
                             subsequent_indent=" " * 12)

    body = "".join(f"    {name!r}: (\n        (\n{wrapped(stages)},\n        ),\n        (\n{wrapped(blocks)},\n"
                   f"        ),\n    ),\n" for name, (stages, blocks) in timm_tables().items())
    path = Path(__file__)
    text = re.sub(r"^TABLES: dict\[.*?^\}", lambda _: "TABLES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {\n"
                  + body + "}", path.read_text(), flags=re.S | re.M)
    path.write_text(text)


if __name__ == "__main__":
    write_tables()
