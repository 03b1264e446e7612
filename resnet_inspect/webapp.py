"""What the Streamlit page needs, as plain functions: app.py only lays out widgets and calls these."""

from __future__ import annotations

import json
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

from .analysis.report import ModelReport
from .audit.claims import Verdict, check_claims, parse_claims
from .audit.conventions import CONVENTIONS
from .audit.counts import counts
from .errors import UserError
from .limits import LIMITS, StopCheck, over, shown
from .memory.memory_report import CATEGORIES, MemoryReport
from .model.spec import (
    ANTI_ALIASING,
    ATTENTION,
    BLOCKS,
    GLOBAL_POOLS,
    NORMS,
    SELECTIVE_KERNELS,
    SHORTCUTS,
    STEM_POOLS,
    STEMS,
    STRIDE_PLACEMENTS,
    ResNetSpec,
)
from .resolve import SPEC_SUFFIXES, is_code, parse_flag
from .text import markdown_literal, visible
from .views.tables import feature_map_text, layer_rows, si, stage_rows
from .weights.read import is_weights_file

EDITOR_CHOICES = {
    "block": BLOCKS,
    "stem": STEMS,
    "shortcut": SHORTCUTS,
    "stride_on": STRIDE_PLACEMENTS,
    "aa": ANTI_ALIASING,
    "attn": ATTENTION,
    "norm": NORMS,
    "stem_pool": STEM_POOLS,
    "sk": SELECTIVE_KERNELS,
    "shortcut_kernel": (1, 3),
    "global_pool": GLOBAL_POOLS,
}


@dataclass(frozen=True)
class EditorField:
    """One widget of the custom-network editor: the spec field it sets, and how it is asked for."""

    name: str
    label: str
    kind: str  # "choice" (from EDITOR_CHOICES), "count" (an integer in [low, high]), "flag", "list" (text)
    low: int = 1
    high: int = 1024
    help: str | None = None
    more: bool = False  # under "More settings"


# Every spec field but the input size, in the order the editor shows them.
EDITOR_FIELDS = (
    EditorField("block", "Block", "choice"),
    EditorField("layers", "Blocks per stage", "list"),
    EditorField("widths", "Stage widths", "list"),
    EditorField("groups", "Groups", "count"),
    EditorField("width_per_group", "Width per group", "count", high=4096),
    EditorField("stem", "Stem", "choice"),
    EditorField("stem_width", "Stem width", "count"),
    EditorField("stem_pool", "After the stem", "choice",
                help="max: 3x3/2 max-pool; conv: a strided 3x3 conv (ResNet-RS); none"),
    EditorField("shortcut", "Shortcut", "choice"),
    EditorField("stride_on", "Stride on", "choice", help="3x3: torchvision (v1.5); 1x1: the 2015 paper"),
    EditorField("preact", "Pre-activation (ResNet v2)", "flag"),
    EditorField("attn", "Attention in each block", "choice",
                help="se: squeeze-and-excitation; eca: efficient channel attention"),
    EditorField("attn_reduction", "SE reduction", "count"),
    EditorField("norm", "Normalization", "choice", help="batch: BatchNorm; group: GroupNorm over 32 groups"),
    EditorField("aa", "Anti-aliasing", "choice",
                help="avg / blur: a strided block pools or blurs after its 3x3 conv (resnetaa, resnetblur)"),
    EditorField("std_conv", "Weight-standardized convs (BiT; pre-activation)", "flag"),
    EditorField("scales", "Res2Net scales", "count", high=64, help="used by block res2net"),
    EditorField("radix", "ResNeSt radix", "count", high=16, help="used by block resnest"),
    EditorField("avd_first", "ResNeSt: pool before the 3x3", "flag"),
    EditorField("sk", "Selective kernels", "choice",
                help="SKNet: split gives each path half the input channels, whole all of them"),
    EditorField("num_classes", "Classes", "count", high=100_000),
    EditorField("global_pool", "Global pooling", "choice", more=True,
                help="catavgmax: average and maximum concatenated (timm), the classifier takes twice the features"),
    EditorField("in_chans", "Input channels", "count", high=64),
    EditorField("zero_init_last", "Zero-initialize each block's last norm", "flag"),
    EditorField("sk_reduction", "SK attention reduction", "count", more=True),
    EditorField("sk_divisor", "SK attention width: a multiple of", "count", more=True),
    EditorField("shortcut_kernel", "Projection shortcut kernel", "choice", more=True,
                help="3: a strided 3x3 projection (SENet-154)"),
    EditorField("reduce_first", "First 1x1 of a block narrower by", "count", high=64, more=True,
                help="SENet-154's first blocks: 2"),
    EditorField("dilate", "Dilate instead of stride, per stage after the first", "list", more=True,
                help="e.g. false,true,true: an output stride of 8"),
    EditorField("stage_channels", "Width table: each stage's output", "list", more=True,
                help="empty: from the stage widths; a pruned network's own widths otherwise"),
    EditorField("block_channels", "Width table: each block's two inner widths", "list", more=True),
)  # fmt: skip


