"""Every private torch interface the analysis and the memory simulation rely on, in one place.

A new torch release that moves one of them breaks this module alone. Each name is the torch function
itself, not a wrapper: the tracer calls some of them around every leaf module, where a Python call in
between would show in the analysis's overhead."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn.modules import module as _module
from torch.utils._python_dispatch import TorchDispatchMode as DispatchMode

# The stack of dispatch modes: the tracer steps itself off it while a leaf whose operators it already
# knows runs, and back on after (torch has no public way to pause a mode for a while).
dispatch_stack_depth: Callable[[], int] = torch._C._len_torch_dispatch_stack
dispatch_mode_at: Callable[[int], object] = torch._C._get_dispatch_stack_at
pop_dispatch_mode = torch._C._pop_torch_dispatch_stack
push_dispatch_mode = torch._C._push_on_torch_dispatch_stack

# Hooks on every module's call, without touching the model (torch.nn.modules.module's global hooks).
register_global_forward_pre_hook = _module.register_module_forward_pre_hook
register_global_forward_hook = _module.register_module_forward_hook

# What decides which operators a leaf runs, read per call: autocast (any device) and cuDNN.
autocast_enabled: Callable[[], bool] = getattr(torch._C, "_is_any_autocast_enabled", None) or (
    lambda: torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()
)
cudnn_enabled: Callable[[], bool] = torch._C._get_cudnn_enabled

# An aten operator as a dispatch mode receives it (for annotations).
Operator = torch._ops.OpOverload

# The convolution kernel torch picks for given shapes (the CPU's scratch memory depends on it).
select_conv_backend = torch._C._select_conv_backend

__all__ = [
    "DispatchMode",
    "Operator",
    "autocast_enabled",
    "cudnn_enabled",
    "dispatch_mode_at",
    "dispatch_stack_depth",
    "pop_dispatch_mode",
    "push_dispatch_mode",
    "register_global_forward_hook",
    "register_global_forward_pre_hook",
    "select_conv_backend",
]
