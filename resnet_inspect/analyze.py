"""`inspect()`: one real forward pass to a `ModelReport`."""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from .build import resolve_spec
from .network import build_from_spec
from .report import LayerRow, ModelReport, OpCount, StageRow, Totals
from .spec import ResNetSpec
from .trace import ModuleTrace, Tracer, TraceError

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float64": torch.float64}
DEVICES = ("auto", "cuda", "cpu", "meta")

# Stage containers in torchvision/our layout (layer1), timm ResNetV2 (stages.0), and generic.
_STAGE = re.compile(r"^(layer\d+|stages\.\d+)(?:\.(?:blocks\.)?(\d+))?(?:\.|$)")
_SHORTCUT_PARTS = {"downsample", "shortcut", "proj", "skip"}


class AnalysisError(ValueError):
    """A user-facing analysis failure (bad input, a model that does not run)."""


def parse_input_size(text: str | Sequence[int]) -> tuple[int, ...]:
    """``1x3x224x224`` (or a sequence) to a validated shape tuple."""
    if isinstance(text, str):
        parts = text.lower().replace("×", "x").split("x")
        try:
            shape = tuple(int(p) for p in parts)
        except ValueError:
            raise AnalysisError(f"invalid input size {text!r}: expected NxCxHxW, e.g. 1x3x224x224") from None
    else:
        shape = tuple(int(p) for p in text)
    if len(shape) != 4:
        raise AnalysisError(f"invalid input size {'x'.join(map(str, shape)) or text!r}: expected 4 dimensions NxCxHxW")
    if any(d <= 0 for d in shape):
        raise AnalysisError(f"invalid input size {'x'.join(map(str, shape))}: every dimension must be positive")
    return shape


def resolve_device(device: str) -> str:
    if device not in DEVICES:
        raise AnalysisError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise AnalysisError("device 'cuda' requested but no CUDA GPU is available; use --device cpu or meta")
    return device


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise AnalysisError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def _prepare_model(target: Any, device: str, dtype: torch.dtype) -> tuple[nn.Module, str, ResNetSpec | None]:
    if isinstance(target, nn.Module):
        model = target
        current = next(iter(model.parameters()), None)
        if device == "meta" or (current is not None and (current.device.type != device or current.dtype != dtype)):
            model = copy.deepcopy(model).to(device=device, dtype=dtype)  # never move the caller's model
        return model, type(target).__name__, getattr(target, "spec", None)
    if isinstance(target, (str, ResNetSpec)):
        spec = resolve_spec(target)
        with torch.device(device):
            model = build_from_spec(spec).to(dtype=dtype)
        return model, target if isinstance(target, str) else "custom", spec
    raise AnalysisError(f"cannot inspect a {type(target).__name__}: expected a variant name, a ResNetSpec or an nn.Module")


def _expected_channels(model: nn.Module) -> int | None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return None


def _parent(name: str, names: set[str]) -> str | None:
    if name == "":
        return None
    while "." in name:
        name = name.rsplit(".", 1)[0]
        if name in names:
            return name
    return ""


