"""What a command-line target names: a registered variant, a spec file, or user code.

``resnet50``                  a registered variant
``my_net.yaml`` / ``.json``   a spec file (fields of ResNetSpec)
``path/to/file.py:factory``   a class or function in a user's file that returns an nn.Module;
                              importing it runs the user's code, as ``python file.py`` would.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from .build import resolve_spec
from .spec import FIELD_NAMES, ResNetSpec, load_spec_file

SPEC_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class Target:
    label: str
    spec: ResNetSpec | None = None
    module: nn.Module | None = None


def parse_override(text: str) -> tuple[str, Any]:
    """``layers=2,2,2,2`` / ``se=true`` / ``stem=deep`` to a (field, value) pair."""
    if "=" not in text:
        raise ValueError(f"invalid override {text!r}: expected FIELD=VALUE, e.g. layers=2,2,2,2")
    key, raw = (part.strip() for part in text.split("=", 1))
    if key not in FIELD_NAMES:
        raise ValueError(f"invalid override {text!r}: unknown field {key!r}; known fields: {', '.join(FIELD_NAMES)}")
    default = getattr(ResNetSpec(), key)
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return key, raw.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return key, int(raw)
        if isinstance(default, tuple):
            items = [item.strip() for item in raw.split(",") if item.strip()]
            if key == "dilate":
                return key, tuple(item.lower() in ("true", "1", "yes") for item in items)
            return key, tuple(int(item) for item in items)
    except ValueError:
        raise ValueError(f"invalid override {text!r}: cannot read {raw!r} as {type(default).__name__}") from None
    return key, raw


def load_factory(reference: str) -> nn.Module:
    """Import ``file.py`` and call ``NAME`` in it; the user's errors come back as one line."""
    path_text, _, attr = reference.rpartition(":")
    path = Path(path_text)
    if not attr:
        raise ValueError(f"{reference!r}: expected path/to/file.py:NAME")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.suffix != ".py":
        raise ValueError(f"{path}: not a Python file (expected path/to/file.py:NAME)")
    module_name = f"resnet_inspect_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: cannot be imported as Python")
    user_module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = user_module
    try:
        # The user's prints go to stderr so that stdout stays the report (JSON, CSV, ...).
        with contextlib.redirect_stdout(sys.stderr):
            spec.loader.exec_module(user_module)
    except Exception as exc:  # the user's code: report, never crash
        sys.modules.pop(module_name, None)
        raise ValueError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from None
    if not hasattr(user_module, attr):
        raise ValueError(f"{path}: defines no {attr!r}")
    factory = getattr(user_module, attr)
    if not callable(factory):
        raise ValueError(f"{path}:{attr} is not a class or function")
    try:
        with contextlib.redirect_stdout(sys.stderr):
            model = factory()
    except Exception as exc:
        raise ValueError(f"{path}:{attr}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"{path}:{attr}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def resolve_target(text: str, overrides: list[str] | None = None, *, allow_code: bool = True) -> Target:
    """Resolve a command-line target. ``allow_code=False`` refuses ``file.py:NAME``."""
    pairs = dict(parse_override(item) for item in overrides or [])
    if ".py:" in text or text.endswith(".py"):
        if not allow_code:
            raise ValueError("running user code is disabled here")
        if pairs:
            raise ValueError("--set applies to variants and spec files, not to user code")
        return Target(label=text, module=load_factory(text))
    if text.lower().endswith(SPEC_SUFFIXES):
        spec = load_spec_file(text)
        return Target(label=Path(text).stem, spec=spec.replace(**pairs) if pairs else spec)
    label = text if not pairs else text + "[" + ",".join(f"{k}={v}" for k, v in pairs.items()) + "]"
    return Target(label=label, spec=resolve_spec(text, **pairs))
