"""The report as Markdown, CSV, JSON and HTML text."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Sequence
from typing import Any

from ..analysis.report import ModelReport
from ..errors import UserError
from .tables import (
    COUNT_COLUMNS,
    LAYER_COLUMNS,
    LAYER_DOCUMENT_COLUMNS,
    NO_STAGES,
    STAGE_COLUMNS,
    convention_rows,
    exact,
    flop_class_rows,
    headline,
    layer_rows,
    readable,
    stage_rows,
)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], numeric: Sequence[str] = ()) -> str:
    def cell(row: dict[str, Any], col: str) -> str:
        value = row.get(col, "")
        if value is None:
            return "-"
        if col in numeric and isinstance(value, (int, float)):
            value = exact(value)
        return str(value).replace("|", "\\|")

    lines = [
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---:" if c in numeric else "---" for c in columns) + " |",
    ]
    lines += ["| " + " | ".join(cell(row, c) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(report: ModelReport, depth: int | None = 3) -> str:
    parts = [f"# {report.model}", ""]
    parts += [f"- **{key}**: {value}" for key, value in headline(report).items()]
    stages = stage_rows(report)
    parts += [
        "",
        "## Stages",
        "",
        markdown_table(stages, STAGE_COLUMNS, numeric=COUNT_COLUMNS) if stages else NO_STAGES,
    ]
    parts += [
        "",
        "## Totals under each convention",
        "",
        markdown_table(convention_rows(report), ["convention", "unit", "total", "short", "what"], numeric=["total"]),
    ]
    parts += [
        "",
        "## FLOPs by operator class",
        "",
        markdown_table(flop_class_rows(report), ["op class", "flops", "share %"], numeric=["flops"]),
    ]
    parts += [
        "",
        f"## Layers (depth <= {depth})" if depth is not None else "## Layers",
        "",
        markdown_table(
            layer_rows(report, depth),
            LAYER_DOCUMENT_COLUMNS,
            numeric=COUNT_COLUMNS,
        ),
    ]
    if report.warnings:
        parts += ["", "## Warnings", ""] + [f"- {w}" for w in report.warnings]
    return "\n".join(parts) + "\n"


def to_csv(report: ModelReport, depth: int | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(LAYER_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in layer_rows(report, depth):
        writer.writerow(row)
    return buffer.getvalue()


def to_html(report: ModelReport, depth: int | None = 3) -> str:
    def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(readable(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    stages = stage_rows(report)

    info = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in headline(report).items())
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(report.model)}</title><style>body{{font-family:sans-serif}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>"
        f"<h1>{html.escape(report.model)}</h1><ul>{info}</ul><h2>Stages</h2>"
        + (table(stages, STAGE_COLUMNS) if stages else f"<p>{html.escape(NO_STAGES)}</p>")
        + "<h2>Totals under each convention</h2>"
        + table(convention_rows(report), ["convention", "unit", "total", "short", "what"])
        + "<h2>Layers</h2>"
        + table(layer_rows(report, depth), LAYER_DOCUMENT_COLUMNS)
        + "</body></html>\n"
    )


def to_json(report: ModelReport, depth: int | None = None) -> str:
    """The whole report (every layer, whatever ``depth``): the plain data every other format is made from."""
    return report.to_json()


# A report written as text, by format name: (report, deepest module level or None for all) -> text.
EXPORTERS: dict[str, Callable[[ModelReport, int | None], str]] = {
    "json": to_json,
    "csv": to_csv,
    "md": to_markdown,
    "html": to_html,
}
# What `summary --format` takes: the terminal table, or a written format.
FORMATS = ("table", *EXPORTERS)


def export_report(report: ModelReport, fmt: str, depth: int | None = 3) -> str:
    """``report`` as text in format ``fmt`` (one of `EXPORTERS`)."""
    if fmt not in EXPORTERS:
        raise UserError(f"unknown format {fmt!r}; choose one of {', '.join(EXPORTERS)}")
    return EXPORTERS[fmt](report, depth)
