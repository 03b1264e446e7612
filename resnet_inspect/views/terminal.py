"""Terminal tables (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..analysis.report import ModelReport
from ..model.catalog import VariantRow
from .tables import convention_rows, exact, flop_class_rows, headline, layer_rows, si, stage_rows


def print_variant_list(rows: list[VariantRow], full: bool = False, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Registered variants", header_style="bold")
    table.add_column("name", style="cyan", no_wrap=True)
    table.add_column("parameters", justify="right", no_wrap=True)
    table.add_column("description")
    table.add_column("source" if full else "reference", no_wrap=not full)
    for row in rows:
        source = row.source if full else (row.reference or row.source.split(",")[0])
        table.add_row(row.name, f"{row.parameters:,}", row.description, source)
    console.print(table)


def print_summary(report: ModelReport, depth: int | None = 3, convention: str | None = None,
                  console: Console | None = None) -> None:
    console = console or Console()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    for key, value in headline(report).items():
        head.add_row(key, value)
    console.print(head)

    layers = Table(title=f"Layers (depth <= {depth})" if depth is not None else "Layers", header_style="bold")
    for column, justify in (("name", "left"), ("type", "left"), ("output", "left"), ("params", "right"),
                            ("MACs", "right"), ("FLOPs", "right"), ("receptive field", "right")):
        layers.add_column(column, justify=justify, no_wrap=column in ("name", "output"))
    for row in layer_rows(report, depth):
        name = "  " * (row["depth"] - 1) + row["name"].rsplit(".", 1)[-1] if row["depth"] > 1 else row["name"]
        calls = f" x{row['calls']}" if row["calls"] > 1 else ""
        layers.add_row(name, row["type"] + calls, row["output"], exact(row["params"]) if row["params"] else "-",
                       exact(row["macs"]) if row["macs"] else "-", exact(row["flops"]) if row["flops"] else "-",
                       row["rf"])
    console.print(layers)

    stages = Table(title="Stages", header_style="bold")
    for column in ("stage", "blocks", "output (HxWxC)", "params", "params %", "MACs", "MACs %"):
        stages.add_column(column, justify="left" if column in ("stage", "output (HxWxC)") else "right")
    for row in stage_rows(report):
        stages.add_row(row["stage"], row["blocks"], row["output"], exact(row["params"]),
                       f"{row['params %']:.2f}", exact(row["macs"]), f"{row['macs %']:.2f}")
    console.print(stages)

    conventions = Table(title="Totals under each convention", header_style="bold")
    for column in ("convention", "unit", "total", "", "what it counts"):
        conventions.add_column(column, justify="right" if column in ("total", "") else "left")
    for row in convention_rows(report):
        style = "bold green" if row["convention"] == (convention or "macs") else None
        conventions.add_row(row["convention"], row["unit"], exact(row["total"]), row["short"], row["what"],
                            style=style)
    console.print(conventions)

    classes = Table(title="FLOPs by operator class (tool convention)", header_style="bold")
    for column in ("op class", "FLOPs", "share %"):
        classes.add_column(column, justify="left" if column == "op class" else "right")
    for row in flop_class_rows(report):
        classes.add_row(row["op class"], exact(row["flops"]), f"{row['share %']:.2f}")
    console.print(classes)
    for op in report.uncounted:
        console.print(f"[yellow]uncounted operator[/] {op.op}: {op.count} call(s), {op.elements:,} output elements")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"total activation memory {si(report.totals.activation_bytes, 'B')}; "
                  f"parameters {si(report.totals.param_bytes, 'B')}")
