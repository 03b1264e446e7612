"""`ModelReport`: everything one forward pass showed, as plain, JSON-safe data.

Renderers, the audit and the app read this; nothing here touches torch."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from math import prod
from typing import Any

from ..errors import UserError

SCHEMA_VERSION = 1


class OpClass(str, Enum):
    """What kind of work an operator does; every counting rule names one."""

    CONV = "conv"
    LINEAR = "linear"
    BIAS = "bias"  # the bias addition folded into a conv or linear call
    NORM = "norm"
    ACTIVATION = "activation"
    POOL = "pool"
    RESIDUAL_ADD = "residual_add"
    ELEMENTWISE = "elementwise"
    LAYOUT = "layout"  # views, copies, padding: no arithmetic
    ALLOC = "alloc"  # tensor creation: no arithmetic
    UNCOUNTED = "uncounted"  # an operator without a rule

    def __str__(self) -> str:
        return self.value

    @property
    def is_compute(self) -> bool:
        """Does arithmetic on feature maps (everything but layout, allocation and bias)."""
        return self not in (OpClass.LAYOUT, OpClass.ALLOC, OpClass.BIAS)


def numel(shape: Iterable[int] | None) -> int:
    """Elements of a tensor of ``shape``; 0 for a missing shape."""
    return prod(shape) if shape else 0


@dataclass(slots=True)
class OpRun:
    """One run of an operator by a container itself (not by a child) in the container's first call:
    a node of its own in the dataflow diagrams (Res2Net's adds, attention's two matrix products)."""

    node: str  # the producer name its output carries: "layer1.0:add", then "layer1.0:add#2", ...
    index: int  # its position among module calls and operators
    inputs_from: list[str | None]
    macs: int
    flops: int
    elements: int


@dataclass(slots=True)
class OpCount:
    """One operator as it ran inside one module (summed over that module's calls)."""

    op: str
    op_class: OpClass
    count: int
    macs: int
    flops: int
    elements: int  # output elements, summed over runs
    index: int = 0  # position of its first run among module calls and operators
    inputs_from: list[str | None] = field(default_factory=list)  # producers (residual adds only)
    runs: list[OpRun] = field(default_factory=list)  # a container's own runs, in its first call


@dataclass(slots=True)
class LayerRow:
    index: int  # execution order (first call)
    name: str  # qualified name; "" is the model itself
    type: str  # class name
    type_path: str  # module.qualname, to tell a subclass from the class itself
    depth: int
    parent: str | None
    is_leaf: bool
    stage: str | None  # "stem", "layer1".., "head"
    block: int | None
    on_shortcut: bool  # inside a projection/downsample branch
    input_from: str | None  # leaf (or "<module>:add", or "input") that produced the first input
    calls: int
    input_shapes: list[list[int] | None]  # first tensor input of each call
    output_shapes: list[list[int] | None]
    params: int  # own parameters (direct, not children's); shared tensors counted once
    trainable: int
    buffers: int
    weight_numel: int  # direct parameters named exactly "weight" / "bias" (used by presets)
    bias_numel: int
    kernel: list[int] | None = None
    stride: list[int] | None = None
    padding: list[int] | None = None
    dilation: list[int] | None = None
    groups: int | None = None
    in_channels: int | None = None
    out_channels: int | None = None
    in_features: int | None = None
    affine: bool | None = None
    macs: int = 0  # own operators only (children excluded), summed over calls
    flops: int = 0
    flops_by_class: dict[str, int] = field(default_factory=dict)
    ops: list[OpCount] = field(default_factory=list)
    activation_bytes: int = 0  # bytes of this module's outputs, summed over calls
    rf_size: int | None = None  # receptive field (pixels, along the height) of the output
    rf_stride: int | None = None  # effective stride (jump) at the output
    rf_offset: float | None = None  # input coordinate of the first output pixel's centre
    # The fields above are the local operators' (convolutions, pools, pads). The output also depends on
    # the whole input once a global operator (a global mean: SE, ECA, SK, split attention, global pooling;
    # GroupNorm, EvoNorm or FRN statistics) lies on its path: the first such module.
    rf_global: bool = False
    rf_global_from: str | None = None
    # Totals over this module and everything it contains (for containers).
    total_params: int = 0
    total_macs: int = 0
    total_flops: int = 0
    # Producers of every tensor input of the first call, when there are several (a concatenation).
    inputs_from: list[str | None] = field(default_factory=list)


@dataclass
class StageRow:
    name: str
    blocks: int
    output_shape: list[int] | None
    params: int
    macs: int
    flops: int
    params_share: float
    macs_share: float


@dataclass
class Totals:
    params: int
    params_without_classifier: int
    trainable: int
    buffers: int  # elements in buffers (BN running stats, counters)
    macs: int
    flops: int
    flops_by_class: dict[str, int]
    activation_bytes: int  # sum of leaf-module outputs
    input_bytes: int
    param_bytes: int
    peak_memory_bytes: int | None  # measured on CUDA only
    classifier: str | None


@dataclass
class ModelReport:
    model: str
    model_type: str
    input_shape: list[int]
    dtype: str
    device: str
    output_shape: list[int] | None
    layers: list[LayerRow]
    stages: list[StageRow]
    totals: Totals
    uncounted: list[OpCount]  # operators without a counting rule, with their element counts
    warnings: list[str]
    spec: dict[str, Any] | None = None
    torch_version: str = ""
    weights: dict[str, Any] | None = None  # statistics of the real weights the report was made with
    schema_version: int = SCHEMA_VERSION

    # Lookups used by every renderer.
    def layer(self, name: str) -> LayerRow:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    def leaves(self) -> list[LayerRow]:
        return [row for row in self.layers if row.is_leaf]

    def ops(self) -> Iterable[tuple[LayerRow, OpCount]]:
        """Every (module, operator) pair, in module order."""
        return ((row, op) for row in self.layers for op in row.ops)

    def op_total(self, attribute: str, *classes: OpClass) -> int:
        """``macs``, ``flops``, ``count`` or ``elements`` summed over operators of ``classes`` (all when none)."""
        return sum(getattr(op, attribute) for _, op in self.ops() if not classes or op.op_class in classes)

    def by_op_class(self, attribute: str = "flops") -> dict[OpClass, int]:
        """An operator attribute summed per operator class."""
        sums: dict[OpClass, int] = defaultdict(int)
        for _, op in self.ops():
            sums[op.op_class] += getattr(op, attribute)
        return dict(sums)

    def by_stage(self, attribute: str = "params") -> dict[str, int]:
        """A layer attribute (own values: ``params``, ``macs``, ``flops``) summed per stage."""
        sums: dict[str, int] = defaultdict(int)
        for row in self.layers:
            if row.stage is not None:
                sums[row.stage] += getattr(row, attribute)
        return dict(sums)

    def by_module_type(self, attribute: str = "params") -> dict[str, int]:
        """A layer attribute summed per module class name."""
        sums: dict[str, int] = defaultdict(int)
        for row in self.layers:
            sums[row.type] += getattr(row, attribute)
        return dict(sums)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelReport:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise UserError(f"report schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
        values = dict(data)
        values["layers"] = [LayerRow(**{**row, "ops": [_op_count(op) for op in row["ops"]]}) for row in data["layers"]]
        values["stages"] = [StageRow(**row) for row in data["stages"]]
        values["totals"] = Totals(**data["totals"])
        values["uncounted"] = [_op_count(op) for op in data["uncounted"]]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> ModelReport:
        return cls.from_dict(json.loads(text))


def _op_count(data: dict[str, Any]) -> OpCount:
    runs = [OpRun(**run) for run in data.get("runs", [])]
    return OpCount(**{**data, "op_class": OpClass(data["op_class"]), "runs": runs})
