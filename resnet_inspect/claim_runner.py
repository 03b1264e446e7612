"""Resolve each claim's model (once per model and overrides) and check the claims."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .analyze import inspect
from .build import resolve_spec
from .claims import Claim, Verdict, check_claims, load_claims_document
from .report import ModelReport
from .spec import load_spec_file
from .targets import SPEC_SUFFIXES, load_factory


def report_resolver(base: Path, allow_code: bool) -> Callable[[Claim], ModelReport]:
    """A function from a claim to the report of its model, cached per (model, overrides).

    Paths in claims are relative to the claims file. A ``file.py:NAME`` model runs the user's
    code, so it needs ``allow_code``."""
    cache: dict[Any, ModelReport] = {}

    def report_for(claim: Claim) -> ModelReport:
        key = (claim.model, tuple(sorted((k, str(v)) for k, v in claim.overrides.items())))
        if key in cache:
            return cache[key]
        label = claim.model + ("" if not claim.overrides else
                               "[" + ",".join(f"{k}={v}" for k, v in claim.overrides.items()) + "]")
        if ".py:" in claim.model:
            if not allow_code:
                raise ValueError(f"model {claim.model!r} is user code; pass --allow-code to import and run it")
            if claim.overrides:
                raise ValueError("'set' applies to variants and spec files, not to user code")
            path, _, name = claim.model.rpartition(":")
            subject: Any = load_factory(f"{base / path}:{name}")
        elif claim.model.lower().endswith(SPEC_SUFFIXES):
            spec = load_spec_file(base / claim.model)
            subject = spec.replace(**claim.overrides) if claim.overrides else spec
        else:
            subject = resolve_spec(claim.model, **claim.overrides)
        cache[key] = inspect(subject, device="meta", label=label)
        return cache[key]

    return report_for


def run_claims_file(path: str | Path, allow_code: bool = False) -> tuple[list[Verdict], str]:
    """Verdicts on every claim of a file, and the file's notes."""
    path = Path(path)
    claims, notes = load_claims_document(path)
    return check_claims(claims, report_resolver(path.parent, allow_code), path=str(path)), notes
