"""The builder against the reference implementations (torchvision, timm) and the 2015 paper."""

import pytest
import torch
from references import randomize_norm_stats, reference_model
from variants import every_variant

import resnet_inspect as ri
from resnet_inspect.audit.published import TABLE6_PARAMS, matches_printed
from resnet_inspect.model.tables import parameter_counts

WITH_REFERENCE = [v for v in ri.variants().values() if v.reference]


def test_registry_has_the_required_names():
    names = set(ri.variants())
    required = {
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "wide_resnet50_2",
        "wide_resnet101_2",
        "resnext50_32x4d",
        "resnext101_32x8d",
        "resnext101_64x4d",
        "resnet50_v1",
        "resnet101_v1",
        "resnet152_v1",
        "resnet18d",
        "resnet26",
        "resnet26d",
        "resnet34d",
        "resnet50c",
        "resnet50d",
        "resnet50s",
        "resnet50t",
        "resnet101d",
        "resnet152d",
        "resnet200",
        "resnet200d",
        "resnext101_32x4d",
        "seresnet50",
        "resnetv2_50",
        "preact_resnet18",
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
        "resnet110",
        "resnet1202",
    }
    assert required <= names
    for variant in ri.variants().values():
        assert variant.description and variant.source


@pytest.mark.parametrize("variant", every_variant(WITH_REFERENCE), ids=lambda v: v.name)
def test_state_dict_and_parameters_match_reference_on_meta(variant):
    with torch.device("meta"):
        ours, ref = ri.build(variant.name), reference_model(variant.reference)
    assert {k: tuple(t.shape) for k, t in ours.state_dict().items()} == {
        k: tuple(t.shape) for k, t in ref.state_dict().items()
    }
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


# Logits on the CPU for every variant up to 50M parameters, and the only ones of their kind above it (the
# doubled bottleneck width, 64 groups, SENet-154's 3x3 shortcuts and halved 1x1); every spec choice is among
# them. The deeper and wider ones differ from these only in counts and widths, which the structure check on
# meta above covers for every variant.
LOGITS = [
    v
    for v in WITH_REFERENCE
    if parameter_counts()[v.name] <= 50_000_000 or v.name in ("wide_resnet50_2", "resnext101_64x4d", "senet154")
]


@pytest.mark.parametrize("variant", every_variant(LOGITS), ids=lambda v: v.name)
def test_reference_weights_load_strictly_and_give_the_same_logits(variant):
    ours, ref = ri.build(variant.name), reference_model(variant.reference)
    randomize_norm_stats(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval(), ref.eval()
    # CLIP's attention pool takes only the input its positional embedding is for; the others a small one.
    side = variant.spec.image_size if variant.spec.global_pool == "attention" else 64
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet50", "resnet101", "resnet152"])
def test_v1_moves_the_stride_without_changing_parameters(name):
    v15, v1 = ri.build(name), ri.build(name + "_v1")
    assert {k: t.shape for k, t in v15.state_dict().items()} == {k: t.shape for k, t in v1.state_dict().items()}
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)
    assert v1(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize("name", sorted(TABLE6_PARAMS))
def test_cifar_parameter_counts_reproduce_table_6(name):
    with torch.device("meta"):
        model = ri.build(name)
    params = sum(p.numel() for p in model.parameters())
    decimals = 2 if TABLE6_PARAMS[name] < 1 else 1
    assert matches_printed(params / 1e6, TABLE6_PARAMS[name], decimals), params


def test_cifar_network_shapes_and_zero_pad_shortcut():
    model = ri.build("resnet20").eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert not any(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1) for m in model.modules())
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == 19


def test_overrides_and_spec_round_trip(tmp_path):
    model = ri.build("resnet18", num_classes=7, in_chans=1)
    assert model(torch.randn(1, 1, 64, 64)).shape == (1, 7)
    spec = ri.resolve_spec("resnext50_32x4d")
    assert ri.ResNetSpec.from_dict(spec.to_dict()) == spec
    path = tmp_path / "net.yaml"
    path.write_text("block: basic\nlayers: [1, 1]\nwidths: [8, 16]\nnum_classes: 3\n")
    loaded = ri.load_spec_file(path)
    assert loaded.layers == (1, 1) and ri.build(loaded)(torch.randn(1, 3, 32, 32)).shape == (1, 3)


def test_dilation_keeps_the_resolution():
    model = ri.build("resnet50", dilate=(False, True, True)).eval()
    features = {}

    def keep_shape(module, inputs, output):
        features["layer4"] = output.shape

    model.layer4.register_forward_hook(keep_shape)
    model(torch.randn(1, 3, 224, 224))
    assert features["layer4"] == (1, 2048, 28, 28)
    assert sum(p.numel() for p in model.parameters()) == 25_557_032


