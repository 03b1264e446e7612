"""Audit counts, claim verdicts and diffs as terminal tables and Markdown."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..analysis.report import LayerRow, StageRow
from ..audit.claims import Verdict
from ..audit.counts import Count
from ..audit.diff import ReportDiff
from ..text import visible
from .export import markdown_table
from .fitted import Column, fitted_table
from .tables import feature_map_text, shape_text, si
from .terminal import print_fitted


def count_text(count: Count) -> str | int | float:
    """A count as the audit prints it: numbers as numbers, shapes as NCHW with the papers' HxWxC."""
    if isinstance(count.value, list) and count.key.startswith("shape_"):
        nchw = shape_text(count.value)
        return f"{nchw} ({feature_map_text(count.value)} as HxWxC)" if len(count.value) == 4 else nchw
    if isinstance(count.value, list):
        return str(count.value)
    return count.value


def print_counts(
    model: str,
    counts: dict[str, Count],
    live: dict[str, float] | None,
    console: Console | None = None,
    exact_numbers: bool = False,
) -> None:
    console = console or Console()
    # The definition is what an audit is for: it wraps, it is never left out.
    columns = [
        Column("count", wrap=True),
        Column("value", "right", number=True, wrap=True),  # a shape's text wraps, a number does not
        Column("definition", wrap=True),
    ]
    rows = [[count.label, count_text(count), count.definition] for count in counts.values()]
    print_fitted(console, fitted_table(f"Audit of {model}", columns, rows, console.width, exact_numbers))
    if live:
        columns = [
            Column("tool"),
            Column("its total", "right", number=True),
            Column("our preset", "right", number=True),
            Column("equal", "right"),
        ]
        rows = [
            [
                tool,
                value,
                counts[f"macs_{tool}"].value,
                "yes" if abs(value - counts[f"macs_{tool}"].value) < 0.5 else "NO",
            ]
            for tool, value in live.items()
        ]
        print_fitted(
            console,
            fitted_table("The tools themselves, run live (CPU pass)", columns, rows, console.width, exact_numbers),
        )


def _verdict_style(verdict: Verdict) -> str:
    if verdict.verdict == "true":
        return "green"
    return "red" if verdict.is_false else "yellow"


