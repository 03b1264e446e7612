"""Output tensors on ``meta`` for the operators every ResNet runs, made without torch's own meta kernels.

torch's meta kernels for convolution, batch norm and group norm are written in Python and import
``sympy`` and ``torch._dynamo`` on their first call: about a second, paid by the first meta analysis in
every process. These make the same shapes, dtypes and layouts for the plain cases (contiguous inputs,
consistent arguments); anything else returns ``None`` and goes to torch's kernel, which also raises
torch's own error for arguments that are wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

aten = torch.ops.aten

_REDUCED = (torch.float16, torch.bfloat16)


def _plain(tensor: Any) -> bool:
    return isinstance(tensor, torch.Tensor) and tensor.is_meta and tensor.is_contiguous()


def _per_channel(tensor: Any, channels: int) -> bool:
    return tensor is None or (_plain(tensor) and tuple(tensor.shape) == (channels,))


def _ints(values: Any, length: int, least: int) -> bool:
    return (
        isinstance(values, (list, tuple))
        and len(values) == length
        and all(type(v) is int and v >= least for v in values)
    )


def convolution(args: tuple, kwargs: dict) -> torch.Tensor | None:
    if kwargs or len(args) != 9:
        return None
    x, weight, bias, stride, padding, dilation, transposed, _output_padding, groups = args
    if transposed or type(groups) is not int or groups < 1 or not (_plain(x) and _plain(weight)):
        return None
    spatial = x.dim() - 2
    if spatial < 1 or weight.dim() != x.dim() or x.dtype != weight.dtype:
        return None
    if not (_ints(stride, spatial, 1) and _ints(padding, spatial, 0) and _ints(dilation, spatial, 1)):
        return None
    out_channels = weight.shape[0]
    if x.shape[1] != weight.shape[1] * groups or out_channels % groups or not _per_channel(bias, out_channels):
        return None
    if bias is not None and bias.dtype != x.dtype:
        return None
    sizes = [
        (x.shape[2 + i] + 2 * padding[i] - dilation[i] * (weight.shape[2 + i] - 1) - 1) // stride[i] + 1
        for i in range(spatial)
    ]
    if min(sizes) < 1 or x.shape[0] < 1:
        return None
    return torch.empty((x.shape[0], out_channels, *sizes), dtype=x.dtype, device="meta")


def native_batch_norm(args: tuple, kwargs: dict) -> tuple[torch.Tensor, ...] | None:
    if kwargs or len(args) != 8:
        return None
    x, weight, bias, running_mean, running_var, training = args[:6]
    if not _plain(x) or x.dim() < 2 or not x.dtype.is_floating_point:
        return None
    channels = x.shape[1]
    if not all(_per_channel(t, channels) for t in (weight, bias, running_mean, running_var)):
        return None
    if not training and (running_mean is None or running_var is None):
        return None
    if training and x.numel() <= channels:  # one value per channel: torch's kernel decides what happens
        return None
    stats = torch.float32 if x.dtype in _REDUCED else x.dtype
    return (
        torch.empty(x.shape, dtype=x.dtype, device="meta"),
        torch.empty(channels, dtype=stats, device="meta"),
        torch.empty(channels, dtype=stats, device="meta"),
    )


def native_group_norm(args: tuple, kwargs: dict) -> tuple[torch.Tensor, ...] | None:
    if kwargs or len(args) != 8:
        return None
    x, weight, bias, n, channels, _hw, groups, _eps = args
    if not _plain(x) or x.dim() < 2 or not x.dtype.is_floating_point:
        return None
    if not all(type(v) is int for v in (n, channels, groups)) or groups < 1 or channels % groups:
        return None
    if (n, channels) != tuple(x.shape[:2]) or not all(_per_channel(t, channels) for t in (weight, bias)):
        return None
    return (
        torch.empty(x.shape, dtype=x.dtype, device="meta"),
        torch.empty((n, groups), dtype=x.dtype, device="meta"),
        torch.empty((n, groups), dtype=x.dtype, device="meta"),
    )


def max_pool2d_with_indices(args: tuple, kwargs: dict) -> tuple[torch.Tensor, torch.Tensor] | None:
    if kwargs or not 2 <= len(args) <= 6:
        return None
    defaults: tuple[Any, ...] = ([], 0, 1, False)  # stride (the kernel's), padding, dilation, ceil_mode
    x, kernel, stride, padding, dilation, ceil_mode = (*args, *defaults[len(args) - 2 :])
    if type(ceil_mode) is not bool or not _plain(x) or x.dim() != 4 or not x.dtype.is_floating_point:
        return None
    axes = _pool_window(kernel, stride, padding, dilation)
    if axes is None:
        return None
    sizes = [_pooled(x.shape[2 + i], k, s, p, d, ceil_mode) for i, (k, s, p, d) in enumerate(axes)]
    if min(sizes) < 1:
        return None
    shape = (*x.shape[:2], *sizes)
    return (torch.empty(shape, dtype=x.dtype, device="meta"), torch.empty(shape, dtype=torch.int64, device="meta"))


def _pooled(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """Output length of a pooling window (ATen's pooling_output_shape)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the padding
    return out


def _pool_window(kernel: Any, stride: Any, padding: Any, dilation: Any) -> list[tuple[int, int, int, int]] | None:
    """(kernel, stride, padding, dilation) along each of the two spatial axes of a pool's arguments (an
    empty stride is the kernel's), or None unless each is a plain valid pair, as aten checks them."""
    k, s, p, d = _pair(kernel), _pair(stride or kernel), _pair(padding), _pair(dilation)
    if k is None or s is None or p is None or d is None:
        return None
    axes = list(zip(k, s, p, d))
    if any(ki < 1 or si < 1 or di < 1 or pi < 0 or 2 * pi > ki for ki, si, pi, di in axes):
        return None
    return axes


def _pair(value: Any) -> tuple[int, int] | None:
    if type(value) is int:
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) in (1, 2) and all(type(v) is int for v in value):
        return (value[0], value[-1])
    return None


