"""A Hugging Face Hub folder: the weights file beside ``config.json``, and what the config says that
the tensors cannot (where a bottleneck strides, the labels).

Only ``ResNetConfig`` (``model_type: resnet``) is read; the config is data (JSON), never code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..fileio import open_regular, read_bounded

WEIGHTS_NAMES = ("model.safetensors", "pytorch_model.bin")
MAX_CONFIG_BYTES = 4_000_000  # a config with 21,843 ImageNet-22k labels is about 1 MB


def hub_folder(folder: Path) -> tuple[Path, dict[str, Any] | None]:
    """The weights file of a Hub folder and its config (None when there is no config.json)."""
    found = [folder / name for name in WEIGHTS_NAMES if (folder / name).is_file()]
    if not found:
        raise UserError(f"{folder}: a folder without {' or '.join(WEIGHTS_NAMES)}")
    config_path = folder / "config.json"
    if not config_path.exists():
        return found[0], None
    with open_regular(config_path, "config file") as (handle, _):
        data = read_bounded(handle, MAX_CONFIG_BYTES)
    if len(data) > MAX_CONFIG_BYTES:
        raise UserError(f"{config_path}: more than {MAX_CONFIG_BYTES:,} bytes")
    try:
        config = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise UserError(f"{config_path}: not a JSON config") from None
    if not isinstance(config, dict):
        raise UserError(f"{config_path}: not a JSON object")
    return found[0], config


def config_findings(config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """What a transformers ResNetConfig adds, in words, and the spec fields it fixes (``stride_on``)."""
    if config.get("model_type") != "resnet":
        return [f"config.json is for model_type {str(config.get('model_type'))[:40]!r}, not resnet: not used"], {}
    notes, fixed = [], {}
    in_bottleneck = config.get("downsample_in_bottleneck")
    if config.get("layer_type", "bottleneck") == "bottleneck" and isinstance(in_bottleneck, bool):
        fixed["stride_on"] = "1x1" if in_bottleneck else "3x3"
        notes.append(
            "config.json: downsample_in_bottleneck is "
            + (
                "true: a bottleneck strides in its first 1x1 (ResNet v1)"
                if in_bottleneck
                else "false: a bottleneck strides in its 3x3 (v1.5)"
            )
        )
    fixed["aa"] = "none"  # transformers' ResNet never blurs before striding
    labels = config.get("id2label")
    if isinstance(labels, dict) and labels:
        names = [str(labels[k])[:30] for k in list(labels)[:3]]
        notes.append(f"config.json: {len(labels):,} labels ({', '.join(names)}, ...)")
    if config.get("architectures"):
        notes.append(f"config.json: architecture {', '.join(map(str, config['architectures']))[:80]}")
    return notes, fixed


def narrowed(matches: list[str], fixed: dict[str, str]) -> list[str]:
    """The registered variants among ``matches`` that agree with what the config fixes."""
    from ..model.registry import variants

    registry = variants()
    kept = [name for name in matches if all(getattr(registry[name].spec, k) == v for k, v in fixed.items())]
    return kept or matches