def editor_text(value: tuple) -> str:
    """A list field as the editor shows it: "3,4,6,3", "false,true,true"."""
    return ",".join(("true" if v else "false") if isinstance(v, bool) else str(v) for v in value)


MAX_BATCH = 4096
MAX_SIDE = 8192


def parse_int_list(text: str, field: str) -> tuple[int, ...]:
    """ "3, 4, 6, 3" -> (3, 4, 6, 3); a one-line error naming the field otherwise."""
    try:
        values = tuple(int(part) for part in str(text).replace(" ", "").split(",") if part != "")
    except ValueError:
        raise UserError(
            f"invalid spec: {field}: expected comma-separated integers like 3,4,6,3, got {shown(text)}"
        ) from None
    if not values:
        raise UserError(f"invalid spec: {field}: needs at least one value")
    return values


def spec_from_editor(values: dict[str, Any]) -> ResNetSpec:
    """A spec from the custom-network editor's widget values (strings for the lists)."""
    fields = dict(values)
    for name in ("layers", "widths"):
        if isinstance(fields.get(name), str):
            fields[name] = parse_int_list(fields[name], name)
    for name in ("stage_channels", "block_channels"):  # optional: empty means no width table
        if isinstance(fields.get(name), str):
            fields[name] = parse_int_list(fields[name], name) if fields[name].strip() else ()
    if "dilate" in fields and isinstance(fields["dilate"], str):
        fields["dilate"] = tuple(
            parse_flag(p, "invalid spec: dilate (one per stage)") for p in fields["dilate"].split(",") if p.strip()
        )
    return ResNetSpec.from_dict(fields)


def identify_upload(data: bytes, filename: str) -> dict[str, Any]:
    """The spec and identity of an uploaded weights file, as plain data."""
    with _uploaded(data, filename) as path:
        from .resolve import resolve_target

        target = resolve_target(str(path))
        if target.spec is None:
            raise UserError(f"{filename}: no network could be read from this file")
        return {"spec": target.spec.to_dict(), "label": target.label}


def analyze_upload(
    data: bytes, filename: str, shape: tuple[int, ...], device: str, should_stop: StopCheck | None = None
) -> dict[str, Any]:
    """The report of an uploaded weights file's network, carrying its weights, as a plain dict."""
    with _uploaded(data, filename) as path, pass_slot(device, should_stop):
        from .resolve import inspect_target, resolve_target

        report = inspect_target(
            resolve_target(str(path)),
            shape,
            device=device,
            memory_budget=LIMITS.app_memory_bytes,
            time_budget=LIMITS.app_seconds,
            should_stop=should_stop,
        )
    report.weights = (report.weights or {}) | {"file": filename}
    return report.to_dict()


@contextmanager
def _uploaded(data: bytes, filename: str) -> Iterator[Path]:
    """The upload as a file in a private folder; its messages name the upload, never the folder. A pickle
    is read like any file the tool reads: by its records, with a restricted unpickler (nothing runs)."""
    if not is_weights_file(filename):
        raise UserError(
            f"{visible(filename)}: not a weights file (.safetensors, .pth, .pt, .bin, .ckpt, .pth.tar, .onnx, "
            ".keras, .h5)"
        )
    # The file is saved under a tame name (letters, digits, dot, dash, underscore: no control character,
    # no path), which the messages then show in place of the server's folder.
    name = re.sub(r"[^A-Za-z0-9._-]", "_", filename.rsplit("/", 1)[-1])[-120:].lstrip(".") or "upload.safetensors"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            yield path
        except UserError as exc:
            raise UserError(str(exc).replace(str(path), name).replace(folder, "")) from None


