"""Sizes as people read them. One formatter for every message and view that prints a byte count."""

from __future__ import annotations


def binary_size(value: float) -> str:
    """Bytes in binary units, as memory is sold and reported (1 GiB = 2^30 bytes): ``1.50 GiB``."""
    for factor, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {unit}"
    return f"{int(value)} B"
