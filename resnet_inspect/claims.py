"""Claims about networks, checked against the analyzer's counts.

A claims file (YAML or JSON) holds ``claims:``, a list of mappings:

    - model: resnet50            # a variant, a spec file, or path/to/file.py:NAME
      quantity: params           # see QUANTITIES
      value: "23.5M"             # as people write it
      tolerance: "1%"            # optional; default: the precision the value is written with
      stage: layer1              # for stage_output
      layer: layer2.1.conv2      # for layer_output and kernel
      set: {num_classes: 10}     # optional spec overrides
      source: 001_xxx.txt        # where the claim was made
      quote: "参数数量：大约 2350 万个参数"

Each claim gets a verdict: ``true``, ``false``, or ``true under <convention>`` when the value is
right only under a convention other than the usual one."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .audit import Count, counts

VALUE_FORMS = ("25,557,032", "23.5M", "2350万", "3.8×10^9", "3.8e9", "4.1 GFLOPs", "49 conv layers",
               "56×56×256", "[3, 4, 6, 3]", "7x7x64", "yes/no")

_MULTIPLIERS = {"k": 1e3, "K": 1e3, "M": 1e6, "m": 1e6, "G": 1e9, "g": 1e9, "B": 1e9, "b": 1e9, "T": 1e12,
                "万": 1e4, "亿": 1e8, "thousand": 1e3, "million": 1e6, "billion": 1e9}


@dataclass(frozen=True)
class Quantity:
    name: str
    usual: str  # key in audit.counts()
    alternates: tuple[str, ...] = ()
    kind: str = "number"  # number | shape | list
    needs: str | None = None  # "stage" or "layer"
    description: str = ""


QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity("params", "params", ("params_without_classifier", "params_without_norm", "trainable_params",
                                      "params_and_buffers"), description="number of parameters"),
        Quantity("layers", "paper_depth", ("conv_plus_linear", "conv_modules", "main_path_convs"),
                 description="depth, as in the network's name"),
        Quantity("conv_layers", "conv_modules", ("main_path_convs",), description="convolution layers"),
        Quantity("linear_layers", "linear_modules", description="fully connected layers"),
        Quantity("norm_layers", "norm_layers", description="batch-normalization layers"),
        Quantity("activations", "activation_calls", ("activation_modules",), description="ReLU applications"),
        Quantity("residual_adds", "residual_adds", description="residual additions"),
        Quantity("stem_convs", "stem_convs", description="convolutions in the stem"),
        Quantity("se_modules", "se_modules", description="squeeze-and-excitation modules"),
        Quantity("stages", "stages", description="residual stages"),
        Quantity("blocks", "blocks", ("stages",), description="residual blocks in all stages"),
        Quantity("blocks_per_stage", "blocks_per_stage", kind="list", description="blocks in each stage"),
        Quantity("macs", "macs", ("macs_torchinfo", "macs_fvcore", "macs_ptflops", "macs_thop"),
                 description="multiply-accumulates"),
        Quantity("flops", "flops", ("macs", "macs_torchinfo", "macs_fvcore", "macs_ptflops", "macs_thop",
                                    "flops_flopcounter"), description="floating-point operations"),
        Quantity("stage_output", "stage_output", kind="shape", needs="stage", description="a stage's output shape"),
        Quantity("layer_output", "layer_output", kind="shape", needs="layer", description="a layer's output shape"),
        Quantity("kernel", "kernel", kind="shape", needs="layer", description="a convolution's kernel (k x k x Cin)"),
    )
}

# The paper's stage names (conv2_x ... conv5_x) and ordinal names, mapped to stage indices.
_STAGE_ALIASES = {f"conv{i + 2}_x": i for i in range(6)} | {f"stage{i + 1}": i for i in range(6)}


@dataclass(frozen=True)
class ParsedValue:
    kind: str  # number | shape | list | bool
    value: Any
    tolerance: float = 0.0  # absolute, for numbers
    text: str = ""


def _parse_error(text: str, why: str = "") -> ValueError:
    forms = ", ".join(VALUE_FORMS)
    return ValueError(f"cannot read value {text!r}{': ' + why if why else ''}; accepted forms: {forms}")


def parse_value(text: Any, tolerance: Any = None) -> ParsedValue:
    """Read a value as people write it. The default tolerance is half a unit of the last digit
    written ("23.5M" is 23.45M..23.55M); trailing zeros before a multiplier are not significant
    ("2350万" is 2345万..2355万); plain integers are exact."""
    if isinstance(text, bool):
        return ParsedValue("bool", text, text=str(text))
    if isinstance(text, (int, float)):
        value = ParsedValue("number", float(text), 0.0 if float(text).is_integer() else 0.0, str(text))
        return _with_tolerance(value, tolerance)
    if isinstance(text, list):
        try:
            return ParsedValue("list", [int(v) for v in text], text=str(text))
        except (TypeError, ValueError):
            raise _parse_error(str(text), "a list must hold integers") from None
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
    return _with_tolerance(_parse_number(raw), tolerance)


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
    rest_raw = raw[match.start("rest") - 1:] if match.start("rest") > 0 else match.group("rest")
    mult_text = match.group("mult")
    # "4.1 GFLOPs": the multiplier is glued to the unit word.
    if mult_text is None and rest[:1] in ("G", "M", "K", "T", "k") and rest[1:].lower().startswith(("flop", "mac")):
        mult_text, rest, rest_raw = rest[0], rest[1:], " " + rest[1:]
    # After the number only words may follow ("49 conv layers", "4.1 GFLOPs", "万个参数"), set off by
    # a space or written in CJK; "23.5Q" is not a number.
    glued_ok = rest.lower().startswith(("flop", "mac", "param")) or re.match(r"[\u4e00-\u9fff]", rest)
    if rest and not (rest_raw[:1].isspace() or glued_ok):
        raise _parse_error(raw, f"unexpected {rest!r} after the number")
    if rest and not re.fullmatch(r"[A-Za-z\u4e00-\u9fff _\-/()%.]*", rest):
        raise _parse_error(raw, f"unexpected {rest!r}")
    mantissa_text = match.group("mantissa").replace(",", "")
    mantissa = float(mantissa_text)
    scale = 1.0
    if match.group("pow"):
        scale *= 10.0 ** int(match.group("pow"))
    if match.group("exp"):
        scale *= 10.0 ** int(match.group("exp"))
    if mult_text:
        scale *= _MULTIPLIERS[mult_text]
    if "." in mantissa_text:
        decimals = len(mantissa_text.split(".")[1])
        step = 10.0 ** -decimals
    elif scale != 1.0:
        stripped = mantissa_text.rstrip("0") or "0"
        step = 10.0 ** (len(mantissa_text) - len(stripped))
    else:
        step = 0.0  # a plain integer is exact
    return ParsedValue("number", mantissa * scale, step * scale / 2, raw)


def _with_tolerance(value: ParsedValue, tolerance: Any) -> ParsedValue:
    if tolerance is None:
        return value
    if isinstance(tolerance, str) and tolerance.strip().endswith("%"):
        try:
            pct = float(tolerance.strip()[:-1])
        except ValueError:
            raise ValueError(f"cannot read tolerance {tolerance!r}: expected a number or a percentage like '1%'") from None
        return ParsedValue(value.kind, value.value, abs(value.value) * pct / 100, value.text)
    try:
        absolute = parse_value(tolerance).value if isinstance(tolerance, str) else float(tolerance)
    except ValueError:
        raise ValueError(f"cannot read tolerance {tolerance!r}: expected a number or a percentage like '1%'") from None
    return ParsedValue(value.kind, value.value, float(absolute), value.text)


@dataclass
class Claim:
    model: str
    quantity: str
    value: Any
    tolerance: Any = None
    stage: str | None = None
    layer: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    quote: str = ""
    id: str = ""
    note: str = ""
    line: int | None = None


@dataclass
class Verdict:
    claim: Claim
    verdict: str  # "true" | "false" | "true under <convention>"
    figure: str  # the exact figure the verdict rests on
    explanation: str

    @property
    def is_false(self) -> bool:
        return self.verdict == "false"


# -- reading claims files -------------------------------------------------------------------------
_CLAIM_FIELDS = {"model", "quantity", "value", "tolerance", "stage", "layer", "set", "source", "quote", "id", "note"}


def _load_with_lines(text: str, path: Path) -> Any:
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        return data
    import yaml

    class LineLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        mapping = loader.construct_mapping(node, deep=True)
        mapping["__line__"] = node.start_mark.line + 1
        mapping["__lines__"] = {key.value: key.start_mark.line + 1 for key, _ in node.value
                                if isinstance(key, yaml.ScalarNode)}
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    try:
        return yaml.load(text, Loader=LineLoader)  # noqa: S506 (SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ValueError(f"{path}{where}: invalid YAML: {problem}") from None


def parse_claims(text: str, path: str | Path = "claims.yaml") -> list[Claim]:
    """Parse and validate a claims document; errors name the line and the field."""
    return parse_claims_document(text, path)[0]


def parse_claims_document(text: str, path: str | Path = "claims.yaml") -> tuple[list[Claim], str]:
    """The claims and the document's free-text ``notes`` (for reports)."""
    path = Path(path)
    data = _load_with_lines(text, path)
    notes = str(data.get("notes", "") or "") if isinstance(data, dict) else ""
    items = data.get("claims") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of claims (or a mapping with a 'claims' list)")
    claims = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: claim {index} must be a mapping with model, quantity and value")
        lines = item.get("__lines__", {})

        def at(field_name: str | None = None) -> str:
            # The line of the field when it is there, else the line where the claim starts.
            return f"{path}:{lines.get(field_name, item.get('__line__', '?'))}"

        fields = {k: v for k, v in item.items() if k not in ("__line__", "__lines__")}
        unknown = sorted(set(fields) - _CLAIM_FIELDS)
        if unknown:
            raise ValueError(f"{at(unknown[0])}: field {unknown[0]!r} is unknown; "
                             f"known fields: {', '.join(sorted(_CLAIM_FIELDS))}")
        for required in ("model", "quantity", "value"):
            if fields.get(required) in (None, ""):
                raise ValueError(f"{at(required)}: field {required!r} is missing")
        quantity = str(fields["quantity"])
        if quantity not in QUANTITIES:
            raise ValueError(f"{at('quantity')}: field 'quantity': unknown quantity {quantity!r}; "
                             f"known: {', '.join(QUANTITIES)}")
        needs = QUANTITIES[quantity].needs
        if needs and not fields.get(needs):
            raise ValueError(f"{at()}: field {needs!r} is required for quantity {quantity!r}")
        try:
            parse_value(fields["value"], fields.get("tolerance"))
        except ValueError as exc:
            raise ValueError(f"{at('value')}: field 'value': {exc}") from None
        overrides = fields.get("set") or {}
        if not isinstance(overrides, dict):
            raise ValueError(f"{at('set')}: field 'set' must be a mapping of spec fields")
        claims.append(Claim(model=str(fields["model"]), quantity=quantity, value=fields["value"],
                            tolerance=fields.get("tolerance"), stage=fields.get("stage"), layer=fields.get("layer"),
                            overrides={k: v for k, v in overrides.items() if k not in ("__line__", "__lines__")},
                            source=str(fields.get("source", "")), quote=str(fields.get("quote", "")).strip(),
                            id=str(fields.get("id", "")), note=str(fields.get("note", "")).strip(),
                            line=item.get("__line__")))
    return claims, notes


