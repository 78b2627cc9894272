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
BASES = {"lit_agents.training.backbone_module.BackboneModule", "data_modules.base.RecordsDataModule"}


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
