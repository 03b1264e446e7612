"""The package's layout holds: imports run down the pipeline only, renderers never touch torch,
and importing the package or asking for help does not import torch."""

import ast
import subprocess
import sys
from pathlib import Path

from support import ROOT

PACKAGE = ROOT / "resnet_inspect"
# Each room may import from rooms on lower floors and from its own room.
FLOORS = {
    "errors": -1,
    "units": -1,
    "text": -1,
    "limits": 0,
    "fileio": 0,
    "userfiles": 1,
    "model": 2,
    "analysis": 3,
    "weights": 3,
    "audit": 4,
    "memory": 4,
    "profiling": 5,
    "views": 6,
    "resolve": 7,
    "publish": 7,
    "webapp": 8,
    "cli": 8,
    "__main__": 9,
    "serve": 9,
}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> set[str]:
    """Every resnet_inspect module ``path`` imports, at the top or inside a function."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("resnet_inspect"):
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("resnet_inspect"))
    return found


def all_modules():
    return [p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"]


def test_every_module_has_a_room():
    assert {room(".".join(p.relative_to(ROOT).with_suffix("").parts)) for p in all_modules()} <= set(FLOORS)


def test_imports_run_down_the_pipeline():
    upward = []
    for path in all_modules():
        here = room(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for target in imports_of(path):
            there = room(target)
            if there == "__init__" or there == here:
                continue
            if FLOORS[there] >= FLOORS[here]:
                upward.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not upward


def test_renderers_never_touch_torch_or_run_a_model():
    for path in (PACKAGE / "views").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(name == "torch" or name.startswith("torch.") for name in names), path.name
        inner = imports_of(path)
        assert not any(
            t.startswith(("resnet_inspect.analysis.", "resnet_inspect.profiling"))
            and t != "resnet_inspect.analysis.report"
            for t in inner
        ), (path.name, inner)


def test_importing_the_package_the_views_and_the_help_does_not_import_torch():
    code = (
        "import sys, contextlib, io\n"
        "import resnet_inspect, resnet_inspect.cli\n"
        "from resnet_inspect.views import audit_views, charts, export, graphs, pages, profile_views, tables, terminal\n"
        "from resnet_inspect.analysis import options, report\n"
        "from resnet_inspect.audit import claims, conventions, counts, diff, values\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    resnet_inspect.cli.main(['--help'])\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
