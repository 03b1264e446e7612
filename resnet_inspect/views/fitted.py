"""Terminal tables that fit the terminal without cutting a digit.

A table too wide for the terminal first drops its optional columns (in a stated order), then
shows its numbers in compact units (4.09G); text columns wrap. Every number that is shown is
whole, and the table says what it left out and how to get every digit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import JustifyMethod
from rich.table import Table

from .tables import exact, si

COLUMN_OVERHEAD = 3  # a rich box table spends a border and two spaces of padding per column
WRAPPED_TEXT_WIDTH = 14  # a wrapping text column can narrow to about this
LONGEST_UNFOLDED_WORD = 24  # longer words in text columns fold (numbers never do)


@dataclass(frozen=True)
class Column:
    header: str
    justify: JustifyMethod = "left"
    number: bool = False  # exact integers, which may be shown in compact units
    drop: int = 0  # the order in which optional columns go (1 first); 0: always kept
    wrap: bool = False  # long text that may wrap onto several lines (in a number column: its text cells)
    unit: str = ""  # for compact units: "B" gives 128.17MB
    signed: bool = False  # a difference: +1,234 / -5


@dataclass
class Fitted:
    table: Table
    note: str | None  # what was dropped or rounded, and how to see it all
    width: int  # characters the table needs; more than asked only with exact numbers


def _cell(value: Any, column: Column, compact: bool) -> str:
    if value is None or value == "":
        return "-" if column.number else ""
    if column.number and isinstance(value, (int, float)):
        sign = "+" if column.signed and value >= 0 else ""
        return sign + (si(value, column.unit) if compact and abs(value) >= 1000 else exact(value))
    return str(value)


def _needed(columns: Sequence[Column], cells: list[list[str]], squeezed: bool = False) -> int:
    """Characters a table needs: every cell on one line, or (``squeezed``) text columns narrowed to
    their longest word, wrapping the rest; long-text columns always wrap."""
    total = 1
    for index, column in enumerate(columns):
        texts = [row[index] for row in cells] + [column.header]
        if column.number and not column.wrap:
            content = max(len(t) for t in texts)
        elif column.wrap or squeezed:
            longest_word = max((len(w) for t in texts for w in t.split()), default=1)
            if not column.number:  # a text column folds a word longer than this (a dotted name)
                longest_word = min(longest_word, LONGEST_UNFOLDED_WORD)
            content = (
                longest_word if squeezed else min(max(len(t) for t in texts), max(WRAPPED_TEXT_WIDTH, longest_word))
            )
        else:
            content = max(len(t) for t in texts)
        total += content + COLUMN_OVERHEAD
    return total


def fitted_table(
    title: str | None,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    width: int,
    exact_numbers: bool = False,
    row_styles: Sequence[str | None] | None = None,
) -> Fitted:
    """A rich table of ``rows`` (raw values, numbers as ints) that fits ``width`` columns."""
    keep = list(range(len(columns)))
    compact = False

    def render() -> list[list[str]]:
        return [[_cell(row[i], columns[i], compact) for i in keep] for row in rows]

    cells = render()
    droppable = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop)
    dropped: list[str] = []
    while _needed([columns[i] for i in keep], cells) > width and droppable:
        rank = droppable[0][0]  # columns of one rank (A and B of a pair) go together
        while droppable and droppable[0][0] == rank:
            _, index = droppable.pop(0)
            keep.remove(index)
            dropped.append(columns[index].header)
        cells = render()
    has_numbers = any(columns[i].number for i in keep)
    if _needed([columns[i] for i in keep], cells) > width and not exact_numbers and has_numbers:
        compact = True
        cells = render()
    table = Table(title=title, header_style="bold")
    for i in keep:
        column = columns[i]
        # Numbers never wrap (a wrapping number column wraps its text cells at their spaces, never a
        # number, which has none); when a table still does not fit, rich narrows the text columns.
        table.add_column(
            column.header, justify=column.justify, no_wrap=column.number and not column.wrap, overflow="fold"
        )
    for index, row in enumerate(cells):
        table.add_row(*row, style=row_styles[index] if row_styles else None)
    notes = []
    if dropped:
        notes.append(f"columns left out to fit {width} characters: {', '.join(dropped)}")
    if compact:
        notes.append("numbers in compact units (K = 10^3, M = 10^6, G = 10^9)")
    note = None
    if notes:
        note = "; ".join(notes) + ". Every column and digit: --exact on a wider terminal, or --format md/csv/json."
    return Fitted(table, note, max(width, _needed([columns[i] for i in keep], cells, squeezed=True)))