def _pair(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return [int(v) for v in value]
    if isinstance(value, str):
        return None
    return [int(value), int(value)]


@dataclass
class _ModuleStats:
    """Direct parameters and buffers of every module, each shared tensor counted once."""

    own: dict[str, tuple[int, int, int, int, int]]  # params, trainable, weight, bias, buffers
    params: int
    trainable: int
    param_bytes: int
    buffers: int


def _module_stats(model: nn.Module, modules: dict[str, nn.Module]) -> _ModuleStats:
    seen: set[int] = set()
    own: dict[str, tuple[int, int, int, int, int]] = {}
    total = trainable_total = param_bytes = buffers_total = 0
    for name, module in modules.items():
        params = trainable = weight = bias = 0
        for pname, p in module._parameters.items():
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            n = p.numel()
            params += n
            trainable += n if p.requires_grad else 0
            param_bytes += n * p.element_size()
            if pname == "weight":
                weight += n
            elif pname == "bias":
                bias += n
        buffers = 0
        for b in module._buffers.values():
            if b is not None and id(b) not in seen:
                seen.add(id(b))
                buffers += b.numel()
        own[name] = (params, trainable, weight, bias, buffers)
        total += params
        trainable_total += trainable
        buffers_total += buffers
    return _ModuleStats(own, total, trainable_total, param_bytes, buffers_total)


def _layer_row(name: str, module: nn.Module, trace: ModuleTrace, parent: str | None,
               own: tuple[int, int, int, int, int], stage: str | None, block: int | None) -> LayerRow:
    params, trainable, weight, bias, buffers = own
    ops = [OpCount(op, acc.op_class, acc.count, acc.macs, acc.flops, acc.elements, acc.first, acc.inputs_from)
           for op, acc in trace.ops.items()]
    by_class: dict[str, int] = defaultdict(int)
    for op in ops:
        by_class[op.op_class] += op.flops
    rf = trace.rf
    parts = set(name.split("."))
    row = LayerRow(
        index=trace.first_call, name=name, type=type(module).__name__,
        type_path=f"{type(module).__module__}.{type(module).__qualname__}",
        depth=0 if name == "" else name.count(".") + 1, parent=parent,
        is_leaf=not module._modules, stage=stage, block=block,
        on_shortcut=bool(parts & _SHORTCUT_PARTS), input_from=trace.input_from, calls=trace.calls,
        input_shapes=trace.input_shapes, output_shapes=trace.output_shapes,
        params=params, trainable=trainable, buffers=buffers, weight_numel=weight, bias_numel=bias,
        macs=sum(op.macs for op in ops), flops=sum(op.flops for op in ops), flops_by_class=dict(by_class), ops=ops,
        activation_bytes=trace.activation_bytes,
        rf_size=int(rf.size) if rf else None, rf_stride=int(rf.jump) if rf else None,
        rf_offset=float(rf.start) if rf else None, rf_global=bool(rf and rf.is_global),
    )
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        row.kernel, row.stride = _pair(module.kernel_size), _pair(module.stride)
        row.padding = _pair(module.padding)
        row.dilation = _pair(getattr(module, "dilation", 1))
    if isinstance(module, nn.Conv2d):
        row.groups, row.in_channels, row.out_channels = module.groups, module.in_channels, module.out_channels
    if isinstance(module, nn.Linear):
        row.in_features, row.out_channels = module.in_features, module.out_features
    if isinstance(module, nn.modules.batchnorm._NormBase):
        row.affine = bool(module.affine)
    return row


def _stage_of(name: str, order: int, first_stage_order: int | None) -> tuple[str | None, int | None]:
    if name == "":
        return None, None
    match = _STAGE.match(name)
    if match:
        return match.group(1), int(match.group(2)) if match.group(2) is not None else None
    if first_stage_order is not None and order < first_stage_order:
        return "stem", None
    return "head", None


def _stage_table(layers: list[LayerRow], totals_params: int, totals_macs: int) -> list[StageRow]:
    groups: dict[str, list[LayerRow]] = {}
    for row in sorted(layers, key=lambda r: r.index):
        if row.stage is not None:
            groups.setdefault(row.stage, []).append(row)
    table = []
    for stage, rows in groups.items():
        params = sum(r.params for r in rows)
        macs = sum(r.macs for r in rows)
        flops = sum(r.flops for r in rows)
        container = next((r for r in rows if r.name == stage), None)
        if container is not None:
            output = container.output_shapes[-1] if container.output_shapes else None
        else:
            with_output = [r for r in rows if r.output_shapes and r.output_shapes[-1] is not None]
            output = with_output[-1].output_shapes[-1] if with_output else None
        blocks = len({r.block for r in rows if r.block is not None})
        table.append(StageRow(stage, blocks, output, params, macs, flops,
                              params / totals_params if totals_params else 0.0,
                              macs / totals_macs if totals_macs else 0.0))
    # The stem has no container: its output is what the first stage receives.
    by_name = {r.name: r for r in layers}
    for row, following in zip(table, table[1:]):
        first_stage = by_name.get(following.name)
        if row.name == "stem" and first_stage is not None and first_stage.input_shapes:
            row.output_shape = first_stage.input_shapes[0]
    return table


def inspect(
    target: str | ResNetSpec | nn.Module,
    input_size: Sequence[int] | str | None = None,
    device: str = "auto",
    dtype: str | torch.dtype = torch.float32,
    *,
    label: str | None = None,
) -> ModelReport:
    """Run one forward pass of ``target`` and report every layer.

    ``target`` is a registered name, a `ResNetSpec` or any ``nn.Module``. ``input_size``
    defaults to 1 x in_chans x image_size x image_size for specs and 1x3x224x224 otherwise.
    ``device="meta"`` computes the same report without allocating memory."""
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype)
    if input_size is None:
        spec = resolve_spec(target) if isinstance(target, (str, ResNetSpec)) else getattr(target, "spec", None)
        input_size = (1, spec.in_chans, spec.image_size, spec.image_size) if spec else (1, 3, 224, 224)
    shape = parse_input_size(input_size)
    model, model_name, spec = _prepare_model(target, dev, torch_dtype)
    expected = _expected_channels(model)
    if expected is not None and shape[1] != expected:
        raise AnalysisError(f"input has {shape[1]} channels but the model's first convolution expects {expected}")
    modes = {module: module.training for module in model.modules()} if model is target else {}
    model.eval()
    try:
        if dev != "meta":
            _check_memory(model, shape, dev, torch_dtype)
        x = torch.randn(shape, device=dev, dtype=torch_dtype) if dev != "meta" else torch.empty(
            shape, device="meta", dtype=torch_dtype)
        if dev == "cuda":
            torch.cuda.reset_peak_memory_stats()
        tracer = Tracer(model)
        with torch.no_grad():
            output = tracer.run(model, x)
    except TraceError as exc:
        raise _explain_failure(exc, model, shape, dev, torch_dtype) from None
    finally:
        for module, training in modes.items():  # a caller's model keeps its train/eval state
            module.training = training
    peak = int(torch.cuda.max_memory_allocated()) if dev == "cuda" else None
    return _assemble(model, tracer, label or model_name, shape, torch_dtype, dev, output, spec, peak)


