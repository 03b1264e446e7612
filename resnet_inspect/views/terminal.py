"""Terminal output (rich): the summary of a report and the list of variants."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..analysis.report import ModelReport
from ..model.catalog import VariantRow
from .fitted import Column, Fitted, fitted_table
from .tables import (
    NO_STAGES,
    STAGE_COLUMNS,
    convention_rows,
    flop_class_rows,
    headline,
    layer_rows,
    si,
    stage_rows,
    weights_lines,
)

# How the terminal shows each stage column (the narrowest terminals drop the highest ``drop`` first).
_STAGE_COLUMNS = {
    "stage": Column("stage"),
    "blocks": Column("blocks", "right", drop=3),
    "output": Column("output (HxWxC)", drop=4),
    "params": Column("params", "right", number=True),
    "params %": Column("params %", "right", drop=1),
    "macs": Column("MACs", "right", number=True),
    "macs %": Column("MACs %", "right", drop=2),
}


def print_fitted(console: Console, fitted: Fitted) -> None:
    """A fitted table, then its note; exact numbers wider than the terminal are printed whole."""
    if fitted.width > console.width:  # rich never prints wider than its console: a wider one for this table
        console = Console(
            file=console.file,
            width=fitted.width,
            color_system=console.color_system,  # type: ignore[arg-type]  # a name rich reports is one it takes
            force_terminal=console.is_terminal,
        )
    console.print(fitted.table)
    if fitted.note:
        console.print(f"[dim]{fitted.note}[/]")


def variant_list_lines(rows: list[VariantRow], families: dict[str, str], width: int, full: bool = False) -> list[str]:
    """One line per variant under its family's heading; descriptions shortened to fit ``width``."""
    name_w = max(len(r.name) for r in rows)
    params_w = max(len(f"{r.parameters:,}") for r in rows)
    lines: list[str] = []
    family = None
    for row in rows:
        if row.family != family:
            family = row.family
            title, tag = families.get(family, family), f"  [{family}]"
            if len(title) + len(tag) > width and not full:
                title = title[: max(width - len(tag) - 1, 10)] + "…"
            lines += ([""] if lines else []) + [title + tag]
        text = row.description + (f" ({row.reference or row.source})" if full else "")
        room = max(width - (2 + name_w + 2 + params_w + 2), 10)
        if len(text) > room and not full:
            text = text[: room - 1] + "…"
        lines.append(f"  {row.name:<{name_w}}  {row.parameters:>{params_w},}  {text}")
    return lines


def print_summary(
    report: ModelReport,
    depth: int | None = 3,
    convention: str | None = None,
    console: Console | None = None,
    exact: bool = False,
) -> None:
    # One table after another, in the order the terminal shows them; each is a few lines of column choices.
    console = console or Console()
    width = console.width
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    for key, value in headline(report).items():
        head.add_row(key, Text(value))  # the model's label is the user's text: never read as markup
    console.print(head)

    layer_columns = [
        Column("name"),
        Column("type", drop=3),
        Column("output", drop=4),
        Column("params", "right", number=True),
        Column("MACs", "right", number=True),
        Column("FLOPs", "right", number=True, drop=2),
        Column("receptive field", "right", drop=1),
    ]
    rows = []
    for row in layer_rows(report, depth):
        name = "  " * (row["depth"] - 1) + row["name"].rsplit(".", 1)[-1] if row["depth"] > 1 else row["name"]
        calls = f" x{row['calls']}" if row["calls"] > 1 else ""
        rows.append(
            [
                name,
                row["type"] + calls,
                row["output"],
                row["params"] or None,
                row["macs"] or None,
                row["flops"] or None,
                row["rf"],
            ]
        )
    title = f"Layers (depth <= {depth})" if depth is not None else "Layers"
    print_fitted(console, fitted_table(title, layer_columns, rows, width, exact))

    stage_columns = [_STAGE_COLUMNS[name] for name in STAGE_COLUMNS]
    rows = [[f"{r[name]:.2f}" if name.endswith("%") else r[name] for name in STAGE_COLUMNS] for r in stage_rows(report)]
    if rows:
        print_fitted(console, fitted_table("Stages", stage_columns, rows, width, exact))
    else:
        console.print(NO_STAGES)

    conv_columns = [
        Column("convention"),
        Column("unit"),
        Column("total", "right", number=True),
        Column("short", "right", drop=1),
        Column("what it counts", wrap=True, drop=2),
    ]
    conv_rows = convention_rows(report)
    chosen = convention or "macs"
    rows = [[r["convention"], r["unit"], r["total"], r["short"], r["what"]] for r in conv_rows]
    styles = ["bold green" if r["convention"] == chosen else None for r in conv_rows]
    print_fitted(console, fitted_table("Totals under each convention", conv_columns, rows, width, exact, styles))

    class_columns = [Column("op class"), Column("FLOPs", "right", number=True), Column("share %", "right")]
    rows = [[r["op class"], r["flops"], f"{r['share %']:.2f}"] for r in flop_class_rows(report)]
    print_fitted(console, fitted_table("FLOPs by operator class (tool convention)", class_columns, rows, width, exact))
    for line in weights_lines(report.weights):
        console.print(line, markup=False, highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(
        f"parameters {si(report.totals.param_bytes, 'B')}; layer outputs added up "
        f"{si(report.totals.activation_bytes, 'B')} (not a peak: `resnet-inspect memory` gives the "
        "inference and training peaks)"
    )
