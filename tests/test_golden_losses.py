"""Golden losses: the first logged training losses of every embedded default, pinned (seed 42, CPU, float32).

A refactor that changes what a method computes — its data order, its loss, its initialisation, its random
draws — changes these numbers and fails here, even when every unit test still passes. When a change is
*meant* to change them (a bug fix, a new default), regenerate the pins and say why in the commit:

    LIT_AGENTS_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_losses.py -p no:xdist

which rewrites ``tests/golden_losses.json`` from the runs it makes. Each run is the small variant of the
embedded default the resume tests use (``tests/reliability/test_resume.py``), cut to ``STEPS`` optimiser steps
with a log line every step.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli
from tests.reliability.test_resume import CASES

pytestmark = pytest.mark.slow  # end-to-end CLI runs (they run in CI too)

GOLDEN_FILE = REPO / "tests" / "golden_losses.json"
UPDATE = os.environ.get("LIT_AGENTS_UPDATE_GOLDEN") == "1"
STEPS = 3
# float32 on CPU is deterministic run to run; the tolerance absorbs BLAS differences between CPU models
RTOL, ATOL = 1e-4, 1e-6

_MINPROMPT = ["--model.init_args.max_source_length", "256", "--model.init_args.max_target_length", "64",
              "--checkpoint.monitor", "null", "--trainer.limit_val_batches", "0"]
_DISTILL = ["--trainer.limit_val_batches", "0",
            "--data.init_args.batch_size", "4"]
RUNS: dict[str, tuple[str, list[str]]] = {
    **{name: (CASES[name][0], CASES[name][1])
       for name in ("sft", "tinyllm", "gotta", "rm_r1_grpo", "reliable", "playbest", "iteralign")},
    "minprompt": ("configs/minprompt.yaml", _MINPROMPT),
    "rm_r1_distill": ("configs/rm_r1_distill.yaml", _DISTILL),
    # one supervised format warm-up step, then GRPO steps with the multi-turn-capable ToolRL rollout
    "toolrl": ("configs/toolrl.yaml", ["--model.init_args.format_warmup_steps", "1",
                                       "--trainer.limit_val_batches", "0"]),
    "rm_scalar_bt": ("configs/rm_scalar_bt.yaml", ["--trainer.limit_val_batches", "0"]),
}


def _train_losses(root: Path) -> dict[str, list[float]]:
    """Every step-level ``train/*loss*`` series in the run's ``metrics.csv``, in step order, and the mean reward
    of RL runs (GRPO's loss is ~0 at every first step by construction, so the reward is what pins the rollout)."""
    (metrics,) = root.glob("**/metrics.csv")
    series: dict[str, list[float]] = {}
    with metrics.open() as fh:
        for row in csv.DictReader(fh):
            for key, value in row.items():
                pinned = "loss" in key or key == "train/reward"
                if key.startswith("train/") and pinned and not key.endswith("_epoch") and value != "":
                    series.setdefault(key, []).append(float(value))
    return series


def _golden() -> dict:
    return json.loads(GOLDEN_FILE.read_text()) if GOLDEN_FILE.exists() else {}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_first_losses_are_pinned(name, tmp_path):
    config, args = RUNS[name]
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    run_cli(["fit", "--config", config, *args, "--trainer.max_steps", str(STEPS),
             "--trainer.log_every_n_steps", "1"], tmp_path, timeout=600)
    losses = _train_losses(tmp_path)
    assert losses, f"{name}: no train loss logged"
    for key, values in losses.items():
        assert all(math.isfinite(v) for v in values), f"{name}: {key} not finite: {values}"
    if UPDATE:
        golden = _golden()
        golden[name] = losses
        GOLDEN_FILE.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        return
    pinned = _golden().get(name)
    assert pinned is not None, f"no golden losses for {name}: run with LIT_AGENTS_UPDATE_GOLDEN=1"
    assert sorted(losses) == sorted(pinned), f"{name}: logged loss series changed: {sorted(losses)}"
    for key, values in pinned.items():
        assert losses[key] == pytest.approx(values, rel=RTOL, abs=ATOL), f"{name}: {key}"