def free_memory(device: str) -> int | None:
    """Bytes that a new allocation can use now: MemAvailable on the CPU, free device memory on CUDA."""
    if device == "cuda":
        return int(torch.cuda.mem_get_info()[0])
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def _check_memory(model: nn.Module, shape: tuple[int, ...], dev: str, dtype: torch.dtype) -> None:
    """Refuse a real pass that cannot fit, before allocating anything.

    A cheap bound comes first (activations of a ResNet stay within a few hundred times the input);
    only when that bound comes near the free memory is a meta pass run for the real estimate: the
    parameters, plus the largest layer's input and output, plus the feature map a residual block
    keeps for its shortcut."""
    free = free_memory(dev)
    if free is None:
        return
    element = torch.empty((), dtype=dtype).element_size()
    input_bytes = torch.Size(shape).numel() * element
    param_bytes = sum(p.numel() for p in model.parameters()) * element
    if input_bytes * 400 + param_bytes < free // 2:
        return
    meta = inspect(model, shape, device="meta", dtype=dtype)
    largest = max((sum(_numel(s) for s in row.input_shapes[:1]) * element + row.activation_bytes // max(row.calls, 1)
                   for row in meta.leaves()), default=0)
    biggest_map = max((_numel(row.output_shapes[-1]) * element for row in meta.leaves() if row.output_shapes),
                      default=0)
    needed = param_bytes + largest + biggest_map
    if needed > free:
        raise AnalysisError(
            f"a {dev} pass at {'x'.join(map(str, shape))} needs at least {_gib(needed)} (all activations: "
            f"{_gib(meta.totals.activation_bytes)}) but only {_gib(free)} is free; use --device meta for the "
            "same report without memory")


def _numel(shape: list[int] | None) -> int:
    total = 1
    for d in shape or []:
        total *= d
    return total if shape else 0


def _explain_failure(exc: TraceError, model: nn.Module, shape: tuple[int, ...], dev: str,
                     dtype: torch.dtype) -> AnalysisError:
    message = str(exc.error).strip().splitlines()[0] if str(exc.error).strip() else type(exc.error).__name__
    where = f" in {exc.module}" if exc.module else ""
    if isinstance(exc.error, torch.cuda.OutOfMemoryError) or "out of memory" in message.lower():
        return AnalysisError(f"out of memory on {dev}{where} for input {'x'.join(map(str, shape))}; "
                             "try --device meta, which needs no memory")
    if isinstance(exc.error, RuntimeError) and "size" in message.lower():
        smallest = smallest_input(model, shape, dtype)
        if smallest is not None and min(shape[2:]) < smallest[2]:
            return AnalysisError(f"input {'x'.join(map(str, shape))} is too small: it fails{where}; "
                                 f"the smallest input that works is {'x'.join(map(str, smallest))}")
    return AnalysisError(f"the forward pass failed{where}: {type(exc.error).__name__}: {message}")


