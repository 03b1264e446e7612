"""A weights file rewritten under a registered variant's names: prefixes and wrappers removed, another
ecosystem's names mapped, buffers the file lacks filled in as ``load_state_dict`` would. Only what loads
exactly (``strict=True``, every shape equal) is written; anything else is refused with the reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    import torch


def converted_tensors(path: str, against: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The file's tensors under ``against``'s names, and the metadata to store with them."""
    import torch

    from .explain import explain_file
    from .stats import load_tensors

    weights, explanation = explain_file(path, against)
    if weights.format.startswith("ONNX"):
        raise UserError(
            f"{path}: an ONNX model: its BatchNorm layers are folded into the convolutions and their weights "
            "are not read, so the network's own weights cannot be recovered exactly"
        )
    if any(info.quantized for info in weights.tensors.values()):
        raise UserError(f"{path}: holds int8 quantized tensors; they cannot be written as {against}'s float weights")
    differs = next((s for s in explanation.sentences if s.startswith(f"the file's network is not {against}")), None)
    if differs is not None and weights.fixed:  # it loads, but computes another network (v1 against v1.5)
        raise UserError(f"{path}: cannot be converted to {against} exactly: {differs}")
    if not explanation.loads_strictly:
        reasons = explanation.sentences[1:] if explanation.renamed else explanation.sentences
        raise UserError(f"{path}: cannot be converted to {against} exactly: " + "; ".join(reasons))
    names = set(weights.saved_shapes)
    tensors = {name: value.contiguous().clone() for name, value in load_tensors(weights, names).items()}
    if weights.layout == "Keras":  # the convolutions' biases and Keras's epsilon go into the norms
        from .keras_file import KERAS_EPSILON, folded_state

        biases = load_tensors(weights, set(weights.extra))
        folded_state(tensors, biases, weights.epsilon if weights.epsilon is not None else KERAS_EPSILON)
    for name, info in weights.tensors.items():
        if info.placeholder:  # what BatchNorm's loader would put there
            tensors[name] = torch.tensor(0, dtype=torch.int64)
    metadata = {
        "format": "pt",
        "network": against,
        "converted_from": weights.format + (f", {weights.layout} names" if weights.layout else ""),
    }
    return tensors, metadata
