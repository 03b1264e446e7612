"""The ``resnet-inspect`` command line: parse, call the package, print.

A user's mistake (`UserError`: unknown name, bad size, unreadable file, failing factory) prints one
line on stderr and exits with 2; a false claim in an audit or a file that does not load strictly exits
with 1. Anything else is a bug in the tool: one line that says so and how to see the traceback
(``--debug`` or ``RESNET_INSPECT_DEBUG=1``), exit 70."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, NoReturn

from .analysis.options import DEVICES, DTYPES, MEASURING_DEVICES
from .errors import UserError
from .limits import LIMITS, check_environment, command_deadline, over
from .text import visible

if TYPE_CHECKING:  # for annotations only: the command line imports torch only where a command needs it
    from rich.console import Console

    from .analysis.report import ModelReport
    from .memory.measure import Measured
    from .memory.memory_report import Fit, MemoryReport
    from .memory.plan import MemoryPlan
    from .resolve import Target

USAGE_ERROR = 2
INTERNAL_ERROR = 70  # EX_SOFTWARE in sysexits.h
DEBUG_VARIABLE = "RESNET_INSPECT_DEBUG"

log = logging.getLogger("resnet_inspect")


class CliError(UserError):
    """A mistake in the command line itself: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + exits 2; keep it to one line
        raise CliError(f"{self.prog}: {message}")


def _at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def _precision(text: str) -> str:
    names = {"fp32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "float16": "fp16"}
    if text.lower() not in names:
        raise argparse.ArgumentTypeError(f"expected fp32, bf16 or fp16, got {text!r}")
    return names[text.lower()]


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="variant name, spec file (.json/.yaml) or path/to/file.py:NAME")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a spec field, e.g. --set layers=2,2,2,2 (repeatable)",
    )


def _cmd_list(args: argparse.Namespace) -> int:
    from .model.catalog import variant_rows
    from .model.registry import FAMILIES
    from .views.terminal import variant_list_lines

    rows = variant_rows(args.family, args.grep)
    if not rows:
        raise CliError(f"no variant matches {args.grep!r}" + (f" in family {args.family}" if args.family else ""))
    print("\n".join(variant_list_lines(rows, FAMILIES, _terminal_width(), full=args.full)))
    return 0


def _analyze(args: argparse.Namespace) -> ModelReport:
    from .resolve import inspect_target, resolve_target

    return inspect_target(resolve_target(args.target, args.overrides), args.input, args.device, args.dtype)


def _add_analysis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", default=None, metavar="NxCxHxW", help="input size (default: the variant's own, e.g. 1x3x224x224)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=DEVICES,
        help="where the forward pass runs; meta needs no memory (default: auto)",
    )
    parser.add_argument("--dtype", default="float32", choices=DTYPES)