def smallest_input(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype) -> tuple[int, ...] | None:
    """Smallest square H=W (up to 4096) for which the model runs, found with meta passes."""
    meta_model = copy.deepcopy(model).to("meta")

    def runs(size: int) -> bool:
        try:
            with torch.no_grad():
                meta_model(torch.empty((shape[0], shape[1], size, size), device="meta", dtype=dtype))
            return True
        except Exception:
            return False

    low, high = 1, 4096
    if not runs(high):
        return None
    while low < high:
        mid = (low + high) // 2
        if runs(mid):
            high = mid
        else:
            low = mid + 1
    return (shape[0], shape[1], low, low)


def _assemble(model: nn.Module, tracer: Tracer, label: str, shape: tuple[int, ...], dtype: torch.dtype, dev: str,
              output: Any, spec: ResNetSpec | None, peak: int | None) -> ModelReport:
    modules = dict(model.named_modules())
    stats = _module_stats(model, modules)
    traces = sorted(tracer.modules.values(), key=lambda t: t.first_call)
    first_stage_order = next((t.first_call for t in traces if _STAGE.match(t.name)), None)
    names = set(tracer.modules)
    layers = []
    for trace in traces:
        module = modules.get(trace.name, model)
        stage, block = _stage_of(trace.name, trace.first_call, first_stage_order)
        layers.append(_layer_row(trace.name, module, trace, _parent(trace.name, names), stats.own.get(trace.name, (0, 0, 0, 0, 0)),
                                 stage, block))
    # Container totals: every row's own numbers added to all its ancestors.
    by_name = {row.name: row for row in layers}
    for row in layers:
        node: LayerRow | None = row
        while node is not None:
            node.total_params += row.params
            node.total_macs += row.macs
            node.total_flops += row.flops
            node = by_name.get(node.parent) if node.parent is not None else None

    params = stats.params
    classifier = next((r for r in reversed(layers) if r.is_leaf and r.params), None)
    by_class: dict[str, int] = defaultdict(int)
    uncounted: list[OpCount] = []
    for row in layers:
        for op in row.ops:
            by_class[op.op_class] += op.flops
            if op.op_class == "uncounted":
                uncounted.append(op)
    macs = sum(r.macs for r in layers)
    stages = _stage_table(layers, params, macs)
    warnings = _warnings(stages, modules, names)
    out_tensor = output if isinstance(output, torch.Tensor) else None
    element = torch.empty((), dtype=dtype).element_size()
    totals = Totals(
        params=params,
        params_without_classifier=params - (classifier.params if classifier else 0),
        trainable=stats.trainable,
        buffers=stats.buffers,
        macs=macs,
        flops=sum(r.flops for r in layers),
        flops_by_class=dict(by_class),
        activation_bytes=sum(r.activation_bytes for r in layers if r.is_leaf),
        input_bytes=int(torch.Size(shape).numel()) * element,
        param_bytes=stats.param_bytes,
        peak_memory_bytes=peak,
        classifier=classifier.name if classifier else None,
    )
    return ModelReport(
        model=label, model_type=type(model).__name__, input_shape=list(shape), dtype=str(dtype).replace("torch.", ""),
        device=dev, output_shape=list(out_tensor.shape) if out_tensor is not None else None, layers=layers,
        stages=stages, totals=totals, uncounted=uncounted, warnings=warnings,
        spec=spec.to_dict() if spec is not None else None, torch_version=torch.__version__,
    )


def _warnings(stages: list[StageRow], modules: dict[str, nn.Module], executed: set[str]) -> list[str]:
    warnings = []
    for stage in stages:
        shape = stage.output_shape
        if stage.name not in ("stem", "head") and shape and len(shape) == 4 and shape[2] == 1 and shape[3] == 1:
            warnings.append(f"from {stage.name} on, feature maps are 1x1: the input is too small for the "
                            "network's downsampling to mean anything")
            break
    never_ran = [name for name, m in modules.items()
                 if name not in executed and m._parameters]
    if never_ran:
        warnings.append(f"{len(never_ran)} module(s) with parameters never ran, e.g. {never_ran[0]}")
    return warnings
