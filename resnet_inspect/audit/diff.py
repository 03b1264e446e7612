"""Two reports side by side: stage tables and the layers that differ (plain data, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.report import LayerRow, ModelReport, StageRow


@dataclass
class StagePair:
    name: str
    a: StageRow | None
    b: StageRow | None


@dataclass
class LayerChange:
    name: str
    change: str  # "changed" | "only in A" | "only in B"
    a: LayerRow | None
    b: LayerRow | None
    what: list[str]  # which of shape / params / macs / type differ


@dataclass
class ReportDiff:
    a: ModelReport
    b: ModelReport
    stages: list[StagePair]
    layers: list[LayerChange]


def _signature(row: LayerRow) -> tuple:
    return (row.type, row.output_shapes[-1] if row.output_shapes else None, row.params, row.macs)


def diff_reports(a: ModelReport, b: ModelReport) -> ReportDiff:
    """Stages matched by name (stem, layer1.., head); leaf layers matched by qualified name."""
    b_stages = {s.name: s for s in b.stages}
    stages = [StagePair(s.name, s, b_stages.pop(s.name, None)) for s in a.stages]
    stages += [StagePair(name, None, s) for name, s in b_stages.items()]

    a_rows = {r.name: r for r in a.leaves()}
    b_rows = {r.name: r for r in b.leaves()}
    changes = []
    for name, row in a_rows.items():
        other = b_rows.get(name)
        if other is None:
            changes.append(LayerChange(name, "only in A", row, None, []))
        elif _signature(row) != _signature(other):
            what = [
                label
                for label, x, y in (
                    ("type", row.type, other.type),
                    ("shape", row.output_shapes[-1:], other.output_shapes[-1:]),
                    ("params", row.params, other.params),
                    ("macs", row.macs, other.macs),
                )
                if x != y
            ]
            changes.append(LayerChange(name, "changed", row, other, what))
    changes += [LayerChange(name, "only in B", None, row, []) for name, row in b_rows.items() if name not in a_rows]
    return ReportDiff(a, b, stages, changes)
