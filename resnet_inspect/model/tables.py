"""Generated tables, kept as data files in ``model/data/`` (not Python source) and read without torch.

- ``width_tables.json``: the per-layer widths of timm's pruned networks, read from the tables timm
  ships (``timm/models/_pruned/*.txt``).
- ``native_inputs.json``: the input side each timm model was trained and evaluated at (its default
  pretrained configuration), which is the default input of the variant that reproduces it.
- ``variant_counts.json``: every registered variant's parameters (a network built on meta) and MACs
  at its own input (one analysis on meta), so that ``list`` answers at once.
- ``state_digests.json``: a digest of every registered variant's state-dict names and shapes, whole and
  without the classifier, so that ``identify`` names a file that matches one without importing torch.

``python -m resnet_inspect.publish`` writes them all (it may use every layer; this module only reads
and formats), and tests require each to equal what it is generated from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("data")
WIDTH_TABLES_FILE = DATA / "width_tables.json"
NATIVE_INPUTS_FILE = DATA / "native_inputs.json"
VARIANT_COUNTS_FILE = DATA / "variant_counts.json"
STATE_DIGESTS_FILE = DATA / "state_digests.json"


def table_text(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """JSON with one entry a line inside each section, so that a changed entry is a one-line diff."""

    def entries(mapping: Mapping[str, Any]) -> str:
        return ",\n".join(f"    {json.dumps(key)}: {json.dumps(value)}" for key, value in mapping.items())

    body = ",\n".join(f"  {json.dumps(name)}: {{\n{entries(mapping)}\n  }}" for name, mapping in sections.items())
    return "{\n" + body + "\n}\n"


@cache
def _read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: expected a JSON object; regenerate it with python -m resnet_inspect.publish")
    return data


def width_tables() -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """name -> (each stage's output channels, each bottleneck's first 1x1 and 3x3 outputs in order)."""
    tables = _read(WIDTH_TABLES_FILE)["tables"]
    return {name: (tuple(t["stage_channels"]), tuple(t["block_channels"])) for name, t in tables.items()}


def native_inputs() -> dict[str, int]:
    """timm model name -> the side of the square input its default pretrained configuration takes."""
    return dict(_read(NATIVE_INPUTS_FILE)["timm"])


def parameter_counts() -> dict[str, int]:
    return dict(_read(VARIANT_COUNTS_FILE)["parameters"])


def mac_counts() -> dict[str, int]:
    """MACs (conv + linear, biases excluded) at each variant's own input, batch 1."""
    return dict(_read(VARIANT_COUNTS_FILE)["macs"])


def shapes_digest(shapes: Iterable[tuple[str, Sequence[int]]]) -> str:
    """One digest of a state dict's names and shapes (in name order: a file may list them in any)."""
    text = "\n".join(f"{name}:{','.join(map(str, shape))}" for name, shape in sorted(shapes))
    return hashlib.sha256(text.encode()).hexdigest()


def state_digests() -> dict[str, dict[str, str]]:
    """variant -> {"whole": digest, "headless": digest} of its state dict's names and shapes."""
    return {name: dict(entry) for name, entry in _read(STATE_DIGESTS_FILE)["variants"].items()}
