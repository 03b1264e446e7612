"""resnet-inspect: build any ResNet variant and see exactly what it is."""

from .analyze import AnalysisError, inspect
from .build import build, resolve_spec
from .registry import Variant, get_variant, variants
from .report import ModelReport
from .spec import ResNetSpec, load_spec_file

__all__ = ["AnalysisError", "ModelReport", "ResNetSpec", "Variant", "build", "get_variant", "inspect",
           "load_spec_file", "resolve_spec", "variants"]
__version__ = "0.1.0"
