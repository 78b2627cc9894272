"""Gotta and MinPrompt still learn (issue 18 item 4): a reduced entity-QA showcase (configs/showcase/qa/: the
same model, data and optimizer as the comparison in docs/results.md, STEPS optimizer steps instead of 320, no
validation, the final model tested), seeds 0, 1, 2, means over the seeds.

What it asserts, and why it is not F1: at this scale no arm learns to read the answer off the passage (test F1
1-4 for every arm in the showcase, noise), so F1 cannot tell a working augmentation from a broken one. What the
augmentation does change, consistently, is the likelihood: the held-out **NLL of the gold target**
(``test/loss``: mean token NLL of ``"Question: {q} Answer: {a}"`` given the passage, on the 120 test questions,
whose facts are stated nowhere in training) is lower for Gotta and MinPrompt than for FewshotQA trained on the
same 32 questions for the same steps. The gain lies in the question part of the target, not in the answer span:
in the pilots the dev NLL of the answer tokens alone is worse than the untrained model's for every arm (the
models name training entities with confidence) and does not separate the arms consistently. The floor: each
method's held-out NLL is below half the untrained model's.

How the setting was chosen (dev split only): seeds 0, 1, 2 at 80 and 160 steps (``DEV_PILOT``); the direction
held at every seed at both. A first version (seed 0 alone, 160 steps) passed on test (FewshotQA 1.854, Gotta
1.789, MinPrompt 1.700), but its ablation showed that changing only the data order and dropout draws moves an
arm's NLL by up to 0.17, more than Gotta's single-seed gap. So the test takes the mean over the three dev-pilot
seeds, at 80 steps to stay near a minute (dev gaps of the means: Gotta 0.13, MinPrompt 0.22; MARGIN 0.05).
Measured on test (seeds 0/1/2): untrained 7.643, FewshotQA 1.969, Gotta 1.871, MinPrompt 1.745. With the
augmentation loss term removed (``augmented_loss`` returning ``L_ori``, tried once) it fails: Gotta 2.020,
MinPrompt 1.956 vs FewshotQA 1.969. About 60-70 CPU-seconds.
"""
from __future__ import annotations

from pathlib import Path
from statistics import mean

import pytest
from lightning.pytorch.cli import LightningCLI

from lit_agents.cli import run_cli
from tests.helpers import REPO

QA = "configs/showcase/qa"
ARMS = ("fewshotqa", "gotta", "minprompt")
SEEDS = (0, 1, 2)
STEPS = 80
MARGIN = 0.05  # nats per token by which each method's mean held-out NLL must lie below FewshotQA's
DEV_PILOT = {  # dev NLL of the gold target per seed 0 / 1 / 2 (untrained: 7.58 / 7.58 / 7.72)
    80: {"fewshotqa": (1.978, 1.951, 1.904), "gotta": (1.923, 1.815, 1.710), "minprompt": (1.822, 1.738, 1.615)},
    160: {"fewshotqa": (1.982, 1.825, 1.865), "gotta": (1.851, 1.707, 1.665), "minprompt": (1.671, 1.473, 1.453)}}


def _cli(arm: str, seed: int, root: Path) -> LightningCLI:
    """The arm's showcase config, cut to STEPS steps without validation; generation is cut to one token because
    only the NLL is read (``test/loss`` does not depend on it)."""
    return run_cli(["--config", f"{QA}/{arm}.yaml", "--seed_everything", str(seed), "--data.sample_seed", str(seed),
                    "--trainer.max_steps", str(STEPS), "--trainer.limit_val_batches", "0",
                    "--model.init_args.max_new_tokens", "1", "--trainer.default_root_dir", str(root),
                    "--trainer.enable_progress_bar", "false", "--trainer.logger", "false"], run=False)


def _test_nll(cli: LightningCLI) -> float:
    cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)
    return float(cli.trainer.callback_metrics["test/loss"])


@pytest.mark.slow
def test_gotta_and_minprompt_lower_the_held_out_nll_of_the_gold_target(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    nll: dict[str, list[float]] = {arm: [] for arm in ("untrained", *ARMS)}
    for seed in SEEDS:
        nll["untrained"].append(_test_nll(_cli("fewshotqa", seed, tmp_path / f"untrained{seed}")))  # every arm's init
        for arm in ARMS:
            cli = _cli(arm, seed, tmp_path / f"{arm}{seed}")
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
            assert cli.trainer.global_step == STEPS
            nll[arm].append(_test_nll(cli))
    m = {arm: mean(v) for arm, v in nll.items()}
    print(f"held-out NLL of the gold target, {STEPS} steps, seeds {SEEDS}: "
          + "; ".join(f"{arm} {m[arm]:.3f} ({', '.join(f'{x:.3f}' for x in v)})" for arm, v in nll.items()))
    bad = [f"{arm} {m[arm]:.3f} not below FewshotQA {m['fewshotqa']:.3f} - {MARGIN}"
           for arm in ("gotta", "minprompt") if not m[arm] < m["fewshotqa"] - MARGIN]
    bad += [f"{arm} {m[arm]:.3f} not below half the untrained model's {m['untrained']:.3f}"
            for arm in ("gotta", "minprompt") if not m[arm] < m["untrained"] / 2]
    assert not bad, bad
