"""Which stage and block each module belongs to.

A network built here, and every timm model, says where its stages are: ``feature_info`` lists the
feature maps it exposes, and those made by a container of blocks are its stages (the stem's
output is a single layer's). A module without it has its stages found by the usual names
(``layer1`` in torchvision, ``stages.0`` in timm's layout); a network with neither has none,
and says so, rather than one made-up stage."""

from __future__ import annotations

import re

from torch import nn

_USUAL_STAGE_NAME = re.compile(r"^(layer\d+|stages\.\d+)$")


def stage_modules(model: nn.Module, modules: dict[str, nn.Module] | None = None) -> list[str]:
    """Qualified names of the stage containers, in order (``modules``: the model's named modules)."""
    modules = dict(model.named_modules()) if modules is None else modules
    declared = getattr(model, "feature_info", None)
    if isinstance(declared, (list, tuple)) and declared and all(isinstance(f, dict) for f in declared):
        return [f["module"] for f in declared if f.get("module") in modules and modules[f["module"]]._modules]
    return [name for name in modules if _USUAL_STAGE_NAME.match(name)]


class StageMap:
    """Assigns each module to ``stem``, a stage (with its block index), or ``head``."""

    def __init__(self, stages: list[str], first_calls: dict[str, int]) -> None:
        self.stages = stages
        alternatives = "|".join(re.escape(s) for s in stages) or r"(?!)"
        self._pattern = re.compile(rf"^({alternatives})(?:\.(?:blocks\.)?(\d+))?(?:\.|$)")
        self._matches = {name: self._pattern.match(name) for name in first_calls}
        # Modules that ran before the first stage are the stem; the others outside stages, the head.
        orders = [order for name, order in first_calls.items() if self._matches[name]]
        self.first_stage_order = min(orders) if orders else None

    def locate(self, name: str, order: int) -> tuple[str | None, int | None]:
        """(stage, block index) of the module ``name`` that first ran at position ``order``."""
        if name == "":
            return None, None
        match = self._matches[name] if name in self._matches else self._pattern.match(name)
        if match:
            return match.group(1), int(match.group(2)) if match.group(2) is not None else None
        if self.first_stage_order is None:
            return None, None  # no stages, so no stem or head either
        return ("stem" if order < self.first_stage_order else "head"), None