def error_text(exc: BaseException) -> str:
    """An error as the page shows it: one message, control characters visible, no server folder."""
    text = str(exc)
    for folder in {tempfile.gettempdir(), str(Path.cwd()), str(Path.home())}:
        text = text.replace(folder + "/", "").replace(folder, "")
    return markdown_literal(text)


def has_cuda() -> bool:
    """Whether this server has a CUDA device (the Memory tab then models its allocator by default)."""
    import torch

    return bool(torch.cuda.is_available())


def spec_key(spec: ResNetSpec) -> str:
    """A stable text key of a spec, for caching and for the URL-free state."""
    return json.dumps(spec.to_dict(), sort_keys=True)


def input_shape(batch: int, spec: ResNetSpec, side: int) -> tuple[int, int, int, int]:
    if not 1 <= batch <= MAX_BATCH:
        raise UserError(f"batch must be between 1 and {MAX_BATCH}, got {batch}")
    if not 1 <= side <= MAX_SIDE:
        raise UserError(f"input side must be between 1 and {MAX_SIDE} pixels, got {side}")
    shape = (batch, spec.in_chans, side, side)
    if prod(shape) > LIMITS.max_input_elements:
        raise UserError("the input is too large: " + over("the number of elements", prod(shape), "max_input_elements"))
    return shape


# Real passes across every session of the server: each may take app_memory_bytes, so the server's
# whole budget is app_passes x app_memory_bytes whatever the number of pages open.
_PASS_SLOTS = threading.BoundedSemaphore(LIMITS.app_passes)


@contextmanager
def pass_slot(device: str, should_stop: StopCheck | None = None) -> Iterator[None]:
    """A turn for one real pass (meta passes allocate nothing and need none): waited for while other
    pages run theirs, up to the time one pass may take, and given up when the page asks to stop."""
    if device == "meta":
        yield
        return
    waited = 0.0
    while not _PASS_SLOTS.acquire(timeout=0.2):
        waited += 0.2
        if should_stop is not None and should_stop():
            raise UserError("the analysis was cancelled")
        if waited >= LIMITS.app_seconds:
            raise UserError(
                f"the server is running {LIMITS.app_passes} passes for other pages (setting "
                "RESNET_INSPECT_APP_PASSES); try again in a moment, or choose device meta"
            )
    try:
        yield
    finally:
        _PASS_SLOTS.release()


def analyze(
    key: str, shape: tuple[int, ...], device: str, label: str, should_stop: StopCheck | None = None
) -> dict[str, Any]:
    """The report of a spec (given by its key) as a plain dict, for Streamlit's cache; ``should_stop``
    cancels it (the page: a newer run is waiting)."""
    return app_pass(ResNetSpec.from_dict(json.loads(key)), shape, device, label, should_stop).to_dict()


def app_pass(
    subject: Any, shape: tuple[int, ...], device: str, label: str, should_stop: StopCheck | None = None
) -> ModelReport:
    """One analysis for the page: within the page's memory and time budgets, in a turn of the server's
    pass slots, cancelled when ``should_stop`` says so."""
    from .analysis.analyze import inspect  # torch: imported once the page has its sidebar

    with pass_slot(device, should_stop):
        return inspect(
            subject,
            shape,
            device=device,
            label=label,
            memory_budget=LIMITS.app_memory_bytes,
            time_budget=LIMITS.app_seconds,
            should_stop=should_stop,
        )


@dataclass(frozen=True)
class MemoryRequest:
    """What the Memory tab asks: a spec (by its key), the input, the step and the device's memory."""

    key: str
    side: int
    batch: int
    train: bool
    optimizer: str
    precision: str
    device: str  # whose allocator
    budget: int  # bytes
    label: str

    def plan(self) -> Any:
        from .memory.plan import MemoryPlan

        spec = ResNetSpec.from_dict(json.loads(self.key))
        image = (spec.in_chans, self.side, self.side)
        return MemoryPlan(self.batch, image, self.train, self.optimizer, self.precision, self.device)


def memory_view(request: MemoryRequest, should_stop: StopCheck | None = None) -> dict[str, Any]:
    """The Memory tab's figures: the report and the largest batch within the budget, as plain dicts for
    Streamlit's cache. Estimated on meta, within the app's time budget."""
    from dataclasses import asdict

    plan = request.plan()
    with kept_simulator(request.key, request.label, should_stop) as simulator:
        return {"report": asdict(simulator.report(plan)), "fit": asdict(simulator.fit(plan, request.budget))}


