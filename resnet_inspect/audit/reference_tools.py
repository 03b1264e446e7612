"""Run torchinfo and fvcore themselves on a model, to show their totals next to our presets."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings

import torch
from torch import nn


def live_totals(model: nn.Module, input_shape: list[int]) -> dict[str, float]:
    """Totals printed by torchinfo ("Total mult-adds") and fvcore (FlopCountAnalysis.total())
    for one CPU pass at ``input_shape``."""
    with warnings.catch_warnings():  # fvcore scripts a loss function at import: torch's deprecation notice
        warnings.simplefilter("ignore", FutureWarning)
        from fvcore.nn import FlopCountAnalysis
    from torchinfo import summary

    model = copy.deepcopy(model).to("cpu", torch.float32).eval()
    x = torch.randn(input_shape)
    results: dict[str, float] = {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        results["torchinfo"] = summary(model, input_data=x, verbose=0, device="cpu").total_mult_adds
        logging.getLogger("fvcore").setLevel(logging.ERROR)
        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        results["fvcore"] = analysis.total()
    return results
