"""Limits on what a spec, an input or a file may ask for, so that no file, flag or form can make
the tool work without bound, even on meta. Each is a named setting: the environment variable
``RESNET_INSPECT_<NAME>`` changes it, and every refusal names it."""

from __future__ import annotations

import os
import time
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
    max_command_seconds: int = 900  # the work one audit or memory command may do, all its networks together
    max_repeat: int = 10_000  # timed passes per profile measurement
    max_configurations: int = 64  # batches x dtypes of one profile run
    max_weights_bytes: int = 8 * 2**30  # the values of a weights file's tensors, read for a real pass or statistics
    app_memory_bytes: int = 4 * 2**30  # what one real pass in the web app may take
    app_seconds: int = 120  # how long one forward pass in the web app may run
    app_passes: int = 2  # real passes the web app runs at once, all sessions together (memory: 2 x 4 GiB)

    @classmethod
    def from_environment(cls) -> tuple[Limits, list[str]]:
        """The limits the environment sets, and one line for each variable that is not a whole number in
        its range (that variable keeps its default, and the command refuses to run: `check_environment`)."""
        values, problems = {}, []
        for field in fields(cls):
            variable = f"RESNET_INSPECT_{field.name.upper()}"
            text = os.environ.get(variable)
            if text is None:
                continue
            low, high = 1, LARGEST_SETTING.get(field.name, 2**62)
            try:
                value = int(text.strip().replace("_", ""))
            except ValueError:
                value = None
            if value is None or not low <= value <= high:
                problems.append(f"{variable}={shown(text, 30)} is not a whole number from {low} to {high:,}")
            else:
                values[field.name] = value
        return cls(**values), problems


# Where a larger value would break the tool rather than widen what it accepts.
LARGEST_SETTING = {"max_yaml_depth": 200}  # nesting is parsed recursively: deeper would overflow the stack


def check_environment() -> None:
    """Refuse to work under a limit variable that could not be read (``--help`` and ``--version`` still work)."""
    if ENVIRONMENT_PROBLEMS:
        raise UserError(ENVIRONMENT_PROBLEMS[0])


def command_deadline(what: str) -> StopCheck:
    """A stop check for one command's whole work (every network a claims file names, every simulation a
    fit runs): past ``max_command_seconds`` it raises the one line that says so."""
    end = time.monotonic() + LIMITS.max_command_seconds

    def check() -> bool:
        if time.monotonic() > end:
            raise UserError(
                f"{what} ran past the limit of {LIMITS.max_command_seconds:,} seconds of work "
                "(setting RESNET_INSPECT_MAX_COMMAND_SECONDS)"
            )
        return False

    return check


def over(what: str, value: int, name: str) -> str:
    """The one line that refuses ``value`` for exceeding the limit ``name``."""
    return f"{what} {value:,} is over the limit of {getattr(LIMITS, name):,} (setting RESNET_INSPECT_{name.upper()})"


def shown(value: object, width: int = 60) -> str:
    """A value as an error message quotes it: never more than ``width`` characters of it."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


LIMITS, ENVIRONMENT_PROBLEMS = Limits.from_environment()
