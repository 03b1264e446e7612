"""Values as people write them in claims: "23.5M", "2350万", "3.8×10^9 FLOPs", "56×56×256", "[3, 4, 6, 3]".

A value carries the tolerance its writing implies (half a unit of the last digit written)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..limits import shown

VALUE_FORMS = (
    "25,557,032",
    "23.5M",
    "2350万",
    "3.8×10^9",
    "3.8e9",
    "4.1 GFLOPs",
    "49 conv layers",
    "56×56×256",
    "[3, 4, 6, 3]",
    "7x7x64",
    "yes/no",
)

_MULTIPLIERS = {
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "m": 1e6,
    "G": 1e9,
    "g": 1e9,
    "B": 1e9,
    "b": 1e9,
    "T": 1e12,
    "万": 1e4,
    "亿": 1e8,
    "thousand": 1e3,
    "million": 1e6,
    "billion": 1e9,
}


@dataclass(frozen=True)
class ParsedValue:
    kind: str  # number | shape | list | bool
    value: Any
    tolerance: float = 0.0  # absolute, for numbers
    text: str = ""


# Claims are about networks: a figure beyond this, or not finite, is a mistake, never a match.
LARGEST = 1e18


def _parse_error(text: str, why: str = "") -> UserError:
    forms = ", ".join(VALUE_FORMS)
    return UserError(f"cannot read value {shown(text)}{': ' + why if why else ''}; accepted forms: {forms}")


def _sane(value: ParsedValue) -> ParsedValue:
    if not math.isfinite(value.value) or abs(value.value) > LARGEST:
        raise _parse_error(value.text, f"a number must be finite and within ±{LARGEST:.0e}")
    return value


def parse_value(text: Any, tolerance: Any = None) -> ParsedValue:
    """Read a value as people write it. The default tolerance is half a unit of the last digit
    written ("23.5M" is 23.45M..23.55M); trailing zeros before a multiplier are not significant
    ("2350万" is 2345万..2355万); plain integers are exact."""
    if isinstance(text, bool):
        return ParsedValue("bool", text, text=str(text))
    if isinstance(text, (int, float)):
        try:
            number = float(text)
        except OverflowError:  # an integer of hundreds of digits
            raise _parse_error(str(text), f"a number must be finite and within ±{LARGEST:.0e}") from None
        return _with_tolerance(_sane(ParsedValue("number", number, 0.0, str(text))), tolerance)
    if isinstance(text, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) and abs(v) <= LARGEST for v in text):
            raise _parse_error(str(text), "a list must hold integers")
        return ParsedValue("list", list(text), text=str(text))
    if not isinstance(text, str) or not text.strip():
        raise _parse_error(str(text))
    raw = text.strip()
    lowered = raw.lower()
    if lowered in ("yes", "no", "true", "false", "present", "absent"):
        return ParsedValue("bool", lowered in ("yes", "true", "present"), text=raw)
    is_thousands = re.fullmatch(r"\d{1,3}(,\d{3})+", raw) is not None
    if raw.startswith("[") or (re.fullmatch(r"\d+(\s*,\s*\d+)+", raw) and not is_thousands):
        items = re.findall(r"-?\d+", raw)
        if not items:
            raise _parse_error(raw)
        return ParsedValue("list", [int(i) for i in items], text=raw)
    shape = re.fullmatch(r"\s*(\d+)\s*(?:[x×X*]\s*(\d+)\s*)+(?:[x×X*]\s*(\d+))?\s*", raw)
    if shape and not re.search(r"10\s*\^", raw):
        dims = [int(d) for d in re.findall(r"\d+", raw)]
        return ParsedValue("shape", dims, text=raw)
    return _with_tolerance(_sane(_parse_number(raw)), tolerance)


_NUMBER = re.compile(
    r"""^\s*(?:about|approx\.?|~|≈|约|大约)?\s*
        (?P<mantissa>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?|\.\d+)
        \s*(?:(?:[x×*]\s*10\s*\^\s*(?P<pow>-?\d+))|(?:e(?P<exp>[+-]?\d+)))?
        \s*(?P<mult>thousand|million|billion|[kKmMgGbBT万亿](?![a-z]))?
        (?P<rest>.*)$""",
    re.X,
)


def _parse_number(raw: str) -> ParsedValue:
    match = _NUMBER.match(raw)
    if not match:
        raise _parse_error(raw)
    rest = match.group("rest").strip()
    rest_raw = raw[match.start("rest") - 1 :] if match.start("rest") > 0 else match.group("rest")
    mult_text = match.group("mult")
    # "4.1 GFLOPs": the multiplier is glued to the unit word.
    if mult_text is None and rest[:1] in ("G", "M", "K", "T", "k") and rest[1:].lower().startswith(("flop", "mac")):
        mult_text, rest, rest_raw = rest[0], rest[1:], " " + rest[1:]
    # After the number only words may follow ("49 conv layers", "4.1 GFLOPs", "万个参数"), set off by
    # a space or written in CJK; "23.5Q" is not a number.
    glued_ok = rest.lower().startswith(("flop", "mac", "param")) or re.match(r"[\u4e00-\u9fff]", rest)
    if rest and not (rest_raw[:1].isspace() or glued_ok):
        raise _parse_error(raw, f"unexpected {shown(rest)} after the number")
    if rest and not re.fullmatch(r"[A-Za-z\u4e00-\u9fff _\-/()%.]*", rest):
        raise _parse_error(raw, f"unexpected {shown(rest)}")
    mantissa_text = match.group("mantissa").replace(",", "")
    mantissa = float(mantissa_text)
    scale = 1.0
    for group in ("pow", "exp"):
        if match.group(group):
            exponent = int(match.group(group))
            if abs(exponent) > 30:  # no figure about a network needs more
                raise _parse_error(raw, f"a number must be finite and within ±{LARGEST:.0e}")
            scale *= 10.0**exponent
    if mult_text:
        scale *= _MULTIPLIERS[mult_text]
    if "." in mantissa_text:
        decimals = len(mantissa_text.split(".")[1])
        step = 10.0**-decimals
    elif scale != 1.0:
        stripped = mantissa_text.rstrip("0") or "0"
        step = 10.0 ** (len(mantissa_text) - len(stripped))
    else:
        step = 0.0  # a plain integer is exact
    return ParsedValue("number", mantissa * scale, step * scale / 2, raw)


def _with_tolerance(value: ParsedValue, tolerance: Any) -> ParsedValue:
    if tolerance is None:
        return value
    problem = ValueError(f"cannot read tolerance {shown(tolerance)}: expected a number or a percentage like '1%'")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, str)):
        raise problem
    try:
        if isinstance(tolerance, str) and tolerance.strip().endswith("%"):
            pct = float(tolerance.strip()[:-1])
            absolute = abs(value.value) * pct / 100
        else:
            absolute = parse_value(tolerance).value if isinstance(tolerance, str) else float(tolerance)
    except (ValueError, OverflowError):
        raise problem from None
    if not math.isfinite(absolute) or absolute < 0:
        raise problem
    return ParsedValue(value.kind, value.value, float(absolute), value.text)


def format_figure(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def number_matches(parsed: ParsedValue, actual: Any) -> bool:
    if not isinstance(actual, (int, float)):
        return False
    return abs(float(actual) - parsed.value) <= parsed.tolerance + 1e-9 * max(1.0, abs(parsed.value))
