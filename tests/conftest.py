import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def reference_model(reference: str) -> torch.nn.Module:
    """Instantiate the torchvision or timm model named ``lib:name``."""
    lib, name = reference.split(":")
    if lib == "torchvision":
        import torchvision

        return getattr(torchvision.models, name)(weights=None)
    import timm

    return timm.create_model(name, pretrained=False)


@pytest.fixture
def randomize_norm_stats():
    """Give every BatchNorm non-trivial statistics and affine terms, so that copying weights
    and comparing outputs tests the normalization layers too."""

    def apply(model: torch.nn.Module, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    n = module.num_features
                    module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                    module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                    module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                    module.bias.copy_(torch.randn(n, generator=gen) * 0.1)

    return apply
