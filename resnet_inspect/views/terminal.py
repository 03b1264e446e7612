"""Terminal tables (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..catalog import variant_rows


def print_variant_list(full: bool = False, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Registered variants", header_style="bold")
    table.add_column("name", style="cyan", no_wrap=True)
    table.add_column("parameters", justify="right")
    table.add_column("description")
    table.add_column("source" if full else "source / reference")
    for row in variant_rows():
        source = row.source if full else (row.reference or row.source.split(",")[0])
        table.add_row(row.name, f"{row.parameters:,}", row.description, source)
    console.print(table)
