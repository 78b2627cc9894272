"""SIGKILL a training run after a checkpoint, resume with ``--ckpt_path last``, and compare with an
uninterrupted run of the same seed: same number of optimiser steps and the same weights (CPU, float32,
tolerance 1e-5), which also means no example was skipped or repeated in the interrupted epoch; for GRPO and
IterAlign the loop state saved in the checkpoint (step counters; iteration, constitutions, history with every
SFT loss) must be equal too.

Exactness relies on the data order resuming mid-epoch (``data_modules.base.ResumableSampler``) and on every
random draw being a function of the loop position (``lit_agents.checkpoint_io.ResumableRNG``), so kills inside
an epoch, at an epoch's end and after a validation pass all resume exactly.
"""

import pytest
import torch

from tests.helpers import kill_after_checkpoint_and_resume, run_cli

pytestmark = pytest.mark.slow  # end-to-end CLI runs (they run in CI too)

GOTTA_SMALL = ["--model.init_args.max_source_length", "256", "--model.init_args.max_target_length", "32",
               "--checkpoint.monitor", "null"]
GOTTA_EPOCHS = ["--trainer.max_steps", "6", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1",
                *GOTTA_SMALL]  # 3 batches per epoch, validation after each
CASES = {
    "sft": ("configs/sft.yaml", ["--trainer.max_steps", "6", "--trainer.limit_val_batches", "0",
                                 "--data.init_args.max_train_records", "40", "--data.init_args.batch_size", "4",
                                 "--model.init_args.max_length", "256"], 3),
    "tinyllm": ("configs/tinyllm.yaml", ["--trainer.max_steps", "6", "--trainer.limit_val_batches", "0",
                                         "--data.init_args.batch_size", "4", "--model.init_args.max_target_length",
                                         "64", "--checkpoint.monitor", "null"], 3),
    # T5 dropout draws from the global RNG: exact only if the draws resume (ResumableRNG)
    "gotta": ("configs/gotta.yaml", ["--trainer.max_steps", "6", "--trainer.limit_val_batches", "0",
                                     "--model.init_args.max_source_length", "256",
                                     "--model.init_args.max_target_length", "64", "--checkpoint.monitor", "null"], 3),
    # killed at the end of an epoch (3 batches) and right after the next epoch's first batch, with a validation
    # pass between (its loader draws a base seed, its generation runs): T5 dropout must still draw the same
    "gotta_epoch_end": ("configs/gotta.yaml", GOTTA_EPOCHS, 3),
    "gotta_after_validation": ("configs/gotta.yaml", GOTTA_EPOCHS, 4),
    # two DDP processes (gloo), each with its own dropout stream: both ranks' streams must resume
    "gotta_ddp": ("configs/gotta.yaml", ["--trainer.max_steps", "4", "--trainer.limit_val_batches", "0",
                                         "--trainer.strategy", "ddp", "--trainer.devices", "2",
                                         "--trainer.accelerator", "cpu", *GOTTA_SMALL], 2),
    # sampling draws from the global RNG; step counters (grpo_state) must come back
    "rm_r1_grpo": ("configs/rm_r1_grpo.yaml", ["--trainer.max_steps", "5", "--trainer.limit_val_batches", "0",
                                               "--model.init_args.num_generations", "2",
                                               "--model.init_args.max_completion_length", "8",
                                               "--data.init_args.batch_size", "2"], 2),
    # the target network's hard-update schedule (every 2 steps) and the data order must resume
    "reliable": ("configs/reliable.yaml", ["--trainer.max_steps", "6", "--trainer.limit_val_batches", "0",
                                           "--model.init_args.target_update_every", "2",
                                           "--data.init_args.synthetic.n_games", "3",
                                           "--data.init_args.synthetic.max_possessions", "4",
                                           "--data.init_args.cache_dir", "{tmp}/cache",
                                           "--data.init_args.batch_size", "8", "--checkpoint.monitor", "null"], 3),
    # EMA (from step 2), diffusion noise (global RNG), the normaliser and the data order must resume
    "playbest": ("configs/playbest.yaml", ["--trainer.max_steps", "6", "--trainer.limit_val_batches", "0",
                                           "--model.init_args.ema.start_step", "2",
                                           "--data.init_args.synthetic.n_games", "4",
                                           "--data.init_args.synthetic.max_possessions", "6",
                                           "--data.init_args.cache_dir", "{tmp}/cache",
                                           "--data.init_args.batch_size", "4", "--checkpoint.monitor", "null"], 3),
    # killed inside an iteration's epoch: the SFT pairs and step schedule of that iteration (and the loop
    # state: iteration, constitutions, history) come from the checkpoint, so the remaining SFT steps run
    "iteralign": ("configs/iteralign.yaml", ["--trainer.max_epochs", "2", "--trainer.limit_val_batches", "0",
                                             "--model.init_args.eval_before_training", "false",
                                             "--data.init_args.chunk_size", "4",
                                             "--data.init_args.max_steps_per_iteration", "4",
                                             "--model.init_args.sft_batch_size", "2", "--model.init_args.max_length",
                                             "192", "--model.init_args.red_team_sampling.max_new_tokens", "8",
                                             "--model.init_args.reflection_sampling.max_new_tokens", "8"], 2),
    # ToolRL: killed after the first GRPO step, so the KL reference snapshotted from the warmed-up policy
    # (kl_reference: warmed_up) must come back from the checkpoint, not from the initial weights
    "toolrl": ("configs/toolrl.yaml", ["--trainer.max_steps", "5", "--model.init_args.format_warmup_steps", "2",
                                       "--trainer.limit_val_batches", "0", "--data.init_args.synthetic.n_train", "16",
                                       "--data.init_args.batch_size", "4",
                                       "--model.init_args.max_completion_length", "16",
                                       "--model.init_args.backbone.tiny.d_model", "32",
                                       "--model.init_args.backbone.tiny.d_ff", "64"], 3),
    # FSDP on 2 CPU processes: sharded checkpoints (a directory per step, written atomically), SIGKILL, resume
    "sft_fsdp": ("configs/sft.yaml", ["--config", "configs/trainer/fsdp_cpu.yaml", "--trainer.max_steps", "4",
                                      "--trainer.limit_val_batches", "0", "--data.init_args.max_train_records", "40",
                                      "--data.init_args.batch_size", "4", "--model.init_args.max_length", "256",
                                      "--model.init_args.backbone.tiny.d_model", "32"], 2),
}
# loop state that must come back equal (besides the weights and the optimiser-step count)
LOOP_STATE = {"rm_r1_grpo": "grpo_state", "iteralign": "iteralign", "toolrl": "grpo_state"}


