"""What a target names, resolved one way for the command line, claims files and the app.

``resnet50``                  a registered variant
``my_net.yaml`` / ``.json``   a spec file (fields of ResNetSpec)
``path/to/file.py:factory``   a class or function in a user's file that returns an nn.Module;
                              importing it runs the user's code, as ``python file.py`` would.

Overrides (``--set layers=2,2,2,2`` on the command line, ``set:`` in a claims file) apply to
variants and spec files, and show in the target's label: ``resnet50[layers=2,2,2,2]``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .analysis.report import numel
from .errors import UserError
from .limits import StopCheck, command_deadline, shown
from .model.build import resolve_spec
from .model.spec import FIELD_NAMES, ResNetSpec, load_spec_file
from .text import visible
from .weights.read import is_weights_file

if TYPE_CHECKING:
    from torch import nn

    from .analysis.report import ModelReport
    from .audit.claims import Claim, Verdict
    from .weights.infer import Identification

SPEC_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class Target:
    label: str
    spec: ResNetSpec | None = None
    module: nn.Module | None = None
    weights: str | None = None  # a weights file whose tensors the network carries
    identity: Identification | None = None  # what the file's tensors say the network is

    def __post_init__(self) -> None:
        # The label is printed everywhere (terminal, reports, the page): never a control character in it.
        object.__setattr__(self, "label", visible(self.label))

    @property
    def subject(self) -> ResNetSpec | nn.Module:
        """What `inspect()` takes: the spec, or the user's module."""
        if self.spec is not None:
            return self.spec
        if self.module is None:
            raise ValueError(f"target {self.label!r} has neither a spec nor a module")
        return self.module

    def build(self) -> nn.Module:
        from .model.build import build

        subject = self.subject
        return build(subject) if isinstance(subject, ResNetSpec) else subject


def is_code(text: str) -> bool:
    return ".py:" in text or text.endswith(".py")


TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")


def parse_flag(word: str, what: str) -> bool:
    """``true``/``yes``/``1`` or ``false``/``no``/``0`` (any case), spelled out; anything else refused."""
    lowered = word.strip().lower()
    if lowered not in TRUE_WORDS + FALSE_WORDS:
        raise UserError(f"{what}: expected true or false (yes/no, 1/0), got {shown(word.strip())}")
    return lowered in TRUE_WORDS


def parse_override(text: str) -> tuple[str, Any]:
    """``layers=2,2,2,2`` / ``attn=se`` / ``stem=deep`` to a (field, value) pair."""
    if "=" not in text:
        raise UserError(f"invalid override {text!r}: expected FIELD=VALUE, e.g. layers=2,2,2,2")
    key, raw = (part.strip() for part in text.split("=", 1))
    if key == "se":  # the older spelling of attn=se
        return "attn", "se" if parse_flag(raw, f"invalid override {shown(text)} (or use attn=se)") else "none"
    if key not in FIELD_NAMES:
        raise UserError(f"invalid override {text!r}: unknown field {key!r}; known fields: {', '.join(FIELD_NAMES)}")
    default = getattr(ResNetSpec(), key)
    try:
        if isinstance(default, bool):
            return key, parse_flag(raw, f"invalid override {shown(text)}")
        if isinstance(default, int):
            return key, int(raw)
        if isinstance(default, tuple):
            items = [item.strip() for item in raw.split(",") if item.strip()]
            if key == "dilate":
                return key, tuple(parse_flag(item, f"invalid override {shown(text)}") for item in items)
            return key, tuple(int(item) for item in items)
    except UserError:
        raise
    except ValueError:
        raise UserError(f"invalid override {text!r}: cannot read {raw!r} as {type(default).__name__}") from None
    return key, raw


def _override_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(_override_text(v) for v in value)
    return str(value)