def memory_curve_view(request: MemoryRequest, should_stop: StopCheck | None = None) -> list[dict[str, Any]]:
    """The Memory tab's curves (peaks against batch size and input side), drawn after its figures:
    the same simulator, so the passes behind the fit are not simulated again."""
    from dataclasses import asdict

    from .memory.estimate import memory_curve

    plan = request.plan()
    with kept_simulator(request.key, request.label, should_stop) as simulator:
        fit = simulator.fit(plan, request.budget)
        return [asdict(p) for p in memory_curve(simulator, plan, fit)] if fit.inference_batch else []


# The networks' simulators outlive a run of the page: another budget, batch or allocator reuses the
# passes already simulated (the lines through batches 1 and 2, the training setup, the model on meta).
_SIMULATORS: OrderedDict[tuple[str, str], tuple[Any, threading.Lock]] = OrderedDict()
_SIMULATORS_LOCK = threading.Lock()
SIMULATORS_KEPT = 4


@contextmanager
def kept_simulator(key: str, label: str, should_stop: StopCheck | None = None) -> Iterator[Any]:
    """The simulator of the spec ``key``, used by one run at a time, within the app's time budget."""
    import time

    from .memory.estimate import Simulator

    with _SIMULATORS_LOCK:
        entry = _SIMULATORS.pop((key, label), None)
        if entry is None:
            entry = (Simulator(ResNetSpec.from_dict(json.loads(key)), label), threading.Lock())
            while len(_SIMULATORS) >= SIMULATORS_KEPT:
                _SIMULATORS.popitem(last=False)
        _SIMULATORS[(key, label)] = entry
    simulator, lock = entry
    with lock:
        simulator.deadline = time.monotonic() + LIMITS.app_seconds
        simulator.should_stop = should_stop
        try:
            yield simulator
        finally:
            simulator.deadline = simulator.should_stop = None


def saved_for_backward(
    key: str, shape: tuple[int, ...], label: str, should_stop: StopCheck | None = None
) -> dict[str, int]:
    """Bytes each layer saves for backward in one training step of ``shape`` (simulated on meta, in this
    machine's allocator), for the graph's overlay."""
    with kept_simulator(key, label, should_stop) as simulator:
        return simulator.saved_by_layer(shape, "cuda" if has_cuda() else "cpu")


def picked_first(rows: list[dict[str, Any]], picked: list[str], report: ModelReport) -> list[dict[str, Any]]:
    """The Layers table with the layers picked in the graph on top (added when the filters hid them)."""
    names = set(picked)
    present = {row["name"] for row in rows}
    missing = [row for row in filtered_layers(report, None, None, "") if row["name"] in names - present]
    on_top = [row for row in rows if row["name"] in names] + missing
    return on_top + [row for row in rows if row["name"] not in names]


def short_list(names: list[str], most: int = 3) -> str:
    """ "a, b, c and 4 more"."""
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def memory_breakdown_rows(report: MemoryReport) -> list[dict[str, Any]]:
    peaks = [("inference", report.inference)] + ([("training step", report.training)] if report.training else [])
    rows = [
        {
            "bytes alive at the peak": "total",
            **{name: p.total for name, p in peaks},
            "what": "the most bytes alive at once",
        }
    ]
    for category, meaning in CATEGORIES.items():
        if any(p.breakdown.get(category) for _, p in peaks):
            rows.append(
                {
                    "bytes alive at the peak": category.replace("_", " "),
                    **{name: p.breakdown.get(category, 0) for name, p in peaks},
                    "what": meaning,
                }
            )
    return rows


def headline_metrics(report: ModelReport, convention: str) -> list[tuple[str, str, str]]:
    """(label, value, help) for the metric tiles at the top of the page."""
    values = counts(report)
    chosen = CONVENTIONS[convention]
    total = chosen.compute(report)
    tiles = [
        (
            "Parameters",
            f"{report.totals.params:,}",
            f"{si(report.totals.params)}; {report.totals.params_without_classifier:,} without the classifier",
        ),
        ("MACs", si(report.totals.macs), f"{report.totals.macs:,} multiply-accumulates (conv + linear, no bias)"),
        ("FLOPs", si(report.totals.flops), f"{report.totals.flops:,}: 2 x MACs + element-wise work"),
        ("Paper depth", str(values["paper_depth"].value), values["paper_depth"].definition),
        (
            "Sum of layer outputs",
            si(report.totals.activation_bytes, "B"),
            "bytes of all leaf-module outputs added up: not what a run needs (the Memory tab has the peaks)",
        ),
    ]
    if convention not in ("macs", "flops"):
        tiles.insert(3, (f"{chosen.unit} ({convention})", si(total), f"{total:,.0f}: {chosen.what}"))
    return tiles


