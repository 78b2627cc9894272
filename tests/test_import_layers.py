"""The import graph runs one way: fileio <- core utilities <- data_modules <- method support <- methods <- apps.

Parsed from the source (every ``import`` / ``from ... import``, also inside functions; imports under
``if TYPE_CHECKING:`` are annotations only and are skipped), so a new upward arrow fails here before it
becomes a cycle. See docs/CONTRIBUTING.md ("Layers") for what belongs where.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Modules that run whole programs on top of everything (CLI, results and sweep runners, the RL anchor).
APPS = {"lit_agents.cli", "lit_agents.cli_parser", "lit_agents.results", "lit_agents.results_rl",
        "lit_agents.results_rm_r1", "lit_agents.results_showcase", "lit_agents.results_iteralign", "lit_agents.sweep",
        "lit_agents.rl_anchor", "lit_agents.reliable_select", "lit_agents.results_tinyllm",
        "lit_agents.results_toolrl"}
# A method's domain machinery that needs its data layer (PlayBest's planner over basketball courts, ReLiable's
# evaluation with its action labels and plots, ToolRL's tool environment with a search corpus read from disk).
SUPPORT_PREFIXES = ("lit_agents.planning", "lit_agents.evaluation.reliable", "lit_agents.tools.environment",
                    "lit_agents.tools.search")
METHODS_PREFIX = "lit_agents.methods"


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _layer(module: str) -> str:
    if module == "lit_agents.fileio":
        return "fileio"
    if module.split(".")[0] == "data_modules":
        return "data"
    if module in APPS:
        return "app"
    if module == METHODS_PREFIX or module.startswith(METHODS_PREFIX + "."):
        return "method"
    if module.startswith(SUPPORT_PREFIXES):
        return "support"
    return "core"


# what each layer may import from the project (its own layer included, except where noted)
ALLOWED = {"fileio": set(), "core": {"fileio", "core"}, "data": {"fileio", "core", "data"},
           "support": {"fileio", "core", "data", "support"},
           "method": {"fileio", "core", "data", "support", "method"},
           "app": {"fileio", "core", "data", "support", "method", "app"}}


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST):
    """(module, imported names, line) for every runtime import in ``tree``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                stack.extend(child.orelse)
                continue
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield child.module, [a.name for a in child.names], child.lineno
            elif isinstance(child, ast.Import):
                for a in child.names:
                    yield a.name, [], child.lineno
            stack.append(child)


def _project_modules():
    for pkg in ("lit_agents", "data_modules"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "samples" not in path.relative_to(ROOT).parts:
                yield path


def _edges():
    for path in _project_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, names, line in _imports(tree):
            if target.split(".")[0] in ("lit_agents", "data_modules"):
                yield path, tree, target, names, line


def test_layers_import_only_downwards():
    bad = []
    for path, _, target, _, line in _edges():
        src, dst = _layer(_name(path)), _layer(target)
        if dst not in ALLOWED[src]:
            bad.append(f"{path.relative_to(ROOT)}:{line}: {src} module imports {dst} module {target}")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_fileio_is_standard_library_only():
    tree = ast.parse((ROOT / "lit_agents" / "fileio.py").read_text(encoding="utf-8"))
    third_party = [m for m, _, _ in _imports(tree) if m.split(".")[0] not in {
        "__future__", "json", "logging", "os", "re", "tempfile", "collections", "contextlib", "pathlib", "typing",
        "hashlib"}]
    assert not third_party, third_party


def _base_names(tree: ast.AST) -> set[str]:
    return {ast.unparse(b) for n in ast.walk(tree) if isinstance(n, ast.ClassDef) for b in n.bases}


def test_a_method_imports_another_only_to_subclass_its_module():
    """RM-R1 stage 1 *is* SFT and ToolRL *is* GRPO, so subclassing a sibling's LightningModule is allowed;
    borrowing its helpers is not (they belong in losses/, training/, sampling/ or evaluation/)."""
    bad = []
    for path, tree, target, names, line in _edges():
        if _layer(_name(path)) != "method" or _layer(target) != "method" or target == _name(path):
            continue
        borrowed = [n for n in names if n not in _base_names(tree)] or (["<module>"] if not names else [])
        if borrowed:
            bad.append(f"{path.relative_to(ROOT)}:{line}: imports {borrowed} from {target}")
    assert not bad, "\n".join(bad)


def test_methods_package_holds_only_lightning_modules():
    """Every file in lit_agents/methods defines a LightningModule (helpers live in the layer of their job)."""
    import importlib
    import inspect

    import lightning as L

    lonely = []
    for path in sorted((ROOT / "lit_agents" / "methods").glob("*.py")):
        if path.name == "__init__.py":
            continue
        mod = importlib.import_module(_name(path))
        own = [c for _, c in inspect.getmembers(mod, inspect.isclass)
               if c.__module__ == mod.__name__ and issubclass(c, L.LightningModule)]
        if not own:
            lonely.append(path.name)
    assert not lonely, f"files in lit_agents/methods without a LightningModule: {lonely}"


@pytest.mark.parametrize("module,layer", [("lit_agents.fileio", "fileio"), ("lit_agents.generation", "core"),
                                          ("data_modules.io", "data"), ("lit_agents.planning.rollout", "support"),
                                          ("lit_agents.methods.grpo", "method"), ("lit_agents.cli", "app")])
def test_layer_of(module, layer):
    assert _layer(module) == layer