def print_verdicts(verdicts: list[Verdict], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Claims", header_style="bold", show_lines=True)
    for column in ("claim", "model", "quantity", "stated", "verdict", "explanation"):
        table.add_column(column, overflow="fold")  # a narrow terminal wraps every cell, never cuts one
    for v in verdicts:
        c = v.claim
        where = c.id or (f"{c.source}" if c.source else f"line {c.line}")
        # Cells are Text: what a claims file says is shown as written, never read as markup.
        table.add_row(
            Text(visible(where)),
            Text(visible(c.model)),
            Text(c.quantity + (f" ({visible(c.stage or c.layer)})" if c.stage or c.layer else "")),
            Text(visible(c.value)),
            Text(v.verdict, style=_verdict_style(v)),
            Text(visible(v.explanation)),
        )
    console.print(table)
    false = sum(v.is_false for v in verdicts)
    console.print(
        f"{len(verdicts)} claims: {sum(v.verdict == 'true' for v in verdicts)} true, "
        f"{sum(v.verdict.startswith('true under') for v in verdicts)} true under another convention, "
        f"{false} false"
    )


def verdicts_markdown(verdicts: list[Verdict], title: str, intro: str = "") -> str:
    lines = [f"# {title}", ""]
    if intro:
        lines += [intro.strip(), ""]
    total = len(verdicts)
    lines += [
        f"{total} claims: {sum(v.verdict == 'true' for v in verdicts)} true, "
        f"{sum(v.verdict.startswith('true under') for v in verdicts)} true under another convention, "
        f"{sum(v.is_false for v in verdicts)} false.",
        "",
    ]
    rows = []
    for v in verdicts:
        c = v.claim
        rows.append(
            {
                "claim": c.id or str(c.line),
                "source": c.source,
                "quote": c.quote.replace("\n", " "),
                "model": c.model,
                "quantity": c.quantity + (f" ({c.stage or c.layer})" if c.stage or c.layer else ""),
                "stated": str(c.value),
                "verdict": f"**{v.verdict}**",
                "explanation": v.explanation + (f" {c.note}" if c.note else ""),
            }
        )
    lines.append(
        markdown_table(rows, ["claim", "source", "quote", "model", "quantity", "stated", "verdict", "explanation"])
    )
    return "\n".join(lines) + "\n"


def verdicts_json(verdicts: list[Verdict]) -> list[dict]:
    return [
        {
            "id": v.claim.id,
            "line": v.claim.line,
            "model": v.claim.model,
            "quantity": v.claim.quantity,
            "stated": v.claim.value,
            "verdict": v.verdict,
            "figure": v.figure,
            "explanation": v.explanation,
            "source": v.claim.source,
            "quote": v.claim.quote,
        }
        for v in verdicts
    ]


def print_diff(diff: ReportDiff, console: Console | None = None, exact_numbers: bool = False) -> None:
    console = console or Console()
    a, b = diff.a.model, diff.b.model
    columns = [
        Column("stage"),
        Column("blocks A", "right", drop=3),
        Column("blocks B", "right", drop=3),
        Column("output A", drop=4),
        Column("output B", drop=4),
        Column("params A", "right", number=True, drop=2),
        Column("params B", "right", number=True, drop=2),
        Column("Δ params", "right", number=True, signed=True),
        Column("MACs A", "right", number=True, drop=1),
        Column("MACs B", "right", number=True, drop=1),
        Column("Δ MACs", "right", number=True, signed=True),
    ]
    rows = []
    for pair in diff.stages:
        sa, sb = pair.a, pair.b
        rows.append(
            [
                pair.name,
                _blocks(sa),
                _blocks(sb),
                feature_map_text(sa.output_shape) if sa else "-",
                feature_map_text(sb.output_shape) if sb else "-",
                sa.params if sa else None,
                sb.params if sb else None,
                (sb.params if sb else 0) - (sa.params if sa else 0),
                sa.macs if sa else None,
                sb.macs if sb else None,
                (sb.macs if sb else 0) - (sa.macs if sa else 0),
            ]
        )
    print_fitted(console, fitted_table(f"Stages: {a} (A) vs {b} (B)", columns, rows, console.width, exact_numbers))
    ta, tb = diff.a.totals, diff.b.totals
    console.print(
        f"totals: params {ta.params:,} -> {tb.params:,} ({tb.params - ta.params:+,}); "
        f"MACs {ta.macs:,} -> {tb.macs:,} ({tb.macs - ta.macs:+,}, {si(ta.macs)} -> {si(tb.macs)})"
    )
    columns = [
        Column("layer"),
        Column("change", wrap=True),
        Column("A: type / output / params / MACs", wrap=True),
        Column("B: type / output / params / MACs", wrap=True),
    ]
    rows = [
        [c.name, c.change + (f" ({', '.join(c.what)})" if c.what else ""), _describe(c.a), _describe(c.b)]
        for c in diff.layers
    ]
    print_fitted(
        console, fitted_table(f"Layers that differ ({len(diff.layers)})", columns, rows, console.width, exact_numbers)
    )


def _blocks(stage: StageRow | None) -> str:
    """Blocks in a stage; "-" for the stem and head, which have none (as in every stage table)."""
    return str(stage.blocks) if stage and stage.blocks else "-"


def _describe(row: LayerRow | None) -> str:
    if row is None:
        return "-"
    shape = shape_text(row.output_shapes[-1]) if row.output_shapes and row.output_shapes[-1] else "-"
    return f"{row.type} / {shape} / {row.params:,} / {row.macs:,}"
