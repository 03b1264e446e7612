"""One forward pass, watched at two levels at once.

Module hooks keep a stack of the modules being executed; a dispatch mode sees every aten
operator and charges it to the innermost module running at that moment. So work done
outside any leaf module (``out += identity``, ``torch.flatten``, functional activations, a
zero-padding shortcut) lands on the module that did it, and nothing goes uncounted silently.
This module keeps the module side (hooks, the module stack, leaves set aside and learned); what is done
with each operator is `accounting`'s, the receptive field that travels with the tensors `fields`', what
an operator costs `counting`'s, the leaves charged without watching them `leaf_ops`', and every private
torch interface the tracer needs `torch_internals`'."""

from __future__ import annotations

import threading
from typing import Any

import torch
from torch import nn

from ..limits import StopCheck
from . import leaf_ops, meta_kernels
from .accounting import _OPS, _PRODUCER_ATTR, ModuleTrace, OperatorAccounting, _known
from .fields import FIELD_ATTR, NOWHERE, Field, same_field, through
from .report import OpClass, OpCount
from .tensors import first_tensor, tensor_bytes, tensors_in
from .torch_internals import (
    DispatchMode,
    autocast_enabled,
    cudnn_enabled,
    dispatch_mode_at,
    dispatch_stack_depth,
    pop_dispatch_mode,
    push_dispatch_mode,
    register_global_forward_hook,
    register_global_forward_pre_hook,
)

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


class TraceError(RuntimeError):
    """The forward pass failed inside ``module`` (qualified name)."""

    def __init__(self, module: str, error: BaseException) -> None:
        super().__init__(str(error))
        self.module = module
        self.error = error


class Tracer(OperatorAccounting, DispatchMode):
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
        trace.op_runs.clear()  # its own operators' runs are counted per call
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
                rf = through(source, window, (position, self.names[key]) if window.__class__ is str else NOWHERE)
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
            {t.first_call for t in self.modules.values()}
            | {acc.index for t in self.modules.values() for acc in t.ops.values()}
            | {run.index for t in self.modules.values() for acc in t.ops.values() for run in acc.runs}
        )
        rank = {position: index for index, position in enumerate(positions)}
        for trace in self.modules.values():
            trace.first_call = rank[trace.first_call]
            for acc in trace.ops.values():
                acc.index = rank[acc.index]
                for run in acc.runs:
                    run.index = rank[run.index]

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
