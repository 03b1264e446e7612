"""From what one traced pass saw to a `ModelReport`: rows per module, stages, totals, warnings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .report import LayerRow, ModelReport, OpClass, StageRow, Totals, numel
from .stages import StageMap, stage_modules
from .trace import ModuleTrace, Tracer

_SHORTCUT_PARTS = {"downsample", "shortcut", "proj", "skip"}


@dataclass
class _OwnTensors:
    """A module's direct parameters and buffers (children excluded)."""

    params: int = 0
    trainable: int = 0
    weight: int = 0  # elements of the parameter named exactly "weight"
    bias: int = 0
    buffers: int = 0
    param_bytes: int = 0


_NOTHING = _OwnTensors()  # shared by every module without tensors of its own: read, never changed


def own_tensors(modules: dict[str, nn.Module]) -> dict[str, _OwnTensors]:
    """Direct parameters and buffers of every module, each shared tensor counted once (at its first owner)."""
    seen: set[int] = set()
    result: dict[str, _OwnTensors] = {}
    for name, module in modules.items():
        if not module._parameters and not module._buffers:
            result[name] = _NOTHING
            continue
        own = result[name] = _OwnTensors()
        for pname, p in module._parameters.items():
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            n = p.numel()
            own.params += n
            own.trainable += n if p.requires_grad else 0
            own.param_bytes += n * p.element_size()
            if pname == "weight":
                own.weight += n
            elif pname == "bias":
                own.bias += n
        for b in module._buffers.values():
            if b is not None and id(b) not in seen:
                seen.add(id(b))
                own.buffers += b.numel()
    return result


def _parent(name: str, names: set[str]) -> str | None:
    """The nearest ancestor that ran ("" is the model itself; None for the model)."""
    if name == "":
        return None
    while "." in name:
        name = name.rsplit(".", 1)[0]
        if name in names:
            return name
    return ""


def _pair(value: Any) -> list[int] | None:
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, (tuple, list)):
        return list(map(int, value))
    return [int(value), int(value)]


def _conv_geometry(row: LayerRow, module: Any) -> None:
    row.kernel, row.stride, row.padding, row.dilation = (
        _pair(module.kernel_size),
        _pair(module.stride),
        _pair(module.padding),
        _pair(module.dilation),
    )
    row.groups, row.in_channels, row.out_channels = module.groups, module.in_channels, module.out_channels


def _pool_geometry(row: LayerRow, module: Any) -> None:
    row.kernel, row.stride = _pair(module.kernel_size), _pair(module.stride)
    row.padding, row.dilation = _pair(module.padding), _pair(getattr(module, "dilation", 1))


def _linear_geometry(row: LayerRow, module: Any) -> None:
    row.in_features, row.out_channels = module.in_features, module.out_features


def _norm_geometry(row: LayerRow, module: Any) -> None:
    row.affine = bool(module.affine)


# What a diagram, a convention or a claim reads of a layer (kernel, stride, channels), by class.
_GEOMETRY = (
    (nn.modules.conv._ConvNd, _conv_geometry),
    ((nn.MaxPool2d, nn.AvgPool2d), _pool_geometry),
    (nn.Linear, _linear_geometry),
    ((nn.modules.batchnorm._NormBase, nn.GroupNorm), _norm_geometry),
)
# class -> (name, "module.qualname", its geometry reader or None): once per class, not per row.
_TYPES: dict[type, tuple[str, str, Any]] = {}


def _type_of(module: nn.Module) -> tuple[str, str, Any]:
    cls = type(module)
    known = _TYPES.get(cls)
    if known is None:
        reader = next((read for types, read in _GEOMETRY if issubclass(cls, types)), None)
        known = _TYPES[cls] = (cls.__name__, f"{cls.__module__}.{cls.__qualname__}", reader)
    return known


