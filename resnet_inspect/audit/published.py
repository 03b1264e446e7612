"""Figures published for the variants, as printed in the papers or recorded by the libraries, and whether ours match.

Sources: He et al. 2015 (arXiv:1512.03385) Table 1 ("FLOPs", which are multiply-adds, of the
ImageNet models at 224x224 with the stride on the first 1x1) and Table 6 (CIFAR-10 parameters)."""

from __future__ import annotations

from typing import Any

from ..analysis.report import ModelReport
from ..model.registry import Variant

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
    step = 10.0**-decimals
    rounded = abs(round(value, decimals) - printed) < step / 2
    truncated = abs(int(value / step + 1e-9) * step - printed) < step / 2
    return rounded or truncated


def reference_figures(variant: Variant, report: ModelReport) -> list[dict[str, str]]:
    """Figures published for this variant, computed or read from their source, and whether ours match."""
    rows = []
    if variant.name in TABLE1_MULT_ADDS:
        printed = TABLE1_MULT_ADDS[variant.name]
        ok = matches_printed(report.totals.macs / 1e9, printed, 1)
        rows.append(
            {
                "source": "He et al. 2015, Table 1 (FLOPs = multiply-adds)",
                "figure": f"{printed} x10^9",
                "ours": f"{report.totals.macs:,} MACs",
                "match": "yes" if ok else "NO",
            }
        )
    if variant.name in TABLE6_PARAMS:
        printed = TABLE6_PARAMS[variant.name]
        ok = matches_printed(report.totals.params / 1e6, printed, 2 if printed < 1 else 1)
        rows.append(
            {
                "source": "He et al. 2015, Table 6 (parameters)",
                "figure": f"{printed}M",
                "ours": f"{report.totals.params:,}",
                "match": "yes" if ok else "NO",
            }
        )
    if variant.reference:
        rows.extend(_library_figures(variant.reference, report))
    return rows


def _library_figures(reference: str, report: ModelReport) -> list[dict[str, str]]:
    lib, name = reference.split(":")
    try:
        if lib == "torchvision":
            import torchvision

            weights = torchvision.models.get_model_weights(name)
            meta = next(iter(weights)).meta
            rows = [
                {
                    "source": f"torchvision {name} weights metadata (num_params)",
                    "figure": f"{meta['num_params']:,}",
                    "ours": f"{report.totals.params:,}",
                    "match": "yes" if meta["num_params"] == report.totals.params else "NO",
                }
            ]
            if "_ops" in meta:
                ok = abs(meta["_ops"] - report.totals.macs / 1e9) < 0.0005
                rows.append(
                    {
                        "source": f"torchvision {name} weights metadata (_ops, GFLOPS)",
                        "figure": f"{meta['_ops']}",
                        "ours": f"{report.totals.macs / 1e9:.3f} G MACs",
                        "match": "yes" if ok else "NO",
                    }
                )
            return rows
        import torch

        with torch.device("meta"):
            if lib == "open_clip":
                model, source = _open_clip_image_encoder(name), f"OpenCLIP {name} image encoder"
            else:
                import timm

                model, source = timm.create_model(name, pretrained=False), f"timm {name}"
        params = sum(p.numel() for p in model.parameters())
        return [
            {
                "source": f"{source} (built, parameters counted)",
                "figure": f"{params:,}",
                "ours": f"{report.totals.params:,}",
                "match": "yes" if params == report.totals.params else "NO",
            }
        ]
    except ImportError:
        return [{"source": reference, "figure": "(library not installed)", "ours": "", "match": ""}]


def _open_clip_image_encoder(name: str) -> Any:
    """OpenCLIP's ModifiedResNet as its model config describes it (the image tower alone)."""
    import json
    from pathlib import Path

    import open_clip
    from open_clip.modified_resnet import ModifiedResNet

    config = json.loads((Path(open_clip.__file__).parent / "model_configs" / f"{name}.json").read_text())
    vision = config["vision_cfg"]
    heads = vision["width"] * 32 // 64  # OpenCLIP's: one head per 64 channels of the features
    return ModifiedResNet(vision["layers"], config["embed_dim"], heads, vision["image_size"], vision["width"])
