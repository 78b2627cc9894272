"""SIGKILL a training run after a checkpoint, resume with ``--ckpt_path last``, and compare with an
uninterrupted run of the same seed: same number of optimiser steps and the same weights (CPU, float32,
tolerance 1e-5), which also means no example was skipped or repeated in the interrupted epoch."""

import pytest
import torch

from tests.helpers import kill_after_checkpoint_and_resume, run_cli

CASES = {
    "sft": ("configs/sft.yaml", ["--trainer.max_steps", "6", "--trainer.limit_val_batches", "0",
                                 "--data.init_args.max_train_records", "40", "--data.init_args.batch_size", "4",
                                 "--model.init_args.max_length", "256"], 3),
    "tinyllm": ("configs/tinyllm.yaml", ["--trainer.max_steps", "6", "--trainer.limit_val_batches", "0",
                                         "--data.init_args.batch_size", "4", "--model.init_args.max_target_length",
                                         "64", "--checkpoint.monitor", "null"], 3),
}


def _weights(path):
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state["global_step"], state["state_dict"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_killed_run_resumes_exactly(name, tmp_path):
    config, args, kill_at = CASES[name]
    run_cli(["fit", "--config", config, *args, "--trainer.default_root_dir", str(tmp_path / "full")], tmp_path)
    kill_after_checkpoint_and_resume(config, args, tmp_path / "resumed", steps_before_kill=kill_at)
    step_a, full = _weights(tmp_path / "full" / "checkpoints" / "last.ckpt")
    step_b, resumed = _weights(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert step_a == step_b
    assert full.keys() == resumed.keys()
    for k in full:
        torch.testing.assert_close(resumed[k], full[k], atol=1e-5, rtol=1e-5, msg=k)
