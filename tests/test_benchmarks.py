"""Every benchmark script's ``--quick`` smoke run works and reports its figures as table records; the table
driver renders them. Behaviour only: nothing here looks at a timing."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from _table import OUT_ENV, Result, markdown_table, parse_output  # noqa: E402

# the peer package each script compares with; a script is skipped (with the reason) only when it is absent
PEERS = {"bench_dominating_set": "networkx", "bench_entity_matcher": "ahocorasick", "cartpole_anchor": "d3rlpy",
         "diffusion_vs_diffusers": "diffusers", "dqn_vs_d3rlpy": "d3rlpy", "grpo_curves_vs_trl": "trl",
         "grpo_vs_trl": "trl",
         "tinyllm_vs_seq2seq_trainer": "transformers"}
SCRIPTS = sorted(p.stem for p in (REPO / "benchmarks").glob("*.py") if not p.name.startswith("_"))


def _run(args: list[str], tmp_path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", OUT_ENV: str(tmp_path / "out.jsonl")}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_every_script_has_a_named_peer():
    assert sorted(PEERS) == SCRIPTS


@pytest.mark.slow
@pytest.mark.parametrize("name", SCRIPTS)
def test_quick_run_reports_its_figures(name, tmp_path):
    if importlib.util.find_spec(PEERS[name]) is None:
        pytest.skip(f"{PEERS[name]} is not installed (pip install -e '.[bench]'): {name} has no peer to run")
    proc = _run([f"benchmarks/{name}.py", "--quick"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    printed = parse_output(proc.stdout)
    written = [Result.from_json(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert printed and printed == written
    for r in printed:
        assert r.benchmark == name and math.isfinite(r.ours) and r.ours > 0
    assert any(r.peer is not None and r.ratio is not None and r.ratio > 0 for r in printed), printed


def test_table_rows_say_whether_the_goal_is_met():
    rows = [Result("a", "updates/s", 4.0, 2.0, "peer", goal=1.5), Result("b", "s/step", 3.0, 4.0, "trl",
                                                                           higher_is_better=False, goal=0.5),
            Result("c", "plans/s", 1.0)]
    assert [r.met for r in rows] == [True, False, None] and rows[1].ratio == 0.75
    table = markdown_table(rows).splitlines()
    assert table[0].startswith("| benchmark | metric | ours | peer | ratio ours/peer | goal | met? |")
    assert table[2].endswith("| 2.00× | ≥ 1.5 | yes |") and table[3].endswith("| 0.75× | ≤ 0.5 | **no** |")
    assert table[4].endswith("| — | — | — |")
    assert parse_output("noise\n" + "BENCH_RESULT " + rows[1].to_json()) == [rows[1]]


@pytest.mark.slow
def test_driver_prints_one_table_and_writes_the_page(tmp_path):
    page = tmp_path / "benchmarks.md"
    proc = _run(["benchmarks/_run_all.py", "--quick", "--only", "bench_entity_matcher", "--out", str(page)], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = page.read_text()
    assert "| benchmark | metric |" in text and "| bench_entity_matcher |" in text and "logical cores" in text
    assert text.strip() in proc.stdout

# the Makefile's glob
SCRIPT_PATHS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if not p.name.startswith("_"))

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
    assert len(SCRIPT_PATHS) >= 6
    proc = subprocess.run([sys.executable, "-c", IMPORT_ALL, *map(str, SCRIPT_PATHS)], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.split("\n")[:-1] == [f"{p.name} True" for p in SCRIPT_PATHS]


@pytest.mark.slow
def test_grpo_vs_trl_runs_as_a_script(tmp_path):
    """Its reward is named by import path: that path must resolve when the file runs as ``__main__``."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "grpo_vs_trl.py"), "--ours-only",
                           "--steps", "3", "--warmup", "1", "--prompts-per-step", "1", "--num-generations", "2",
                           "--max-completion-length", "4", "--beta", "0"],
                          cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "lit-agents GRPOModule :" in proc.stdout and "ratio not measured" in proc.stdout