def _load(path):
    """A checkpoint as one dict; a sharded (FSDP) checkpoint directory is read with its model weights."""
    if path.is_dir():
        from lit_agents.export import load_checkpoint_state

        meta, state = load_checkpoint_state(path)
        return {**meta, "state_dict": state}
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_killed_run_resumes_exactly(name, tmp_path, reliability_log):
    config, args, kill_at = CASES[name]
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    run_cli(["fit", "--config", config, *args, "--trainer.default_root_dir", str(tmp_path / "full")], tmp_path)
    kill_after_checkpoint_and_resume(config, args, tmp_path / "resumed", steps_before_kill=kill_at)
    ckpt_a = _load(tmp_path / "full" / "checkpoints" / "last.ckpt")
    ckpt_b = _load(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert ckpt_a["global_step"] == ckpt_b["global_step"]
    if name in LOOP_STATE:
        assert ckpt_b[LOOP_STATE[name]] == ckpt_a[LOOP_STATE[name]]
    full, resumed = ckpt_a["state_dict"], ckpt_b["state_dict"]
    assert full.keys() == resumed.keys()
    for k in full:
        torch.testing.assert_close(resumed[k], full[k], atol=1e-5, rtol=1e-5, msg=k)
    loop = f"; {LOOP_STATE[name]} equal" if name in LOOP_STATE else ""
    reliability_log("resume", f"{name} ({config}): SIGKILL after the step-{kill_at} checkpoint, --ckpt_path last",
                    f"same optimiser steps ({ckpt_a['global_step']}), every weight within 1e-5{loop}")
