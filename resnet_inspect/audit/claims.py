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

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..limits import LIMITS, over, shown
from ..text import visible
from ..userfiles import line_numbered_loader, parse, read_text
from .counts import Count, counts
from .values import ParsedValue, format_figure, number_matches, parse_value


@dataclass(frozen=True)
class Quantity:
    name: str
    usual: str  # key in audit.counts()
    alternates: tuple[str, ...] = ()
    kind: str = "number"  # number | shape | list
    needs: str | None = None  # "stage" or "layer"
    description: str = ""
    presence: bool = False  # a count that may be claimed as yes/no (present/absent) as well as a number


QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity(
            "params",
            "params",
            ("params_without_classifier", "params_without_norm", "trainable_params", "params_and_buffers"),
            description="number of parameters",
        ),
        Quantity(
            "layers",
            "paper_depth",
            ("conv_plus_linear", "conv_modules", "main_path_convs"),
            description="depth, as in the network's name",
        ),
        Quantity("conv_layers", "conv_modules", ("main_path_convs",), description="convolution layers"),
        Quantity("linear_layers", "linear_modules", description="fully connected layers"),
        Quantity("norm_layers", "norm_layers", description="batch-normalization layers"),
        Quantity("activations", "activation_calls", ("activation_modules",), description="ReLU applications"),
        Quantity("residual_adds", "residual_adds", description="residual additions"),
        Quantity("stem_convs", "stem_convs", description="convolutions in the stem"),
        Quantity("se_modules", "se_modules", description="attention modules (SE, ECA, SK)", presence=True),
        Quantity("stages", "stages", description="residual stages"),
        Quantity("blocks", "blocks", ("stages",), description="residual blocks in all stages"),
        Quantity("blocks_per_stage", "blocks_per_stage", kind="list", description="blocks in each stage"),
        Quantity(
            "macs",
            "macs",
            ("macs_torchinfo", "macs_fvcore", "macs_ptflops", "macs_thop"),
            description="multiply-accumulates",
        ),
        Quantity(
            "flops",
            "flops",
            ("macs", "macs_torchinfo", "macs_fvcore", "macs_ptflops", "macs_thop", "flops_flopcounter"),
            description="floating-point operations",
        ),
        Quantity("stage_output", "stage_output", kind="shape", needs="stage", description="a stage's output shape"),
        Quantity("layer_output", "layer_output", kind="shape", needs="layer", description="a layer's output shape"),
        Quantity("kernel", "kernel", kind="shape", needs="layer", description="a convolution's kernel (k x k x Cin)"),
    )
}

# The paper's stage names (conv2_x ... conv5_x) and ordinal names, mapped to stage indices.
_STAGE_ALIASES = {f"conv{i + 2}_x": i for i in range(6)} | {f"stage{i + 1}": i for i in range(6)}


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


def parse_claims(text: str, path: str | Path = "claims.yaml", default_model: str | None = None) -> list[Claim]:
    """Parse and validate a claims document; errors name the line and the field."""
    return parse_claims_document(text, path, default_model)[0]


def parse_claims_document(
    text: str, path: str | Path = "claims.yaml", default_model: str | None = None
) -> tuple[list[Claim], str]:
    """The claims and the document's free-text ``notes`` (for reports)."""
    path = Path(path)
    data = parse(text, str(path), as_json=path.suffix.lower() == ".json", loader=line_numbered_loader())
    notes = data.get("notes", "") if isinstance(data, dict) else ""
    if not isinstance(notes, str):
        raise UserError(f"{path}: 'notes' must be text")
    items = data.get("claims") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise UserError(f"{path}: expected a list of claims (or a mapping with a 'claims' list)")
    if len(items) > LIMITS.max_claims:
        raise UserError(f"{path}: " + over("the number of claims", len(items), "max_claims"))
    claims = [_claim(item, index, path, default_model) for index, item in enumerate(items, start=1)]
    return claims, visible(notes, keep_newlines=True)


