"""The work whose memory is estimated and measured, written once: a forward pass for inference,
and a training step (forward, loss, backward, optimizer step) with optional float32 master weights.
The estimate runs it on meta under the tracker; the measurement runs it on a real device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .plan import MemoryPlan

DTYPE_OF = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
Phase = Callable[[str, str], None]  # (phase, category of what it allocates)


def _no_phase(phase: str, category: str) -> None:
    pass


def make_optimizer(params: list[torch.Tensor], name: str, foreach: bool) -> torch.optim.Optimizer:
    """The optimizer with its defaults; ``foreach`` as each device's default implementation picks it
    (CUDA: the multi-tensor kernels, whose temporaries span all parameters; CPU: one loop per tensor)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.1, foreach=foreach)
    if name == "momentum":
        return torch.optim.SGD(params, lr=0.1, momentum=0.9, foreach=foreach)
    if name == "adam":
        return torch.optim.Adam(params, foreach=foreach)
    return torch.optim.AdamW(params, foreach=foreach)


class TrainingSetup:
    """A model in the plan's precision, its optimizer (over float32 master copies for bf16/fp16)
    and the optimizer's state as it stands after a first step."""

    def __init__(self, model: nn.Module, plan: MemoryPlan) -> None:
        self.model = model.to(dtype=DTYPE_OF[plan.precision]).train()
        self.params: list[torch.Tensor] = [p for p in model.parameters() if p.requires_grad]
        self.masters = (
            [p.detach().float().clone().requires_grad_() for p in self.params] if plan.precision != "fp32" else []
        )
        self.optimizer = make_optimizer(self.masters or self.params, plan.optimizer, foreach=plan.device == "cuda")

    def create_state(self) -> None:
        """Give the optimizer its state, as a first step would, without a forward or backward pass."""
        for p in self.masters or self.params:
            p.grad = torch.zeros_like(p)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def resident(self) -> dict[str, list[torch.Tensor]]:
        """Everything that stays alive between steps, by category."""
        state = [v for s in self.optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
        return {
            "parameters": list(self.model.parameters()),
            "buffers": list(self.model.buffers()),
            "master_weights": self.masters,
            "optimizer_state": state,
        }

    def step(self, x: torch.Tensor, labels: torch.Tensor, phase: Phase = _no_phase) -> None:
        phase("forward", "transient")
        loss = loss_of(self.model(x), labels)
        phase("backward", "transient")
        loss.backward()
        del loss
        phase("optimizer step", "gradients")
        for p, master in zip(self.params, self.masters):
            master.grad = None if p.grad is None else p.grad.float()  # the optimizer updates the float32 copy
            p.grad = None
        phase("optimizer step", "transient")
        self.optimizer.step()
        with torch.no_grad():
            for p, master in zip(self.params, self.masters):
                p.copy_(master)
        self.optimizer.zero_grad(set_to_none=True)


def loss_of(output: Any, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on float32 logits for a classifier; the mean of the output otherwise."""
    if isinstance(output, (list, tuple)):
        output = output[0]
    if output.dim() == 2 and output.shape[0] == labels.shape[0]:
        return F.cross_entropy(output.float(), labels)
    return output.float().mean()


def make_batch(plan: MemoryPlan, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = (torch.empty if device == "meta" else torch.randn)(
        plan.input_shape, device=device, dtype=DTYPE_OF[plan.precision]
    )
    labels = torch.zeros(plan.batch, dtype=torch.long, device=device)
    return x, labels


def infer(model: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        model(x)
