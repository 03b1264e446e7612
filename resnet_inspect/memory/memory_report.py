"""`MemoryReport`: what a run needs, as plain JSON-safe data. Nothing here touches torch."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# What each figure counts: the conventions every renderer names.
CATEGORIES = {
    "parameters": "the network's parameters",
    "buffers": "BatchNorm running statistics and other buffers",
    "inputs": "the input batch (and the labels of a training step)",
    "master_weights": "float32 copies of the parameters that the optimizer updates (bf16/fp16 only)",
    "optimizer_state": "what the optimizer keeps between steps (momentum, Adam's moments and step counts)",
    "gradients": "one gradient per parameter, alive from its backward until the step frees it",
    "saved_activations": "feature maps autograd keeps for backward (read from saved-tensor hooks)",
    "transient": "everything else alive at that moment: outputs in flight, gradients of activations, "
    "temporaries of the optimizer",
}
MEMORY_CONVENTIONS = {
    "inference peak": "most bytes alive at once during one forward pass in eval mode without autograd, "
    "parameters and input included, as the allocator sees them (freed tensors are gone)",
    "training peak": "most bytes alive at once during a steady-state step (forward, backward, optimizer step, "
    "gradients set to None), the optimizer's state from an earlier step included",
    "saved for backward": "bytes of the distinct activation tensors autograd saved in a layer's forward "
    "(a tensor two layers save counts for the first); parameters saved are not counted",
    "sum of outputs": "bytes of every leaf module's output added up: not a peak (torchinfo's 'forward/backward "
    "pass size' is twice this)",
    "not counted": "the CUDA context; the caching allocator's reserve beyond what is allocated; on CUDA, the "
    "workspaces cuDNN's convolutions take from PyTorch's allocator while they run (their size "
    "depends on the algorithm cuDNN picks on the card, so a measured peak can be higher); scratch "
    "that libraries allocate outside PyTorch's allocator",
}


@dataclass
class LayerMemory:
    name: str
    type: str
    output_bytes: int  # bytes of the outputs of its first call
    live_after: int  # inference: activation bytes alive right after the layer, parameters excluded
    peak_during: int  # inference: most activation bytes alive while it ran
    saved_bytes: int  # training: distinct activation bytes it saved for backward
    saved_tensors: int


@dataclass
class Peak:
    total: int
    phase: str  # forward, backward, optimizer step
    where: str  # the layer (forward) or operator (backward, step) running when it was reached
    breakdown: dict[str, int] = field(default_factory=dict)  # CATEGORIES -> bytes alive at the peak


@dataclass
class MemoryReport:
    model: str
    input_shape: list[int]
    precision: str
    optimizer: str | None  # None: inference only
    device: str  # whose allocator the figures are in
    plan: str  # the request in words
    parameters: int  # count
    inference: Peak
    training: Peak | None
    layers: list[LayerMemory]
    sum_of_outputs: int
    saved_total: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryReport:
        data = dict(data)
        data["inference"] = Peak(**data["inference"])
        data["training"] = Peak(**data["training"]) if data.get("training") else None
        data["layers"] = [LayerMemory(**row) for row in data["layers"]]
        return cls(**data)


@dataclass
class Fit:
    """The largest batch whose peak stays within ``budget`` bytes, for inference and training."""

    budget: int
    inference_batch: int  # 0: not even one fits
    inference_peak: int  # the peak at that batch
    training_batch: int | None
    training_peak: int | None
    floor: int  # what no batch can go below: parameters, buffers and (training) state
    searched_up_to: int = 0  # the largest batch tried (2^24, or less where the input-size limit stops it)


@dataclass
class CurvePoint:
    axis: str  # "batch" or "side": which curve the point belongs to
    batch: int
    side: int
    inference_peak: int
    training_peak: int | None