def _emit(text: str, output: str | None) -> None:
    if output:
        from .fileio import write_atomic

        write_atomic(output, text)
        print(f"wrote {visible(output)}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def _cmd_summary(args: argparse.Namespace) -> int:
    from .audit.conventions import convention

    if args.convention:
        convention(args.convention)  # validate before the pass
    report = _analyze(args)
    if args.format == "table" and not args.output:
        from .views.terminal import print_summary

        print_summary(report, depth=args.depth, convention=args.convention, exact=args.exact)
        return 0
    from .views.export import export_report

    if args.format == "table":
        raise CliError("--format table prints to the terminal; use json, csv, md or html with -o")
    _emit(export_report(report, args.format, depth=args.depth), args.output)
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    if args.claims:
        return _audit_claims(args)
    if not args.target:
        raise CliError("audit needs a TARGET or --claims FILE")
    from .audit.counts import counts
    from .resolve import inspect_target, resolve_target
    from .views.audit_views import print_counts

    target = resolve_target(args.target, args.overrides)
    report = inspect_target(target, args.input, device="meta")
    live = None
    if not args.no_live:
        import torch

        from .analysis.memory_guard import check_memory
        from .audit.reference_tools import live_totals

        # torchinfo and fvcore run real CPU passes of their own.
        check_memory(report.totals.params, tuple(report.input_shape), "cpu", torch.float32, lambda: report)
        live = live_totals(target.build(), report.input_shape)
    values = counts(report)
    if args.format == "json":
        import json

        _emit(
            json.dumps(
                {
                    "model": report.model,
                    "counts": {k: c.value for k, c in values.items()},
                    "definitions": {k: c.definition for k, c in values.items()},
                    "live": live,
                },
                indent=2,
            )
            + "\n",
            args.output,
        )
    else:
        print_counts(report.model, values, live, exact_numbers=args.exact)
    return 0


def _audit_claims(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .resolve import run_claims_file
    from .views.audit_views import print_verdicts, verdicts_json, verdicts_markdown

    verdicts, notes = run_claims_file(
        args.claims, allow_code=args.allow_code, root=Path(args.root) if args.root else None
    )
    if args.format == "md":
        _emit(verdicts_markdown(verdicts, f"Audit of {args.claims}", notes), args.output)
    elif args.format == "json":
        import json

        _emit(json.dumps(verdicts_json(verdicts), indent=2, ensure_ascii=False) + "\n", args.output)
    else:
        print_verdicts(verdicts)
    return 1 if any(v.is_false for v in verdicts) else 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from .audit.diff import diff_reports
    from .resolve import inspect_target, resolve_target
    from .views.audit_views import print_diff

    reports = [inspect_target(resolve_target(text), args.input, device="meta") for text in (args.a, args.b)]
    print_diff(diff_reports(*reports), exact_numbers=args.exact)
    return 0


def _cmd_graph(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .fileio import check_writable, write_atomic
    from .views.graphs import FORMATS, LEVELS, build_graph, render_graph

    if args.level not in LEVELS:
        raise CliError(f"unknown level {args.level!r}; choose one of {', '.join(LEVELS)}")
    fmt = Path(args.output).suffix.lower().lstrip(".")
    if fmt not in (*FORMATS, "html"):
        raise CliError(
            f"unknown output format {'.' + fmt if fmt else '(none)'}; "
            f"use one of {', '.join('.' + f for f in FORMATS)} or .html (the interactive explorer)"
        )
    if fmt != "html" and (args.saved or args.profile):
        raise CliError("--saved and --profile add overlays to the explorer: write .html")
    check_writable(args.output)
    latency = _profile_latency(args.profile) if args.profile else None
    from .resolve import inspect_target, resolve_target

    target = resolve_target(args.target, args.overrides)
    report = inspect_target(target, args.input, args.device, args.dtype)
    if fmt == "html":
        from .views.explorer import explorer_data, explorer_html

        saved = _saved_by_layer(target, report.input_shape) if args.saved else None
        data = explorer_data(
            report, saved=saved, latency=latency, level=args.level, fold=args.collapse, stage=args.stage
        )
        write_atomic(args.output, explorer_html(data))
    else:
        write_atomic(args.output, render_graph(build_graph(report, args.level, args.collapse, args.stage), fmt))
    print(f"wrote {visible(args.output)}", file=sys.stderr)
    return 0


def _profile_latency(path: str) -> dict[str, float]:
    """Milliseconds per layer from a profile written by ``resnet-inspect profile``."""
    import json

    from .fileio import open_regular, read_bounded
    from .views.explorer import latency_by_layer

    with open_regular(path, "profile") as (handle, size):
        text = read_bounded(handle, min(size, 64 * 2**20) if size else 64 * 2**20)
    try:
        profile = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CliError(f"{visible(path)} is not a profile (JSON): {exc}") from None
    if not isinstance(profile, dict) or not isinstance(profile.get("layers"), list):
        raise CliError(f"{visible(path)} is not a profile: no list of layers (write one with `resnet-inspect profile`)")
    try:
        return latency_by_layer(profile)
    except ValueError as exc:
        raise CliError(f"{visible(path)}: not a profile's time: {exc}") from None


def _saved_by_layer(target: Target, input_shape: list[int]) -> dict[str, int]:
    """What each layer saves for backward, in this machine's allocator (as the app's overlay)."""
    import torch

    from .limits import command_deadline
    from .memory.estimate import Simulator

    simulator = Simulator(target.subject, target.label, should_stop=command_deadline("the training simulation"))
    return simulator.saved_by_layer(input_shape, "cuda" if torch.cuda.is_available() else "cpu")


def _cmd_report(args: argparse.Namespace) -> int:
    from rich.progress import track

    from .model.registry import get_variant, variants
    from .publish import write_reports

    names = list(variants()) if args.all else args.names
    if not names:
        raise CliError("report needs variant names or --all")
    for name in names:
        get_variant(name)  # every name checked before anything is written
    written = write_reports(
        names,
        args.output,
        progress=lambda items: track(items, description="reports", console=_stderr_console()),
        index=args.all,
    )
    print(f"wrote {len(written)} files under {visible(args.output)}", file=sys.stderr)
    return 0


def _cmd_chart(args: argparse.Namespace) -> int:
    from .fileio import check_writable, write_atomic
    from .views import charts

    if args.kind not in charts.CHARTS:
        raise CliError(f"unknown chart {args.kind!r}; choose one of {', '.join(charts.CHARTS)}")
    check_writable(args.output)
    if args.kind == "variants":  # from the catalog's counts: no network is built
        from .model.catalog import variant_rows
        from .model.registry import FAMILIES

        rows = variant_rows()
        fig = charts.variants_scatter(
            [charts.NetworkPoint(r.name, r.parameters, r.macs, r.input_shape) for r in rows],
            {r.name: FAMILIES[r.family] for r in rows},
        )
    else:
        report = _analyze(args)
        fig = {"stages": charts.stage_bars, "sunburst": charts.parameter_sunburst, "shapes": charts.shape_profile}[
            args.kind
        ](report)
    write_atomic(args.output, charts.to_html(fig))
    print(f"wrote {visible(args.output)}", file=sys.stderr)
    return 0


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _cmd_memory(args: argparse.Namespace) -> int:
    from .memory.plan import MemoryPlan, parse_bytes
    from .resolve import resolve_target

    budget = parse_bytes(args.fit) if args.fit else None
    suffix = args.output.rsplit(".", 1)[-1].lower() if args.output else None
    if args.output and suffix not in ("html", "json", "md"):
        raise CliError(f"cannot write {args.output!r}: the memory report is written as .html, .json or .md")
    target = resolve_target(args.target, args.overrides)
    from .memory.estimate import Simulator, default_image, memory_curve

    image = default_image(target.subject)
    if args.resolution:
        image = (*image[:-2], args.resolution, args.resolution)
    plan = MemoryPlan(args.batch, image, args.train, args.optimizer, args.dtype, args.device)
    simulator = Simulator(target.subject, target.label, should_stop=command_deadline("the memory estimate"))
    report = simulator.report(plan)
    fit = None
    curve: list = []
    if budget is not None:
        fit = simulator.fit(plan, budget)
        if fit.floor > budget or fit.inference_batch == 0:
            from .views.memory_views import both

            raise CliError(
                f"--fit {args.fit}: {both(budget)} is below what one "
                f"{'training step' if args.train else 'pass'} needs before any batch "
                f"({both(fit.floor)} for parameters, buffers and state) or at batch 1 "
                f"({both((fit.training_peak or 0) if args.train else fit.inference_peak)})"
            )
        if suffix == "html" or args.format == "json":
            curve = memory_curve(simulator, plan, fit)
    measured = _measure_memory(target, plan, report) if args.measure else None
    if args.output or args.format == "json":
        from .views import memory_views

        if suffix == "html":
            text = memory_views.to_html(report, fit, curve, budget)
        elif suffix == "md":
            text = memory_views.to_markdown(report, fit)
        else:
            import json
            from dataclasses import asdict

            data = {
                "report": asdict(report),
                "fit": asdict(fit) if fit else None,
                "curve": [asdict(p) for p in curve],
                "measured": asdict(measured) if measured else None,
            }
            text = json.dumps(data, indent=2) + "\n"
        _emit(text, args.output)
        if args.output and fit is not None:  # the answer asked for, not only where the file went
            for line in memory_views.fit_lines(fit, report.training is not None):
                print(line)
        return 0
    _print_memory(report, fit, measured, args)
    return 0


def _measure_memory(target: Target, plan: MemoryPlan, report: MemoryReport) -> Measured:
    """The same step run for real on the plan's device, refused when its estimate cannot fit."""
    from .analysis.memory_guard import free_memory
    from .memory.measure import measure
    from .units import binary_size

    needed = report.training.total if report.training else report.inference.total
    free = free_memory(plan.device) if plan.device == "cpu" or _cuda() else None
    if plan.device == "cuda" and free is None:
        raise CliError(
            "--measure --device cuda: no CUDA device is available here; --device cpu estimates and "
            "measures the CPU allocator"
        )
    if free is not None and needed > free:
        raise CliError(
            f"--measure would need about {binary_size(needed)} on {plan.device} but only {binary_size(free)} is free; "
            "drop --measure for the estimate alone"
        )
    return measure(target.subject, plan, plan.device)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _print_memory(report: MemoryReport, fit: Fit | None, measured: Measured | None, args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.markup import escape

    from .views.memory_views import both, breakdown_table, conventions_lines, fit_lines, layer_table, summary_lines
    from .views.terminal import print_fitted

    console = Console(width=_terminal_width(), highlight=False)
    console.print(f"[bold]{escape(report.model)}[/]: {report.plan}")
    print_fitted(console, breakdown_table(report, console.width, args.exact))
    for line in summary_lines(report):
        console.print(line)
    if measured is not None:
        for name, estimated, real in (
            ("inference", report.inference.total, measured.inference_peak),
            ("training", report.training.total if report.training else None, measured.training_peak),
        ):
            if estimated is not None and real:
                console.print(
                    f"measured {name} peak on {measured.device}: {both(real)} "
                    f"(estimate {100 * (estimated / real - 1):+.1f}%)"
                )
        console.print(f"[dim]measured with {measured.how}[/]")
    if fit is not None:
        for line in fit_lines(fit, report.training is not None):
            console.print(line)
    if args.layers:
        print_fitted(console, layer_table(report, console.width, args.exact))
    for line in conventions_lines(report):
        console.print(f"[dim]{line}[/]")


def _cmd_profile(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .analysis.options import resolve_device, resolve_dtype
    from .fileio import ensure_folder, write_atomic
    from .profiling.profile import measure_peaks, profile_model
    from .resolve import resolve_target
    from .views.fitted import Column, fitted_table
    from .views.profile_views import profile_markdown, summary_rows
    from .views.terminal import print_fitted

    try:
        batches = [int(b) for b in args.batch.split(",")]
    except ValueError:
        raise CliError(f"invalid --batch {args.batch!r}: expected comma-separated integers like 1,32") from None
    if any(b < 1 for b in batches):
        raise CliError(f"invalid --batch {args.batch!r}: every batch must be at least 1")
    dtypes = [d.strip() for d in args.dtype.split(",") if d.strip()]
    for dtype in dtypes:
        resolve_dtype(dtype)
    if len(batches) * len(dtypes) > LIMITS.max_configurations:
        raise CliError(
            over("the number of batch x dtype configurations", len(batches) * len(dtypes), "max_configurations")
        )
    if args.repeat > LIMITS.max_repeat:
        raise CliError(over("--repeat", args.repeat, "max_repeat"))
    device = resolve_device(args.device)
    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not out.is_dir():
        raise CliError(f"cannot write into {out}: it is a file, not a folder")
    target = resolve_target(args.target, args.overrides)
    profiles = []
    configurations = [(dtype, batch) for dtype in dtypes for batch in batches]
    # Each configuration takes seconds to minutes: a bar on stderr says which one runs (stdout stays the table).
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("profiling", total=len(configurations))
        peaks_of: dict[str, tuple[float, float, str]] = {}
        for dtype, batch in configurations:
            progress.update(task, description=f"{target.label}: batch {batch}, {dtype}")
            if dtype not in peaks_of:
                peaks_of[dtype] = measure_peaks(device, resolve_dtype(dtype))
            result = profile_model(
                target.subject, device, batch, dtype, args.channels_last, args.repeat, label=target.label,
                peaks=peaks_of[dtype],
            ).to_dict()  # fmt: skip
            if out is not None:
                stem = f"{target.label}-{device}-b{batch}-{result['dtype']}{'-cl' if args.channels_last else ''}"
                ensure_folder(out)  # only once there is something to write
                write_atomic(out / f"{stem}.json", json.dumps(result, indent=2) + "\n")
                write_atomic(out / f"{stem}.md", profile_markdown(result))
            profiles.append(result)
            progress.advance(task)
    rows = summary_rows(profiles)
    # Every cell wraps (at its spaces, or folds) rather than being cut: a figure is never shown in part.
    columns = [Column(name, "left" if name in ("model", "dtype", "layout") else "right", wrap=True) for name in rows[0]]
    console = Console()
    title = f"{target.label} on {profiles[0]['device_name']}"
    print_fitted(console, fitted_table(title, columns, [list(r.values()) for r in rows], console.width))
    for p in profiles:
        for note in p["notes"]:
            console.print(f"note (batch {p['batch']}, {p['dtype']}): {note}", markup=False, highlight=False)
    if out is not None:
        print(f"wrote {2 * len(profiles)} files under {visible(out)}", file=sys.stderr)
    else:
        print(
            "nothing written: -o DIR keeps the profiles (the app's Performance tab reads reports/profiles)",
            file=sys.stderr,
        )
    return 0


def _weights_path(text: str) -> tuple[str, tuple[list[str], dict[str, str]] | None]:
    """A weights file, or a Hugging Face Hub folder's (with what its config.json adds)."""
    from pathlib import Path

    if not Path(text).is_dir():
        return text, None
    from .weights.hub import config_findings, hub_folder

    path, config = hub_folder(Path(text))
    return str(path), (config_findings(config) if config is not None else ([], {}))


def _cmd_identify(args: argparse.Namespace) -> int:
    import json

    from .views.weights_views import explanation_lines, identification_json, identification_lines, print_lines
    from .weights.infer import identify_shapes
    from .weights.read import read_weights

    if args.against:
        from .model.registry import get_variant

        get_variant(args.against)  # an unknown name is a mistake, said before the file is read
    path, config_notes = _weights_path(args.file)
    weights = read_weights(path)
    ident = identify_shapes(weights.network_shapes)
    if config_notes is not None or weights.fixed:
        from .weights.infer import settle

        notes, fixed = config_notes or ([], {})
        fixed = {**weights.fixed, **fixed}  # what the layout settles (Keras), and what a config.json says
        weights.notes.extend(notes)
        settle(ident, fixed)
        settled = ("where a bottleneck strides",) * ("stride_on" in fixed) + ("whether strided blocks blur",) * (
            "aa" in fixed
        )
        ident.unknown = [u for u in ident.unknown if not u.startswith(settled or ("\0",))]
    explanation = None
    if args.against:
        from .weights.explain import explain_file

        _, explanation = explain_file(str(path), args.against)
    if args.format == "json":
        data = identification_json(weights, ident)
        if explanation is not None:
            data["against"] = {
                "name": explanation.against,
                "loads_strictly": explanation.loads_strictly,
                "renamed_first": explanation.renamed,
                "sentences": explanation.sentences,
                "missing": explanation.missing,
                "unexpected": explanation.unexpected,
                "mismatched": explanation.mismatched,
                "partial_load": explanation.partial_load,
            }
        print(json.dumps(data, indent=2))
    else:
        print_lines(identification_lines(weights, ident) + (explanation_lines(explanation) if explanation else []))
    # Exit 0 only for a file that loads strictly as it is saved.
    return 1 if explanation is not None and (explanation.renamed or not explanation.loads_strictly) else 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from .fileio import check_writable, write_atomic
    from .model.registry import get_variant

    if not args.output.lower().endswith(".safetensors"):
        raise CliError(f"cannot write {visible(args.output)!r}: convert writes a .safetensors file")
    get_variant(args.to)  # an unknown name is a mistake, said before the file is read
    check_writable(args.output)
    from safetensors.torch import save

    from .weights.convert import converted_tensors

    tensors, metadata = converted_tensors(args.file, args.to)
    write_atomic(args.output, save(tensors, metadata=metadata))
    print(f"wrote {visible(args.output)}: {len(tensors):,} tensors under {args.to}'s names", file=sys.stderr)
    return 0


def _list_command(sub: argparse._SubParsersAction) -> None:
    """The ``list`` command's arguments."""
    from .model.registry import FAMILIES

    p = sub.add_parser("list", help="registered variants by family, with their parameters")
    p.add_argument("--family", default=None, metavar="NAME", help=f"only this family: {', '.join(FAMILIES)}")
    p.add_argument("--grep", default=None, metavar="TEXT", help="only variants whose name or description has TEXT")
    p.add_argument("--full", action="store_true", help="whole descriptions and the reference or source")
    p.set_defaults(func=_cmd_list)


def _summary_command(sub: argparse._SubParsersAction) -> None:
    """The ``summary`` command's arguments."""
    from .audit.conventions import CONVENTIONS
    from .views.export import FORMATS as SUMMARY_FORMATS

    p = sub.add_parser("summary", help="per-layer report of one forward pass")
    _add_target(p)
    _add_analysis_options(p)
    p.add_argument("--depth", type=_at_least(1), default=3, help="deepest module level shown (default 3)")
    p.add_argument(
        "--exact", action="store_true", help="every digit of every number, even where the terminal is too narrow for it"
    )
    p.add_argument(
        "--convention",
        default=None,
        metavar="NAME",
        help=f"convention to highlight: {', '.join(CONVENTIONS)}",
    )
    p.add_argument("--format", default="table", choices=SUMMARY_FORMATS)
    p.add_argument("-o", "--output", default=None, metavar="FILE", help="write to FILE (whole or not at all)")
    p.set_defaults(func=_cmd_summary)


def _audit_command(sub: argparse._SubParsersAction) -> None:
    """The ``audit`` command's arguments."""
    p = sub.add_parser("audit", help="counts under named conventions, or verdicts on a claims file")
    p.add_argument("target", nargs="?", help="variant name, spec file or path/to/file.py:NAME")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    p.add_argument("--input", default=None, metavar="NxCxHxW")
    p.add_argument("--claims", default=None, metavar="FILE", help="YAML/JSON claims file to check")
    p.add_argument(
        "--allow-code",
        action="store_true",
        help="let claims name path/to/file.py:NAME models (imports and runs that code)",
    )
    p.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help="files a claims file names must lie under DIR (default: the claims file's folder)",
    )
    p.add_argument("--no-live", action="store_true", help="do not run torchinfo and fvcore themselves")
    p.add_argument("--exact", action="store_true", help="every digit, even where the terminal is too narrow")
    p.add_argument("--format", default="table", choices=("table", "md", "json"))
    p.add_argument("-o", "--output", default=None, metavar="FILE")
    p.set_defaults(func=_cmd_audit)


def _graph_command(sub: argparse._SubParsersAction) -> None:
    """The ``graph`` command's arguments."""
    p = sub.add_parser(
        "graph", help="diagram (Graphviz: stages, residual blocks or every layer) or the interactive explorer (.html)"
    )
    _add_target(p)
    p.add_argument("--level", default="block", help="stage, block or layer (default block; .html: where it opens)")
    p.add_argument("--collapse", action="store_true", help="draw identical consecutive blocks once (xN)")
    p.add_argument("--stage", default=None, help="draw only this stage (block and layer levels); .html: unfold only it")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="FILE.dot, .svg, .png, .pdf, or .html: the explorer in one file that works offline",
    )
    p.add_argument(
        "--saved", action="store_true", help=".html: add the saved-for-backward overlay (simulates one training step)"
    )
    p.add_argument("--profile", default=None, metavar="FILE", help=".html: a latency overlay from this profile (JSON)")
    p.add_argument("--input", default=None, metavar="NxCxHxW")
    p.add_argument("--device", default="meta", choices=DEVICES)
    p.add_argument("--dtype", default="float32", choices=DTYPES)
    p.set_defaults(func=_cmd_graph)


def _report_command(sub: argparse._SubParsersAction) -> None:
    """The ``report`` command's arguments."""
    p = sub.add_parser("report", help="Markdown report per variant (and reports/index.md with --all)")
    p.add_argument("names", nargs="*", help="registered variant names")
    p.add_argument("--all", action="store_true", help="every registered variant, plus index.md")
    p.add_argument("-o", "--output", default="reports", metavar="DIR", help="output folder (default reports/)")
    p.set_defaults(func=_cmd_report)


def _chart_command(sub: argparse._SubParsersAction) -> None:
    """The ``chart`` command's arguments."""
    p = sub.add_parser("chart", help="Plotly chart as a self-contained HTML page")
    p.add_argument("target", nargs="?", default="resnet50", help="variant name, spec file or file.py:NAME")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    p.add_argument("--kind", default="stages", help="stages, sunburst, shapes or variants")
    p.add_argument("--input", default=None, metavar="NxCxHxW")
    p.add_argument("--device", default="meta", choices=DEVICES)
    p.add_argument("--dtype", default="float32", choices=DTYPES)
    p.add_argument("-o", "--output", required=True, metavar="FILE.html")
    p.set_defaults(func=_cmd_chart)


def _profile_command(sub: argparse._SubParsersAction) -> None:
    """The ``profile`` command's arguments."""
    p = sub.add_parser("profile", help="measured latency, memory and roofline on cpu or cuda")
    _add_target(p)
    p.add_argument("--device", default="auto", choices=MEASURING_DEVICES)
    p.add_argument("--batch", default="1", help="comma-separated batch sizes (default 1)")
    p.add_argument("--dtype", default="float32", help="comma-separated: float32/fp32, bfloat16/bf16, float16/fp16")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format for model and input")
    p.add_argument("--repeat", type=_at_least(1), default=20, help="timed passes per measurement (default 20)")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="DIR",
        help="write each profile (JSON and Markdown) into DIR; nothing is written without it "
        "(the app's Performance tab reads reports/profiles)",
    )
    p.set_defaults(func=_cmd_profile)


def _memory_command(sub: argparse._SubParsersAction) -> None:
    """The ``memory`` command's arguments."""
    from .memory.plan import OPTIMIZERS

    p = sub.add_parser("memory", help="memory to run and to train: peaks, what is kept, the largest batch that fits")
    _add_target(p)
    p.add_argument("--batch", type=_at_least(1), default=1, help="images per step (default 1)")
    p.add_argument(
        "--resolution",
        type=_at_least(1),
        default=None,
        metavar="SIDE",
        help="square input side in pixels (default: the variant's own)",
    )
    p.add_argument("--train", action="store_true", help="also a training step (forward, backward, optimizer)")
    p.add_argument(
        "--optimizer",
        default="adamw",
        choices=tuple(OPTIMIZERS),
        help="optimizer of the training step (default adamw)",
    )
    p.add_argument("--dtype", default="fp32", type=_precision, help="fp32, bf16 or fp16 (mixed: fp32 master weights)")
    p.add_argument(
        "--device",
        default="cuda",
        choices=("cuda", "cpu"),
        help="whose allocator: cuda (512-byte blocks) or cpu (default cuda); estimated on meta either way",
    )
    p.add_argument(
        "--fit",
        default=None,
        metavar="SIZE",
        help="largest batch within SIZE, from 1B to 1EiB: e.g. 24GB (10^9 bytes) or 24GiB (2^30); "
        "units B, kB ... EB and KiB ... EiB; with -o FILE.html, the curves",
    )
    p.add_argument("--measure", action="store_true", help="also run the step for real on --device and compare")
    p.add_argument("--layers", action="store_true", help="per-layer table: outputs, live bytes, saved for backward")
    p.add_argument("--exact", action="store_true", help="every digit, even where the terminal is too narrow")
    p.add_argument("--format", default="table", choices=("table", "json"))
    p.add_argument("-o", "--output", default=None, metavar="FILE", help="FILE.html (with curves), .json or .md")
    p.set_defaults(func=_cmd_memory)


def _identify_command(sub: argparse._SubParsersAction) -> None:
    """The ``identify`` command's arguments."""
    p = sub.add_parser("identify", help="which ResNet a weights file is, and why it does not load into another")
    p.add_argument(
        "file",
        help="a .safetensors, .pth, .pt, .bin, .ckpt or .pth.tar file (read without running anything in it), "
        "or a Hugging Face Hub folder (its weights and config.json)",
    )
    p.add_argument(
        "--against",
        default=None,
        metavar="NAME",
        help="explain how the file loads into this registered variant (exit 1 unless strictly, as saved)",
    )
    p.add_argument("--format", default="table", choices=("table", "json"))
    p.set_defaults(func=_cmd_identify)


def _convert_command(sub: argparse._SubParsersAction) -> None:
    """The ``convert`` command's arguments."""
    p = sub.add_parser("convert", help="a weights file rewritten under a registered variant's names (.safetensors)")
    p.add_argument("file", help="a weights file in any layout identify reads")
    p.add_argument("--to", required=True, metavar="NAME", help="the registered variant whose names to write")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the .safetensors file to write")
    p.set_defaults(func=_cmd_convert)


def _diff_command(sub: argparse._SubParsersAction) -> None:
    """The ``diff`` command's arguments."""
    p = sub.add_parser("diff", help="two networks side by side: stages and the layers that differ")
    p.add_argument("a", help="first network (A)")
    p.add_argument("b", help="second network (B)")
    p.add_argument("--exact", action="store_true", help="every digit, even where the terminal is too narrow")
    p.add_argument("--input", default=None, metavar="NxCxHxW")
    p.set_defaults(func=_cmd_diff)


# The commands in the order --help lists them.
COMMANDS = (
    _list_command,
    _summary_command,
    _audit_command,
    _graph_command,
    _report_command,
    _chart_command,
    _profile_command,
    _memory_command,
    _identify_command,
    _convert_command,
    _diff_command,
)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="resnet-inspect", description="See exactly what a ResNet is.")
    parser.add_argument("--version", action="version", version=f"resnet-inspect {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"log what the tool does and show the traceback of any error (or {DEBUG_VARIABLE}=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add_command in COMMANDS:
        add_command(sub)
    return parser


def _take_debug(argv: list[str]) -> tuple[list[str], bool]:
    """``--debug`` anywhere before ``--`` (taken out, so every command accepts it), or the environment
    variable. Read before parsing, so that even a failure to parse can show its traceback."""
    end = argv.index("--") if "--" in argv else len(argv)
    flagged = "--debug" in argv[:end]
    rest = [arg for arg in argv[:end] if arg != "--debug"] + argv[end:]
    return rest, flagged or os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0")


def _one_line(exc: BaseException) -> str:
    text = visible(" ".join(str(exc).split()))
    return text if len(text) <= 300 else text[:297] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    argv, debug = _take_debug(list(sys.argv[1:] if argv is None else argv))
    with _logging_to_stderr(debug):
        return _run(argv, debug)


@contextlib.contextmanager
def _logging_to_stderr(debug: bool) -> Iterator[None]:
    """The package's diagnostics on stderr while a command runs: warnings always, everything with --debug."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if debug else logging.WARNING)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def _run(argv: list[str], debug: bool) -> int:
    try:
        args = build_parser().parse_args(argv)
        check_environment()
        return int(args.func(args) or 0)
    except (UserError, OSError) as exc:
        log.debug("reported as a mistake in the input:", exc_info=True)
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return USAGE_ERROR
    except Exception as exc:  # a bug: say so in one line, and how to see more
        if debug:
            raise
        print(
            f"error: internal error in resnet-inspect ({type(exc).__name__}: {_one_line(exc)}); this is a bug, "
            f"not a mistake in the input; run again with --debug or {DEBUG_VARIABLE}=1 to see the traceback",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
