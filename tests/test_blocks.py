"""Blocks own their contract: a registry the network builds from, one per spec block type, each block
knowing how it starts as the identity; unknown names and unknown options fail loudly."""

import inspect

import pytest
import torch

from resnet_inspect.errors import UserError
from resnet_inspect.model import blocks
from resnet_inspect.model.network import build_from_spec
from resnet_inspect.model.spec import ResNetSpec

SMALL = dict(layers=(1, 2), widths=(32, 64), num_classes=10)
# One small spec per registered block type.
SPECS = {
    "basic": ResNetSpec(**SMALL, block="basic"),
    "bottleneck": ResNetSpec(**SMALL, block="bottleneck"),
    "res2net": ResNetSpec(**SMALL, block="res2net", width_per_group=26),
    "resnest": ResNetSpec(**SMALL, block="resnest", stem="deep", stem_width=32, shortcut="avg_down"),
    "sk_basic": ResNetSpec(**SMALL, block="basic", sk="split"),
    "sk_bottleneck": ResNetSpec(**SMALL, block="bottleneck", sk="whole"),
    "preact_basic": ResNetSpec(**SMALL, block="basic", preact=True),
    "preact_bottleneck": ResNetSpec(**SMALL, block="bottleneck", preact=True),
}


def test_every_block_type_a_spec_can_name_is_registered_and_every_registered_one_is_reachable():
    assert {spec.block_type for spec in SPECS.values()} == set(blocks.BLOCK_TYPES)
    for name, spec in SPECS.items():
        assert spec.block_type == name


def test_a_block_type_is_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        blocks.register_block("basic")(blocks.BasicBlock)


def test_a_block_class_must_agree_with_the_spec_on_its_expansion():
    class Wrong(blocks.ResidualBlock):
        expansion = 2

    with pytest.raises(ValueError, match="expansion"):
        blocks.register_block("wrong_bottleneck")(Wrong)
    assert "wrong_bottleneck" not in blocks.BLOCK_TYPES


def test_an_unknown_block_type_is_a_user_error_naming_the_registered_ones():
    with pytest.raises(UserError, match="unknown block type 'hexagonal'.*basic, bottleneck"):
        blocks.block_class("hexagonal")


@pytest.mark.parametrize(
    "factory, args",
    [
        (blocks.make_norm, ("layer", 64)),
        (blocks.make_norm, ("evonorm", 64)),  # a pre-activation norm-and-activation, not a plain norm
        (blocks.make_norm_act, ("layer", 64)),
        (blocks.make_attention, ("cbam", 64)),
        (blocks.make_aa, ("gaussian", 64, 2, True)),
        (blocks.make_shortcut, ("magic", 64, 128, 2)),
    ],
)
def test_factories_refuse_unknown_names(factory, args):
    kwargs = {"with_norm": True} if factory is blocks.make_shortcut else {}
    with pytest.raises(UserError, match="unknown"):
        factory(*args, **kwargs)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_block_takes_only_the_options_it_names(name):
    cls = blocks.BLOCK_TYPES[name]
    parameters = inspect.signature(cls.__init__).parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    assert set(cls.spec_options) <= set(parameters)
    with pytest.raises(TypeError):
        cls(64, 64, 1, shortcut=None, no_such_option=1)


def identity_blocks_seen(spec: ResNetSpec) -> list[bool]:
    """For each block without a shortcut module, whether it passed its input through unchanged (after the
    final ReLU of a post-activation block) in one pass of the network."""
    model = build_from_spec(spec).eval()
    seen = []

    def compare(module, inputs, output):
        expected = inputs[0] if spec.preact else torch.relu(inputs[0])
        seen.append(torch.allclose(output, expected))

    for module in model.modules():
        if isinstance(module, blocks.ResidualBlock) and module.downsample is None:
            module.register_forward_hook(compare)
    with torch.no_grad():
        model(torch.rand(2, 3, 32, 32))
    return seen


@pytest.mark.parametrize("name", sorted(SPECS))
def test_zero_init_last_makes_every_block_the_identity_on_its_residual_path(name):
    zeroed = identity_blocks_seen(SPECS[name].replace(zero_init_last=True))
    assert zeroed and all(zeroed)
    assert not any(identity_blocks_seen(SPECS[name]))


@pytest.mark.parametrize("name", ["basic", "bottleneck", "res2net", "preact_basic", "preact_bottleneck"])
@pytest.mark.parametrize("attn", ["se", "eca"])
def test_every_block_type_that_takes_attention_runs_with_each_kind(name, attn):
    spec = SPECS[name].replace(attn=attn)
    model = build_from_spec(spec).eval()
    attention = [m for m in model.modules() if isinstance(m, blocks.ResidualBlock) and m.se is not None]
    assert len(attention) == sum(spec.layers)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, spec.num_classes)
