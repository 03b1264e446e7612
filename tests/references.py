"""The references every figure is checked against: the real torchvision and timm models, and the
real counting tools run on a model the way their users run them."""

import contextlib
import copy
import io
import logging

import torch


def reference_model(reference: str) -> torch.nn.Module:
    """Instantiate the torchvision, timm or OpenCLIP model named ``lib:name`` (OpenCLIP's: its image encoder)."""
    lib, name = reference.split(":")
    if lib == "torchvision":
        import torchvision

        return getattr(torchvision.models, name)(weights=None)
    if lib == "open_clip":
        import json
        from pathlib import Path

        import open_clip
        from open_clip.modified_resnet import ModifiedResNet

        config = json.loads((Path(open_clip.__file__).parent / "model_configs" / f"{name}.json").read_text())
        vision = config["vision_cfg"]
        heads = vision["width"] * 32 // 64
        return ModifiedResNet(vision["layers"], config["embed_dim"], heads, vision["image_size"], vision["width"])
    import timm

    return timm.create_model(name, pretrained=False)


def randomize_norm_stats(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial statistics and affine terms, so that copying weights
    and comparing outputs tests the normalization layers too."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def torchinfo_total(model, shape):
    from torchinfo import summary

    return summary(model, input_size=shape, verbose=0, device="cpu").total_mult_adds


def fvcore_total(model, shape):
    from fvcore.nn import FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(model, torch.randn(shape))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.total()


def ptflops_total(model, shape):
    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        macs, _ = get_model_complexity_info(
            copy.deepcopy(model),
            tuple(shape[1:]),
            as_strings=False,
            print_per_layer_stat=False,
            verbose=False,
            backend="pytorch",
        )
    return macs


def thop_total(model, shape):
    from thop import profile

    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = profile(copy.deepcopy(model), inputs=(torch.randn(shape),), verbose=False)
    return macs


def flop_counter_total(model, shape):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(shape))
    return counter.get_total_flops()


REFERENCE_TOOLS = {
    "torchinfo": torchinfo_total,
    "fvcore": fvcore_total,
    "ptflops": ptflops_total,
    "thop": thop_total,
    "flopcounter": flop_counter_total,
}
