"""The analyzer's own meta kernels against torch's: whatever they return, torch's kernel returns too
(same shape, dtype and strides); what they decline (None) goes to torch, which raises its own errors."""

import math
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_inspect.analysis import meta_kernels

aten = torch.ops.aten
DTYPES = st.sampled_from([torch.float32, torch.bfloat16, torch.float16, torch.float64])


def meta(shape, dtype=torch.float32):
    return torch.empty(shape, dtype=dtype, device="meta")


def agrees(func, args, must_accept=True):
    """Ours declines, or torch gives the same tensors (and ours never accepts what torch refuses). Where
    ``must_accept``, a case torch accepts is one ours must accept too, so a kernel that declined
    everything would fail."""
    ours = meta_kernels.KERNELS[func](args, {})
    if ours is None:
        if must_accept:
            try:
                func(*args)
            except Exception:
                return  # torch refuses it too
            pytest.fail(f"our {func} kernel declined a case torch accepts: {args}")
        return
    theirs = func(*args)
    ours, theirs = (ours, theirs) if isinstance(ours, tuple) else ((ours,), (theirs,))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert (a.shape, a.dtype, a.stride()) == (b.shape, b.dtype, b.stride()), (func, args)


sizes = st.integers(1, 12)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 3),
    groups=st.integers(1, 3),
    cin=st.integers(1, 3),
    cout=st.integers(1, 3),
    k=st.tuples(sizes, sizes),
    s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    p=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    hw=st.tuples(sizes, sizes),
    bias=st.booleans(),
    dtype=DTYPES,
    wrong=st.integers(0, 3),
)
def test_convolution(n, groups, cin, cout, k, s, p, d, hw, bias, dtype, wrong):
    x = meta((n, cin * groups + (wrong == 1), *hw), dtype)
    w = meta((cout * groups, cin, *k), dtype if wrong != 2 else torch.float32)
    b = meta((cout * groups + (wrong == 3),), dtype) if bias else None
    agrees(aten.convolution.default, (x, w, b, list(s), list(p), list(d), False, [0, 0], groups), wrong == 0)


@settings(max_examples=200, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=2, max_size=5),
    dtype=DTYPES,
    training=st.booleans(),
    affine=st.booleans(),
    stats=st.booleans(),
    wrong=st.booleans(),
)
def test_batch_norm(shape, dtype, training, affine, stats, wrong):
    c = shape[1] + wrong
    per_channel = meta((c,)) if affine else None
    running = meta((c,)) if stats else None
    # Ours takes evaluation with running statistics, and training with more than one value per channel.
    usual = (stats and not training) or (training and math.prod(shape) > shape[1])
    agrees(
        aten.native_batch_norm.default,
        (meta(shape, dtype), per_channel, per_channel, running, running, training, 0.1, 1e-5),
        usual and not wrong,
    )


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 3),
    groups=st.integers(1, 4),
    per_group=st.integers(1, 3),
    hw=st.integers(1, 5),
    dtype=DTYPES,
    affine=st.booleans(),
    wrong=st.booleans(),
)
def test_group_norm(n, groups, per_group, hw, dtype, affine, wrong):
    c = groups * per_group
    weight = meta((c,), dtype) if affine else None
    agrees(
        aten.native_group_norm.default,
        (meta((n, c, hw, hw), dtype), weight, weight, n, c, hw * hw, groups + wrong, 1e-5),
        not wrong,
    )


@settings(max_examples=300, deadline=None)
@given(
    k=st.integers(1, 4),
    s=st.integers(0, 3),
    p=st.integers(0, 3),
    d=st.integers(1, 2),
    ceil=st.booleans(),
    hw=st.tuples(sizes, sizes),
    dtype=DTYPES,
)
def test_pools(k, s, p, d, ceil, hw, dtype):
    x = meta((2, 3, *hw), dtype)
    stride = [s, s] if s else []
    agrees(aten.max_pool2d_with_indices.default, (x, [k, k], stride, [p, p], [d, d], ceil))
    agrees(aten.avg_pool2d.default, (x, [k, k], stride, [p, p], ceil, False))
    agrees(aten.max_pool2d_with_indices.default, (x, [k]))


