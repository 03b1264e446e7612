"""The receptive field in every report is the one gradients show.

For one variant of each family (and a dilated custom network) the field of the last stage is measured:
the input rows on which one output row depends, in float64, with ReLUs as identities, max-pools as
average pools of the same geometry (both keep every input of a window), every 1-D parameter non-zero
(so timm's zero-initialized norms cannot cut a path) and every global operator detached (global means
and variances, and GroupNorm's statistics: their dependence on the whole map is reported apart, as
``rf_global_from``). Size, jump and offset must equal the tool's, and the global operator it names must be
the first one the network has."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

import resnet_inspect as ri

FAMILIES = {
    "resnet50": None,  # plain
    "resnet50c": None,  # deep stem
    "resnet50d": None,  # deep stem, average-pool shortcut
    "resnet50s": None,  # wide deep stem
    "resnet26t": None,  # tiered stem
    "wide_resnet50_2": None,
    "resnext50_32x4d": None,
    "seresnext26d_32x4d": "layer1.0.se",  # squeeze-and-excitation
    "ecaresnet26t": "layer1.0.se",  # efficient channel attention
    "skresnet18": "layer1.0.conv1.attn",  # selective kernels
    "resnest14d": "layer1.0.conv2",  # split attention
    "res2net50_26w_4s": None,
    "resnetrs50": "layer1.0.se",  # ResNet-RS: SE, strided conv after the stem
    "resnetv2_50": None,  # pre-activation
    "resnetv2_50x1_bit": "stages.0.blocks.0.norm1",  # BiT: GroupNorm, weight standardization, padded pool
    "resnet50_gn": "bn1",  # GroupNorm
    "resnetv2_50d_evos": "stem.norm1",  # EvoNorm-S0
    "resnetv2_50d_frn": "stem.norm1",  # filter response normalization
    "resnetblur18": None,  # blur pools, reflection-padded
    "resnetaa34d": None,  # anti-aliased (average pools)
    "resnet20": None,  # CIFAR, zero-padding shortcuts
}
DILATED = ri.resolve_spec("resnet50", dilate=(False, True, True))


class DetachGlobal(TorchFunctionMode):
    """Global statistics as constants: a mean or variance over every spatial axis, and group norm's."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (F.group_norm, torch.group_norm):
            x, groups = args[0], args[1]
            weight, bias = (list(args[2:4]) + [kwargs.get("weight"), kwargs.get("bias")])[:2]
            grouped = x.reshape(x.shape[0], groups, -1)
            mean = grouped.mean(-1, keepdim=True).detach()
            std = (grouped.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt().detach()
            out = ((grouped - mean) / std).reshape(x.shape)
            shape = (1, -1) + (1,) * (x.dim() - 2)
            return out * weight.view(shape) + bias.view(shape) if weight is not None else out
        result = func(*args, **kwargs)
        if func in (torch.Tensor.mean, torch.mean, torch.Tensor.var, torch.var) and _over_space(args, kwargs):
            return result.detach()
        return result


def _over_space(args, kwargs) -> bool:
    x = args[0]
    dims = kwargs.get("dim", args[1] if len(args) > 1 else None)
    if not isinstance(x, torch.Tensor) or x.dim() < 3 or dims is None:
        return False
    dims = {d % x.dim() for d in ((dims,) if isinstance(dims, int) else dims)}
    return set(range(2, x.dim())) <= dims


def prepared(model: nn.Module) -> nn.Module:
    """The measuring copy: float64, ReLU as identity, max-pool as average pool, 1-D parameters non-zero."""
    model = model.double().eval()
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(
                    module,
                    name,
                    nn.AvgPool2d(child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode),
                )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 1:
                parameter.copy_(torch.rand(parameter.shape, generator=generator, dtype=torch.float64) + 0.5)
                if name.endswith("tau"):  # FRN's threshold: far below, so that max(x, tau) is x
                    parameter.fill_(-1e9)
    return model


def measured_field(model: nn.Module, stage: str, in_chans: int, height: int) -> tuple[int, int, float]:
    """(size, jump, offset) along the height of ``stage``'s output, from the gradients of two rows."""
    x = torch.zeros(1, in_chans, height, 32, dtype=torch.float64, requires_grad=True)
    kept = {}
    handle = model.get_submodule(stage).register_forward_hook(lambda m, i, out: kept.update(out=out))
    with DetachGlobal():
        model(x)
    handle.remove()
    out = kept["out"]
    row = out.shape[2] // 2
    centres, sizes = [], []
    for r in (row, row + 1):
        (grad,) = torch.autograd.grad(out[0, :, r].sum(), x, retain_graph=True)
        rows = torch.nonzero(grad.abs().sum(dim=(0, 1, 3))).flatten()
        low, high = int(rows.min()), int(rows.max())
        assert low > 0 and high < height - 1, "the field reaches the border: measure with a taller input"
        sizes.append(high - low + 1)
        centres.append((low + high + 1) / 2)
    jump = centres[1] - centres[0]
    return sizes[0], int(jump), centres[0] - row * jump


@pytest.mark.parametrize("name", [*FAMILIES, "dilated"])
def test_the_reported_receptive_field_is_the_measured_one(name):
    spec = DILATED if name == "dilated" else ri.resolve_spec(name)
    model = ri.build(spec)
    stage = model.feature_info[-1]["module"]
    report = ri.inspect(spec, device="meta")
    row = report.layer(stage)
    height = 32 * math.ceil((2 * row.rf_size + 4 * row.rf_stride) / 32)  # the middle rows' fields inside
    size, jump, offset = measured_field(prepared(model), stage, spec.in_chans, height)
    assert (row.rf_size, row.rf_stride, row.rf_offset) == (size, jump, offset)
    assert row.rf_global_from == FAMILIES.get(name)
    assert row.rf_global == (FAMILIES.get(name) is not None)
