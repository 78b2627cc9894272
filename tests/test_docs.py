"""Docs and configs agree with the repository (issue 14 item 11): every repo file they cite exists, and config
comments describe what the config sets."""
from __future__ import annotations

import re

import pytest
import yaml

from tests.helpers import REPO

CITED = re.compile(r"(?<![\w/.])((?:examples|benchmarks|configs|tests|docs|data_modules|lit_agents)/"
                   r"[\w./-]*\w\.(?:py|yaml|md|png|txt))")
# what a user reads (scripts may name the files they write, which exist only after a run)
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "configs").rglob("*.yaml"))]


def _placeholder(path: str) -> bool:
    return path.rpartition("/")[2].startswith(("my_", "test_my_"))  # CONTRIBUTING's template names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_cited_repo_files_exist(doc):
    missing = sorted({m for m in CITED.findall(doc.read_text(encoding="utf-8"))
                      if not (REPO / m).exists() and not _placeholder(m)})
    assert not missing, f"{doc.relative_to(REPO)} cites files that do not exist: {missing}"


@pytest.mark.parametrize("path", sorted((REPO / "configs").rglob("*.yaml")), ids=lambda p: p.name)
def test_a_config_that_says_the_automaton_is_cached_caches_it(path):
    text = path.read_text(encoding="utf-8")
    comments = " ".join(line.partition("#")[2] for line in text.splitlines())
    cloze = ((yaml.safe_load(text).get("data") or {}).get("init_args") or {}).get("cloze") or {}
    if re.search(r"caches the automaton|automaton is cached", comments):
        assert cloze.get("cache_matcher") is True, f"{path.name}: comment says cached, cloze.cache_matcher is not true"
