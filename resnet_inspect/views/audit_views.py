"""Audit counts, claim verdicts and diffs as terminal tables and Markdown."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..audit.claims import Verdict
from ..audit.counts import Count
from ..audit.diff import ReportDiff
from .export import markdown_table
from .tables import exact, feature_map_text, si


def print_counts(model: str, counts: dict[str, Count], live: dict[str, float] | None,
                 console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"Audit of {model}", header_style="bold")
    table.add_column("count", style="cyan", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("definition")
    for count in counts.values():
        if isinstance(count.value, list) and count.key.startswith("shape_"):
            value = feature_map_text(count.value) + " (HxWxC)" if len(count.value) == 4 else "x".join(
                map(str, count.value))
        elif isinstance(count.value, list):
            value = str(count.value)
        else:
            value = exact(count.value)
        table.add_row(count.label, value, count.definition)
    console.print(table)
    if live:
        tools = Table(title="The tools themselves, run live (CPU pass)", header_style="bold")
        for column in ("tool", "its total", "our preset", "equal"):
            tools.add_column(column, justify="left" if column == "tool" else "right")
        for tool, value in live.items():
            preset = counts[f"macs_{tool}"].value
            tools.add_row(tool, exact(value), exact(preset), "yes" if abs(value - preset) < 0.5 else "NO")
        console.print(tools)


def _verdict_style(verdict: Verdict) -> str:
    if verdict.verdict == "true":
        return "green"
    return "red" if verdict.is_false else "yellow"


def print_verdicts(verdicts: list[Verdict], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Claims", header_style="bold", show_lines=True)
    for column in ("claim", "model", "quantity", "stated", "verdict", "explanation"):
        table.add_column(column)
    for v in verdicts:
        c = v.claim
        where = c.id or (f"{c.source}" if c.source else f"line {c.line}")
        table.add_row(where, c.model, c.quantity + (f" ({c.stage or c.layer})" if c.stage or c.layer else ""),
                      str(c.value), f"[{_verdict_style(v)}]{v.verdict}[/]", v.explanation)
    console.print(table)
    false = sum(v.is_false for v in verdicts)
    console.print(f"{len(verdicts)} claims: {sum(v.verdict == 'true' for v in verdicts)} true, "
                  f"{sum(v.verdict.startswith('true under') for v in verdicts)} true under another convention, "
                  f"{false} false")


def verdicts_markdown(verdicts: list[Verdict], title: str, intro: str = "") -> str:
    lines = [f"# {title}", ""]
    if intro:
        lines += [intro.strip(), ""]
    total = len(verdicts)
    lines += [f"{total} claims: {sum(v.verdict == 'true' for v in verdicts)} true, "
              f"{sum(v.verdict.startswith('true under') for v in verdicts)} true under another convention, "
              f"{sum(v.is_false for v in verdicts)} false.", ""]
    rows = []
    for v in verdicts:
        c = v.claim
        rows.append({
            "claim": c.id or str(c.line),
            "source": c.source,
            "quote": c.quote.replace("\n", " "),
            "model": c.model,
            "quantity": c.quantity + (f" ({c.stage or c.layer})" if c.stage or c.layer else ""),
            "stated": str(c.value),
            "verdict": f"**{v.verdict}**",
            "explanation": v.explanation + (f" {c.note}" if c.note else ""),
        })
    lines.append(markdown_table(rows, ["claim", "source", "quote", "model", "quantity", "stated", "verdict",
                                       "explanation"]))
    return "\n".join(lines) + "\n"


def verdicts_json(verdicts: list[Verdict]) -> list[dict]:
    return [{"id": v.claim.id, "line": v.claim.line, "model": v.claim.model, "quantity": v.claim.quantity,
             "stated": v.claim.value, "verdict": v.verdict, "figure": v.figure, "explanation": v.explanation,
             "source": v.claim.source, "quote": v.claim.quote} for v in verdicts]


def print_diff(diff: ReportDiff, console: Console | None = None) -> None:
    console = console or Console()
    a, b = diff.a.model, diff.b.model
    table = Table(title=f"Stages: {a} (A) vs {b} (B)", header_style="bold")
    for column in ("stage", "blocks A", "blocks B", "output A", "output B", "params A", "params B", "Δ params",
                   "MACs A", "MACs B", "Δ MACs"):
        table.add_column(column, justify="left" if column.startswith(("stage", "output")) else "right")
    for pair in diff.stages:
        sa, sb = pair.a, pair.b
        table.add_row(
            pair.name,
            str(sa.blocks) if sa else "-", str(sb.blocks) if sb else "-",
            feature_map_text(sa.output_shape) if sa else "-", feature_map_text(sb.output_shape) if sb else "-",
            exact(sa.params) if sa else "-", exact(sb.params) if sb else "-",
            f"{(sb.params if sb else 0) - (sa.params if sa else 0):+,}",
            exact(sa.macs) if sa else "-", exact(sb.macs) if sb else "-",
            f"{(sb.macs if sb else 0) - (sa.macs if sa else 0):+,}",
        )
    console.print(table)
    ta, tb = diff.a.totals, diff.b.totals
    console.print(f"totals: params {ta.params:,} -> {tb.params:,} ({tb.params - ta.params:+,}); "
                  f"MACs {ta.macs:,} -> {tb.macs:,} ({tb.macs - ta.macs:+,}, {si(ta.macs)} -> {si(tb.macs)})")
    layers = Table(title=f"Layers that differ ({len(diff.layers)})", header_style="bold")
    for column in ("layer", "change", "A: type / output / params / MACs", "B: type / output / params / MACs"):
        layers.add_column(column)

    def describe(row) -> str:
        if row is None:
            return "-"
        shape = "x".join(map(str, row.output_shapes[-1])) if row.output_shapes and row.output_shapes[-1] else "-"
        return f"{row.type} / {shape} / {row.params:,} / {row.macs:,}"

    for change in diff.layers:
        label = change.change + (f" ({', '.join(change.what)})" if change.what else "")
        layers.add_row(change.name, label, describe(change.a), describe(change.b))
    console.print(layers)