def _claim(item: Any, index: int, path: Path, default_model: str | None = None) -> Claim:
    """One claim, every field checked for its type and form; errors at the field's line. A claim without
    a model is about ``default_model`` where one is given (the page's open network)."""
    if not isinstance(item, dict):
        raise UserError(f"{path}: claim {index} must be a mapping with model, quantity and value")
    lines = item.get("__lines__", {})

    def at(field_name: str | None = None) -> str:
        # The line of the field when it is there, else the line where the claim starts.
        return f"{path}:{lines.get(field_name, item.get('__line__', f'claim {index}'))}"

    fields = {k: v for k, v in item.items() if k not in ("__line__", "__lines__")}
    if default_model is not None and fields.get("model") in (None, ""):
        fields["model"] = default_model
    for name in fields:
        if name not in _CLAIM_FIELDS:
            raise UserError(
                f"{at(name)}: field {shown(name)} is unknown; known fields: {', '.join(sorted(_CLAIM_FIELDS))}"
            )
    for required in ("model", "quantity", "value"):
        if fields.get(required) in (None, ""):
            raise UserError(f"{at(required)}: field {required!r} is missing")
    for name in ("model", "quantity", "stage", "layer"):
        if name in fields and not isinstance(fields[name], str):
            raise UserError(f"{at(name)}: field {name!r} must be a name (text), got {shown(fields[name])}")
    for name in ("source", "quote", "id", "note"):
        if isinstance(fields.get(name), (list, dict)):
            raise UserError(f"{at(name)}: field {name!r} must be text")
    quantity = fields["quantity"]
    if quantity not in QUANTITIES:
        raise UserError(
            f"{at('quantity')}: field 'quantity': unknown quantity {shown(quantity)}; known: {', '.join(QUANTITIES)}"
        )
    needs = QUANTITIES[quantity].needs
    if needs and not fields.get(needs):
        raise UserError(f"{at()}: field {needs!r} is required for quantity {quantity!r}")
    try:
        parsed = parse_value(fields["value"], fields.get("tolerance"))
    except ValueError as exc:
        field_name = "tolerance" if str(exc).startswith("cannot read tolerance") else "value"
        raise UserError(f"{at(field_name)}: field {field_name!r}: {exc}") from None
    wrong = _wrong_kind(QUANTITIES[quantity], parsed.kind)
    if wrong:
        raise UserError(f"{at('value')}: field 'value': {shown(fields['value'])} is {wrong}")
    overrides = fields.get("set") or {}
    if not isinstance(overrides, dict):
        raise UserError(f"{at('set')}: field 'set' must be a mapping of spec fields")
    return Claim(
        model=fields["model"],
        quantity=quantity,
        value=fields["value"],
        tolerance=fields.get("tolerance"),
        stage=fields.get("stage"),
        layer=fields.get("layer"),
        overrides={k: v for k, v in overrides.items() if k not in ("__line__", "__lines__")},
        # Free text a report prints: control characters made visible once, here.
        source=visible(fields.get("source", "")),
        quote=visible(str(fields.get("quote", "")).strip(), keep_newlines=True),
        id=visible(fields.get("id", "")),
        note=visible(str(fields.get("note", "")).strip(), keep_newlines=True),
        line=item.get("__line__"),
    )


_KIND_NAMES = {"number": "a number", "bool": "a yes/no", "list": "a list", "shape": "a shape"}


def _wrong_kind(quantity: Quantity, kind: str) -> str | None:
    """Why a value of ``kind`` cannot be a claim on ``quantity`` (None when it can)."""
    accepted = {"number": {"number"}, "list": {"list"}, "shape": {"shape", "number"}}[quantity.kind]
    if quantity.presence:
        accepted = accepted | {"bool"}
    if kind in accepted:
        return None
    wanted = " or ".join(_KIND_NAMES[k] for k in sorted(accepted))
    return f"{_KIND_NAMES[kind]}, but {quantity.name} takes {wanted}"


def load_claims_document(path: str | Path) -> tuple[list[Claim], str]:
    return parse_claims_document(read_text(path, "claims file"), path)


# -- checking ----------------------------------------------------------------------------------------
def _shape_forms(shape: list[int] | None) -> list[list[int]]:
    """The ways a tensor shape gets written: NCHW, CHW, HxWxC (papers), and without the batch."""
    if not shape:
        return []
    forms = [shape, shape[1:]]
    if len(shape) == 4:
        n, c, h, w = shape
        forms += [[h, w, c], [n, h, w, c]]
    return forms


def _stage_shape(report: Any, stage: str | None) -> tuple[str, list[int] | None]:
    names = [s.name for s in report.stages]
    if stage is None:
        raise UserError(f"the claim names no stage; stages: {', '.join(names)}")
    if stage in names:
        return stage, next(s.output_shape for s in report.stages if s.name == stage)
    residual = [s for s in report.stages if s.name not in ("stem", "head")]
    index = _STAGE_ALIASES.get(stage.lower())
    if index is None and stage.lower().startswith("layer") and stage[5:].isdigit() and int(stage[5:]) >= 1:
        index = int(stage[5:]) - 1  # layer1 is the first: no index from the end
    if index is None or index >= len(residual):
        raise UserError(f"unknown stage {shown(stage)}; stages: {', '.join(names)} (or conv2_x.., stage1..)")
    return residual[index].name, residual[index].output_shape


def _layer_row(report: Any, name: str | None) -> Any:
    if name is None:
        raise UserError(f"the claim names no layer of {report.model}")
    try:
        return report.layer(name)
    except KeyError:
        close = [r.name for r in report.layers if r.name.endswith(name.rsplit(".", 1)[-1])][:4]
        raise UserError(
            f"no layer {shown(name)} in {report.model}" + (f"; similar: {', '.join(close)}" if close else "")
        ) from None


