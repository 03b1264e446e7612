"""The aten operators that common ``torch.nn`` leaves run on the CPU at inference, written out from
each module's own settings and the shapes of the call's input and output.

Watching an operator through the dispatch mode costs a round trip into Python (about 14 us each on
a small CPU), and these leaves run nearly all of a ResNet's operators; the tracer sets its mode
aside while one runs and, after the pass, charges the operators listed here instead. Only exact types with their
plain forward qualify (no subclass, no padding mode, no hook of their own), in float32 on the CPU;
tests check that every entry gives the same report as watching the same calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

aten = torch.ops.aten
Shape = torch.Size
Window = Any  # as `counting.OpCost.window`: (kernel, stride, padding, dilation), "global", "normalized" or None
# (aten overload, arguments with every tensor replaced by its shape, kwargs, shapes of its outputs):
# what the operator's counting rule reads, and what the dispatch mode would have seen come out.
Op = tuple[Any, tuple, dict, tuple[Shape, ...]]


class LeafRule(NamedTuple):
    accepts: Callable[[Any, torch.Tensor], bool]  # before the call: will it run exactly these operators?
    # What the operators depend on besides the shapes (hashable): calls of modules with equal
    # settings and shapes run the same operators, so the tracer works them out once.
    settings: Callable[[Any], tuple]
    ops: Callable[[tuple, Shape, Shape], list[Op]]  # from the settings and the shapes in and out
    # The sliding window that makes the output's receptive field, read during the pass; the counting
    # rules say the same (the tracer checks).
    window: Callable[[Any], Window] = lambda module: None


def _shape(tensor: torch.Tensor | None) -> Shape | None:
    return tensor.shape if tensor is not None else None


def _no_settings(module: nn.Module) -> tuple:
    return ()


def _conv_settings(module: nn.Conv2d) -> tuple:
    tensors = module._parameters  # exact types only: their weight and bias live here
    return (
        tensors["weight"].shape,  # type: ignore[union-attr]  # exact types: always set
        _shape(tensors.get("bias")),
        module.stride,
        module.padding,
        module.dilation,
        module.groups,
    )


def _conv(settings: tuple, x: Shape, out: Shape) -> list[Op]:
    weight, bias, stride, padding, dilation, groups = settings
    args = (x, weight, bias, stride, padding, dilation, False, (0,) * len(stride), groups)
    return [(aten.convolution.default, args, {}, (out,))]


def _conv_window(module: nn.Conv2d) -> Window:
    weight = module._parameters["weight"].shape  # type: ignore[union-attr]  # exact types: always set
    return (weight[2] if len(weight) > 2 else 1, module.stride[0], module.padding[0], module.dilation[0])


_NO_BYTES = (torch.Size([0]),)


def _batch_norm_settings(module: nn.BatchNorm2d) -> tuple:
    tensors, buffers = module._parameters, module._buffers
    return (
        _shape(tensors.get("weight")),
        _shape(tensors.get("bias")),
        buffers["running_mean"].shape,  # type: ignore[union-attr]  # exact types: always set
        buffers["running_var"].shape,  # type: ignore[union-attr]  # exact types: always set
        module.momentum,
        module.eps,
    )


def _batch_norm(settings: tuple, x: Shape, out: Shape) -> list[Op]:
    weight, bias, mean, var, momentum, eps = settings
    # F.batch_norm on the CPU first allocates an empty reserve buffer.
    return [
        (aten.empty.memory_format, ([0],), {"dtype": torch.uint8}, _NO_BYTES),
        (aten.native_batch_norm.default, (x, weight, bias, mean, var, False, momentum, eps), {}, (out,)),
    ]


def _group_norm_settings(module: nn.GroupNorm) -> tuple:
    tensors = module._parameters
    return (_shape(tensors.get("weight")), _shape(tensors.get("bias")), module.num_groups, module.eps)


def _group_norm(settings: tuple, x: Shape, out: Shape) -> list[Op]:
    weight, bias, groups, eps = settings
    n, c = x[0], x[1]
    return [
        (aten.native_group_norm.default, (x, weight, bias, n, c, x.numel() // max(n * c, 1), groups, eps), {}, (out,))
    ]


def _relu(settings: tuple, x: Shape, out: Shape) -> list[Op]:
    (inplace,) = settings
    return [(aten.relu_.default if inplace else aten.relu.default, (x,), {}, (out,))]


def _sigmoid(settings: tuple, x: Shape, out: Shape) -> list[Op]:
    return [(aten.sigmoid.default, (x,), {}, (out,))]


def _max_pool_settings(module: nn.MaxPool2d) -> tuple:
    return (
        _pair(module.kernel_size),
        _pair(module.stride or module.kernel_size),
        _pair(module.padding),
        _pair(module.dilation),
        module.ceil_mode,
    )


def _max_pool(settings: tuple, x: Shape, out: Shape) -> list[Op]:
    kernel, stride, padding, dilation, ceil_mode = settings
    args = (x, list(kernel), list(stride), list(padding), list(dilation), ceil_mode)
    # The indices it also returns have the output's shape.
    return [(aten.max_pool2d_with_indices.default, args, {}, (out, out))]


def _avg_pool_settings(module: nn.AvgPool2d) -> tuple:
    return (
        _pair(module.kernel_size),
        _pair(module.stride or module.kernel_size),
        _pair(module.padding),
        module.ceil_mode,
        module.count_include_pad,
    )


def _avg_pool(settings: tuple, x: Shape, out: Shape) -> list[Op]:
    kernel, stride, padding, ceil_mode, count_include_pad = settings
    return [
        (
            aten.avg_pool2d.default,
            (x, list(kernel), list(stride), list(padding), ceil_mode, count_include_pad),
            {},
            (out,),
        )
    ]


def _pool_window(module: nn.MaxPool2d | nn.AvgPool2d) -> Window:
    dilation = _pair(module.dilation)[0] if isinstance(module, nn.MaxPool2d) else 1
    return (
        _pair(module.kernel_size)[0],
        _pair(module.stride or module.kernel_size)[0],
        _pair(module.padding)[0],
        dilation,
    )


def _global_pool(settings: tuple, x: Shape, out: Shape) -> list[Op]:
    return [(aten.mean.dim, (x, [-1, -2], True), {}, (out,))]


def _flatten(settings: tuple, x: Shape, out: Shape) -> list[Op]:
    return [(aten.view.default, (x, list(out)), {}, (out,))]


def _linear_settings(module: nn.Linear) -> tuple:
    tensors = module._parameters
    return (tensors["weight"].shape, tensors["bias"].shape)  # type: ignore[union-attr]  # exact types: always set


def _linear(settings: tuple, x: Shape, out: Shape) -> list[Op]:
    weight, bias = settings
    weight_t = torch.Size([weight[1], weight[0]])
    return [(aten.t.default, (weight,), {}, (weight_t,)), (aten.addmm.default, (bias, x, weight_t), {}, (out,))]


def _pair(value: Any) -> tuple[int, ...]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _always(module: nn.Module, x: torch.Tensor) -> bool:
    return True


def _flattens(module: nn.Flatten, x: torch.Tensor) -> bool:
    # Flattening a contiguous map over more than one axis is one view; otherwise nothing or a copy.
    return x.is_contiguous() and module.start_dim % x.dim() < module.end_dim % x.dim()


def _batched(module: nn.modules.conv._ConvNd, x: torch.Tensor) -> bool:
    # An unbatched input is unsqueezed before the convolution and squeezed after it: two more operators.
    return x.dim() == module._parameters["weight"].dim()  # type: ignore[union-attr]  # exact types: always set


RULES: dict[type, LeafRule] = {
    nn.Conv1d: LeafRule(_batched, _conv_settings, _conv, _conv_window),
    nn.Conv2d: LeafRule(_batched, _conv_settings, _conv, _conv_window),
    nn.BatchNorm2d: LeafRule(
        lambda m, x: (
            not m.training and m._buffers.get("running_mean") is not None and m._buffers.get("running_var") is not None
        ),
        _batch_norm_settings,
        _batch_norm,
    ),
    nn.GroupNorm: LeafRule(lambda m, x: x.dim() >= 2, _group_norm_settings, _group_norm, lambda m: "normalized"),
    nn.ReLU: LeafRule(_always, lambda m: (m.inplace,), _relu),
    nn.Sigmoid: LeafRule(_always, _no_settings, _sigmoid),
    nn.MaxPool2d: LeafRule(lambda m, x: not m.return_indices, _max_pool_settings, _max_pool, _pool_window),
    nn.AvgPool2d: LeafRule(lambda m, x: m.divisor_override is None, _avg_pool_settings, _avg_pool, _pool_window),
    # Other output sizes run _adaptive_avg_pool2d.
    nn.AdaptiveAvgPool2d: LeafRule(
        lambda m, x: _pair(m.output_size) == (1, 1) and x.dim() == 4, _no_settings, _global_pool, lambda m: "global"
    ),
    nn.Flatten: LeafRule(_flattens, _no_settings, _flatten),
    # Other ranks, or no bias, run matmul/mm.
    nn.Linear: LeafRule(lambda m, x: x.dim() == 2 and m._parameters.get("bias") is not None, _linear_settings, _linear),
}


def rule_for(module: nn.Module) -> LeafRule | None:
    """The module's operators can be written out: an exact type above, with the plain forward."""
    rule = RULES.get(type(module))
    if rule is None or "forward" in module.__dict__ or module._forward_hooks or module._forward_pre_hooks:
        return None
    if isinstance(module, nn.modules.conv._ConvNd) and (
        module.padding_mode != "zeros" or isinstance(module.padding, str)
    ):
        return None
    if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) and module._parameters.get("weight") is None:
        return None  # its weight replaced by a plain attribute: not the plain module any more
    return rule