@contextlib.contextmanager
def _captured(path: Path) -> Iterator[None]:
    """What user code prints, kept apart: logged for --debug, never mixed into a report or the terminal."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield
    finally:
        if printed.getvalue().strip():
            logging.getLogger("resnet_inspect").info("%s printed: %s", path, visible(printed.getvalue().strip()))


def load_factory(reference: str) -> nn.Module:
    """Import ``file.py`` and call ``NAME`` in it; the user's errors come back as one line."""
    from torch import nn

    path_text, _, attr = reference.rpartition(":")
    path = Path(path_text)
    if not attr:
        raise UserError(f"{reference!r}: expected path/to/file.py:NAME")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if path.suffix != ".py":
        raise UserError(f"{path}: not a Python file (expected path/to/file.py:NAME)")
    module_name = f"resnet_inspect_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"{path}: cannot be imported as Python")
    user_module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = user_module
    try:
        # The user's prints are kept out of the report and the terminal (shown with --debug).
        with _captured(path):
            spec.loader.exec_module(user_module)
    except Exception as exc:  # the user's code: report, never crash
        sys.modules.pop(module_name, None)
        raise UserError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from None
    if not hasattr(user_module, attr):
        raise UserError(f"{path}: defines no {attr!r}")
    factory = getattr(user_module, attr)
    if not callable(factory):
        raise UserError(f"{path}:{attr} is not a class or function")
    try:
        with _captured(path):
            model = factory()
    except Exception as exc:
        raise UserError(f"{path}:{attr}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise UserError(f"{path}:{attr}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def confined(path_text: str, base: Path, root: Path) -> Path:
    """``path_text`` relative to ``base``, refused unless it lies under ``root`` (links followed)."""
    path = (base / path_text).resolve()
    if not path.is_relative_to(root.resolve()):
        raise UserError(
            f"{shown(path_text)} is outside {root}; a claims file may name files only under its own "
            "folder (audit --root DIR allows another)"
        )
    return path


def resolve_target(
    text: str,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    *,
    allow_code: bool = True,
    base: Path | None = None,
    root: Path | None = None,
) -> Target:
    """Resolve a target. ``overrides`` are ``FIELD=VALUE`` texts or a mapping of spec fields;
    ``base`` is the folder relative paths start from (a claims file's), and files must lie under
    ``root`` (by default ``base``); ``allow_code=False`` refuses ``file.py:NAME``."""
    pairs = dict(overrides) if isinstance(overrides, Mapping) else dict(parse_override(o) for o in overrides)
    suffix = "[" + ",".join(f"{k}={_override_text(v)}" for k, v in pairs.items()) + "]" if pairs else ""
    if base is not None:

        def where(path_text: str) -> Path:
            return confined(path_text, base, root or base)
    else:
        where = Path
    if is_code(text):
        if not allow_code:
            raise UserError(f"{shown(text)} is user code; running it needs --allow-code")
        if pairs:
            raise UserError("overrides apply to variants and spec files, not to user code")
        path, _, name = text.rpartition(":")
        return Target(label=text, module=load_factory(f"{where(path)}:{name}" if path else text))
    if is_weights_file(text):
        return _weights_target(where(text), suffix, pairs)
    if text.lower().endswith(SPEC_SUFFIXES):
        spec_path = where(text)  # refused here when outside the claims file's folder
        try:
            spec = load_spec_file(spec_path)
        except ValueError:
            if base is None:
                raise
            # A file a claims file names may not be the claims author's: say what, never what it holds.
            raise UserError(
                f"{shown(text)} is not a readable, valid spec file; see why with: "
                f"resnet-inspect summary {shown(text)} --device meta"
            ) from None
        return Target(label=Path(text).stem + suffix, spec=spec.replace(**pairs) if pairs else spec)
    return Target(label=text + suffix, spec=resolve_spec(text, **pairs))


def _weights_target(path: Path, suffix: str, pairs: dict[str, Any]) -> Target:
    """A weights file as a target: the network its tensors say, carrying them."""
    from .weights.infer import identify_file

    weights, ident = identify_file(str(path))
    if ident.spec is None:
        raise UserError(f"{path}: {ident.problem}")
    spec = ident.spec.replace(**pairs) if pairs else ident.spec
    return Target(label=path.stem + suffix, spec=spec, weights=str(path), identity=ident)


def inspect_target(
    target: Target,
    input_size: Sequence[int] | str | None = None,
    device: str = "auto",
    dtype: Any = "float32",
    memory_budget: int | None = None,
    time_budget: float | None = None,
    should_stop: StopCheck | None = None,
) -> ModelReport:
    """The report of one forward pass of ``target``, labelled with its name and overrides; a weights
    file's tensors are loaded into the network and their statistics added to the report."""
    from .analysis.analyze import inspect
    from .analysis.options import resolve_device

    def analyzed(subject: ResNetSpec | nn.Module) -> ModelReport:
        return inspect(
            subject,
            input_size,
            device=device,
            dtype=dtype,
            label=target.label,
            memory_budget=memory_budget,
            time_budget=time_budget,
            should_stop=should_stop,
        )

    if target.weights is None:
        return analyzed(target.subject)
    from .weights.read import read_weights

    spec, identity = target.spec, target.identity
    if spec is None or identity is None:
        raise ValueError(f"weights target {target.label!r} was resolved without a spec or an identification")
    path = target.weights
    weights = read_weights(path)
    if resolve_device(device) == "meta":  # no values on meta: the network's shapes are the file's
        report = analyzed(spec)
    else:
        report = analyzed(
            _network_with_weights(target, path, spec, identity, weights, input_size, device, dtype, memory_budget)
        )
    _add_weights(report, path, spec, identity, weights)
    return report


def _network_with_weights(
    target: Target,
    path: str,
    spec: ResNetSpec,
    identity: Identification,
    weights: Any,
    input_size: Sequence[int] | str | None,
    device: str,
    dtype: Any,
    memory_budget: int | None,
) -> nn.Module:
    """The network carrying the file's tensors; refused first when the pass cannot fit beside them."""
    from .analysis.analyze import default_input_size, inspect
    from .analysis.memory_guard import check_memory
    from .analysis.options import parse_input_size, resolve_device, resolve_dtype
    from .weights.stats import load_tensors

    if any(info.quantized or info.source is None for info in weights.tensors.values() if not info.placeholder) or any(
        info.placeholder and not name.endswith("num_batches_tracked") for name, info in weights.tensors.items()
    ):
        raise UserError(
            f"{path}: an int8 quantized or ONNX file, whose BatchNorm layers are folded into the convolutions: "
            "its network can be counted (--device meta) but not run with its weights"
        )
    shape = parse_input_size(input_size if input_size is not None else default_input_size(spec))
    # The file's tensors come on top of the network's own.
    check_memory(
        2 * sum(numel(s) for s in weights.network_shapes.values()),
        shape,
        resolve_device(device),
        resolve_dtype(dtype),
        lambda: inspect(spec, shape, device="meta", dtype=dtype),
        budget=memory_budget,
    )
    network = target.build()
    renamed = identity.renamed_classifier
    tensors = load_tensors(weights, set(weights.network_shapes))
    if weights.layout == "Keras":  # its convolutions' biases and its epsilon, folded into the norms
        from .weights.keras_file import KERAS_EPSILON, folded_state

        folded_state(tensors, load_tensors(weights, set(weights.extra)), weights.epsilon or KERAS_EPSILON)
    if renamed:  # the file's "classifier.weight" is the network's "fc.weight"
        tensors = {("fc." + k[len(renamed) + 1 :] if k.startswith(renamed + ".") else k): v for k, v in tensors.items()}
    network.load_state_dict(tensors, strict=not identity.headless)
    return network


def _add_weights(report: ModelReport, path: str, spec: ResNetSpec, identity: Identification, weights: Any) -> None:
    """The file's statistics, what it was identified as, and its spec, into ``report``."""
    from .weights.stats import iter_tensors, summarize

    names = set(weights.network_shapes)
    report.weights = summarize(weights, iter_tensors(weights, names), names).to_dict() | {
        "identified_as": identity.matches,
        "closest": identity.closest,
        "differences": identity.differences,
        "cannot_show": identity.unknown,
        "read_as": ([f"the state dict under '{weights.container}'"] if weights.container else [])
        + ([f"the prefix '{weights.prefix}' stripped"] if weights.prefix else [])
        + weights.notes,
    }
    if identity.headless:
        report.warnings.insert(
            0,
            "the weights file has no classifier: the report's classifier is the one a "
            "1000-class network would have, with random weights",
        )
    report.spec = spec.to_dict()


def claim_reports(base: Path, allow_code: bool, root: Path | None = None) -> Callable[[Claim], ModelReport]:
    """A function from a claim to the (meta) report of its model, cached per (model, overrides).

    Paths in claims are relative to the claims file's folder ``base`` and must lie under ``root``
    (by default ``base``)."""
    cache: dict[Any, ModelReport] = {}
    # One budget for the whole file: many cheap claims or a few enormous networks end the same way.
    deadline = command_deadline("the claims' networks")

    def report_for(claim: Claim) -> ModelReport:
        key = (claim.model, tuple(sorted((k, str(v)) for k, v in claim.overrides.items())))
        if key not in cache:
            deadline()
            target = resolve_target(claim.model, claim.overrides, allow_code=allow_code, base=base, root=root)
            cache[key] = inspect_target(target, device="meta", should_stop=deadline)
        return cache[key]

    return report_for


def run_claims_file(path: str | Path, allow_code: bool = False, root: Path | None = None) -> tuple[list[Verdict], str]:
    """Verdicts on every claim of a file, and the file's notes. Files the claims name must lie
    under ``root`` (by default the claims file's folder)."""
    from .audit.claims import check_claims, load_claims_document

    path = Path(path)
    claims, notes = load_claims_document(path)
    return check_claims(claims, claim_reports(path.parent, allow_code, root), path=str(path)), notes