shapes = st.lists(st.sampled_from([1, 2, 3]), min_size=0, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    a=shapes,
    b=shapes,
    dtypes=st.tuples(DTYPES, DTYPES),
    scalar=st.sampled_from([None, 2, 0.5, True]),
    op=st.sampled_from(
        [
            aten.add.Tensor,
            aten.sub.Tensor,
            aten.mul.Tensor,
            aten.div.Tensor,
            aten.maximum.default,
            aten.pow.Tensor_Scalar,
        ]
    ),
    expand=st.booleans(),
)
def test_elementwise(a, b, dtypes, scalar, op, expand):
    x = meta(a, dtypes[0])
    other = meta(b, dtypes[1])
    if expand and len(b) == len(a):
        other = meta([1] * len(b), dtypes[1]).expand(a)  # a stride-0 view
    # Ours takes real numbers (not booleans) and tensors of the map's own dtype: no type promotion.
    if op is aten.pow.Tensor_Scalar:
        agrees(op, (x, 2 if scalar is None else scalar), scalar is not True)
    elif scalar is not None and op is not aten.maximum.default:
        agrees(op, (x, scalar), scalar is not True)
    else:
        agrees(op, (x, other), dtypes[0] == dtypes[1])
    for unary in (aten.sigmoid.default, aten.sqrt.default, aten.rsqrt.default):
        agrees(unary, (x,))


@settings(max_examples=200, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=5),
    dims=st.lists(st.integers(-6, 5), max_size=3),
    keepdim=st.booleans(),
    dtype=DTYPES,
    dim=st.integers(-6, 5),
    parts=st.integers(1, 3),
    grow=st.integers(0, 2),
)
def test_reductions_softmax_and_cat(shape, dims, keepdim, dtype, dim, parts, grow):
    x = meta(shape, dtype)
    # Ours reduces listed dimensions, each once (an empty list, "all of them", goes to torch).
    listed = bool(dims) and all(-len(shape) <= d < len(shape) for d in dims)
    listed = listed and len({d % len(shape) for d in dims}) == len(dims)
    agrees(aten.mean.dim, (x, dims, keepdim), listed)
    agrees(aten.sum.dim_IntList, (x, dims, keepdim), listed)
    # Torch's meta kernels take some dimensions that its real kernels refuse; ours must take those in range.
    agrees(aten._softmax.default, (x, dim, False), -len(shape) <= dim < len(shape))
    others = [meta([n + grow * (i == 0) for i, n in enumerate(shape)], dtype) for _ in range(parts)]
    agrees(aten.cat.default, ([x, *others], dim), -len(shape) <= dim < len(shape))
    agrees(aten.stack.default, ([x, *others], dim), -len(shape) - 1 <= dim <= len(shape))


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 3), fin=st.integers(1, 4), fout=st.integers(1, 4), wrong=st.integers(0, 2))
def test_addmm(n, fin, fout, wrong):
    weight = meta((fout, fin + (wrong == 1)))
    agrees(aten.addmm.default, (meta((fout + (wrong == 2),)), meta((n, fin)), weight.t()), wrong == 0)


def test_meta_analyses_and_inference_estimates_import_neither_sympy_nor_dynamo():
    """torch's Python meta kernels import both on first use (about a second per process)."""
    code = (
        "import sys, resnet_inspect as ri\n"
        "for name in ('resnet18', 'resnet50', 'resnet50d', 'seresnet50', 'ecaresnet26t', 'resnet50_gn',\n"
        "             'res2net50_26w_4s', 'resnest14d', 'skresnet18', 'resnetv2_50x1_bit', 'resnetrs50'):\n"
        "    ri.inspect(name, device='meta')\n"
        "from resnet_inspect.memory.estimate import Simulator\n"
        "from resnet_inspect.memory.plan import MemoryPlan\n"
        "Simulator('resnet50').report(MemoryPlan(8, (3, 224, 224), False))  # an inference estimate\n"
        "print(sorted(m for m in ('sympy', 'torch._dynamo') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["res2net50_26w_4s", "resnest14d", "skresnet18", "resnet50d", "resnetv2_50d_frn"])
def test_reports_with_and_without_our_kernels_are_identical(name, monkeypatch):
    import resnet_inspect as ri

    ours = ri.inspect(name, (2, 3, 96, 80), device="meta").to_dict()
    monkeypatch.setattr(meta_kernels, "KERNELS", {})  # every operator to torch's own meta kernel
    theirs = ri.inspect(name, (2, 3, 96, 80), device="meta").to_dict()
    assert ours == theirs
