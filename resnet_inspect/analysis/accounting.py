"""Operator accounting: what the dispatch mode does with every aten operator of a pass.

Each operator is charged to the innermost module running it (`ModuleTrace`), under its counting rule
(`counting`); its output gets the receptive field (`fields`) and the producer (the dataflow the
diagrams draw) its inputs give it. Residual adds of two same-shaped maps are recorded during the pass and
charged after it. `Tracer` (module tracking, leaves set aside) builds on this class."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..limits import Cancelled, StopCheck
from .counting import FREE, PER_ELEMENT, RULES, main_output_shape, output_elements, shapes_of
from .fields import FIELD_ATTR, NOWHERE, PADS, Field, combined, pad_window, through
from .report import OpClass, OpCount, OpRun
from .tensors import first_tensor
from .torch_internals import Operator


@dataclass(slots=True)
class ModuleTrace:
    name: str
    first_call: int
    calls: int = 0
    input_shapes: list[list[int] | None] = field(default_factory=list)
    output_shapes: list[list[int] | None] = field(default_factory=list)
    activation_bytes: int = 0
    # The report's operator records, filled as the operators run; one operator may do two jobs.
    ops: dict[tuple[str, OpClass], OpCount] = field(default_factory=dict)
    rf: Field | None = None
    input_from: str | None = None  # the leaf (or residual add) that produced the first call's input
    inputs_from: list[str | None] = field(default_factory=list)  # every input's, when there are several
    op_runs: dict[str, int] = field(default_factory=dict)  # runs of each operator it did itself, this call


# Likewise the name of the leaf module (or "<module>:add") that last wrote each tensor: the
# dataflow graph of the diagrams.
_PRODUCER_ATTR = "_resnet_inspect_producer"
# Child modules that carry a block's shortcut (torchvision/timm: downsample; others: shortcut, skip).
_SHORTCUT_NAMES = {"downsample", "shortcut", "skip"}


# aten overload -> (operator name, counting rule, class of a free or per-element operator),
# filled as operators are first seen.
_OPS: dict[Any, tuple[str, Any, OpClass | None, bool]] = {}


def _known(func: Any) -> tuple[str, Any, OpClass | None, bool]:
    name = func._overloadpacket.__name__
    simple = FREE.get(name) or PER_ELEMENT.get(name)
    _OPS[func] = (name, RULES.get(name), simple, name in PER_ELEMENT)
    return _OPS[func]


class OperatorAccounting:
    """The operator half of the tracer: charges, receptive fields and producers. It reads the module
    stack (``stack``), the module records (``modules``) and the order counter (``_order``) the tracer keeps."""

    stack: list[str]
    modules: dict[str, ModuleTrace]
    leaves: set[str]
    kernels: dict[Any, Any]
    _order: int
    _adds: list
    _capture: list | None
    _quick_adds: frozenset | tuple
    deadline: float | None
    should_stop: StopCheck | None

    def __torch_dispatch__(self, func: Operator, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if self.deadline is not None or self.should_stop is not None:
            self._check_deadline()
        if func in self._quick_adds and not kwargs and len(args) == 2:
            a, b = args
            if type(a) is torch.Tensor and type(b) is torch.Tensor and a.shape == b.shape:
                out = func(a, b)
                self._record_add(func, a, b, out)
                return out
        kwargs = kwargs or {}
        kernel = self.kernels.get(func)
        out = kernel(args, kwargs) if kernel is not None else None
        if out is None:
            out = func(*args, **kwargs)
        self._account(func, args, kwargs, out)
        return out

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeoutError("the pass ran past its time budget")
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("the analysis was cancelled")

    def _account(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        """Charge one operator's work to the module running it; pass on receptive field and producer."""
        op, rule, simple, per_element = _OPS.get(func) or _known(func)
        owner = self.stack[-1] if self.stack else ""
        trace = self.modules.get(owner)
        if trace is None:
            trace = self.modules[owner] = ModuleTrace(owner, self._order)
            self._order += 1
        elements = output_elements(out)
        if rule is None:
            self._charge(trace, op, OpClass.UNCOUNTED, 0, 0, elements)
            self._propagate_rf(op, args, out, None)
            return
        if simple is not None:  # no formula to call: nothing, or one FLOP per output element
            flops = (out.numel() if isinstance(out, torch.Tensor) else elements) if per_element else 0
            acc = self._charge(trace, op, simple, 0, flops, elements)
            self._record_dataflow(owner, op, simple, acc, args, out, (0, flops, elements))
            self._propagate_rf(op, args, out, None)
            return
        main = main_output_shape(out)
        cost = rule(shapes_of(args), kwargs, main)
        if cost.op_class is OpClass.NORM and main is not None:
            # Only the normalized output: the statistics a norm also returns exist on some devices
            # and not others (batch norm at inference: empty on the CPU, per channel on meta).
            elements = main.numel()
        op_class = cost.op_class
        if op_class is OpClass.RESIDUAL_ADD and not self._adds_a_shortcut(owner, args):
            op_class = OpClass.ELEMENTWISE  # two maps of one branch (Res2Net's hierarchical adds)
        acc = self._charge(trace, op, op_class, cost.macs, cost.flops, elements)
        self._record_dataflow(owner, op, op_class, acc, args, out, (cost.macs, cost.flops, elements))
        if cost.bias_flops:
            self._charge(trace, f"{op}.bias", OpClass.BIAS, 0, cost.bias_flops, cost.bias_flops)
        self._propagate_rf(op, args, out, cost.window)
        return

    def _charge(self, trace: ModuleTrace, op: str, op_class: OpClass, macs: int, flops: int, elements: int) -> OpCount:
        capture = self._capture
        if capture is not None and capture[0] is trace:
            capture[3].append((op, op_class, macs, flops, elements))
        acc = trace.ops.get((op, op_class))
        if acc is None:
            acc = trace.ops[(op, op_class)] = OpCount(op, op_class, 0, 0, 0, 0, self._order)
            self._order += 1
        acc.count += 1
        acc.macs += macs
        acc.flops += flops
        acc.elements += elements
        return acc

    def _record_add(self, func: Any, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
        """Two maps of one shape added (a block's ``out += identity``): only what later operators need
        now, as `_account` would leave it (the output's producer and receptive field); the rest is
        recorded and charged after the pass (`_charge_adds`)."""
        self._capture = None  # a leaf that adds is not learned: its add is charged after the pass
        stack = self.stack
        owner = stack[-1] if stack else ""
        # An add module is judged in the block that calls it.
        caller = (stack[-2] if len(stack) > 1 else "") if owner in self.leaves else None
        producers = (getattr(a, _PRODUCER_ATTR, None), getattr(b, _PRODUCER_ATTR, None))
        source = combined((getattr(a, FIELD_ATTR, None), getattr(b, FIELD_ATTR, None)))
        op = (_OPS.get(func) or _known(func))[0]
        run = self._run_name(owner, op) if caller is None else (owner, False)
        setattr(out, _PRODUCER_ATTR, run[0])
        if source is not None:
            setattr(out, FIELD_ATTR, source)
        # Positions: the owner's trace (were it not there yet), then the operator's record.
        self._adds.append((func, owner, caller, a.shape, producers, self._order, run))
        self._order += 2

    def _charge_adds(self) -> None:
        """Charge the adds `_record_add` recorded as `_account` would have, in their order positions."""
        resorted: dict[str, ModuleTrace] = {}
        for func, owner, caller, shape, producers, position, (node, first_call) in self._adds:
            op, rule = (_OPS.get(func) or _known(func))[:2]
            trace = self.modules.get(owner)
            if trace is None:
                trace = self.modules[owner] = ModuleTrace(owner, position)
            cost = rule((shape, shape), {}, shape)
            op_class = cost.op_class
            if op_class is OpClass.RESIDUAL_ADD and not self._is_shortcut(owner, caller, producers):
                op_class = OpClass.ELEMENTWISE
            self._order = position + 1
            charged = trace.ops.get((op, op_class))  # by an earlier add, or during the pass by a watched one
            acc = self._charge(trace, op, op_class, cost.macs, cost.flops, shape.numel())
            first_run = charged is None
            if charged is not None and charged.index > position + 1:  # the watched one ran later
                acc.index = position + 1
                first_run = True
            if first_run and caller is None:
                acc.inputs_from = list(producers)
            if first_call:
                acc.runs.append(OpRun(node, position + 1, list(producers), cost.macs, cost.flops, shape.numel()))
                acc.runs.sort(key=lambda run: run.index)
            if len(trace.ops) > 1:
                resorted[owner] = trace
        self._adds.clear()
        for trace in resorted.values():
            trace.ops = dict(sorted(trace.ops.items(), key=lambda item: item[1].index))

    def _adds_a_shortcut(self, owner: str, args: tuple) -> bool:
        caller = (self.stack[-2] if len(self.stack) > 1 else "") if owner in self.leaves else None
        producers = [getattr(arg, _PRODUCER_ATTR, None) if isinstance(arg, torch.Tensor) else None for arg in args]
        return self._is_shortcut(owner, caller, producers)

    @staticmethod
    def _is_shortcut(owner: str, caller: str | None, producers: Sequence[str | None]) -> bool:
        """A residual add brings in a map from outside the module doing the add (its input), or from
        its shortcut branch; an add of two maps made inside one branch is plain arithmetic. An add
        module (``caller`` set: the block calling it) is judged in that block."""
        if caller is not None:
            owner = caller
            if not owner:
                return True
        for producer in producers:
            if producer is None:
                return True
            inside = producer == owner or producer.startswith((owner + ".", owner + ":")) or not owner
            if not inside or any(part in _SHORTCUT_NAMES for part in producer[len(owner) :].split(".")):
                return True
        return False

    def _run_name(self, owner: str, op: str) -> tuple[str, bool]:
        """The producer name of this run of ``op`` done by the container ``owner`` itself: ``owner:op``,
        then ``owner:op#2``, ... (counted in each call), and whether the call is the container's first."""
        trace = self.modules.get(owner)
        if trace is None:
            return f"{owner}:{op}", True
        run = trace.op_runs[op] = trace.op_runs.get(op, 0) + 1
        return (f"{owner}:{op}" if run == 1 else f"{owner}:{op}#{run}"), trace.calls <= 1

    def _node_run(
        self, owner: str, op: str, acc: OpCount, inputs: list[str | None], figures: tuple[int, int, int]
    ) -> str:
        """Name this run of a container's own operator and, in the container's first call, record it."""
        node, first_call = self._run_name(owner, op)
        if first_call:
            index = acc.index if acc.count == 1 else self._order
            if acc.count > 1:
                self._order += 1
            acc.runs.append(OpRun(node, index, inputs, *figures))
        return node

    def _record_dataflow(
        self,
        owner: str,
        op: str,
        op_class: OpClass,
        acc: OpCount,
        args: tuple,
        out: Any,
        figures: tuple[int, int, int],
    ) -> None:
        """Which node wrote each output: a view passes its input's producer on; work done by a
        leaf belongs to the leaf; work done directly by a container (the residual add, SE's
        mean and multiply) is its own node ``<container>:<op>`` (``#2``, ``#3`` for its later runs)."""
        result = first_tensor(out)  # batch norm returns (output, mean, invstd)
        if result is None:
            return
        joined = args[0] if op in ("cat", "stack") and args and isinstance(args[0], (list, tuple)) else ()
        if len({getattr(t, _PRODUCER_ATTR, None) for t in joined}) > 1 and owner not in self.leaves:
            # A concatenation or stack of several branches (Res2Net's scales, SK's paths) joins them.
            inputs = [getattr(t, _PRODUCER_ATTR, None) for t in joined]
            if acc.count == 1:
                acc.inputs_from = inputs
            setattr(result, _PRODUCER_ATTR, self._node_run(owner, op, acc, inputs, figures))
            return
        if op_class in (OpClass.LAYOUT, OpClass.ALLOC):
            source = first_tensor(args)
            if source is not None and hasattr(source, _PRODUCER_ATTR):
                for piece in out if isinstance(out, (list, tuple)) else (out,):  # every piece of a split
                    if isinstance(piece, torch.Tensor):
                        setattr(piece, _PRODUCER_ATTR, getattr(source, _PRODUCER_ATTR))
            return
        if owner in self.leaves:
            setattr(result, _PRODUCER_ATTR, owner)
            return
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        # The feature maps it combines (not a broadcast scale); a reduction (ECA's mean) has only one.
        same_rank = [a for a in tensors if a.dim() == result.dim()] or tensors[:1]
        inputs = [getattr(a, _PRODUCER_ATTR, None) for a in same_rank]
        if acc.count == 1:
            acc.inputs_from = inputs
        setattr(result, _PRODUCER_ATTR, self._node_run(owner, op, acc, inputs, figures))

    def _propagate_rf(self, op: str, args: tuple, out: Any, window: Any) -> None:
        source = combined(
            getattr(tensor, FIELD_ATTR, None)
            for arg in args
            for tensor in (arg if isinstance(arg, (list, tuple)) else (arg,))
            if isinstance(tensor, torch.Tensor)
        )
        if source is None:
            return
        if window is None and op in PADS:
            window = pad_window(op, args)
        if (
            op == "slice"
            and window is None
            and not source.pooled
            and len(args) >= 5
            and int(args[1]) % args[0].dim() == 2
            and int(args[4]) > 1
        ):
            # x[:, :, ::s, ::s] subsamples: the jump grows, the field stays.
            begin = int(args[2] or 0)
            result = Field(
                source.size, source.jump * int(args[4]), source.start + begin * source.jump, source.global_from
            )
        else:
            # Only a global window records where it ran: no tuple made for the other operators.
            where = (self._order, self.stack[-1] if self.stack else "") if window.__class__ is str else NOWHERE
            result = through(source, window, where)
        outputs = out if isinstance(out, (list, tuple)) else (out,)
        for tensor in outputs:
            if isinstance(tensor, torch.Tensor):
                setattr(tensor, FIELD_ATTR, result)
