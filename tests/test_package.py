"""The package's shape: imports flow one way, with no circle (every import statement of eql/ is
read, those inside functions too), and the pure-torch core imports and trains in a Python without
detectron2."""

import ast
import os
import subprocess
import sys
import textwrap
from typing import Dict, List, Set, Tuple

from common import REPO

PACKAGE = os.path.join(REPO, "eql")
# what each part of eql may import (besides itself); tools -> engine -> config -> modeling ->
# data / evaluation -> losses, with errors and utils below everything (README: Layout)
ALLOWED = {
    "eql.errors": set(),
    "eql.utils": {"eql.errors"},
    "eql.losses": {"eql.errors", "eql.utils"},
    "eql.classification": {"eql.errors", "eql.utils", "eql.losses"},
    "eql.data": {"eql.errors", "eql.utils"},
    "eql.evaluation": {"eql.errors", "eql.utils"},
    "eql.checkpoint": {"eql.errors", "eql.utils"},
    "eql.modeling": {"eql.errors", "eql.utils", "eql.losses", "eql.data"},
    "eql.config": {"eql.errors", "eql.utils", "eql.modeling"},
    "eql.diagnostics": {"eql.errors", "eql.utils", "eql.losses", "eql.data", "eql.modeling"},
    "eql.model_zoo": {"eql.errors", "eql.utils", "eql.checkpoint", "eql.config"},
    # the benchmark's reports read the gradient diagnostics' files
    "eql.benchmark": {
        "eql.errors",
        "eql.utils",
        "eql.data",
        "eql.modeling",
        "eql.config",
        "eql.diagnostics",
    },
    "eql.engine": {
        "eql.errors",
        "eql.utils",
        "eql.checkpoint",
        "eql.data",
        "eql.evaluation",
        "eql.modeling",
        "eql.config",
        "eql.diagnostics",
        "eql.model_zoo",
    },
    "eql": {"eql.config", "eql.data", "eql.modeling", "eql.model_zoo"},
}
# the pure-torch core and what it may import from outside eql
PURE_TORCH = ("eql.losses", "eql.classification", "eql.errors")
PURE_TORCH_THIRD_PARTY = {"torch", "numpy"}


def _modules() -> Dict[str, Tuple[str, bool]]:
    """Every module of eql: dotted name -> (file, is a package's __init__)."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, REPO)[: -len(".py")].split(os.sep)
            is_init = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_init else parts)] = (path, is_init)
    return found


MODULES = _modules()


def _imports(module: str) -> List[Tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import statement of ``module``,
    relative imports resolved; ``from package import name`` counts the submodule ``name`` when
    there is one."""
    path, is_init = MODULES[module]
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_init else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            # ``from . import x`` in a package's __init__ imports its submodule x, not itself
            targets = submodules + ([base] if base != module else [])
        else:
            continue
        out.extend((target, node.lineno, id(node) in in_function) for target in targets)
    return out


def _part(module: str) -> str:
    parts = module.split(".")
    return module if len(parts) == 1 else ".".join(parts[:2])


def _graph() -> Dict[str, Set[str]]:
    return {
        module: {t for t, _, _ in _imports(module) if t.split(".")[0] == "eql"}
        for module in MODULES
    }


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan), and self-imports."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_import_resolves_to_a_module_of_eql():
    missing = [
        f"{module}:{line} {target}"
        for module in MODULES
        for target, line, _ in _imports(module)
        if target.split(".")[0] == "eql" and target not in MODULES
    ]
    assert not missing


def test_the_import_graph_has_no_cycle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"], ["e"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_imports_flow_one_way():
    assert set(ALLOWED) == {_part(m) for m in MODULES}, "a new part of eql: give it its place"
    upward = [
        f"{module}:{line} imports {target}"
        for module in MODULES
        for target, line, _ in _imports(module)
        if target.split(".")[0] == "eql"
        and _part(target) != _part(module)
        and _part(target) not in ALLOWED[_part(module)]
    ]
    assert not upward


def test_no_eql_import_inside_a_function():
    inside = [
        f"{module}:{line} {target}"
        for module in MODULES
        for target, line, in_function in _imports(module)
        if in_function and target.split(".")[0] == "eql"
    ]
    assert not inside


def test_the_pure_torch_core_imports_only_torch_and_numpy():
    outside = []
    for module in MODULES:
        if not module.startswith(PURE_TORCH):
            continue
        for target, line, _ in _imports(module):
            top = target.split(".")[0]
            if top == "eql":
                if not target.startswith(PURE_TORCH):
                    outside.append(f"{module}:{line} {target}")
            elif top not in sys.stdlib_module_names and top not in PURE_TORCH_THIRD_PARTY:
                outside.append(f"{module}:{line} {target}")
    assert not outside


# run in a fresh interpreter where every import of detectron2 and its stack fails
WITHOUT_DETECTRON2 = """
import importlib.abc, sys

BLOCKED = {"detectron2", "fvcore", "iopath", "yacs", "pycocotools", "lvis", "faster_coco_eval",
           "cv2", "matplotlib", "PIL"}

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)

sys.meta_path.insert(0, Blocked())

import torch
import eql
import eql.classification
import eql.losses
from common import EVERY_LOSS, every_loss_class_is_covered

assert eql.HAS_DETECTRON2 is False
try:
    eql.add_eql_config
except ImportError as e:
    assert "needs detectron2" in str(e), e
else:
    raise AssertionError("eql.add_eql_config without detectron2")
every_loss_class_is_covered()
for name, (make, top) in EVERY_LOSS.items():
    loss = make()
    torch.manual_seed(0)
    logits = torch.randn(2 * (top + 1), loss.num_logits, requires_grad=True)
    labels = torch.arange(top + 1).repeat(2)
    value = loss(logits, labels)
    value.backward()
    assert torch.isfinite(value) and logits.grad is not None and logits.grad.abs().sum() > 0, name
    print("loss", name, float(value))
for name in eql.classification.CLASSIFICATION_LOSSES:
    loss = eql.classification.build_classification_loss(name, [100, 50, 20, 5, 2])
    logits = torch.randn(5, loss.num_logits, requires_grad=True)
    loss(logits, torch.arange(5)).backward()
    print("classifier loss", name, float(logits.grad.abs().sum()) > 0)
imported = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not imported, imported
print("ok")
"""


def test_the_losses_import_and_train_without_detectron2():
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "tests"))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WITHOUT_DETECTRON2)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "ok"
    from common import EVERY_LOSS

    assert {line.split()[1] for line in lines if line.startswith("loss ")} == set(EVERY_LOSS)
