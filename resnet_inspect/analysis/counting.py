"""Counting rules, registered next to the operators they count (keyed by aten operator name).

A rule is a formula over shapes: it gets the operator's arguments with every tensor replaced
by its ``torch.Size`` and the shape of the main output, and returns an `OpCost`. Registering a
second rule for an operator is an error, so every operator has exactly one definition.

The tool's own convention, used for every MACs/FLOPs it prints without another name:

* conv, linear: MACs = multiply-accumulates of the weights (bias excluded); FLOPs = 2 x MACs.
* bias: 1 FLOP per output element of a conv/linear with a bias.
* norm: batch norm 2 FLOPs per element at inference (statistics folded into one scale and one
  shift), 1 without affine terms; a norm whose statistics come from its input (group norm, batch
  norm in training mode, the weight standardization of BiT's convolutions) 5 per element, 4 without
  affine terms (fvcore's figure).
* activation, residual add, elementwise: 1 FLOP per output element.
* pool: 1 FLOP per element of each window (max: comparisons; average: additions), i.e.
  output elements x window size; a global mean is 1 per input element.
* layout (view, slice, pad, copy) and allocation: 0 FLOPs, but known.
An operator that has no rule is reported as uncounted, with its element count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod
from typing import Any, NamedTuple

import torch

from .report import OpClass, numel

Shape = torch.Size


class OpCost(NamedTuple):  # a tuple: built for every operator of a pass, so it must be cheap
    op_class: OpClass
    macs: int = 0
    flops: int = 0
    # (kernel, stride, padding, dilation) of a sliding window, "global" for a reduction over every
    # spatial position (its output a statistic of the map), "normalized" for an output divided by such
    # statistics (GroupNorm): what the receptive field needs to know of an operator.
    window: tuple[int, int, int, int] | str | None = None
    bias_flops: int = 0  # the bias addition folded into the call, charged as its own class


Formula = Callable[[Sequence[Any], dict, "Shape | None"], OpCost]
RULES: dict[str, Formula] = {}
# The two simplest kinds of rule, also kept apart so that the tracer need not call them:
# operators with no arithmetic (their class) and those costing one FLOP per output element.
FREE: dict[str, OpClass] = {}
PER_ELEMENT: dict[str, OpClass] = {}


def register_rule(*ops: str) -> Callable[[Formula], Formula]:
    """Register ``formula`` as the rule for each aten operator name in ``ops``."""

    def register(formula: Formula) -> Formula:
        for op in ops:
            if op in RULES:
                raise ValueError(f"a counting rule for aten operator {op!r} is already registered")
            RULES[op] = formula
        return formula

    return register


def register_per_element(op_class: OpClass, *ops: str) -> None:
    """Operators that cost one FLOP per output element (activations, arithmetic)."""

    def per_element(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
        return OpCost(op_class, 0, numel(out))

    register_rule(*ops)(per_element)
    PER_ELEMENT.update(dict.fromkeys(ops, op_class))


def register_free(op_class: OpClass, *ops: str) -> None:
    """Operators that do no arithmetic (views, copies, allocation)."""
    cost = OpCost(op_class)
    register_rule(*ops)(lambda args, kwargs, out: cost)
    FREE.update(dict.fromkeys(ops, op_class))


def shapes_of(args: Sequence[Any]) -> tuple[Any, ...]:
    """The arguments as a rule sees them: tensors (also inside lists) replaced by their shapes."""
    return tuple(_shape_of(a) for a in args)


def _shape_of(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.shape
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], torch.Tensor):
        return [v.shape if isinstance(v, torch.Tensor) else v for v in value]
    return value


def _first(value: Any) -> int:
    return int(value[0]) if isinstance(value, (list, tuple)) else int(value)


# -- weighted layers ------------------------------------------------------------------------------
@register_rule("convolution", "_convolution", "cudnn_convolution", "mkldnn_convolution")
def conv(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    # convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    x, weight, bias = args[0], args[1], args[2]
    stride, padding, dilation = args[3], args[4], args[5]
    transposed = bool(args[6]) if len(args) > 6 else False
    # Each output element needs (in_channels / groups) x kernel multiply-accumulates: weight[1:]
    # is exactly that. A transposed conv scatters each input element into (out_channels / groups)
    # x kernel outputs, and its weight is laid out (in, out / groups, kernel): weight[1:] again.
    if transposed:
        macs = numel(x) * prod(weight[1:])
    else:
        macs = numel(out) * prod(weight[1:])
    kernel = int(weight[2]) if len(weight) > 2 else 1
    window = (kernel, _first(stride), _first(padding), _first(dilation))
    return OpCost(OpClass.CONV, macs, 2 * macs, window, numel(out) if bias is not None else 0)


@register_rule("addmm")
def addmm(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    # addmm(bias, mat1, mat2)
    bias, mat1, mat2 = args[0], args[1], args[2]
    macs = mat1[0] * mat1[1] * mat2[1]
    return OpCost(OpClass.LINEAR, macs, 2 * macs, None, numel(out) if isinstance(bias, Shape) else 0)


@register_rule("mm")
def matmul(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    a, b = args[0], args[1]
    macs = numel(a) * b[-1]
    return OpCost(OpClass.LINEAR, macs, 2 * macs)


@register_rule("bmm")
def batched_matmul(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    # In a ResNet only attention multiplies batches of matrices (CLIP's attention pool: scores of every
    # position against every other, then their weighted sum): each output depends on every position.
    return matmul(args, kwargs, out)._replace(window="global")


@register_rule(
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_attention_math",
)
def attention(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    # softmax(q k^T / sqrt(E)) v as one kernel, counted as its steps are where it is not fused (on meta):
    # q and k each scaled by E^-1/4, the scores (L x S x E MACs), a softmax per score, the weighted sum
    # of the values (L x S x Ev MACs).
    q, k, v = args[0], args[1], args[2]
    heads = numel(q) // (q[-2] * q[-1])
    scores = heads * q[-2] * k[-2]
    macs = scores * q[-1] + scores * v[-1]
    return OpCost(OpClass.LINEAR, macs, 2 * macs + numel(q) + numel(k) + scores, "global")


# -- normalization --------------------------------------------------------------------------------
@register_rule(
    "native_batch_norm",
    "_native_batch_norm_legit",
    "_native_batch_norm_legit_no_training",
    "cudnn_batch_norm",
    "miopen_batch_norm",
    "_batch_norm_no_update",
)
def batch_norm(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    # The first true/false argument is ``training`` in every overload that has one; without it the
    # statistics are the running ones (inference).
    training = next((a for a in args if isinstance(a, bool)), kwargs.get("training", False))
    return _norm(args[0], args[1], training)


@register_rule("_batch_norm_with_update")
def batch_norm_with_update(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    return _norm(args[0], args[1], statistics_from_input=True)


@register_rule("native_group_norm")
def group_norm(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    # Each output is divided by statistics over its whole map: it depends on every position.
    return _norm(args[0], args[1] if len(args) > 1 else None, statistics_from_input=True)._replace(window="normalized")


def _norm(x: Shape, weight: Shape | None, statistics_from_input: bool) -> OpCost:
    """Folded running statistics: a scale and a shift (2 per element, 1 without affine terms);
    statistics computed from the input (group norm, batch norm in training, weight standardization):
    5 per element, 4 without affine terms (fvcore's figure)."""
    if statistics_from_input:
        return OpCost(OpClass.NORM, 0, (5 if weight is not None else 4) * numel(x))
    return OpCost(OpClass.NORM, 0, (2 if weight is not None else 1) * numel(x))


# -- pooling --------------------------------------------------------------------------------------
def _sliding_pool(kind: str) -> Formula:
    def formula(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
        # max_pool2d(_with_indices)/avg_pool2d(input, kernel, stride, padding, [dilation|ceil_mode], ...)
        kernel = _first(args[1])
        stride = _first(args[2]) if len(args) > 2 and args[2] else kernel
        padding = _first(args[3]) if len(args) > 3 else 0
        dilation = _first(args[4]) if kind == "max" and len(args) > 4 else 1
        window = prod(args[1]) if isinstance(args[1], (list, tuple)) and len(args[1]) > 1 else kernel * kernel
        return OpCost(OpClass.POOL, 0, numel(out) * window, (kernel, stride, padding, dilation))

    return formula


register_rule("max_pool2d_with_indices", "max_pool2d")(_sliding_pool("max"))
register_rule("avg_pool2d")(_sliding_pool("avg"))


@register_rule("upsample_bicubic2d")
def bicubic(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    # 4 x 4 neighbours weighted and added per output element (CLIP's positional embedding at another size).
    return OpCost(OpClass.ELEMENTWISE, 0, 2 * 16 * numel(out))


@register_rule("_adaptive_avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d")
def global_pool(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    return OpCost(OpClass.POOL, 0, numel(args[0]), "global")


@register_rule("var")
def variance(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    # Subtract the mean, square, add up: 3 per input element (EvoNorm's group statistics, over every
    # spatial position: a statistic of the whole map).
    return OpCost(OpClass.ELEMENTWISE, 0, 3 * numel(args[0]), "global" if _over_space(args, kwargs) else None)


@register_rule("mean")
def mean(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    # A mean over every spatial axis is a global average pool (SE's squeeze); others are arithmetic.
    spatial = _over_space(args, kwargs)
    return OpCost(OpClass.POOL if spatial else OpClass.ELEMENTWISE, 0, numel(args[0]), "global" if spatial else None)


def _over_space(args: Sequence[Any], kwargs: dict) -> bool:
    """Whether a reduction (mean, var) runs over every spatial axis of an NC... map."""
    x = args[0]
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    dims = [d % len(x) for d in dims] if dims is not None else list(range(len(x)))
    return len(x) >= 3 and set(range(2, len(x))) <= set(dims)


# -- element-wise ---------------------------------------------------------------------------------
@register_rule("add", "add_")
def add(args: Sequence[Any], kwargs: dict, out: Shape | None) -> OpCost:
    # Two feature maps of the same shape added: a residual connection (out += identity).
    a, b = args[0], args[1] if len(args) > 1 else None
    is_residual = isinstance(b, Shape) and len(a) == 4 and a == b
    return OpCost(OpClass.RESIDUAL_ADD if is_residual else OpClass.ELEMENTWISE, 0, numel(out))


register_per_element(
    OpClass.ACTIVATION,
    "relu",
    "relu_",
    "sigmoid",
    "sigmoid_",
    "hardtanh",
    "hardtanh_",
    "silu",
    "silu_",
    "gelu",
    "leaky_relu",
    "leaky_relu_",
    "hardsigmoid",
    "hardswish",
    "tanh",
    "elu",
    "threshold",
)
register_per_element(
    OpClass.ELEMENTWISE,
    "mul",
    "mul_",
    "sub",
    "sub_",
    "div",
    "div_",
    "rsub",
    "neg",
    "sqrt",
    "rsqrt",
    "exp",
    "pow",
    "clamp",
    "clamp_",
    "maximum",
    "minimum",
    "softmax",
    "_softmax",
    "_safe_softmax",
    "log_softmax",
    "_log_softmax",
    "sum",
)

# -- no arithmetic --------------------------------------------------------------------------------
register_free(
    OpClass.LAYOUT,
    "view",
    "_unsafe_view",
    "reshape",
    "t",
    "transpose",
    "permute",
    "expand",
    "slice",
    "select",
    "as_strided",
    "detach",
    "alias",
    "clone",
    "contiguous",
    "_to_copy",
    "copy_",
    "flatten",
    "unsqueeze",
    "squeeze",
    "constant_pad_nd",
    "reflection_pad2d",
    "replication_pad2d",
    "cat",
    "stack",
    "split",
    "split_with_sizes",
    "unbind",
    "lift_fresh",
    "zero_",
    "fill_",
    "dropout",
    "native_dropout",
)
register_free(
    OpClass.ALLOC,
    "empty",
    "empty_like",
    "zeros",
    "zeros_like",
    "ones",
    "ones_like",
    "full",
    "new_empty",
    "new_zeros",
    "empty_strided",
    "scalar_tensor",
    "_local_scalar_dense",
    "randn",
    "rand",
)


def output_elements(out: Any) -> int:
    """Elements of every tensor an operator returned (a norm's are set to its main output by the tracer)."""
    if isinstance(out, torch.Tensor):
        return out.numel()
    if isinstance(out, (list, tuple)):
        return sum(v.numel() for v in out if isinstance(v, torch.Tensor))
    return 0


def main_output_shape(out: Any) -> Shape | None:
    if isinstance(out, torch.Tensor):
        return out.shape
    if isinstance(out, (list, tuple)) and out and isinstance(out[0], torch.Tensor):
        return out[0].shape
    return None
