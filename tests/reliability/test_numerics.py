"""Numerical faults: a NaN/inf loss stops training with a message naming the step and keeps the last good
checkpoint (``lit_agents.guards.NonFiniteLossGuard``, on in every CLI run); a reward function that raises is
counted and scored as ``reward_failure_value``, never ends the run.

The NaN is injected by subclasses of the real modules (picked with ``--model.class_path``, init args from the
YAML unchanged), one with automatic optimisation (SFT) and one with manual optimisation (GRPO)."""

from __future__ import annotations

import math

import pytest
import torch

from lit_agents.methods.grpo import GRPOModule
from lit_agents.methods.sft import SFTModule
from tests.helpers import run_cli, tiny_backbone

NAN_STEP = 3


class NaNLossSFT(SFTModule):
    """SFT whose loss turns NaN at global step ``NAN_STEP`` (as an overflow would)."""

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        return loss * float("nan") if self.global_step == NAN_STEP else loss


class InfLossGRPO(GRPOModule):
    """GRPO (manual optimisation) whose loss turns inf at global step ``NAN_STEP``."""

    def _chunk_loss(self, *args, **kwargs):
        out = super()._chunk_loss(*args, **kwargs)
        if self.global_step == NAN_STEP:
            out.loss = out.loss + float("inf")
        return out


def always_raises(completions, **_):
    """A reward verifier that is down."""
    raise ConnectionError("verifier unreachable")


def fails_on_digits(completions, **_):
    """Raises on any completion with a digit (a parser meeting an odd completion)."""
    if any(any(ch.isdigit() for ch in c) for c in completions):
        raise ValueError("cannot parse")
    return [1.0] * len(completions)


def nan_for_short(completions, **_):
    return [math.nan if len(c) < 3 else 0.5 for c in completions]


SFT_ARGS = ["--trainer.max_steps", "6", "--trainer.limit_val_batches", "0", "--data.init_args.max_train_records",
            "40", "--data.init_args.batch_size", "4", "--model.init_args.max_length", "256"]
GRPO_ARGS = ["--trainer.max_steps", "6", "--trainer.limit_val_batches", "0", "--model.init_args.num_generations", "2",
             "--model.init_args.max_completion_length", "8",
             "--data.init_args.batch_size", "2"]
EVERY_STEP = ["--checkpoint.every_n_train_steps", "1", "--checkpoint.monitor", "null"]


def _ckpt(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
@pytest.mark.parametrize("config,cls,args", [
    ("configs/sft.yaml", "tests.reliability.test_numerics.NaNLossSFT", SFT_ARGS),
    ("configs/rm_r1_grpo.yaml", "tests.reliability.test_numerics.InfLossGRPO", GRPO_ARGS),
], ids=["sft-automatic", "grpo-manual"])
def test_non_finite_loss_stops_at_its_step_and_keeps_the_last_good_checkpoint(config, cls, args, tmp_path,
                                                                               reliability_log):
    root = tmp_path / "run"
    proc = run_cli(["fit", "--config", config, *args, *EVERY_STEP, "--model.class_path", cls,
                    "--trainer.default_root_dir", str(root)], tmp_path, check=False)
    assert proc.returncode != 0
    err = proc.stderr
    assert "NonFiniteLossError" in err and f"at global step {NAN_STEP}" in err, err[-3000:]
    assert "Last good checkpoint:" in err and "--ckpt_path last" in err
    last = _ckpt(root / "checkpoints" / "last.ckpt")
    assert last["global_step"] == NAN_STEP  # the bad step was never applied, nor saved
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())

    # fixed (the plain module), the run resumes from the last good checkpoint and finishes
    plain = cls.rsplit(".", 1)[1].replace("NaNLoss", "").replace("InfLoss", "")
    run_cli(["fit", "--config", config, *args, *EVERY_STEP, "--trainer.default_root_dir", str(root),
             "--ckpt_path", "last"], tmp_path)
    assert _ckpt(root / "checkpoints" / "last.ckpt")["global_step"] == 6
    reliability_log("numerics", f"{plain}: {'NaN' if 'NaN' in cls else 'inf'} loss at step {NAN_STEP} "
                    f"({'automatic' if 'SFT' in cls else 'manual'} optimisation)",
                    "NonFiniteLossError names the step and last.ckpt; last.ckpt is step 3 with finite weights; "
                    "resume finishes")


@pytest.mark.slow
def test_reward_function_that_always_raises_never_kills_the_run(tmp_path, reliability_log):
    root = tmp_path / "run"
    run_cli(["fit", "--config", "configs/rm_r1_grpo.yaml", *GRPO_ARGS, "--trainer.max_steps", "3",
             "--model.init_args.reward_funcs", "[tests.reliability.test_numerics.always_raises]",
             "--model.init_args.reward_weights", "[1.0]", "--model.init_args.reward_failure_value", "-1.0",
             "--trainer.default_root_dir", str(root)], tmp_path)
    state = _ckpt(root / "checkpoints" / "last.ckpt")["grpo_state"]
    # 3 steps x batch 2 prompts x 2 generations, each scored -1 and counted
    assert state["reward_failures"] == 12
    reliability_log("numerics", "GRPO reward function that raises on every call (3 steps, 12 completions)",
                    "run completes; 12 failures counted in the checkpoint, scored reward_failure_value", tried=12)


def test_failing_completions_are_isolated_and_counted(reliability_log):
    module = GRPOModule(tiny_backbone("llama"), reward_funcs=["tests.reliability.test_numerics.fails_on_digits",
                                                              "tests.reliability.test_numerics.nan_for_short"],
                        num_generations=2, reward_failure_value=-2.0)
    completions = ["fine", "has 1 digit", "ok!", "x"]
    rewards = module.compute_rewards(completions, ["p"] * 4, {"prompt": ["p"] * 4})
    assert rewards[:, 0].tolist() == [1.0, -2.0, 1.0, 1.0]  # only the completion it fails on
    assert rewards[:, 1].tolist() == [0.5, 0.5, 0.5, -2.0]  # a NaN reward is a failure too
    assert module.reward_failures == 2
    abstaining = GRPOModule(tiny_backbone("llama"), reward_funcs=["tests.reliability.test_numerics.always_raises"],
                            num_generations=2, reward_failure_value=None)
    assert torch.isnan(abstaining.compute_rewards(["a", "b"], ["p"] * 2, {})).all()
    assert abstaining.reward_failures == 2
    reliability_log("numerics", "reward functions that raise on one completion of four, or return NaN",
                    "only those completions score reward_failure_value (or abstain with null); each counted",
                    tried=6)


def test_non_finite_failure_value_is_refused():
    with pytest.raises(ValueError, match="reward_failure_value"):
        GRPOModule(tiny_backbone("llama"), reward_funcs=["tests.reliability.test_numerics.always_raises"],
                   num_generations=2, reward_failure_value=float("nan"))
