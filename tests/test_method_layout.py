"""Keeps `docs/CONTRIBUTING.md`'s "Adding a method" checklist honest: every LightningModule and
LightningDataModule the package ships is reachable from a YAML config, has tests that name it, and is
documented in the README."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import lightning as L
import pytest

import data_modules
import lit_agents.methods
from tests.helpers import REPO

CONFIG_TEXT = "\n".join(p.read_text() for p in sorted((REPO / "configs").rglob("*.yaml")))
README = (REPO / "README.md").read_text()
CONTRIBUTING = (REPO / "docs" / "CONTRIBUTING.md").read_text()


def _shipped(package, base) -> list[type]:
    """Concrete subclasses of ``base`` defined (not just imported) in ``package``'s modules."""
    found = []
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, base) and not inspect.isabstract(cls):
                found.append(cls)
    return found


MODULES = [c for c in _shipped(lit_agents.methods, L.LightningModule) if "Mixin" not in c.__name__]
DATA_MODULES = _shipped(data_modules, L.LightningDataModule)
# bases that methods build on, not methods a user configures
BASES = {"data_modules.base.RecordsDataModule"}


def _tests_naming(name: str) -> list[str]:
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return [str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py") if pattern.search(p.read_text())]


@pytest.mark.parametrize("cls", MODULES + DATA_MODULES, ids=lambda c: c.__name__)
def test_shipped_class_has_config_tests_and_docs(cls):
    path = f"{cls.__module__}.{cls.__qualname__}"
    if path in BASES:
        return
    assert f"class_path: {path}" in CONFIG_TEXT, f"{path}: no YAML under configs/ uses it (class_path: {path})"
    assert _tests_naming(cls.__name__), f"{path}: no tests/**/test_*.py names {cls.__name__}"
    assert cls.__name__ in README, f"{path}: the README does not mention {cls.__name__}"


def test_checklist_names_the_pieces_this_test_checks():
    for piece in ("configs/", "tests/methods/", "tests/data_modules/", "README", "golden_losses"):
        assert piece in CONTRIBUTING, f"docs/CONTRIBUTING.md's checklist does not mention {piece}"


def test_discovery_finds_the_known_methods():
    names = {c.__name__ for c in MODULES}
    assert {"SFTModule", "Seq2SeqQAModule", "DistillationModule", "GRPOModule", "ReLiableDQN",
            "DiffusionPlanner", "IterAlignModule"} <= names


LOSS_FILES = sorted((REPO / "lit_agents" / "losses").glob("[a-z]*.py"))
LOSS_TESTS = "\n".join(p.read_text() for p in sorted((REPO / "tests" / "losses").glob("test_*.py")))


def _public_functions(path) -> list[str]:
    return re.findall(r"^def ([a-z][a-z0-9_]*)\(", path.read_text(), flags=re.M)


@pytest.mark.parametrize("path", LOSS_FILES, ids=lambda p: p.stem)
def test_every_loss_function_has_a_unit_test_in_tests_losses(path):
    untested = [f for f in _public_functions(path) if not re.search(rf"\b{f}\b", LOSS_TESTS)]
    assert not untested, f"lit_agents/losses/{path.name}: no test in tests/losses/ names {untested}"


def _method_table_rows() -> list[list[str]]:
    lines = README.split("## Methods", 1)[1].split("\n")
    header = next(i for i, ln in enumerate(lines) if ln.startswith("| method |"))
    rows = []
    for ln in lines[header + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split(" | ")])
    return rows


def test_readme_method_table_names_each_methods_loss_function_and_file():
    header = README.split("## Methods", 1)[1].split("\n")
    cols = next(ln for ln in header if ln.startswith("| method |")).strip("|").split(" | ")
    at = next(i for i, c in enumerate(cols) if c.strip().startswith("loss"))
    functions = {f: p.name for p in LOSS_FILES for f in _public_functions(p)}
    for row in _method_table_rows():
        cell = row[at]
        if cell.startswith(("none", "same as")):
            continue
        named = re.findall(r"`([a-z_0-9]+)`", cell)
        files = re.findall(r"`losses/([a-z_0-9]+\.py)`", cell)
        assert named and files, f"README method table, {row[0]}: the loss cell names no function and file: {cell}"
        for f in named:
            assert f in functions, f"README method table, {row[0]}: {f} is not a function in lit_agents/losses/"
            assert functions[f] in files, f"README method table, {row[0]}: {f} lives in losses/{functions[f]}"


@pytest.mark.parametrize("cls", DATA_MODULES, ids=lambda c: c.__name__)
def test_datamodule_files_are_named_for_their_data(cls):
    """CONTRIBUTING's pattern: a DataModule's file says what data it serves (no ``datamodule.py``)."""
    assert "datamodule" not in cls.__module__.rsplit(".", 1)[-1], f"{cls.__module__}: name the file for its data"
