"""The package's layer rule, read from the source with ast: a module of layer
engine < estimators < api < plane < apps imports only from its own layer or those below (the
compiled extension deep_ei_fast._C is below them all). deep_ei_fast/__init__.py, __main__.py
and plots.py are the public face and may import anything. Imports inside functions count.
And nothing in deep_ei_fast/ but engine/ops.py mentions torch.ops."""
import ast
from pathlib import Path

import pytest

PACKAGE = "deep_ei_fast"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
LAYERS = ["engine", "estimators", "api", "plane", "apps"]
PUBLIC_FACE = {"__init__", "__main__", "plots"}  # top-level modules: may import anything
RANK = {"_C": -1, **{name: k for k, name in enumerate(LAYERS)}}
OPS_MODULE = ROOT / "engine" / "ops.py"


def module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path):
    return path.name == "__init__.py"


def imported_modules(source, name, package):
    """The deep_ei_fast modules that `source` (module `name`, a package when `package`)
    imports; `from X import y` counts as X.y (y may be a submodule)."""
    here = name.split(".") if package else name.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == PACKAGE:
                yield from (f"{target}.{a.name}" for a in node.names)


def rank_of(target):
    """Layer rank of an imported deep_ei_fast module; None for the public face (the top-level
    package and modules), which no layer may import."""
    parts = target.split(".")
    return RANK.get(parts[1]) if len(parts) > 1 else None


def violations(source, name, package=False):
    layer = (name.split(".") + [""])[1]
    if layer not in RANK:  # the top-level package or module: the public face
        return []
    bad = []
    for target in imported_modules(source, name, package):
        rank = rank_of(target)
        if rank is None or rank > RANK[layer]:
            bad.append(target)
    return bad


def package_modules():
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_package_has_the_layers():
    names = {module_name(p) for p in package_modules()}
    assert {f"{PACKAGE}.{layer}" for layer in LAYERS} <= names
    top = {n.split(".")[1] for n in names if n.count(".") == 1 and n.split(".")[1] not in RANK}
    assert top <= PUBLIC_FACE, top  # no top-level module outside the layers but the public face


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_from_its_layer_or_below(path):
    assert violations(path.read_text(), module_name(path), is_package(path)) == []


@pytest.mark.parametrize("source, name, package, bad", [
    ("from ..plane import x", "deep_ei_fast.engine.measurement", False, ["deep_ei_fast.plane.x"]),
    ("def f():\n    from ..apps import cli", "deep_ei_fast.api.prepare", False, ["deep_ei_fast.apps.cli"]),
    ("import deep_ei_fast.api.tables", "deep_ei_fast.estimators.plugin", False,
     ["deep_ei_fast.api.tables"]),
    ("from deep_ei_fast import ei", "deep_ei_fast.plane.rows", False, ["deep_ei_fast.ei"]),
    ("from .. import plots", "deep_ei_fast.apps.demo", False, ["deep_ei_fast.plots"]),
    ("from ..estimators import plugin", "deep_ei_fast.engine", True, ["deep_ei_fast.estimators.plugin"]),
    ("from .ops import x\nfrom .. import _C", "deep_ei_fast.engine.settings", False, []),
    ("from ..engine import ops\nfrom . import tables", "deep_ei_fast.api.prepare", False, []),
    ("from ..plane import rows", "deep_ei_fast.apps.cli", False, []),
    ("import torch\nfrom typing import Optional", "deep_ei_fast.engine.ops", False, []),
])
def test_the_rule_itself(source, name, package, bad):
    assert violations(source, name, package) == bad


def test_only_engine_ops_mentions_torch_ops():
    mentions = [str(p.relative_to(ROOT)) for p in package_modules()
                if p != OPS_MODULE and "torch.ops" in p.read_text()]
    assert mentions == []
    assert "torch.ops.deep_ei_fast" in OPS_MODULE.read_text()
