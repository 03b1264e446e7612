"""Figures printed in the papers, as written there, for checking the builder and the reports.

Sources: He et al. 2015 (arXiv:1512.03385) Table 1 ("FLOPs", which are multiply-adds, of the
ImageNet models at 224x224 with the stride on the first 1x1) and Table 6 (CIFAR-10 parameters)."""

from __future__ import annotations

# ImageNet, Table 1: multiply-adds in units of 10^9. ResNet-18/34 have no bottleneck, so the
# stride placement does not matter; the deeper ones are the paper's v1 layout.
TABLE1_MULT_ADDS = {
    "resnet18": 1.8,
    "resnet34": 3.6,
    "resnet50_v1": 3.8,
    "resnet101_v1": 7.6,
    "resnet152_v1": 11.3,
}

# CIFAR-10, Table 6: parameters in millions.
TABLE6_PARAMS = {
    "resnet20": 0.27,
    "resnet32": 0.46,
    "resnet44": 0.66,
    "resnet56": 0.85,
    "resnet110": 1.7,
    "resnet1202": 19.4,
}


def matches_printed(value: float, printed: float, decimals: int) -> bool:
    """Whether ``value`` is what the paper would print with ``decimals`` digits.

    The paper rounds some figures and truncates others (ResNet-34's 3.67e9 is printed 3.6),
    so both readings are accepted and nothing wider."""
    step = 10.0 ** -decimals
    rounded = abs(round(value, decimals) - printed) < step / 2
    truncated = abs(int(value / step + 1e-9) * step - printed) < step / 2
    return rounded or truncated