def test_zero_init_last_zeroes_the_last_norm_of_every_block():
    model = ri.build("resnet50", zero_init_last=True)
    assert all(not block.bn3.weight.any() for stage in (model.layer1, model.layer4) for block in stage)
    assert ri.build("resnet50").layer1[0].bn3.weight.all()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"layers": (3, 0, 6, 3)}, "layers"),
        ({"layers": (3, -1, 6, 3)}, "layers"),
        ({"block": "basic", "groups": 2}, "groups"),
        ({"widths": (8, 128, 256, 512), "width_per_group": 4}, "width_per_group"),
        ({"block": "basic", "stride_on": "1x1"}, "stride_on"),
        ({"stem": "hexagonal"}, "stem"),
        ({"widths": (64, 128)}, "widths"),
        ({"shortcut": "magic"}, "shortcut"),
        ({"num_classes": 0}, "num_classes"),
        ({"dilate": (True,)}, "dilate"),
        ({"colour": "red"}, "colour"),
        ({"attn": "cbam"}, "attn"),
        ({"attn_reduction": 0}, "attn_reduction"),
        ({"norm": "layer"}, "norm"),
        ({"norm": "group", "stem_width": 24}, "norm"),  # 24 channels cannot form 32 groups
        ({"std_conv": True}, "std_conv"),  # BiT's: pre-activation only
        ({"stem_pool": "fixed"}, "stem_pool"),
        ({"shortcut_kernel": 5}, "shortcut_kernel"),
        ({"norm": "frn"}, "norm"),  # a pre-activation norm-and-activation
        ({"stage_channels": (19, 171, 818)}, "stage_channels"),  # one per stage
        ({"stage_channels": (19, 171, 818, 2022), "block_channels": (47, 18)}, "block_channels"),
        ({"shortcut_kernel": 3, "shortcut": "avg_down"}, "shortcut_kernel"),
        ({"reduce_first": 3}, "reduce_first"),  # 64 is not a multiple of 3
        ({"reduce_first": 2, "block": "basic"}, "reduce_first"),
        ({"block": "res2net", "preact": True}, "block"),
        ({"block": "res2net", "scales": 0}, "scales"),
        ({"stem_pool": "conv", "preact": True}, "stem_pool"),
    ],
)
def test_invalid_specs_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        ri.resolve_spec("resnet50", **overrides)


# timm entrypoints of the ResNet family not registered (none today). A timm release that adds an
# entrypoint makes the test below name it.
NOT_YET: set[str] = set()


def test_every_timm_resnet_entrypoint_is_registered_or_named_as_pending():
    import timm

    defined = {
        name
        for module in ("resnet", "resnetv2", "res2net", "resnest", "sknet")
        for name in timm.list_models(module=module)
    } - {"test_resnet"}
    registered = set(ri.variants())
    assert defined - registered == NOT_YET
    for name in sorted(defined & registered):
        reference = ri.get_variant(name).reference
        assert reference in (f"timm:{name}", f"torchvision:{name}"), name
        if reference.startswith("torchvision"):  # checked against torchvision elsewhere; timm's must agree too
            with torch.device("meta"):
                ours, timm_model = ri.build(name), timm.create_model(name)
            assert {k: tuple(t.shape) for k, t in ours.state_dict().items()} == {
                k: tuple(t.shape) for k, t in timm_model.state_dict().items()
            }, name


def test_width_tables_are_timms():
    from resnet_inspect.model.tables import width_tables
    from resnet_inspect.model.width_tables import timm_tables

    assert width_tables() == timm_tables(), "run: python -m resnet_inspect.publish"


def test_older_spec_files_that_say_se_still_read():
    assert ri.ResNetSpec.from_dict({"se": True}).attn == "se"
    assert ri.ResNetSpec.from_dict({"se": False}).attn == "none"
    from resnet_inspect.resolve import resolve_target

    assert resolve_target("resnet50", ["se=true"]).spec.attn == "se"


def test_eca_kernel_follows_the_channel_count():
    model = ri.build("ecaresnet50d")
    kernels = {block.se.conv.kernel_size[0] for stage in (model.layer1, model.layer4) for block in stage}
    # the paper's |(log2 C + b) / gamma| rounded up to odd, gamma 2, b 1: 256 -> 4.5 -> 5; 2048 -> 6 -> 7
    assert kernels == {5, 7}


def test_unknown_name_lists_the_closest():
    with pytest.raises(ValueError, match=r"closest: .*resnet50\b"):
        ri.build("resnet05")


def test_native_inputs_are_timms():
    from resnet_inspect.model.tables import native_inputs
    from resnet_inspect.model.width_tables import timm_native_inputs

    assert native_inputs() == timm_native_inputs(), "run: python -m resnet_inspect.publish"


def test_every_variant_defaults_to_its_references_input():
    """timm's models at the input of their default pretrained configuration, torchvision's at 224."""
    import timm

    for variant in WITH_REFERENCE:
        library, name = variant.reference.split(":")
        if library == "open_clip":  # the side its positional embedding is made for
            native = reference_model(variant.reference).attnpool.positional_embedding.shape[0] - 1
            native = round(native**0.5) * 32
        else:
            native = timm.models.get_pretrained_cfg(name).input_size[-1] if library == "timm" else 224
        assert variant.spec.image_size == native, variant.name