def check_claim(claim: Claim, report: Any) -> Verdict:
    """The verdict on one claim, given the report of the model it is about."""
    quantity = QUANTITIES[claim.quantity]
    parsed = parse_value(claim.value, claim.tolerance)
    if claim.quantity == "kernel":
        return _check_kernel(claim, parsed, report)
    if quantity.kind == "shape":
        return _check_shape(claim, parsed, report)
    values = counts(report)
    if quantity.kind == "list" or parsed.kind in ("list", "bool"):
        return _check_list_or_bool(claim, parsed, report.model, values[quantity.usual], quantity.kind == "list")
    if parsed.kind != "number":
        raise UserError(f"value {parsed.text!r} is a {parsed.kind}, but {claim.quantity} is a number")
    return _check_number(claim, parsed, report.model, quantity, values)


def _verdict(claim: Claim, ok: bool, figure: str, text: str, otherwise: str) -> Verdict:
    return Verdict(claim, "true" if ok else "false", figure, text + ("" if ok else otherwise))


def _check_kernel(claim: Claim, parsed: ParsedValue, report: Any) -> Verdict:
    row = _layer_row(report, claim.layer)
    if not row.kernel:
        raise UserError(f"{claim.layer} in {report.model} has no kernel (it is a {row.type})")
    cin = (row.in_channels // row.groups) if row.in_channels else None
    actual = row.kernel + ([cin] if cin else [])
    written = "x".join(map(str, actual))
    return _verdict(
        claim,
        parsed.value in (actual, row.kernel),
        written,
        f"the kernel of {claim.layer} ({row.type}, k x k x C_in/groups) is {written}",
        f", not {parsed.text}",
    )


def _check_shape(claim: Claim, parsed: ParsedValue, report: Any) -> Verdict:
    if claim.quantity == "stage_output":
        stage, actual = _stage_shape(report, claim.stage)
        subject = f"the output of {stage}"
    else:
        row = _layer_row(report, claim.layer)
        subject, actual = f"the output of {claim.layer}", row.output_shapes[-1] if row.output_shapes else None
    ok = parsed.kind == "shape" and parsed.value in _shape_forms(actual)
    nchw = "x".join(map(str, actual or []))
    written = "x".join(map(str, actual[2:] + actual[1:2])) if actual and len(actual) == 4 else nchw
    return _verdict(
        claim, ok, written, f"{subject} of {report.model} is {written} (HxWxC; NCHW {nchw})", f", not {parsed.text}"
    )


def _check_list_or_bool(claim: Claim, parsed: ParsedValue, model: str, usual: Count, is_list: bool) -> Verdict:
    figure = format_figure(usual.value)
    text = f"{model} has {figure} {usual.label}"
    if parsed.kind == "bool" and not is_list:
        return _verdict(claim, parsed.value == bool(usual.value), figure, text, f"; the claim says {parsed.text}")
    return _verdict(
        claim, parsed.kind == "list" and parsed.value == list(usual.value), figure, text, f", not {parsed.text}"
    )


def _check_number(
    claim: Claim, parsed: ParsedValue, model: str, quantity: Quantity, values: dict[str, Count]
) -> Verdict:
    """True under the usual count, true under a named alternative, or false with what did match."""
    usual = values[quantity.usual]
    figure = format_figure(usual.value)
    written = parsed.text
    if format_figure(parsed.value) != parsed.text or parsed.tolerance:
        written += f" (read as {format_figure(parsed.value)}" + (
            f" ± {format_figure(parsed.tolerance)})" if parsed.tolerance else ")"
        )
    if number_matches(parsed, usual.value):
        return Verdict(claim, "true", figure, f"{written} matches: {model} has {figure} {usual.label}")
    for key in quantity.alternates:
        alt = values[key]
        if number_matches(parsed, alt.value):
            return Verdict(
                claim,
                f"true under {key}",
                format_figure(alt.value),
                f"{parsed.text} matches the {alt.label} ({alt.definition}): {format_figure(alt.value)}; "
                f"{model} has {figure} {usual.label} in all",
            )
    others = "; ".join(f"{format_figure(values[k].value)} {values[k].label}" for k in quantity.alternates)
    hint = _other_match(parsed, values, {quantity.usual, *quantity.alternates})
    return Verdict(
        claim,
        "false",
        figure,
        f"{model} has {figure} {usual.label}, not {written}" + (f" (other counts: {others})" if others else "") + hint,
    )


def _other_match(parsed: ParsedValue, values: dict[str, Count], skip: set[str]) -> str:
    for key, count in values.items():
        if key not in skip and number_matches(parsed, count.value):
            return (
                f". Note: {format_figure(count.value)} is the {count.label} ({count.definition}), a different quantity"
            )
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
            raise UserError(f"{path}:{claim.line or '?'}: {exc}") from None
    return verdicts
