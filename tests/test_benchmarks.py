"""`make bench` runs every `benchmarks/[!_]*.py` as a script (``python benchmarks/x.py``): each must import
that way, from any directory, with only the installed packages (here: the repo on PYTHONPATH) — issue 14 item 21."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

SCRIPTS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if not p.name.startswith("_"))  # the Makefile's glob

# Load every script the way `python benchmarks/<x>.py` does (its folder first on sys.path, the repo root not),
# without running main(); print the names of those that have a main().
IMPORT_ALL = """
import runpy, sys
for path in sys.argv[1:]:
    sys.path[0] = path.rpartition("/")[0]
    ns = runpy.run_path(path, run_name="bench_import_check")
    print(path.rpartition("/")[2], callable(ns.get("main")))
"""


def _env(tmp_path) -> dict[str, str]:
    """The installed packages only (``lit_agents``, ``data_modules``, as pyproject installs them): the repo root
    itself, where ``benchmarks`` would be importable as a namespace package, is not on the path."""
    site = tmp_path / "site"
    site.mkdir()
    for pkg in ("lit_agents", "data_modules"):
        (site / pkg).symlink_to(REPO / pkg, target_is_directory=True)
    return {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow  # a subprocess importing torch, lightning, transformers, diffusers (~10 s idle)
def test_every_benchmark_script_imports_as_a_script(tmp_path):
    assert len(SCRIPTS) >= 6
    proc = subprocess.run([sys.executable, "-c", IMPORT_ALL, *map(str, SCRIPTS)], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.split("\n")[:-1] == [f"{p.name} True" for p in SCRIPTS]


@pytest.mark.slow
def test_grpo_vs_trl_runs_as_a_script(tmp_path):
    """Its reward is named by import path: that path must resolve when the file runs as ``__main__``."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "grpo_vs_trl.py"), "--ours-only",
                           "--steps", "3", "--warmup", "1", "--prompts-per-step", "1", "--num-generations", "2",
                           "--max-completion-length", "4", "--beta", "0"],
                          cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "lit-agents GRPOModule :" in proc.stdout and "ratio not measured" in proc.stdout
