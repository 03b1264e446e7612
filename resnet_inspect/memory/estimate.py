"""Estimates on meta: the simulated allocator (`tracker`) over the real step (`step`), at any
size, without allocating. `Simulator` builds the network once and answers many plans (the
largest batch that fits, the curves against batch and resolution)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..analysis.options import AnalysisError
from ..analysis.torch_internals import select_conv_backend
from ..errors import UserError
from ..limits import LIMITS, Cancelled, StopCheck
from ..model.build import resolve_spec
from ..model.network import build_from_spec
from ..model.spec import ResNetSpec
from .memory_report import CurvePoint, Fit, LayerMemory, MemoryReport, Peak
from .plan import ACCOUNTING, MemoryPlan
from .step import DTYPE_OF, TrainingSetup, infer, make_batch
from .tracker import AllocationTracker, Scratch

MAX_SEARCH_BATCH = 2**24


def largest_batch(plan: MemoryPlan) -> int:
    """The largest batch a fit searches: 2^24, or fewer where the input-size limit stops it."""
    return max(1, min(MAX_SEARCH_BATCH, LIMITS.max_input_elements // max(1, math.prod(plan.image))))


def _bytes(tensor: object) -> int:
    return tensor.numel() * tensor.element_size() if isinstance(tensor, torch.Tensor) else 0


def _cpu_convolution(args: tuple, out: torch.Tensor) -> int:
    """What PyTorch's CPU convolution holds while it runs, by the kernel PyTorch picks for these shapes
    on this machine (asked of PyTorch itself, with stand-in tensors that take no memory):
    oneDNN computes into a buffer of its own, copied to a contiguous output, and reorders the weight
    into its blocked layout; the fallback kernel unfolds the input into columns (im2col) unless the
    convolution is a plain 1x1."""
    x, weight = args[0], args[1]
    stride, padding, dilation, transposed, output_padding, groups = args[3:9]
    if not isinstance(out, torch.Tensor) or transposed or x.dim() != 4:
        return 0
    stand_in = [torch.empty((), dtype=t.dtype).expand(t.shape) for t in (x, weight)]
    backend = select_conv_backend(*stand_in, None, stride, padding, dilation, transposed, output_padding, groups, None)
    if backend.name == "Mkldnn":
        return (_bytes(out) if out.is_contiguous() else 0) + _bytes(weight)
    if backend.name == "Slow2d":
        kh, kw = weight.shape[-2:]
        if (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and not any(padding):
            return 0
        columns = x.shape[0] * x.shape[1] * kh * kw * out.shape[-2] * out.shape[-1]
        return columns * x.element_size()
    return 0


# What each allocator's kernels hold while they run (cuDNN's workspaces are not modelled: their size
# depends on the algorithm cuDNN picks on the card).
SCRATCH: dict[str, Scratch] = {"cpu": {"convolution": _cpu_convolution}, "cuda": {}}


RUNS_KEPT = 48  # simulated passes a Simulator keeps (each holds its timeline: a few hundred KB at most)


class Simulator:
    """One network on meta; `report`, `peaks`, `fit` and `curve` for any plan."""

    def __init__(
        self,
        target: str | ResNetSpec | nn.Module,
        label: str | None = None,
        time_budget: float | None = None,
        should_stop: StopCheck | None = None,
    ) -> None:
        self.deadline = time.monotonic() + time_budget if time_budget is not None else None
        self.should_stop = should_stop
        if isinstance(target, nn.Module):
            self.model = copy.deepcopy(target).to("meta")
            self.label = label or type(target).__name__
        else:
            with torch.device("meta"):
                self.model = build_from_spec(resolve_spec(target))
            self.label = label or (target if isinstance(target, str) else "custom")
        self.parameters = sum(p.numel() for p in self.model.parameters())
        self._setups: dict[tuple[str, str, str], TrainingSetup] = {}
        self._line_cache: dict[tuple, list[tuple[int, int]] | None] = {}
        self._runs: dict[tuple, AllocationTracker] = {}

    # -- one plan ---------------------------------------------------------------------------
    # A report, the lines, a fit's floor and its confirmation, and a curve often ask for the same pass
    # (batch 1, the fitted batch at the plan's side); each is simulated once and kept, the latest first.
    def _inference(self, plan: MemoryPlan) -> AllocationTracker:
        return self._kept(("inference", plan.batch, plan.image, plan.precision, plan.device), plan)

    def _training(self, plan: MemoryPlan) -> AllocationTracker:
        key = ("training", plan.batch, plan.image, plan.optimizer, plan.precision, plan.device)
        return self._kept(key, plan)

    def _kept(self, key: tuple, plan: MemoryPlan) -> AllocationTracker:
        run = self._runs.pop(key, None)
        if run is None:
            run = (self._simulate_training if key[0] == "training" else self._simulate_inference)(plan)
            while len(self._runs) >= RUNS_KEPT:
                self._runs.pop(next(iter(self._runs)))
        self._runs[key] = run
        return run

    def _simulate_inference(self, plan: MemoryPlan) -> AllocationTracker:
        model = copy.deepcopy(self.model).to(dtype=DTYPE_OF[plan.precision]).eval()
        x, _ = make_batch(plan, "meta")
        tracker = AllocationTracker(
            model, ACCOUNTING[plan.device], SCRATCH[plan.device], self.deadline, self.should_stop
        )
        with tracker:
            for category, tensors in (
                ("parameters", model.parameters()),
                ("buffers", model.buffers()),
                ("inputs", [x]),
            ):
                for tensor in tensors:
                    tracker.track(tensor, category)
            tracker.reset_peak()
            with tracker.watching():
                _run(lambda: infer(model, x), "forward")
        return tracker

    def _setup(self, plan: MemoryPlan) -> TrainingSetup:
        key = (plan.optimizer, plan.precision, plan.device)
        if key not in self._setups:
            setup = TrainingSetup(copy.deepcopy(self.model), plan)
            setup.create_state()
            self._setups[key] = setup
        return self._setups[key]

    def _simulate_training(self, plan: MemoryPlan) -> AllocationTracker:
        setup = self._setup(plan)
        x, labels = make_batch(plan, "meta")
        tracker = AllocationTracker(
            setup.model, ACCOUNTING[plan.device], SCRATCH[plan.device], self.deadline, self.should_stop
        )

        def gradient_done(param: torch.Tensor) -> None:
            if param.grad is not None:
                tracker.retag(param.grad, "gradients")

        hooks = [p.register_post_accumulate_grad_hook(gradient_done) for p in setup.params]
        try:
            with tracker:
                for category, tensors in setup.resident().items():
                    for tensor in tensors:
                        tracker.track(tensor, category)
                for tensor in (x, labels):
                    tracker.track(tensor, "inputs")
                tracker.reset_peak()
                with tracker.watching(saved=True):
                    _run(lambda: setup.step(x, labels, tracker.start), "training step")
        finally:
            for hook in hooks:
                hook.remove()
        return tracker

    def peaks(self, plan: MemoryPlan) -> tuple[int, int | None]:
        inference = self._inference(plan).peak.total
        return inference, (self._training(plan).peak.total if plan.train else None)

    def report(self, plan: MemoryPlan) -> MemoryReport:
        inference = self._inference(plan)
        training = self._training(plan) if plan.train else None
        layers = []
        for name, row in inference.layers.items():
            saved = training.layers.get(name) if training else None
            if name not in inference.leaves and not (saved and saved.saved_bytes):
                continue
            layers.append(
                LayerMemory(
                    name,
                    row.type,
                    max(row.output_bytes, 0),
                    row.live_after,
                    row.peak_during,
                    saved.saved_bytes if saved else 0,
                    saved.saved_tensors if saved else 0,
                )
            )
        return MemoryReport(
            model=self.label,
            input_shape=list(plan.input_shape),
            precision=plan.precision,
            optimizer=plan.optimizer if plan.train else None,
            device=plan.device,
            plan=plan.describe(),
            parameters=self.parameters,
            inference=_peak(inference),
            training=_peak(training) if training else None,
            layers=layers,
            sum_of_outputs=sum(r.output_bytes for r in layers if r.name in inference.leaves),
            saved_total=sum(r.saved_bytes for r in layers),
        )

    def saved_by_layer(self, input_shape: Sequence[int], device: str) -> dict[str, int]:
        """Bytes each layer saves for backward in one training step (SGD, fp32) of ``input_shape`` in
        ``device``'s allocator: the graph explorer's overlay."""
        plan = MemoryPlan(input_shape[0], tuple(input_shape[1:]), True, "sgd", "fp32", device)
        return {layer.name: layer.saved_bytes for layer in self.report(plan).layers if layer.saved_bytes}

    # -- many plans -------------------------------------------------------------------------
    # At a fixed resolution every activation is proportional to the batch and everything else is
    # fixed, so the bytes alive after each allocation are a + b * batch: two simulations (batches 1
    # and 2) give every line, and the peak at any batch is the highest of them. Exact for the CPU
    # allocator; CUDA's 512-byte rounding makes it exact to within a block per live tensor, and a
    # fit is confirmed by simulating its batch and the next.
    def _lines(self, plan: MemoryPlan, training: bool) -> list[tuple[int, int]] | None:
        key = (plan.image, plan.optimizer, plan.precision, plan.device, training)
        if key not in self._line_cache:
            try:
                runs = [(self._training if training else self._inference)(plan.with_batch(b)).timeline for b in (1, 2)]
            except AnalysisError:  # a pass that cannot run at batch 1 (training BatchNorm on a 1x1 map): none
                if self._stopped():  # not that: the time ran out or a newer request came; nothing is kept
                    raise
                self._line_cache[key] = None
                return None
            self._line_cache[key] = (
                [(2 * one - two, two - one) for one, two in zip(*runs)] if len(runs[0]) == len(runs[1]) else None
            )
        return self._line_cache[key]

    def _stopped(self) -> bool:
        return (self.deadline is not None and time.monotonic() > self.deadline) or bool(
            self.should_stop is not None and self.should_stop()
        )

    def peak_at(self, plan: MemoryPlan, batch: int, training: bool) -> int:
        """The peak at ``batch``: from the lines when the pass is the same at every batch, else simulated."""
        lines = self._lines(plan, training)
        if lines is None:
            return self._peak_at(plan, batch, training)
        return max(a + b * batch for a, b in lines)

    def _peak_at(self, plan: MemoryPlan, batch: int, training: bool) -> int:
        plan = plan.with_batch(batch)
        return (self._training(plan) if training else self._inference(plan)).peak.total

    def fit(self, plan: MemoryPlan, budget: int) -> Fit:
        """The largest batch within ``budget`` bytes, for inference and (for a training plan) training."""
        inference_batch, inference_peak = self._largest(plan, budget, training=False)
        training_batch = training_peak = None
        if plan.train:
            training_batch, training_peak = self._largest(plan, budget, training=True)
        return Fit(
            budget,
            inference_batch,
            inference_peak,
            training_batch,
            training_peak,
            self._floor(plan),
            largest_batch(plan),
        )

    def _floor(self, plan: MemoryPlan) -> int:
        """Bytes alive before any input: parameters and buffers (and master weights and optimizer state)."""
        tracker = (self._training if plan.train else self._inference)(plan.with_batch(1))
        return sum(size for category, size in tracker.resident.items() if category != "inputs")

    def _largest(self, plan: MemoryPlan, budget: int, training: bool) -> tuple[int, int]:
        cap = largest_batch(plan)
        lines = self._lines(plan, training)
        if lines is not None:
            if any(a + b > budget for a, b in lines):
                return 0, max(a + b for a, b in lines)
            guess = min([cap] + [(budget - a) // b for a, b in lines if b > 0])
            peak = self._peak_at(plan, guess, training)
            if peak <= budget and (guess == cap or self._peak_at(plan, guess + 1, training) > budget):
                return guess, peak
            return self._search(plan, budget, training, cap, near=guess)
        return self._search(plan, budget, training, cap)

    def _search(
        self, plan: MemoryPlan, budget: int, training: bool, cap: int, near: int | None = None
    ) -> tuple[int, int]:
        """Bisection over simulations: for a pass whose operators change with the batch. ``near``: where
        to start (the lines' answer, off by a few batches where an allocator rounds sizes up); the
        search gallops from it (1, 2, 4, ... batches away) until the answer is bracketed."""
        one = self._peak_at(plan, 1, training)
        if one > budget:
            return 0, one
        low, low_peak, high = 1, one, None  # low fits; high (once known) does not

        def test(batch: int) -> None:
            nonlocal low, low_peak, high
            try:
                peak = self._peak_at(plan, batch, training)
            except AnalysisError:  # past the input-size limit: as good as too big
                peak = budget + 1
            if peak <= budget:
                low, low_peak = batch, peak
            else:
                high = batch

        step = 1
        if near is not None and 1 < near <= cap:
            test(near)
            if high is None:  # near fits: up from it
                while high is None and low < cap:
                    test(min(cap, low + step))
                    step *= 2
            else:  # near does not: down from it, until a batch fits
                while high - low > 1:
                    above = high
                    test(max(low + 1, high - step))
                    if high == above:
                        break
                    step *= 2
        while high is None and low < cap:
            test(min(cap, low * 2))
        while high is not None and high - low > 1:
            test((low + high) // 2)
        return low, low_peak

    def curve(self, plan: MemoryPlan, batches: Sequence[int] = (), sides: Sequence[int] = ()) -> list[CurvePoint]:
        """Peaks at each batch (at the plan's resolution) and at each side (simulated, at the plan's batch)."""
        side = plan.image[-1]
        points = [
            CurvePoint(
                "batch", b, side, self.peak_at(plan, b, False), self.peak_at(plan, b, True) if plan.train else None
            )
            for b in batches
        ]
        if batches and self._lines(plan, False) is not None:
            # The lines hold while the pass stays the same; a convolution whose algorithm (and scratch)
            # changes past some batch breaks them: checked at the largest batch drawn.
            top = max(batches)
            if self.peak_at(plan, top, False) != self._peak_at(plan, top, False) or (
                plan.train and self.peak_at(plan, top, True) != self._peak_at(plan, top, True)
            ):
                points = [
                    CurvePoint(
                        "batch",
                        b,
                        side,
                        self._peak_at(plan, b, False),
                        self._peak_at(plan, b, True) if plan.train else None,
                    )
                    for b in batches
                ]
        for at in sides:
            inference, training = self.peaks(plan.with_side(at))
            points.append(CurvePoint("side", plan.batch, at, inference, training))
        return points


def _run(work: Callable[[], object], what: str) -> None:
    try:
        work()
    except TimeoutError as exc:
        raise AnalysisError(f"{exc}; try a smaller network or input") from None
    except UserError:  # a stop check that says why (a command's time limit)
        raise
    except Cancelled as exc:
        raise AnalysisError(str(exc)) from None
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AnalysisError(f"the {what} failed on meta: {first}") from None


def _peak(tracker: AllocationTracker) -> Peak:
    snap = tracker.peak
    return Peak(snap.total, snap.phase, snap.where, {k: v for k, v in snap.by_category.items() if v})


def estimate(target: str | ResNetSpec | nn.Module, plan: MemoryPlan, label: str | None = None) -> MemoryReport:
    """The memory report of ``target`` for ``plan``, computed on meta."""
    return Simulator(target, label).report(plan)


estimate_memory = estimate


def default_image(target: str | ResNetSpec | nn.Module) -> tuple[int, int, int]:
    spec = resolve_spec(target) if isinstance(target, (str, ResNetSpec)) else getattr(target, "spec", None)
    return (spec.in_chans, spec.image_size, spec.image_size) if spec else (3, 224, 224)


def memory_curve(simulator: Simulator, plan: MemoryPlan, fit: Fit | None) -> list[CurvePoint]:
    """Peaks at powers of two up to past the largest batch that fits, and at resolutions around the
    plan's at that batch (the plan's batch without a fit)."""
    largest = (fit.training_batch if plan.train else fit.inference_batch) if fit else plan.batch
    at = plan.with_batch(max(largest or 1, 1))
    return simulator.curve(plan, batches_up_to(min(max(largest or 1, 1), 2**16)), []) + simulator.curve(
        at, [], sides_around(plan.image[-1])
    )


def batches_up_to(largest: int) -> list[int]:
    """Powers of four up to ``largest`` (at least up to 64), ``largest`` itself and twice it."""
    top = max(64, 2 * largest)
    out, b = [], 1
    while b <= top:
        if not largest / 1.5 < b < largest * 1.5:  # room for the largest's own tick
            out.append(b)
        b *= 4
    return sorted(set(out) | {max(largest, 1), 2 * max(largest, 1)})


def sides_around(side: int) -> list[int]:
    return sorted({s for s in (side // 2, side * 3 // 4, side * 3 // 2, side * 2) if s >= 32} | {side})
