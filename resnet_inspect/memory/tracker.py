"""A simulated allocator: every storage an operator creates is charged when it appears and
released when Python frees it, so the live total follows what the allocator would hold.

Storages are watched with weak references (freed tensors call back); an operator's output that
shares its input's storage (a view, an in-place op) costs nothing. Autograd's saved tensors come
from `saved_tensors_hooks`, so "saved for backward" is what autograd really keeps, not a formula.
The same tracker runs on meta (the estimate) and on a real device (to compare with its allocator)."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from ..analysis.meta_kernels import KERNELS as META_KERNELS
from ..analysis.tensors import tensor_bytes, tensors_in
from ..analysis.torch_internals import (
    DispatchMode,
    Operator,
    register_global_forward_hook,
    register_global_forward_pre_hook,
)
from ..limits import Cancelled, StopCheck

# operator -> bytes its kernel holds while it runs, beyond its inputs and outputs, from (args, output)
Scratch = dict[str, Callable[[tuple, torch.Tensor], int]]


def _unpacked(tensor: torch.Tensor) -> torch.Tensor:
    """What a saved tensor unpacks to: itself (the hooks only watch what is saved)."""
    return tensor


@dataclass
class _Layer:
    type: str
    output_bytes: int = -1
    live_after: int = 0
    peak_during: int = 0
    saved_bytes: int = 0
    saved_tensors: int = 0


@dataclass
class _Storage:
    size: int
    category: str
    ref: Any = None


@dataclass
class Snapshot:
    total: int = 0
    phase: str = ""
    where: str = ""
    by_category: dict[str, int] = field(default_factory=dict)


class AllocationTracker(DispatchMode):
    """Live bytes by category, the peak with what was alive at it, and per-layer figures."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # nothing is compiled here; avoids importing torch._dynamo

    def __init__(
        self,
        model: nn.Module,
        granularity: int = 1,
        scratch: Scratch | None = None,
        deadline: float | None = None,
        should_stop: StopCheck | None = None,
    ) -> None:
        super().__init__()
        self.deadline = deadline  # time.monotonic() after which the simulation is stopped
        self.should_stop = should_stop  # asked at every operator: True cancels the simulation
        self.granularity = granularity
        self.scratch = scratch or {}
        self.names = {id(m): name for name, m in reversed(list(model.named_modules(remove_duplicate=False)))}
        self.leaves = {name for name, m in model.named_modules() if not m._modules}
        self.storages: dict[int, _Storage] = {}
        self.live: dict[str, int] = {}
        self.total = 0
        self.peak = Snapshot()
        self.phase = "forward"
        self.new_category = "transient"
        self.stack: list[str] = []
        self.thread: int | None = None  # the thread whose pass the module hooks watch
        self.layers: dict[str, _Layer] = {}
        self.baseline = 0  # bytes alive before the pass (parameters, state, input)
        self.resident: dict[str, int] = {}
        self.timeline: list[int] = []  # bytes alive after each allocation (and inside each kernel with scratch)
        self.op = ""
        self.training_forward = False  # set while a training step's forward runs (saved tensors counted)

    # -- storages -------------------------------------------------------------------------
    def _size(self, nbytes: int) -> int:
        g = self.granularity
        return nbytes if g == 1 or nbytes == 0 else -(-nbytes // g) * g

    def _entry(self, tensor: torch.Tensor) -> tuple[int, _Storage | None, Any]:
        storage = tensor.untyped_storage()
        key = id(storage)
        entry = self.storages.get(key)
        if entry is not None and entry.ref() is not storage:  # an id reused after a free
            entry = None
        return key, entry, storage

    def track(self, tensor: torch.Tensor, category: str) -> None:
        """Charge ``tensor``'s storage to ``category`` unless it is already charged."""
        key, entry, storage = self._entry(tensor)
        if entry is not None:
            return
        size = self._size(storage.nbytes())
        if size == 0:
            return
        entry = _Storage(size, category)
        entry.ref = weakref.ref(storage, partial(self._release, key, entry))
        self.storages[key] = entry
        self.live[category] = self.live.get(category, 0) + size
        self.total += size
        self.timeline.append(self.total)
        if self.total > self.peak.total:
            self.peak = Snapshot(self.total, self.phase, self.stack[-1] if self.stack else self.op, dict(self.live))

    def _release(self, key: int, entry: _Storage, _ref: object = None) -> None:
        # Called by the weak reference to the storage when it is freed (``_ref``: that reference).
        if self.storages.get(key) is entry:
            del self.storages[key]
        self.live[entry.category] -= entry.size
        self.total -= entry.size

    def retag(self, tensor: torch.Tensor, category: str, only_from: tuple[str, ...] = ()) -> int:
        """Move ``tensor``'s storage to ``category`` (if it is in ``only_from``, when given);
        returns the bytes moved."""
        _, entry, _ = self._entry(tensor)
        if entry is None or entry.category == category or (only_from and entry.category not in only_from):
            return 0
        self.live[entry.category] -= entry.size
        self.live[category] = self.live.get(category, 0) + entry.size
        entry.category = category
        return entry.size

    def start(self, phase: str, new_category: str) -> None:
        self.phase, self.new_category = phase, new_category

    def reset_peak(self) -> None:
        self.baseline = self.total
        self.resident = dict(self.live)  # what was alive before the pass, by category
        self.timeline = [self.total]
        self.peak = Snapshot(self.total, self.phase, "", dict(self.live))

    # -- operators ------------------------------------------------------------------------
    def __torch_dispatch__(self, func: Operator, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.op = func._overloadpacket.__name__
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeoutError("the memory estimate ran past its time budget")
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("the memory estimate was cancelled")
        kernel = META_KERNELS.get(func)  # the same outputs as torch's, without importing sympy and dynamo
        out = kernel(args, kwargs or {}) if kernel is not None else None
        if out is None:
            out = func(*args, **(kwargs or {}))
        for tensor in tensors_in(out):
            self.track(tensor, self.new_category)
        rule = self.scratch.get(self.op)
        if rule is not None:  # memory the kernel holds only while it runs
            extra = self._size(rule(args, out))
            self.timeline.append(self.total + extra)
            if self.total + extra > self.peak.total:
                live = dict(self.live)
                live["transient"] = live.get("transient", 0) + extra
                self.peak = Snapshot(self.total + extra, self.phase, self.stack[-1] if self.stack else self.op, live)
        if self.stack and self.phase == "forward" and not self.training_forward:
            layer = self.layers.get(self.stack[-1])
            if layer is not None:
                layer.peak_during = max(layer.peak_during, self.total - self.baseline)
        return out

    # -- modules (forward only) -------------------------------------------------------------
    def _pre(self, module: nn.Module, args: tuple) -> None:
        if threading.get_ident() != self.thread:  # module hooks are global: another thread's pass is not ours
            return
        name = self.names.get(id(module))
        if name is None:
            return
        self.stack.append(name)
        self.layers.setdefault(name, _Layer(type(module).__name__))

    def _post(self, module: nn.Module, args: tuple, output: Any) -> None:
        if threading.get_ident() != self.thread:
            return
        name = self.names.get(id(module))
        if name is None:
            return
        if self.stack and self.stack[-1] == name:
            self.stack.pop()
        layer = self.layers[name]
        if layer.output_bytes < 0:
            layer.output_bytes = tensor_bytes(output)
            if not self.training_forward:
                layer.live_after = self.total - self.baseline

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        moved = self.retag(tensor, "saved_activations", only_from=("transient",))
        if moved and self.stack:
            layer = self.layers[self.stack[-1]]
            layer.saved_bytes += moved
            layer.saved_tensors += 1
        return tensor

    def watching(self, saved: bool = False) -> _Watch:
        """Module hooks (and, for a training forward, saved-tensor hooks) for the ``with`` block."""
        return _Watch(self, saved)


class _Watch:
    def __init__(self, tracker: AllocationTracker, saved: bool) -> None:
        self.tracker, self.saved = tracker, saved
        self.handles: list[Any] = []
        self.hooks: torch.autograd.graph.saved_tensors_hooks | None = None

    def __enter__(self) -> AllocationTracker:
        t = self.tracker
        t.training_forward = self.saved
        t.thread = threading.get_ident()
        self.handles = [
            register_global_forward_pre_hook(t._pre),
            register_global_forward_hook(t._post),
        ]
        if self.saved:
            self.hooks = torch.autograd.graph.saved_tensors_hooks(t._pack, _unpacked)
            self.hooks.__enter__()
        return t

    def __exit__(self, *exc: Any) -> None:
        if self.hooks is not None:
            self.hooks.__exit__(*exc)
        for handle in self.handles:
            handle.remove()
        self.tracker.stack.clear()