def load_claims_document(path: str | Path) -> tuple[list[Claim], str]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read claims file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"cannot read claims file {path}: not UTF-8 text") from None
    return parse_claims_document(text, path)


# -- checking ----------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _shape_forms(shape: list[int] | None) -> list[list[int]]:
    """The ways a tensor shape gets written: NCHW, CHW, HxWxC (papers), and without the batch."""
    if not shape:
        return []
    forms = [shape, shape[1:]]
    if len(shape) == 4:
        n, c, h, w = shape
        forms += [[h, w, c], [n, h, w, c]]
    return forms


def _number_matches(parsed: ParsedValue, actual: Any) -> bool:
    if not isinstance(actual, (int, float)):
        return False
    return abs(float(actual) - parsed.value) <= parsed.tolerance + 1e-9 * max(1.0, abs(parsed.value))


def _stage_shape(report: Any, stage: str) -> tuple[str, list[int] | None]:
    names = [s.name for s in report.stages]
    if stage in names:
        return stage, next(s.output_shape for s in report.stages if s.name == stage)
    residual = [s for s in report.stages if s.name not in ("stem", "head")]
    index = _STAGE_ALIASES.get(stage.lower())
    if index is None and stage.lower().startswith("layer") and stage[5:].isdigit():
        index = int(stage[5:]) - 1
    if index is None or index >= len(residual):
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(names)} (or conv2_x.., stage1..)")
    return residual[index].name, residual[index].output_shape