def _broadcast(a: torch.Size, b: torch.Size) -> tuple[int, ...] | None:
    shape = []
    for i in range(1, max(len(a), len(b)) + 1):
        x, y = (a[-i] if i <= len(a) else 1), (b[-i] if i <= len(b) else 1)
        if x != y and 1 not in (x, y):
            return None
        shape.append(y if x == 1 else x)
    return tuple(reversed(shape))


def binary(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """Two floating maps of one dtype, broadcast (a residual add, SE's scaling), or a map and a real
    number: no type promotion, no ``alpha``."""
    if kwargs or len(args) != 2 or not _plain(args[0]) or not args[0].dtype.is_floating_point:
        return None
    a, b = args
    if type(b) in (int, float):
        return torch.empty(a.shape, dtype=a.dtype, device="meta")
    if not (isinstance(b, torch.Tensor) and b.is_meta) or b.dtype != a.dtype:
        return None
    shape = _broadcast(a.shape, b.shape)
    if shape is None or (not _plain(b) and shape != tuple(a.shape)):
        return None  # the output's layout follows a non-contiguous operand's
    return torch.empty(shape, dtype=a.dtype, device="meta")


def unary(args: tuple, kwargs: dict) -> torch.Tensor | None:
    if kwargs or len(args) != 1 or not _plain(args[0]) or not args[0].dtype.is_floating_point:
        return None
    return torch.empty(args[0].shape, dtype=args[0].dtype, device="meta")


def reduce_dims(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """A mean or sum over listed dimensions (global average pooling, ResNeSt's sum of its splits),
    in the input's own dtype."""
    if kwargs or not 2 <= len(args) <= 4 or (len(args) == 4 and args[3] is not None):
        return None
    x, dims, keepdim = (*args, False)[:3]
    if not _plain(x) or not x.dtype.is_floating_point or type(keepdim) is not bool:
        return None
    if not isinstance(dims, (list, tuple)) or not _ints(dims, len(dims), -x.dim()):
        return None
    axes = {d % x.dim() for d in dims if d < x.dim()}
    if not axes or len(axes) != len(dims):
        return None
    shape = [1 if i in axes else n for i, n in enumerate(x.shape) if keepdim or i not in axes]
    return torch.empty(shape, dtype=x.dtype, device="meta")


def softmax(args: tuple, kwargs: dict) -> torch.Tensor | None:
    if kwargs or len(args) != 3 or not _plain(args[0]) or not args[0].dtype.is_floating_point:
        return None
    x, dim, half_to_float = args
    if half_to_float is not False or type(dim) is not int or not -x.dim() <= dim < max(x.dim(), 1):
        return None
    return torch.empty(x.shape, dtype=x.dtype, device="meta")


def avg_pool2d(args: tuple, kwargs: dict) -> torch.Tensor | None:
    if kwargs or not 2 <= len(args) <= 7:
        return None
    # stride (the kernel's), padding, ceil_mode, count_include_pad, divisor
    defaults: tuple[Any, ...] = ([], 0, False, True, None)
    x, kernel, stride, padding, ceil_mode, _, divisor = (*args, *defaults[len(args) - 2 :])
    if type(ceil_mode) is not bool or divisor is not None or not _plain(x) or x.dim() != 4:
        return None
    if not x.dtype.is_floating_point:
        return None
    axes = _pool_window(kernel, stride, padding, 1)
    if axes is None:
        return None
    sizes = [_pooled(x.shape[2 + i], k, s, p, d, ceil_mode) for i, (k, s, p, d) in enumerate(axes)]
    if min(sizes) < 1:
        return None
    return torch.empty((*x.shape[:2], *sizes), dtype=x.dtype, device="meta")


def cat(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """Maps of one dtype and rank, equal but along ``dim`` (Res2Net's scales)."""
    if kwargs or not 1 <= len(args) <= 2 or not isinstance(args[0], (list, tuple)) or not args[0]:
        return None
    tensors, dim = args[0], (args[1] if len(args) == 2 else 0)
    first = tensors[0]
    if not all(_plain(t) for t in tensors) or type(dim) is not int or first.dim() == 0:
        return None
    if not -first.dim() <= dim < first.dim():
        return None
    dim %= first.dim()
    for t in tensors:
        if t.dtype != first.dtype or t.dim() != first.dim():
            return None
        if any(t.shape[i] != first.shape[i] for i in range(first.dim()) if i != dim):
            return None
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return torch.empty(shape, dtype=first.dtype, device="meta")


def stack(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """Maps of one shape and dtype along a new ``dim`` (SK's paths)."""
    if kwargs or not 1 <= len(args) <= 2 or not isinstance(args[0], (list, tuple)) or not args[0]:
        return None
    tensors, dim = args[0], (args[1] if len(args) == 2 else 0)
    first = tensors[0]
    if not all(_plain(t) and t.shape == first.shape and t.dtype == first.dtype for t in tensors):
        return None
    if type(dim) is not int or not -first.dim() - 1 <= dim <= first.dim():
        return None
    shape = list(first.shape)
    shape.insert(dim % (first.dim() + 1), len(tensors))
    return torch.empty(shape, dtype=first.dtype, device="meta")


def addmm(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """A linear layer: bias [out] + x [N, in] @ weight.t() [in, out] (a transposed view, so any strides)."""
    if kwargs or len(args) != 3:
        return None
    bias, x, weight = args
    if not (_plain(bias) and _plain(x)) or not (isinstance(weight, torch.Tensor) and weight.is_meta):
        return None
    if x.dim() != 2 or weight.dim() != 2 or bias.dim() != 1 or x.shape[1] != weight.shape[0]:
        return None
    if bias.shape[0] != weight.shape[1] or not x.dtype == weight.dtype == bias.dtype:
        return None
    return torch.empty((x.shape[0], weight.shape[1]), dtype=x.dtype, device="meta")


KERNELS: dict[Any, Callable[[tuple, dict], Any]] = {
    aten.convolution.default: convolution,
    aten.native_batch_norm.default: native_batch_norm,
    aten.native_group_norm.default: native_group_norm,
    aten.max_pool2d_with_indices.default: max_pool2d_with_indices,
    aten.add.Tensor: binary,
    aten.sub.Tensor: binary,
    aten.mul.Tensor: binary,
    aten.div.Tensor: binary,
    aten.maximum.default: binary,
    aten.pow.Tensor_Scalar: binary,
    aten.sigmoid.default: unary,
    aten.sqrt.default: unary,
    aten.rsqrt.default: unary,
    aten.mean.dim: reduce_dims,
    aten.sum.dim_IntList: reduce_dims,
    aten._softmax.default: softmax,
    aten.avg_pool2d.default: avg_pool2d,
    aten.cat.default: cat,
    aten.stack.default: stack,
    aten.addmm.default: addmm,
}
