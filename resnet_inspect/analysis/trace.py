"""One forward pass, watched at two levels at once.

Module hooks keep a stack of the modules being executed; a dispatch mode sees every aten
operator and charges it to the innermost module running at that moment. So work done
outside any leaf module (``out += identity``, ``torch.flatten``, functional activations, a
zero-padding shortcut) lands on the module that did it, and nothing goes uncounted silently.
The receptive field travels with the tensors through the same operators (`fields`); what it costs is
in `counting`, the leaves charged without watching them in `leaf_ops`, and every private torch
interface the tracer needs in `torch_internals`."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..limits import Cancelled, StopCheck
from . import leaf_ops, meta_kernels
from .counting import FREE, PER_ELEMENT, RULES, main_output_shape, output_elements, shapes_of
from .fields import FIELD_ATTR, PADS, Field, combined, pad_window, same_field, through
from .report import OpClass, OpCount
from .tensors import first_tensor, tensor_bytes, tensors_in
from .torch_internals import (
    DispatchMode,
    Operator,
    autocast_enabled,
    cudnn_enabled,
    dispatch_mode_at,
    dispatch_stack_depth,
    pop_dispatch_mode,
    push_dispatch_mode,
    register_global_forward_hook,
    register_global_forward_pre_hook,
)


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


# Likewise the name of the leaf module (or "<module>:add") that last wrote each tensor: the
# dataflow graph of the diagrams.
_PRODUCER_ATTR = "_resnet_inspect_producer"
_FLOAT32 = torch.float32
_thread_id = threading.get_ident
# Under autocast a leaf casts its input first: operators no written-out or learned list has.
_autocasting = autocast_enabled
_cudnn_enabled = cudnn_enabled
_ADDS = frozenset((torch.ops.aten.add.Tensor, torch.ops.aten.add_.Tensor))
# (rule's operators, settings, shapes in and out) -> what a written-out leaf call's operators cost, and
# their window: a function of the key alone, so worked out once per process for the calls that share
# it (most of a network's blocks repeat, and so do the analyses of one network).
_LEAF_COSTS: dict[tuple, tuple[list[tuple[str, OpClass, int, int, int]], Any]] = {}
_LEAF_COSTS_KEPT = 4096
# A watched leaf call's charges, for the calls that repeat it, in this pass and in later ones: keyed
# by everything that decides which operators a leaf runs (rule, settings, input shape, strides, dtype,
# the weight's dtype, device, whether cuDNN and grad mode are on) -> (charges, window).
_LEARNED: dict[tuple, tuple[list[tuple[str, OpClass, int, int, int]], Any]] = {}
_LEARNED_KEPT = 4096
_grad_enabled = torch.is_grad_enabled


def forget_learned_leaves() -> None:
    """Watch every leaf call again until it is learned anew (tests, and a process that changed how
    torch picks its operators in a way the keys above do not see)."""
    _LEARNED.clear()


# Order positions kept for one written-out leaf call: at most this many operator records are new.
_LEAF_POSITIONS = 4
# Child modules that carry a block's shortcut (torchvision/timm: downsample; others: shortcut, skip).
_SHORTCUT_NAMES = {"downsample", "shortcut", "skip"}


class TraceError(RuntimeError):
    """The forward pass failed inside ``module`` (qualified name)."""

    def __init__(self, module: str, error: BaseException) -> None:
        super().__init__(str(error))
        self.module = module
        self.error = error


# aten overload -> (operator name, counting rule, class of a free or per-element operator),
# filled as operators are first seen.
_OPS: dict[Any, tuple[str, Any, OpClass | None, bool]] = {}


def _known(func: Any) -> tuple[str, Any, OpClass | None, bool]:
    name = func._overloadpacket.__name__
    simple = FREE.get(name) or PER_ELEMENT.get(name)
    _OPS[func] = (name, RULES.get(name), simple, name in PER_ELEMENT)
    return _OPS[func]


class Tracer(DispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Nothing is compiled inside the handler; skipping the Dynamo guard avoids importing
        # torch._dynamo (about a second) on the first pass of a process.
        return False

    def __init__(
        self,
        model: nn.Module,
        deadline: float | None = None,
        meta: bool = False,
        leaf_rules: bool = False,
        should_stop: StopCheck | None = None,
        learn_leaves: bool = False,
    ) -> None:
        """``meta``: make the common operators' outputs with `meta_kernels`. ``leaf_rules``: charge the
        operators of common float32 CPU leaves from `leaf_ops` instead of watching them. ``learn_leaves``:
        any other call of such a leaf (another device or dtype) is watched once per settings and input
        in a process, and later calls that repeat them (in this pass or a later one) are charged what
        that one ran. ``should_stop``: asked at every operator; True cancels the pass."""
        # Everything a pass needs, made once before it, so that the hooks and the dispatch mode read
        # attributes only.
        super().__init__()
        self.deadline = deadline  # time.monotonic() after which the pass is stopped
        self.should_stop = should_stop
        self.kernels = meta_kernels.KERNELS if meta else {}
        # A module registered under two names is reported under the first.
        self.names: dict[int, str] = {}
        self.named_modules: dict[str, nn.Module] = {}  # as model.named_modules() lists them
        self.leaves: set[str] = set()
        # Leaves whose operators can be written out, with the sliding window that makes their output's
        # receptive field (read from the settings, like the operators when they are charged). Looked up
        # at a leaf's first call: on a GPU that Python runs while the kernels launched before it do.
        self.leaf_rules: dict[int, tuple[leaf_ops.LeafRule, leaf_ops.Window]] = {}
        self._unruled: dict[int, nn.Module] = {}  # leaves not called yet
        rules_wanted = leaf_rules or learn_leaves
        self.training: list[nn.Module] = []  # modules in training mode, once each
        # model.named_modules(remove_duplicate=False) without its generators: depth first, in order.
        pending = [("", model)]
        while pending:
            name, module = pending.pop()
            key = id(module)
            if key not in self.names:
                self.names[key] = name
                self.named_modules[name] = module
                if module.training:
                    self.training.append(module)
            children = module._modules
            if children:
                prefix = name + "." if name else ""
                pending.extend(
                    [
                        (prefix + child_name, child)
                        for child_name, child in reversed(children.items())
                        if child is not None
                    ]
                )
            else:
                self.leaves.add(name)
                if rules_wanted:
                    self._unruled[key] = module
        self.modules: dict[str, ModuleTrace] = {}
        self.traces: dict[int, ModuleTrace] = {}  # the same, by id() of the module
        self.stack: list[str] = []
        self._order = 0
        self._thread: int | None = None  # the thread running the pass
        self._set_aside: tuple | None = None  # the leaf running unwatched: (id, rule and window, input, position)
        self._failed_in: str | None = None  # the leaf that raised while unwatched
        # Written-out leaf calls, recorded in one step each and turned into module traces and operator
        # charges after the pass (`_charge_leaves`).
        self._leaf_calls: list[tuple] = []
        self._watched_leaf_calls: dict[int, list[int]] = {}  # positions of the calls of those leaves that were watched
        # Adds of two same-shaped maps, recorded during the pass and charged after it (the CPU, as the leaves).
        self._quick_adds = _ADDS if leaf_rules or learn_leaves else ()
        self._adds: list[tuple] = []
        self._write_out_cpu = leaf_rules
        self._learn = learn_leaves
        self._learned = _LEARNED
        if len(_LEARNED) > _LEARNED_KEPT:
            _LEARNED.clear()
        # While a leaf call is watched to learn it: [its trace, key above, input's receptive field, charges].
        self._capture: list | None = None

    # -- module level -------------------------------------------------------------------
    def _pre_hook(self, module: nn.Module, args: tuple) -> None:
        # Runs at every module call, where each extra Python call adds to the analysis's overhead over a bare
        # pass (benchmarks/bench_analyzer.py measures it): kept in one function.
        if _thread_id() != self._thread:  # module hooks are global: another thread's pass is not ours
            return
        key = id(module)
        leaf = self.leaf_rules.get(key)
        if leaf is None and key in self._unruled:
            leaf = self._rule_of(key)
        learning = None
        if leaf is not None and len(args) == 1:
            x = args[0]
            # A non-empty tensor outside autograd: float32 on the CPU has its operators written out in
            # `leaf_ops`; elsewhere they are learned from the first call with the same settings and input.
            if (
                type(x) is torch.Tensor
                and not x.requires_grad
                and x.dim()
                and x.numel()
                and leaf[0].accepts(module, x)
                and not _autocasting()
            ):
                learned = None
                if not (x.dtype is _FLOAT32 and x.is_cpu and self._write_out_cpu):
                    if self._learn:
                        # cuDNN switched off turns cudnn_batch_norm into native_batch_norm.
                        # A float16 batch norm runs on cuDNN only with float32 weights: their dtype counts too.
                        weight = module._parameters.get("weight")
                        learning = (
                            leaf[0],
                            leaf[0].settings(module),
                            x.shape,
                            x.stride(),
                            x.dtype,
                            weight.dtype if weight is not None else None,
                            x.device,
                            _cudnn_enabled(),
                            _grad_enabled(),
                        )
                        learned = self._learned.get(learning)
                    if learned is None:
                        leaf = None  # watched (and learned, where asked)
                if leaf is not None:
                    depth = dispatch_stack_depth()
                    if depth and dispatch_mode_at(depth - 1) is self:
                        if self.deadline is not None or self.should_stop is not None:
                            self._check_deadline()
                        pop_dispatch_mode(None)
                        # Its position, then those its operators will take.
                        self._set_aside = (key, leaf, x, self._order, learned)
                        self._order += 1 + _LEAF_POSITIONS
                        return
                    learning = None
                leaf = self.leaf_rules[key]
        trace = self.traces.get(key)
        if trace is None:
            name = self.names.get(key)
            if name is None:
                return
            trace = self.modules.get(name)
            if trace is None:
                trace = self.modules[name] = ModuleTrace(name, self._order)
                self._order += 1
            self.traces[key] = trace
        if leaf is not None:  # a call that could not be written out: its place among the others
            self._watched_leaf_calls.setdefault(key, []).append(self._order)
            self._order += 1
            if learning is not None:
                self._capture = [trace, learning, getattr(args[0], FIELD_ATTR, None), []]
        trace.calls += 1
        if len(args) == 1 and type(args[0]) is torch.Tensor:  # the usual call: one plain tensor
            x = args[0]
            trace.input_shapes.append(list(x.shape))
            if trace.calls == 1:
                trace.input_from = getattr(x, _PRODUCER_ATTR, None)
            self.stack.append(trace.name)
            return
        first = first_tensor(args)
        trace.input_shapes.append(list(first.shape) if first is not None else None)
        if trace.calls == 1 and first is not None:
            trace.input_from = getattr(first, _PRODUCER_ATTR, None)
            tensors = list(tensors_in(args))
            if len(tensors) > 1:
                trace.inputs_from = [getattr(t, _PRODUCER_ATTR, None) for t in tensors]
        self.stack.append(trace.name)

    def _rule_of(self, key: int) -> tuple[leaf_ops.LeafRule, leaf_ops.Window] | None:
        module = self._unruled.pop(key)
        rule = leaf_ops.rule_for(module)
        if rule is None:
            return None
        found = self.leaf_rules[key] = (rule, rule.window(module))
        return found

    def _resume(self) -> None:
        if self._set_aside is not None:
            self._failed_in = self.names[self._set_aside[0]]
            self._set_aside = None
            push_dispatch_mode(self)

    def _post_hook(self, module: nn.Module, args: tuple, output: Any) -> None:
        if _thread_id() != self._thread:
            return
        aside = self._set_aside
        if aside is not None:  # a written-out leaf: one plain tensor in, one out
            key, (rule, window), x, position, learned = aside
            self._set_aside = None
            push_dispatch_mode(self)
            # Only what later operators need now: the output's receptive field and producer (read
            # the input's first: an in-place leaf returns it). The rest is recorded for after the pass.
            source = getattr(x, FIELD_ATTR, None)
            input_from = getattr(x, _PRODUCER_ATTR, None)
            rf: Field | None
            if source is not None:
                rf = through(source, window, (position, self.names[key]))
                setattr(output, FIELD_ATTR, rf)
            else:
                rf = getattr(output, FIELD_ATTR, None)
            name = self.names[key]
            setattr(output, _PRODUCER_ATTR, name)
            self._leaf_calls.append(
                (
                    key,
                    name,
                    module,
                    rule,
                    learned,
                    window,
                    position,
                    x.shape,
                    output.shape,
                    output.dtype,
                    rf,
                    input_from,
                )
            )
            return
        trace = self.traces.get(id(module))
        if trace is None:
            return
        name = trace.name
        stack = self.stack
        if stack and stack[-1] == name:
            stack.pop()
        if self._capture is not None and self._capture[0] is trace:
            self._learn_from(module, output)
        first: torch.Tensor | None
        if type(output) is torch.Tensor:  # the usual result: one plain tensor
            first = output
            trace.activation_bytes += output.numel() * output.element_size()
        else:
            first = first_tensor(output)
            trace.activation_bytes += tensor_bytes(output)
            if first is None:
                trace.output_shapes.append(None)
                return
        trace.output_shapes.append(list(first.shape))
        trace.rf = getattr(first, FIELD_ATTR, None)
        if name in self.leaves:
            setattr(first, _PRODUCER_ATTR, name)

    def _learn_from(self, module: nn.Module, output: Any) -> None:
        """Keep what a watched leaf call charged, for later calls with the same settings and input: only
        a call that a written-out one would repeat exactly (one tensor out, its receptive field the
        leaf's window applied to the input's, no more operator records than it keeps positions for)."""
        if self._capture is None:
            return
        trace, key, source, charges = self._capture
        self._capture = None
        window = self.leaf_rules[id(module)][1]
        if (
            type(output) is torch.Tensor
            and source is not None
            and 0 < len(charges) <= _LEAF_POSITIONS
            and same_field(through(source, window, (0, trace.name)), getattr(output, FIELD_ATTR, None))
        ):
            self._learned[key] = (charges, window)

    def _charge_leaves(self) -> None:
        """Turn the written-out leaf calls into what watching them would have recorded: their module
        traces, and their operators charged as `_account` charges them, each in the order positions its
        call kept."""
        # One loop over every written-out leaf call after the pass; split, its dozen shared locals would be
        # passed back and forth.
        if not self._leaf_calls:
            return
        # Leaves with watched calls too: their receptive field after the last watched call, and their
        # written-out calls (position, receptive field, producer of the input), to put everything in order.
        mixed: dict[int, tuple[Field | None, list[tuple[int, Field | None, str | None]]]] = {}
        costs = _LEAF_COSTS
        if len(costs) > _LEAF_COSTS_KEPT:
            costs.clear()
        traces, modules, watched = self.traces, self.modules, self._watched_leaf_calls
        for (
            key,
            name,
            module,
            rule,
            learned,
            window,
            position,
            x_shape,
            out_shape,
            dtype,
            rf,
            input_from,
        ) in self._leaf_calls:
            if learned is not None:
                known = learned
            else:
                cost_key = (rule.ops, rule.settings(module), x_shape, out_shape)
                known = costs.get(cost_key)
                if known is None:
                    known = costs[cost_key] = self._leaf_costs(rule, cost_key[1], x_shape, out_shape)
            charges, found = known
            if found != window or len(charges) > _LEAF_POSITIONS:
                raise RuntimeError(f"leaf rule for {type(module).__name__} disagrees with its operators")
            trace = traces.get(key)
            if trace is None:  # the leaf's first call, and so far its only one: its records made at once
                ops: dict[tuple[str, OpClass], OpCount] = {}
                index = position + 1
                for op, op_class, macs, flops, elements in charges:
                    acc = ops.get((op, op_class))
                    if acc is None:
                        ops[(op, op_class)] = OpCount(op, op_class, 1, macs, flops, elements, index)
                        index += 1
                    else:
                        acc.count += 1
                        acc.macs += macs
                        acc.flops += flops
                        acc.elements += elements
                traces[key] = modules[name] = ModuleTrace(
                    name,
                    position,
                    1,
                    [list(x_shape)],
                    [list(out_shape)],
                    out_shape.numel() * dtype.itemsize,
                    ops,
                    rf,
                    input_from,
                )
                continue
            if key in watched and key not in mixed:
                mixed[key] = (trace.rf, [])
            trace.calls += 1
            trace.input_shapes.append(list(x_shape))
            trace.output_shapes.append(list(out_shape))
            trace.activation_bytes += out_shape.numel() * dtype.itemsize
            trace.rf = rf
            if key in mixed:
                mixed[key][1].append((position, rf, input_from))
            self._order = position + 1
            for op, op_class, macs, flops, elements in charges:
                acc = self._charge(trace, op, op_class, macs, flops, elements)
                if acc.index > self._order:  # first run by a later call, a watched one
                    acc.index = self._order
                    self._order += 1
        for key, (watched_rf, deferred) in mixed.items():
            self._put_calls_in_order(self.traces[key], self._watched_leaf_calls[key], watched_rf, deferred)
        self._leaf_calls.clear()

    def _finish(self) -> None:
        """After the pass: charge what was recorded for later, then number all order positions
        without the gaps left by the positions kept for it."""
        if not self._adds and not self._leaf_calls and not self._watched_leaf_calls:
            return  # no positions were kept: nothing to number again
        end = self._order
        self._charge_adds()
        self._charge_leaves()
        self._order = end
        positions = sorted(
            [t.first_call for t in self.modules.values()]
            + [acc.index for t in self.modules.values() for acc in t.ops.values()]
        )
        rank = {position: index for index, position in enumerate(positions)}
        for trace in self.modules.values():
            trace.first_call = rank[trace.first_call]
            for acc in trace.ops.values():
                acc.index = rank[acc.index]

    @staticmethod
    def _put_calls_in_order(
        trace: ModuleTrace,
        watched: list[int],
        watched_rf: Field | None,
        deferred: list[tuple[int, Field | None, str | None]],
    ) -> None:
        """A leaf called both ways: its watched calls were recorded during the pass and its written-out
        ones after it; interleave them by position as one record in call order would be."""
        count = len(watched)  # the watched calls come first in the per-call lists
        calls = sorted(
            [(position, i) for i, position in enumerate(watched)]
            + [(position, count + i) for i, (position, _, _) in enumerate(deferred)]
        )
        trace.input_shapes = [trace.input_shapes[i] for _, i in calls]
        trace.output_shapes = [trace.output_shapes[i] for _, i in calls]
        first_position, first = calls[0]
        if first >= count:  # a written-out call came first
            trace.first_call = first_position
            trace.input_from = deferred[first - count][2]
            trace.inputs_from = []
        last = calls[-1][1]
        if last >= count:
            trace.rf = deferred[last - count][1]
        else:
            trace.rf = watched_rf
        trace.ops = dict(sorted(trace.ops.items(), key=lambda item: item[1].index))

    @staticmethod
    def _leaf_costs(
        rule: leaf_ops.LeafRule, settings: tuple, x_shape: torch.Size, out_shape: torch.Size
    ) -> tuple[list[tuple[str, OpClass, int, int, int]], Any]:
        """The charges (operator, class, MACs, FLOPs, elements) of one written-out call, in the order
        `_account` makes them, and the sliding window the counting rules find."""
        charges = []
        found = None
        for func, shapes, kwargs, outs in rule.ops(settings, x_shape, out_shape):
            op, count_rule, simple, per_element = _OPS.get(func) or _known(func)
            elements = sum(s.numel() for s in outs)
            if simple is not None:
                charges.append((op, simple, 0, outs[0].numel() if per_element else 0, elements))
                continue
            cost = count_rule(shapes, kwargs, outs[0])
            if cost.op_class is OpClass.NORM:
                elements = outs[0].numel()
            charges.append((op, cost.op_class, cost.macs, cost.flops, elements))
            if cost.bias_flops:
                charges.append((f"{op}.bias", OpClass.BIAS, 0, cost.bias_flops, cost.bias_flops))
            if cost.window is not None:
                found = cost.window
        return charges, found

    # -- operator level -----------------------------------------------------------------
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
            self._record_dataflow(owner, op, simple, acc, args, out)
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
        self._record_dataflow(owner, op, op_class, acc, args, out)
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
        setattr(out, _PRODUCER_ATTR, owner if caller is not None else f"{owner}:{op}")
        if source is not None:
            setattr(out, FIELD_ATTR, source)
        # Positions: the owner's trace (were it not there yet), then the operator's record.
        self._adds.append((func, owner, caller, a.shape, producers, self._order))
        self._order += 2

    def _charge_adds(self) -> None:
        """Charge the adds `_record_add` recorded as `_account` would have, in their order positions."""
        resorted: dict[str, ModuleTrace] = {}
        for func, owner, caller, shape, producers, position in self._adds:
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

    def _record_dataflow(self, owner: str, op: str, op_class: OpClass, acc: OpCount, args: tuple, out: Any) -> None:
        """Which node wrote each output: a view passes its input's producer on; work done by a
        leaf belongs to the leaf; work done directly by a container (the residual add, SE's
        mean and multiply) is its own node ``<container>:<op>``."""
        result = first_tensor(out)  # batch norm returns (output, mean, invstd)
        if result is None:
            return
        joined = args[0] if op in ("cat", "stack") and args and isinstance(args[0], (list, tuple)) else ()
        if len({getattr(t, _PRODUCER_ATTR, None) for t in joined}) > 1 and owner not in self.leaves:
            # A concatenation or stack of several branches (Res2Net's scales, SK's paths) joins them.
            if acc.count == 1:
                acc.inputs_from = [getattr(t, _PRODUCER_ATTR, None) for t in joined]
            setattr(result, _PRODUCER_ATTR, f"{owner}:{op}")
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
        if acc.count == 1:
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            # The feature maps it combines (not a broadcast scale); a reduction (ECA's mean) has only one.
            same_rank = [a for a in tensors if a.dim() == result.dim()] or tensors[:1]
            acc.inputs_from = [getattr(a, _PRODUCER_ATTR, None) for a in same_rank]
        setattr(result, _PRODUCER_ATTR, f"{owner}:{op}")

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
            result = through(source, window, (self._order, self.stack[-1] if self.stack else ""))
        outputs = out if isinstance(out, (list, tuple)) else (out,)
        for tensor in outputs:
            if isinstance(tensor, torch.Tensor):
                setattr(tensor, FIELD_ATTR, result)

    # -- driver -------------------------------------------------------------------------
    def run(self, model: nn.Module, x: torch.Tensor) -> Any:
        self._thread = _thread_id()
        setattr(x, FIELD_ATTR, Field())
        setattr(x, _PRODUCER_ATTR, "input")
        pre = register_global_forward_pre_hook(self._pre_hook)
        post = register_global_forward_hook(self._post_hook)
        try:
            with self:
                try:
                    output = model(x)
                finally:
                    self._resume()  # a leaf that raised while unwatched
        except Exception as exc:
            raise TraceError(self._failed_in or (self.stack[-1] if self.stack else ""), exc) from exc
        finally:
            pre.remove()
            post.remove()
        self._finish()
        return output