def _layer_row(
    name: str,
    module: nn.Module,
    trace: ModuleTrace,
    parent: str | None,
    own: _OwnTensors,
    stage: str | None,
    block: int | None,
) -> LayerRow:
    ops = list(trace.ops.values())  # the tracer's records become the report's
    macs = flops = 0
    by_class: dict[str, int] = {}
    for op in ops:
        macs += op.macs
        flops += op.flops
        by_class[op.op_class] = by_class.get(op.op_class, 0) + op.flops
    rf = trace.rf
    type_name, type_path, geometry = _type_of(module)
    row = LayerRow(
        index=trace.first_call,
        name=name,
        type=type_name,
        type_path=type_path,
        depth=0 if name == "" else name.count(".") + 1,
        parent=parent,
        is_leaf=not module._modules,
        stage=stage,
        block=block,
        on_shortcut=not _SHORTCUT_PARTS.isdisjoint(name.split(".")),
        input_from=trace.input_from,
        inputs_from=trace.inputs_from,
        calls=trace.calls,
        input_shapes=trace.input_shapes,
        output_shapes=trace.output_shapes,
        params=own.params,
        trainable=own.trainable,
        buffers=own.buffers,
        weight_numel=own.weight,
        bias_numel=own.bias,
        macs=macs,
        flops=flops,
        flops_by_class=by_class,
        ops=ops,
        activation_bytes=trace.activation_bytes,
    )
    if rf is not None:
        row.rf_size, row.rf_stride, row.rf_offset = int(rf.size), int(rf.jump), float(rf.start)
        if rf.global_from is not None:
            row.rf_global, row.rf_global_from = True, rf.global_from[1] or "(model)"
    if geometry is not None:
        geometry(row, module)
    return row


def _layer_rows(
    model: nn.Module, modules: dict[str, nn.Module], owned: dict[str, _OwnTensors], tracer: Tracer
) -> list[LayerRow]:
    traces = sorted(tracer.modules.values(), key=lambda t: t.first_call)
    stages = StageMap(stage_modules(model, modules), {t.name: t.first_call for t in traces})
    names = set(tracer.modules)
    rows = []
    for trace in traces:
        stage, block = stages.locate(trace.name, trace.first_call)
        rows.append(
            _layer_row(
                trace.name,
                modules.get(trace.name, model),
                trace,
                _parent(trace.name, names),
                owned.get(trace.name, _NOTHING),
                stage,
                block,
            )
        )
    _add_container_totals(rows)
    return rows


def _add_container_totals(rows: list[LayerRow]) -> None:
    """Every row's own numbers added to all its ancestors: deepest rows first, each passing its
    subtree's totals to its parent (a parent's name is a prefix of its child's, so it is shallower)."""
    by_name = {row.name: row for row in rows}
    for row in rows:
        row.total_params, row.total_macs, row.total_flops = row.params, row.macs, row.flops
    for row in sorted(rows, key=lambda r: r.depth, reverse=True):
        parent = by_name.get(row.parent) if row.parent is not None else None
        if parent is not None:
            parent.total_params += row.total_params
            parent.total_macs += row.total_macs
            parent.total_flops += row.total_flops


def _stage_table(report: ModelReport) -> list[StageRow]:
    groups: dict[str, list[LayerRow]] = {}
    for row in sorted(report.layers, key=lambda r: r.index):
        if row.stage is not None:
            groups.setdefault(row.stage, []).append(row)
    params, macs, flops = report.by_stage("params"), report.by_stage("macs"), report.by_stage("flops")
    total_params, total_macs = report.totals.params, report.totals.macs
    table = []
    for stage, rows in groups.items():
        table.append(
            StageRow(
                stage,
                len({r.block for r in rows if r.block is not None}),
                _stage_output(stage, rows),
                params[stage],
                macs[stage],
                flops[stage],
                params[stage] / total_params if total_params else 0.0,
                macs[stage] / total_macs if total_macs else 0.0,
            )
        )
    # The stem has no container: its output is what the first stage receives.
    by_name = {r.name: r for r in report.layers}
    for stage_row, following in zip(table, table[1:]):
        first_stage = by_name.get(following.name)
        if stage_row.name == "stem" and first_stage is not None and first_stage.input_shapes:
            stage_row.output_shape = first_stage.input_shapes[0]
    return table


