"""Limits on what a spec, an input or a file may ask for, so that no file, flag or form can make
the tool work without bound, even on meta. Each is a named setting: the environment variable
``RESNET_INSPECT_<NAME>`` changes it, and every refusal names it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields

from .errors import UserError

StopCheck = Callable[[], bool]  # asked during long work: True when its result is no longer wanted


class Cancelled(Exception):
    """Work stopped because its caller stopped waiting for it (the app: a newer run, or Stop)."""


@dataclass(frozen=True)
class Limits:
    max_blocks: int = 2_000  # residual blocks in all stages (ResNet-1202 has 600)
    max_stages: int = 16
    max_width: int = 65_536  # channels of any layer, and classes
    max_branches: int = 64  # parallel branches of one block: Res2Net scales, ResNeSt radix
    max_input_side: int = 65_536  # pixels along one side (or any one dimension of an input)
    max_input_elements: int = 2**36  # elements of the input tensor, batch included
    max_file_bytes: int = 1_000_000  # a spec or claims file
    max_yaml_depth: int = 32  # nesting of lists and mappings in a spec or claims file
    max_claims: int = 10_000
    app_memory_bytes: int = 4 * 2**30  # what one real pass in the web app may take
    app_seconds: int = 120  # how long one forward pass in the web app may run

    @classmethod
    def from_environment(cls) -> Limits:
        values = {}
        for field in fields(cls):
            text = os.environ.get(f"RESNET_INSPECT_{field.name.upper()}")
            if text is None:
                continue
            try:
                values[field.name] = int(text)
            except ValueError:
                raise UserError(f"RESNET_INSPECT_{field.name.upper()}={text[:40]!r} is not an integer") from None
            if values[field.name] < 1:
                raise UserError(f"RESNET_INSPECT_{field.name.upper()} must be at least 1")
        return cls(**values)


LIMITS = Limits.from_environment()


def over(what: str, value: int, name: str) -> str:
    """The one line that refuses ``value`` for exceeding the limit ``name``."""
    return f"{what} {value:,} is over the limit of {getattr(LIMITS, name):,} (setting RESNET_INSPECT_{name.upper()})"


def shown(value: object, width: int = 60) -> str:
    """A value as an error message quotes it: never more than ``width`` characters of it."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