def filtered_layers(report: ModelReport, depth: int | None, types: list[str] | None, search: str) -> list[dict]:
    """Layer rows down to ``depth``, of the chosen module types, whose name or type contains ``search``.
    A search or a type filter looks at every depth: what it finds must not hang on the depth slider."""
    needle = search.strip().lower()
    rows = layer_rows(report, None if (needle or types) else depth)
    for row in rows:  # one type per column for the table widget; blank where a layer has none
        row["block"] = "" if row["block"] is None else str(row["block"])
        row["groups"] = "" if row["groups"] is None else str(row["groups"])
    if types:
        rows = [r for r in rows if r["type"] in types]
    if needle:
        rows = [r for r in rows if needle in r["name"].lower() or needle in r["type"].lower()]
    return rows


def stage_table_rows(report: ModelReport) -> list[dict[str, str]]:
    """The stage table with every number written out (25,557,032; 16.33 %); cells are Markdown there,
    so "no blocks" is a dash that cannot turn into a bullet."""
    return [
        {
            "stage": r["stage"],
            "blocks": r["blocks"].replace("-", "–"),
            "output (HxWxC)": r["output"],
            "params": f"{r['params']:,}",
            "params %": f"{r['params %']:.2f}",
            "MACs": f"{r['macs']:,}",
            "MACs %": f"{r['macs %']:.2f}",
        }
        for r in stage_rows(report)
    ]


def module_types(report: ModelReport) -> list[str]:
    return sorted({row.type for row in report.layers if row.name})


def counts_rows(report: ModelReport) -> list[dict[str, Any]]:
    return [
        {
            "count": c.label,
            "value": str(c.value) if isinstance(c.value, list) else f"{c.value:,.0f}",
            "definition": c.definition,
        }
        for c in counts(report).values()
    ]


def claims_verdicts(text: str, reports_for: Any) -> list[Verdict]:
    """Verdicts on an uploaded claims file (YAML/JSON text). Its claims are about registered
    variants or ``this`` network (the default when a claim names none): user code is never run from here
    and no server file is read."""
    claims = parse_claims(text, "uploaded claims", default_model="this")
    for claim in claims:
        if is_code(claim.model):
            raise UserError(
                f"uploaded claims:{claim.line}: model {claim.model!r} is user code, which the web "
                "front end does not run"
            )
        if claim.model.lower().endswith(SPEC_SUFFIXES):
            raise UserError(
                f"uploaded claims:{claim.line}: model {claim.model!r} is a file; the web front end "
                "checks claims about registered variants or 'this' network"
            )
    return check_claims(claims, reports_for, path="uploaded claims")


def compare_rows(reports: list[ModelReport]) -> list[dict[str, Any]]:
    """One row per (stage, network) for side-by-side stage tables."""
    rows = []
    for report in reports:
        for stage in report.stages:
            shape = stage.output_shape
            rows.append(
                {
                    "network": report.model,
                    "stage": stage.name,
                    "blocks": str(stage.blocks) if stage.blocks else "-",
                    "output": feature_map_text(shape),
                    "params": stage.params,
                    "MACs": stage.macs,
                }
            )
    return rows


def totals_rows(reports: list[ModelReport]) -> list[dict[str, Any]]:
    return [
        {
            "network": r.model,
            "params": r.totals.params,
            "MACs": r.totals.macs,
            "FLOPs": r.totals.flops,
            "paper depth": counts(r)["paper_depth"].value,
            "activations (B)": r.totals.activation_bytes,
        }
        for r in reports
    ]


def profiles_of(model: str, profiles: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The measured profiles of the open network, and those of other networks."""
    own = [p for p in profiles if p.get("model") == model]
    return own, [p for p in profiles if p.get("model") != model]


def load_profiles(folder: str | Path) -> list[dict[str, Any]]:
    """Measured profiles (JSON written by `resnet-inspect profile`) found under ``folder``."""
    folder = Path(folder)
    profiles: list[dict[str, Any]] = []
    if not folder.is_dir():
        return profiles
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("kind") == "resnet-inspect-profile":
            data["_path"] = str(path)
            profiles.append(data)
    return profiles
