"""The counting rules themselves: one per operator, each a formula over shapes, checked against
torch's own FlopCounterMode formulas and against real operator runs."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils import flop_counter

from resnet_inspect.analysis import counting
from resnet_inspect.analysis.counting import RULES, register_rule, shapes_of
from resnet_inspect.analysis.report import OpClass
from resnet_inspect.analysis.trace import Tracer

S = torch.Size


def cost(op, *args, out=None, **kwargs):
    return RULES[op](args, kwargs, out)


def test_a_second_rule_for_an_operator_is_refused():
    with pytest.raises(ValueError, match="'convolution' is already registered"):
        register_rule("convolution")(lambda args, kwargs, out: None)
    assert RULES["convolution"] is counting.conv


def test_every_rule_names_a_real_aten_operator():
    missing = [name for name in RULES if not hasattr(torch.ops.aten, name)]
    assert not missing


CONVS = [  # x, weight, stride, padding, dilation, groups
    ((2, 3, 32, 32), (64, 3, 7, 7), 2, 3, 1, 1),
    ((1, 128, 28, 28), (128, 4, 3, 3), 1, 1, 1, 32),
    ((1, 64, 56, 56), (256, 64, 1, 1), 1, 0, 1, 1),
    ((1, 16, 20, 20), (16, 16, 3, 3), 1, 2, 2, 1),
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", CONVS)
def test_conv_equals_torch_flop_counter_and_a_real_run(x_shape, w_shape, stride, padding, dilation, groups):
    x, w = torch.randn(x_shape), torch.randn(w_shape)
    out = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    c = cost(
        "convolution",
        S(x_shape),
        S(w_shape),
        None,
        [stride] * 2,
        [padding] * 2,
        [dilation] * 2,
        False,
        [0, 0],
        groups,
        out=out.shape,
    )
    assert c.op_class == OpClass.CONV and c.bias_flops == 0
    assert 2 * c.macs == c.flops == flop_counter.conv_flop_count(list(x_shape), list(w_shape), list(out.shape))
    assert c.window == (w_shape[2], stride, padding, dilation)
    with_bias = cost(
        "convolution",
        S(x_shape),
        S(w_shape),
        S((w_shape[0],)),
        [stride] * 2,
        [padding] * 2,
        [dilation] * 2,
        False,
        [0, 0],
        groups,
        out=out.shape,
    )
    assert with_bias.bias_flops == out.numel()


def test_transposed_conv_equals_torch_flop_counter():
    x, w = torch.randn(1, 8, 7, 7), torch.randn(8, 4, 4, 4)
    out = F.conv_transpose2d(x, w, stride=2)
    c = cost("convolution", x.shape, w.shape, None, [2, 2], [0, 0], [1, 1], True, [0, 0], 1, out=out.shape)
    assert c.flops == flop_counter.conv_flop_count(list(x.shape), list(w.shape), list(out.shape), transposed=True)


def test_matmuls_equal_torch_flop_counter():
    a, b = S((8, 2048)), S((2048, 1000))
    assert cost("mm", a, b, out=S((8, 1000))).flops == flop_counter.mm_flop(a, b)
    addmm = cost("addmm", S((1000,)), a, b, out=S((8, 1000)))
    assert addmm.flops == flop_counter.addmm_flop(S((1000,)), a, b) and addmm.bias_flops == 8 * 1000
    assert cost("addmm", 0.0, a, b, out=S((8, 1000))).bias_flops == 0  # no bias tensor
    ba, bb = S((4, 16, 32)), S((4, 32, 8))
    assert cost("bmm", ba, bb, out=S((4, 16, 8))).flops == flop_counter.bmm_flop(ba, bb)


def test_batch_norm_is_two_per_element_with_affine_terms_one_without():
    x = S((2, 64, 8, 8))
    assert cost("native_batch_norm", x, S((64,)), S((64,)), None, None, False, 0.1, 1e-5).flops == 2 * 2 * 64 * 64
    assert cost("native_batch_norm", x, None, None, None, None, False, 0.1, 1e-5).flops == 2 * 64 * 64


@pytest.mark.parametrize(
    "op, run, kernel, stride, padding",
    [
        ("max_pool2d_with_indices", lambda x: F.max_pool2d(x, 3, 2, 1), 3, 2, 1),
        ("avg_pool2d", lambda x: F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False), 2, 2, 0),
    ],
)
def test_sliding_pools_cost_one_per_window_element(op, run, kernel, stride, padding):
    x = torch.randn(1, 4, 15, 15)
    out = run(x)
    c = cost(op, x.shape, [kernel, kernel], [stride, stride], [padding, padding], out=out.shape)
    assert c.op_class == OpClass.POOL and c.flops == out.numel() * kernel * kernel
    assert c.window == (kernel, stride, padding, 1)


def test_global_pool_and_spatial_mean_read_every_input_element_once():
    x = S((2, 512, 7, 7))
    assert cost("_adaptive_avg_pool2d", x, [1, 1], out=S((2, 512, 1, 1))).flops == x.numel()
    spatial = cost("mean", x, [2, 3], True, out=S((2, 512, 1, 1)))
    assert spatial.op_class == OpClass.POOL and spatial.window == "global" and spatial.flops == x.numel()
    channels = cost("mean", x, [1], out=S((2, 7, 7)))
    assert channels.op_class == OpClass.ELEMENTWISE and channels.window is None


def test_add_of_two_equal_feature_maps_is_a_residual_add():
    x = S((1, 256, 56, 56))
    assert cost("add_", x, x, out=x).op_class == OpClass.RESIDUAL_ADD
    assert cost("add", x, S((1, 256, 1, 1)), out=x).op_class == OpClass.ELEMENTWISE
    assert cost("add", S((10,)), 1.0, out=S((10,))).op_class == OpClass.ELEMENTWISE


def test_element_wise_and_free_operators():
    out = S((3, 5))
    assert cost("relu_", out, out=out) == counting.OpCost(OpClass.ACTIVATION, 0, 15)
    assert cost("mul", out, out, out=out) == counting.OpCost(OpClass.ELEMENTWISE, 0, 15)
    assert cost("view", out, [15], out=S((15,))) == counting.OpCost(OpClass.LAYOUT)
    assert cost("empty_like", out, out=out) == counting.OpCost(OpClass.ALLOC)


def test_rules_see_shapes_not_tensors():
    x = torch.randn(2, 3)
    assert shapes_of((x, [x, x], None, 2, [1, 1])) == (S((2, 3)), [S((2, 3)), S((2, 3))], None, 2, [1, 1])


def test_the_tracer_charges_what_the_rules_say():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU()).eval()
    x = torch.randn(1, 3, 16, 16)
    tracer = Tracer(model)
    with torch.no_grad():
        tracer.run(model, x)
    ops = {name: acc for (name, _), acc in tracer.modules["0"].ops.items()}
    conv = ops["convolution"]
    assert conv.macs == 16 * 16 * 8 * 3 * 9 and conv.op_class == OpClass.CONV
    assert ops["convolution.bias"].flops == 8 * 16 * 16
    norm = [op for op in tracer.modules["1"].ops.values() if op.op_class == OpClass.NORM]
    assert len(norm) == 1 and norm[0].flops == 2 * 8 * 16 * 16
    assert {name: acc for (name, _), acc in tracer.modules["2"].ops.items()}["relu"].flops == 8 * 16 * 16
