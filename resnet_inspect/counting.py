"""Counting rules: one function per aten operator, looked up by name.

Each rule returns an `OpCost`. The tool's own convention, used for every MACs/FLOPs it
prints without another name:

* conv, linear: MACs = multiply-accumulates of the weights (bias excluded); FLOPs = 2 x MACs.
* bias: 1 FLOP per output element of a conv/linear with a bias.
* norm: 2 FLOPs per element at inference (statistics folded into one scale and one shift),
  1 without affine terms.
* activation, residual add, elementwise: 1 FLOP per output element.
* pool: 1 FLOP per element of each window (max: comparisons; average: additions), i.e.
  output elements x window size; a global mean is 1 per input element.
* layout (view, slice, pad, copy) and allocation: 0 FLOPs, but known.
An operator that has no rule is reported as uncounted, with its element count.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Callable, Sequence

import torch

@dataclass(frozen=True)
class OpCost:
    op_class: str
    macs: int = 0
    flops: int = 0
    # For receptive fields: (kernel, stride, padding, dilation) of a sliding window, or
    # "global" for an operator that reduces all spatial positions.
    window: tuple[int, int, int, int] | str | None = None


Rule = Callable[[Sequence[Any], dict, Any], OpCost]


def _first(value: Any) -> int:
    return int(value[0]) if isinstance(value, (list, tuple)) else int(value)


def _numel(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel()
    if isinstance(value, (list, tuple)):
        return sum(_numel(v) for v in value if isinstance(v, torch.Tensor))
    return 0


def _main_output(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (list, tuple)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


def conv_rule(args: Sequence[Any], kwargs: dict, out: Any) -> OpCost:
    # convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    x, weight = args[0], args[1]  # the bias (args[2]) is counted by bias_flops
    stride, padding, dilation = args[3], args[4], args[5]
    transposed = bool(args[6]) if len(args) > 6 else False
    y = _main_output(out)
    # Each output element needs (in_channels / groups) x kernel multiply-accumulates;
    # weight.shape[1:] is exactly that.
    per_output = prod(weight.shape[1:])
    macs = (x.numel() // x.shape[1] * weight.shape[0] * prod(weight.shape[2:])) if transposed else y.numel() * per_output
    kernel = int(weight.shape[2]) if weight.dim() > 2 else 1
    window = (kernel, _first(stride), _first(padding), _first(dilation))
    return OpCost("conv", macs, 2 * macs, window)


def conv_bias_flops(args: Sequence[Any], out: Any) -> int:
    return _main_output(out).numel() if args[2] is not None else 0


def addmm_rule(args: Sequence[Any], kwargs: dict, out: Any) -> OpCost:
    # addmm(bias, mat1, mat2): bias handled by the caller as its own class
    mat1, mat2 = args[1], args[2]
    macs = mat1.shape[0] * mat1.shape[1] * mat2.shape[1]
    return OpCost("linear", macs, 2 * macs)


def mm_rule(args: Sequence[Any], kwargs: dict, out: Any) -> OpCost:
    a, b = args[0], args[1]
    macs = prod(a.shape) * b.shape[-1]
    return OpCost("linear", macs, 2 * macs)


def batch_norm_rule(args: Sequence[Any], kwargs: dict, out: Any) -> OpCost:
    x, weight = args[0], args[1]
    per_element = 2 if weight is not None else 1
    return OpCost("norm", 0, per_element * x.numel())


def _pool_rule(kind: str) -> Rule:
    def rule(args: Sequence[Any], kwargs: dict, out: Any) -> OpCost:
        # max_pool2d(_with_indices)/avg_pool2d(input, kernel, stride, padding, [dilation|ceil_mode], ...)
        kernel = _first(args[1])
        stride = _first(args[2]) if len(args) > 2 and args[2] else kernel
        padding = _first(args[3]) if len(args) > 3 else 0
        dilation = _first(args[4]) if kind == "max" and len(args) > 4 else 1
        y = _main_output(out)
        window = prod(args[1]) if isinstance(args[1], (list, tuple)) and len(args[1]) > 1 else kernel * kernel
        return OpCost("pool", 0, y.numel() * window, (kernel, stride, padding, dilation))

    return rule


def global_pool_rule(args: Sequence[Any], kwargs: dict, out: Any) -> OpCost:
    return OpCost("pool", 0, _numel(args[0]), "global")


def mean_rule(args: Sequence[Any], kwargs: dict, out: Any) -> OpCost:
    x = args[0]
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    dims = [d % x.dim() for d in dims] if dims is not None else list(range(x.dim()))
    spatial = x.dim() >= 3 and set(range(2, x.dim())) <= set(dims)
    return OpCost("pool" if spatial else "elementwise", 0, x.numel(), "global" if spatial else None)


def _elementwise(op_class: str) -> Rule:
    def rule(args: Sequence[Any], kwargs: dict, out: Any) -> OpCost:
        y = _main_output(out)
        return OpCost(op_class, 0, y.numel() if y is not None else 0)

    return rule


def add_rule(args: Sequence[Any], kwargs: dict, out: Any) -> OpCost:
    # Two feature maps of the same shape added: a residual connection (out += identity).
    a, b = args[0], args[1] if len(args) > 1 else None
    is_residual = isinstance(b, torch.Tensor) and a.dim() == 4 and a.shape == b.shape
    y = _main_output(out)
    return OpCost("residual_add" if is_residual else "elementwise", 0, y.numel())


def zero_cost(op_class: str) -> Rule:
    def rule(args: Sequence[Any], kwargs: dict, out: Any) -> OpCost:
        return OpCost(op_class)

    return rule


RULES: dict[str, Rule] = {
    "convolution": conv_rule,
    "_convolution": conv_rule,
    "cudnn_convolution": conv_rule,
    "mkldnn_convolution": conv_rule,
    "addmm": addmm_rule,
    "mm": mm_rule,
    "bmm": mm_rule,
    "native_batch_norm": batch_norm_rule,
    "_native_batch_norm_legit": batch_norm_rule,
    "_native_batch_norm_legit_no_training": batch_norm_rule,
    "cudnn_batch_norm": batch_norm_rule,
    "miopen_batch_norm": batch_norm_rule,
    "_batch_norm_with_update": batch_norm_rule,
    "_batch_norm_no_update": batch_norm_rule,
    "max_pool2d_with_indices": _pool_rule("max"),
    "max_pool2d": _pool_rule("max"),
    "avg_pool2d": _pool_rule("avg"),
    "_adaptive_avg_pool2d": global_pool_rule,
    "adaptive_avg_pool2d": global_pool_rule,
    "adaptive_max_pool2d": global_pool_rule,
    "mean": mean_rule,
    "add": add_rule,
    "add_": add_rule,
}
for _name in ("relu", "relu_", "sigmoid", "sigmoid_", "hardtanh", "hardtanh_", "silu", "silu_", "gelu",
              "leaky_relu", "leaky_relu_", "hardsigmoid", "hardswish", "tanh", "elu", "threshold"):
    RULES[_name] = _elementwise("activation")
for _name in ("mul", "mul_", "sub", "sub_", "div", "div_", "rsub", "neg", "sqrt", "rsqrt", "exp", "pow",
              "clamp", "clamp_", "softmax", "_softmax", "log_softmax", "_log_softmax", "sum"):
    RULES[_name] = _elementwise("elementwise")
for _name in ("view", "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "slice", "select",
              "as_strided", "detach", "alias", "clone", "contiguous", "_to_copy", "copy_", "flatten",
              "unsqueeze", "squeeze", "constant_pad_nd", "cat", "stack", "split", "split_with_sizes",
              "unbind", "lift_fresh", "zero_", "fill_", "dropout", "native_dropout"):
    RULES[_name] = zero_cost("layout")
for _name in ("empty", "empty_like", "zeros", "zeros_like", "ones", "ones_like", "full", "new_empty",
              "new_zeros", "empty_strided", "scalar_tensor", "_local_scalar_dense", "randn", "rand"):
    RULES[_name] = zero_cost("alloc")

def bias_flops(op: str, args: Sequence[Any], out: Any) -> int:
    """FLOPs of the bias addition folded into a conv or addmm call."""
    if op in ("convolution", "_convolution", "cudnn_convolution", "mkldnn_convolution"):
        return conv_bias_flops(args, out)
    if op == "addmm" and isinstance(args[0], torch.Tensor):
        return _main_output(out).numel()
    return 0


def output_elements(out: Any) -> int:
    return _numel(out)
