"""Each convention preset equals the real tool's own total on the same model."""

import warnings

import pytest
from references import REFERENCE_TOOLS, reference_model

import resnet_inspect as ri
from resnet_inspect.audit.conventions import CONVENTIONS

# By default one model for each set of module types the presets look up (grouped convs, SE and
# average-pool shortcuts are also in resnetrs50, ecaresnet26t and resnest14d); all of them in make test-all.
MODELS = [
    ("resnet50", (2, 3, 96, 96)),
    pytest.param("resnet18d", (1, 3, 64, 64), marks=pytest.mark.slow, id="resnet18d"),
    pytest.param("seresnet50", (1, 3, 64, 64), marks=pytest.mark.slow, id="seresnet50"),
    ("resnetv2_50", (1, 3, 64, 64)),
    pytest.param("resnext50_32x4d", (1, 3, 64, 64), marks=pytest.mark.slow, id="resnext50_32x4d"),
    ("resnet20", (1, 3, 32, 32)),
    ("resnetblur18", (1, 3, 64, 64)),
    pytest.param("resnetaa50d", (1, 3, 64, 64), marks=pytest.mark.slow, id="resnetaa50d"),
    ("ecaresnet26t", (1, 3, 64, 64)),
    ("resnetrs50", (1, 3, 64, 64)),
    ("resnet50_gn", (1, 3, 64, 64)),
    ("res2net50_26w_4s", (1, 3, 64, 64)),
    ("resnest14d", (1, 3, 64, 64)),
    ("skresnet18", (1, 3, 64, 64)),
    ("resnetv2_50x1_bit", (1, 3, 64, 64)),
    # one full-size run, the figures people quote (the same code paths as resnet50 above): make test-all
    pytest.param("torchvision:resnet50", (1, 3, 224, 224), marks=pytest.mark.slow, id="torchvision:resnet50"),
    ("timm:resnet50d", (1, 3, 96, 96)),
]


def make(name):
    return (reference_model(name) if ":" in name else ri.build(name)).eval()


@pytest.mark.parametrize("name, shape", MODELS, ids=[getattr(m, "id", None) or m[0] for m in MODELS])
def test_presets_reproduce_the_real_tools(name, shape):
    warnings.filterwarnings("ignore")
    model = make(name)
    if name.startswith("torchvision"):  # one full-size run: the figures people quote
        shape = (1, 3, 224, 224)
    report = ri.inspect(model, shape, device="cpu")
    for tool, run in REFERENCE_TOOLS.items():
        expected = run(model, shape)
        assert CONVENTIONS[tool].compute(report) == pytest.approx(expected, rel=0, abs=0.5), tool


def test_our_own_conventions():
    report = ri.inspect("resnet50", device="meta")
    assert CONVENTIONS["macs"].compute(report) == report.totals.macs
    assert CONVENTIONS["flopcounter"].compute(report) == 2 * report.totals.macs
    by_class = report.totals.flops_by_class
    assert report.totals.flops == sum(by_class.values())
    assert by_class["conv"] + by_class["linear"] == 2 * report.totals.macs
    assert by_class["bias"] == 1000  # the classifier's bias, once per logit


def test_unknown_convention_lists_the_known_ones():
    from resnet_inspect.audit.conventions import convention

    with pytest.raises(ValueError, match="choose one of macs, flops, torchinfo"):
        convention("gflops")