def _layer_row(report: Any, name: str) -> Any:
    try:
        return report.layer(name)
    except KeyError:
        close = [r.name for r in report.layers if r.name.endswith(name.rsplit(".", 1)[-1])][:4]
        raise ValueError(f"no layer {name!r} in {report.model}" + (f"; similar: {', '.join(close)}" if close else "")) \
            from None


def check_claim(claim: Claim, report: Any) -> Verdict:
    """The verdict on one claim, given the report of the model it is about."""
    quantity = QUANTITIES[claim.quantity]
    parsed = parse_value(claim.value, claim.tolerance)
    values = counts(report)
    model = report.model

    if quantity.kind == "shape":
        if claim.quantity == "stage_output":
            stage, shape = _stage_shape(report, claim.stage)
            subject, actual = f"the output of {stage}", shape
        else:
            row = _layer_row(report, claim.layer)
            if claim.quantity == "kernel":
                if not row.kernel:
                    raise ValueError(f"{claim.layer} in {model} has no kernel (it is a {row.type})")
                cin = (row.in_channels // row.groups) if row.in_channels else None
                actual = row.kernel + ([cin] if cin else [])
                subject = f"the kernel of {claim.layer} ({row.type}, k x k x C_in/groups)"
                ok = parsed.value in (actual, row.kernel)
                return Verdict(claim, "true" if ok else "false", "x".join(map(str, actual)),
                               f"{subject} is {'x'.join(map(str, actual))}" + ("" if ok else f", not {parsed.text}"))
            subject, actual = f"the output of {claim.layer}", row.output_shapes[-1] if row.output_shapes else None
        ok = parsed.kind == "shape" and parsed.value in _shape_forms(actual)
        written = "x".join(map(str, actual[2:] + actual[1:2])) if actual and len(actual) == 4 else \
            "x".join(map(str, actual or []))
        text = f"{subject} of {model} is {written} (HxWxC; NCHW {'x'.join(map(str, actual or []))})"
        return Verdict(claim, "true" if ok else "false", written, text + ("" if ok else f", not {parsed.text}"))

    usual: Count = values[quantity.usual]
    if quantity.kind == "list" or parsed.kind == "list":
        ok = parsed.kind == "list" and parsed.value == list(usual.value)
        return Verdict(claim, "true" if ok else "false", _fmt(usual.value),
                       f"{model} has {_fmt(usual.value)} {usual.label}" + ("" if ok else f", not {parsed.text}"))
    if parsed.kind == "bool":
        ok = parsed.value == bool(usual.value)
        return Verdict(claim, "true" if ok else "false", _fmt(usual.value),
                       f"{model} has {_fmt(usual.value)} {usual.label}" + ("" if ok else f"; the claim says {parsed.text}"))
    if parsed.kind != "number":
        raise ValueError(f"value {parsed.text!r} is a {parsed.kind}, but {claim.quantity} is a number")

    written = parsed.text
    if _fmt(parsed.value) != parsed.text or parsed.tolerance:
        written += f" (read as {_fmt(parsed.value)}" + (f" ± {_fmt(parsed.tolerance)})" if parsed.tolerance else ")")
    if _number_matches(parsed, usual.value):
        return Verdict(claim, "true", _fmt(usual.value),
                       f"{written} matches: {model} has {_fmt(usual.value)} {usual.label}")
    for key in quantity.alternates:
        alt = values[key]
        if _number_matches(parsed, alt.value):
            return Verdict(claim, f"true under {key}", _fmt(alt.value),
                           f"{parsed.text} matches the {alt.label} ({alt.definition}): {_fmt(alt.value)}; "
                           f"{model} has {_fmt(usual.value)} {usual.label} in all")
    others = "; ".join(f"{_fmt(values[k].value)} {values[k].label}" for k in quantity.alternates)
    hint = _other_match(parsed, values, {quantity.usual, *quantity.alternates})
    return Verdict(claim, "false", _fmt(usual.value),
                   f"{model} has {_fmt(usual.value)} {usual.label}, not {written}"
                   + (f" (other counts: {others})" if others else "") + hint)


def _other_match(parsed: ParsedValue, values: dict[str, Count], skip: set[str]) -> str:
    for key, count in values.items():
        if key not in skip and _number_matches(parsed, count.value):
            return f". Note: {_fmt(count.value)} is the {count.label} ({count.definition}), a different quantity"
    return ""


def check_claims(claims: list[Claim], report_for: Callable[[Claim], Any], path: str = "claims") -> list[Verdict]:
    """Verdicts for many claims; ``report_for`` supplies (and may cache) each claim's report.

    A claim that cannot be checked (unknown model, stage or layer; a factory that fails) stops
    the run with an error naming its line, before anything is written."""
    verdicts = []
    for claim in claims:
        try:
            verdicts.append(check_claim(claim, report_for(claim)))
        except ValueError as exc:
            raise ValueError(f"{path}:{claim.line or '?'}: {exc}") from None
    return verdicts