def _stage_output(stage: str, rows: list[LayerRow]) -> list[int] | None:
    container = next((r for r in rows if r.name == stage), None)
    if container is not None:
        return container.output_shapes[-1] if container.output_shapes else None
    with_output = [r for r in rows if r.output_shapes and r.output_shapes[-1] is not None]
    return with_output[-1].output_shapes[-1] if with_output else None


def _totals(
    owned: dict[str, _OwnTensors], layers: list[LayerRow], shape: tuple[int, ...], dtype: torch.dtype, peak: int | None
) -> Totals:
    params = sum(o.params for o in owned.values())
    classifier = next((r for r in reversed(layers) if r.is_leaf and r.params), None)
    return Totals(
        params=params,
        params_without_classifier=params - (classifier.params if classifier else 0),
        trainable=sum(o.trainable for o in owned.values()),
        buffers=sum(o.buffers for o in owned.values()),
        macs=sum(r.macs for r in layers),
        flops=sum(r.flops for r in layers),
        flops_by_class={},  # filled from the report's operators
        activation_bytes=sum(r.activation_bytes for r in layers if r.is_leaf),
        input_bytes=numel(shape) * dtype.itemsize,
        param_bytes=sum(o.param_bytes for o in owned.values()),
        peak_memory_bytes=peak,
        classifier=classifier.name if classifier else None,
    )


def _warnings(report: ModelReport, modules: dict[str, nn.Module]) -> list[str]:
    warnings = []
    for stage in report.stages:
        shape = stage.output_shape
        if stage.name not in ("stem", "head") and shape and len(shape) == 4 and shape[2] == 1 and shape[3] == 1:
            warnings.append(
                f"from {stage.name} on, feature maps are 1x1: the input is too small for the "
                "network's downsampling to mean anything"
            )
            break
    uncounted: dict[str, int] = {}
    for op in report.uncounted:
        uncounted[op.op] = uncounted.get(op.op, 0) + op.count
    if uncounted:
        listed = ", ".join(f"{op} ({calls:,} call{'s' if calls > 1 else ''})" for op, calls in uncounted.items())
        warnings.append(
            f"{len(uncounted)} operator(s) without a counting rule, left out of every MACs and FLOPs total: {listed}"
        )
    executed = {row.name for row in report.layers}
    never_ran = [name for name, m in modules.items() if name not in executed and m._parameters]
    if never_ran:
        warnings.append(f"{len(never_ran)} module(s) with parameters never ran, e.g. {never_ran[0]}")
    return warnings


def assemble(
    model: nn.Module,
    tracer: Tracer,
    label: str,
    shape: tuple[int, ...],
    dtype: torch.dtype,
    device: str,
    output: Any,
    spec: Any,
    peak: int | None,
) -> ModelReport:
    """The report of one traced pass: rows and totals, then what is read from them (stages, warnings)."""
    modules = tracer.named_modules
    owned = own_tensors(modules)
    layers = _layer_rows(model, modules, owned, tracer)
    report = ModelReport(
        model=label,
        model_type=type(model).__name__,
        input_shape=list(shape),
        dtype=str(dtype).replace("torch.", ""),
        device=device,
        output_shape=list(output.shape) if isinstance(output, torch.Tensor) else None,
        layers=layers,
        stages=[],
        totals=_totals(owned, layers, shape, dtype, peak),
        uncounted=[],
        warnings=[],
        spec=spec.to_dict() if spec is not None else None,
        torch_version=torch.__version__,
    )
    report.totals.flops_by_class = {op_class: flops for op_class, flops in report.by_op_class("flops").items()}
    report.uncounted = [op for _, op in report.ops() if op.op_class == OpClass.UNCOUNTED]
    report.stages = _stage_table(report)
    report.warnings = _warnings(report, modules)
    return report
