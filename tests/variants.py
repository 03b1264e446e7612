"""Which registered variants a test runs on.

Tests that hold for every variant are parametrized over all of them. The default run (``make test``)
takes a covering set: the fewest, smallest variants that between them show every value of every
structural spec choice (block, stem, stem pool, shortcut, stride placement, pre-activation, attention,
norm, weight standardization, selective kernels, anti-aliasing, ResNeSt and Res2Net settings, grouped,
wide and narrow inner widths, dilation, width tables) and every family. The others are marked ``slow`` and run with
``make test-all``."""

import pytest

import resnet_inspect as ri
from resnet_inspect.model.tables import parameter_counts

# Spec fields whose every value the covering set shows. Sizes (layers, widths, classes, input) only
# repeat what another value already exercises.
_CHOICES = (
    "block", "stem", "stem_pool", "shortcut", "stride_on", "preact", "attn", "attn_reduction", "norm", "std_conv",
    "scales", "radix", "avd_first", "sk", "sk_reduction", "sk_divisor", "shortcut_kernel", "reduce_first", "aa",
)  # fmt: skip


def _features(variant: ri.Variant) -> set[tuple[object, ...]]:
    spec = variant.spec
    features = {(name, getattr(spec, name)) for name in _CHOICES}
    features |= {
        ("family", variant.family),
        ("stages", len(spec.layers)),
        ("dilated", any(spec.dilate)),
        ("grouped", spec.groups > 1),
        ("inner width", "wide" if spec.width_per_group > 64 else "narrow" if spec.width_per_group < 64 else "plain"),
        ("stem width", spec.stem_width == 64),
        ("width table", bool(spec.stage_channels)),
        ("zero-init", spec.zero_init_last),
        # each block type with each attention and anti-aliasing it comes with: their forward branches
        ("block type", spec.block_type, spec.attn),
        ("block type", spec.block_type, spec.aa),
    }
    return features


def covering_set() -> list[str]:
    """Greedy set cover of every variant's features, preferring the smallest network among equals."""
    variants = ri.variants()
    size = parameter_counts()
    wanted = set().union(*(_features(v) for v in variants.values()))
    chosen: list[str] = []
    while wanted:
        best = max(variants, key=lambda name: (len(_features(variants[name]) & wanted), -size[name]))
        chosen.append(best)
        wanted -= _features(variants[best])
    return chosen


COVERING = frozenset(covering_set())


def every_variant(items=None) -> list:
    """``items`` (variant names or `Variant`s; default: every registered name) as pytest parameters, those
    outside the covering set marked ``slow``."""
    items = list(ri.variants()) if items is None else list(items)

    def name(item) -> str:
        return item if isinstance(item, str) else item.name

    return [item if name(item) in COVERING else pytest.param(item, marks=pytest.mark.slow) for item in items]
