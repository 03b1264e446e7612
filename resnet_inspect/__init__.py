"""resnet-inspect: build any ResNet variant and see exactly what it is."""

from .build import build, resolve_spec
from .registry import Variant, get_variant, variants
from .spec import ResNetSpec, load_spec_file

__all__ = ["ResNetSpec", "Variant", "build", "get_variant", "load_spec_file", "resolve_spec", "variants"]
__version__ = "0.1.0"

from .analyze import AnalysisError, inspect  # noqa: E402
from .report import ModelReport  # noqa: E402

__all__ += ["AnalysisError", "ModelReport", "inspect"]
