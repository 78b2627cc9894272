"""FSDP end to end: every method trains (a validation pass with its generation included), checkpoints sharded
and runs ``lit-agents test`` under ``BackboneFSDPStrategy`` on 2 CPU processes (gloo, float32,
``configs/trainer/fsdp_cpu.yaml``); the GPU-gated test runs the same path in bf16 on CUDA."""

import json

import pytest
import torch

from tests.helpers import run_cli

FSDP_CPU = ["--config", "configs/trainer/fsdp_cpu.yaml"]
FEW = ["--trainer.max_steps", "2", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
       "--trainer.num_sanity_val_steps", "0", "--trainer.log_every_n_steps", "1",
       "--trainer.enable_progress_bar", "false", "--trainer.logger", "true"]
QA = ["--model.init_args.backbone.tiny.d_model", "32", "--model.init_args.backbone.tiny.d_ff", "64",
      "--model.init_args.max_source_length", "256", "--model.init_args.max_target_length", "64",
      "--model.init_args.max_new_tokens", "8", "--data.init_args.val_size", "4",
      "--data.init_args.eval_batch_size", "2", "--trainer.check_val_every_n_epoch", "1", "--checkpoint.monitor", "null"]
BASKETBALL = ["--data.init_args.synthetic.n_games", "3", "--data.init_args.synthetic.max_possessions", "4",
              "--data.init_args.cache_dir", "{tmp}/cache", "--trainer.check_val_every_n_epoch", "1"]

# name: (config, arguments for fit and test, fit-only arguments, a key logged by validation during fit, the key
# `lit-agents test` prints (or `<subcommand>:<key>`))
CASES = {
    "sft": ("configs/sft.yaml", ["--data.init_args.max_train_records", "32", "--model.init_args.max_length", "256",
                                 "--model.init_args.backbone.tiny.d_model", "32"],
            ["--model.init_args.num_val_samples", "1", "--model.init_args.val_max_new_tokens", "4"],
            "val/loss", "validate:val/loss"),  # SFT has no test_step: `lit-agents validate`
    "gotta": ("configs/gotta.yaml", QA, [], "val/f1", "test/f1"),
    "minprompt": ("configs/minprompt.yaml", QA + ["--data.init_args.cache_dir", "{tmp}/cache"], [], "val/f1",
                  "test/f1"),
    # the paper's clip setting (gradient_clip_val 1.0, norm): the FSDP root's clip_grad_norm_
    "tinyllm": ("configs/tinyllm.yaml", ["--data.init_args.cache_dir", "{tmp}/cache",
                                         "--data.init_args.eval_batch_size", "2",
                                         "--model.init_args.max_label_length", "8",
                                         "--model.init_args.max_target_length", "64", "--checkpoint.monitor", "null"],
                ["--trainer.gradient_clip_val", "1.0", "--trainer.gradient_clip_algorithm", "norm"],
                "val/acc_gen", "test/acc_gen"),
    # red-teaming generation, judging and SFT inside the loop; evaluation passes on_train_start and after
    "iteralign": ("configs/iteralign.yaml", [
        "--model.init_args.backbone.tiny.d_model", "32", "--model.init_args.backbone.tiny.d_ff", "64",
        "--model.init_args.red_team_sampling.max_new_tokens", "4",
        "--model.init_args.reflection_sampling.max_new_tokens", "4", "--data.init_args.eval_sets", json.dumps([
            {"path": "iteralign/hhh_honest_head10.task.json", "task": "hhh", "category": "honest", "limit": 2}])],
        ["--trainer.max_epochs", "1", "--data.init_args.chunk_size", "2", "--model.init_args.gradient_clip_val", "1.0"],
        "iteralign/asr_after", "test/hhh/honest"),
    # stage 1 exports the policy at the end of fit (full weights gathered from the shards): see _check_exports
    "rm_r1_distill": ("configs/rm_r1_distill.yaml", ["--model.init_args.eval_max_new_tokens", "8",
                                                     "--model.init_args.export_dir", "{tmp}/policy"],
                      ["--trainer.check_val_every_n_epoch", "1"],
                      "val/pairwise/accuracy", "test/pairwise/accuracy"),
    # beta > 0: the reference model is sharded too; rollouts generate with gathered weights
    "rm_r1_grpo": ("configs/rm_r1_grpo.yaml", [
        "--model.init_args.backbone.tiny.d_model", "32", "--model.init_args.num_generations", "2",
        "--model.init_args.max_completion_length", "8", "--model.init_args.eval_max_new_tokens", "8",
        "--data.init_args.batch_size", "1", "--data.init_args.eval_batch_size", "2",
        "--data.init_args.max_response_chars", "40"],
        ["--model.init_args.beta", "0.04", "--trainer.val_check_interval", "2"],
        "val/pairwise/accuracy", "test/pairwise/accuracy"),
    # multi-turn calculator episodes (generation between tool calls under gathered weights), after one format
    # warm-up step whose result becomes the KL reference (a full state dict of the sharded policy); evaluation
    # runs tool episodes too
    "toolrl": ("configs/toolrl.yaml", [
        "--model.init_args.backbone.tiny.d_model", "32", "--model.init_args.num_generations", "2",
        "--model.init_args.max_completion_length", "8", "--model.init_args.eval_max_new_tokens", "8",
        "--model.init_args.format_warmup_steps", "1", "--model.init_args.beta", "0.1",
        "--model.init_args.kl_reference", "warmed_up",
        "--model.init_args.tool_env.class_path", "lit_agents.tools.environment.ToolEnvironment",
        "--model.init_args.tool_env.init_args.functions", "[lit_agents.tools.calculator.calculator]",
        "--model.init_args.tool_env.init_args.max_turns", "2",
        "--data.init_args.synthetic.n_train", "8", "--data.init_args.synthetic.n_val", "2",
        "--data.init_args.synthetic.n_test", "2", "--data.init_args.batch_size", "1",
        "--data.init_args.eval_batch_size", "2"],
        ["--trainer.val_check_interval", "2"], "val/toolrl/accuracy", "test/toolrl/accuracy"),
    "reliable": ("configs/reliable.yaml", BASKETBALL + ["--data.init_args.window", "2", "--model.init_args.window", "2",
                                                        "--model.init_args.encoder.d_model", "16",
                                                        "--model.init_args.encoder.n_layers", "1",
                                                        "--data.init_args.batch_size", "8"], [],
                 "val/J_pi", "test/J_pi"),
    "playbest": ("configs/playbest.yaml", BASKETBALL + [
        "--data.init_args.horizon", "8", "--model.init_args.horizon", "8", "--data.init_args.batch_size", "4",
        "--model.init_args.net.dim", "8", "--model.init_args.net.dim_mults", "[1, 2]",
        "--model.init_args.evaluation.n_starts", "2", "--model.init_args.evaluation.alphas", "[0.0, 1.0]",
        "--model.init_args.planning.replan_every", "8", "--model.init_args.planning.n_samples", "1",
        "--checkpoint.monitor", "null"], [], "eval/J_alpha_1", "test/"),
}


def _check_exports(tmp_path) -> None:
    """The sharded checkpoint -> one HF directory (``python -m lit_agents.export``), and RM-R1's own stage-1
    export: both load with ``from_pretrained`` and give the checkpoint's logits."""
    import subprocess
    import sys

    from transformers import AutoModelForCausalLM

    from lit_agents.export import load_module
    from tests.helpers import REPO

    last = tmp_path / "fit" / "checkpoints" / "last.ckpt"
    subprocess.run([sys.executable, "-m", "lit_agents.export", str(last), str(tmp_path / "hf")], cwd=REPO,
                   check=True, capture_output=True, timeout=120)
    module = load_module(last)
    ids = module.tokenizer(["Which response is better? [[A]]"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = module.model(input_ids=ids).logits
        for directory in (tmp_path / "hf", tmp_path / "policy"):
            logits = AutoModelForCausalLM.from_pretrained(directory).eval()(input_ids=ids).logits
            torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5, msg=str(directory))
    assert not torch.allclose(expected, type(module.model)(module.model.config).eval()(input_ids=ids).logits)


def _check_tool_rollout(tmp_path) -> None:
    """Step 1 was the format warm-up, step 2 a GRPO step on calculator episodes sampled with the gathered
    weights, with a KL term against the warmed-up policy: its turns and calls per episode are logged, within
    [1, max_turns]."""
    import csv

    rows = [r for f in (tmp_path / "fit").rglob("metrics.csv") for r in csv.DictReader(open(f))]
    assert [r for r in rows if r.get("train/format_warmup/loss")], "no format warm-up step logged"
    assert [r for r in rows if r.get("train/kl")], "no KL against the warmed-up reference logged"
    turns = [float(r["train/tools/turns_per_episode"]) for r in rows if r.get("train/tools/turns_per_episode")]
    calls = [float(r["train/tools/calls_per_episode"]) for r in rows if r.get("train/tools/calls_per_episode")]
    assert len(turns) == 1 and 1.0 <= turns[0] <= 2.0 and len(calls) == 1 and calls[0] >= 0.0, rows


CHECKS = {"rm_r1_distill": _check_exports, "toolrl": _check_tool_rollout}


def _logged(root) -> set[str]:
    import csv

    return {k for f in root.rglob("metrics.csv") for row in csv.DictReader(open(f)) for k, v in row.items() if v}


def _fit_and_test(name: str, tmp_path, fragment: list[str], shards: int) -> None:
    config, common, fit_only, val_key, test_key = CASES[name]
    common = [a.replace("{tmp}", str(tmp_path)) for a in common]
    run_cli(["fit", "--config", config, *fragment, *FEW, *common, *fit_only], tmp_path / "fit", timeout=400)
    last = tmp_path / "fit" / "checkpoints" / "last.ckpt"
    assert last.is_dir() and len(list(last.glob("*.distcp"))) == shards  # one shard per rank
    meta = torch.load(last / "meta.pt", map_location="cpu", weights_only=True)
    assert meta["global_step"] >= 1
    logged = _logged(tmp_path / "fit")
    assert any(k.startswith(val_key) for k in logged), sorted(logged)
    command, _, test_key = test_key.rpartition(":")
    command = command or "test"
    limit = "--trainer.limit_val_batches" if command == "validate" else "--trainer.limit_test_batches"
    out = run_cli([command, "--config", config, *fragment, *common, limit, "1", "--trainer.enable_progress_bar",
                   "false", "--ckpt_path", str(last)], tmp_path / "test", timeout=400)
    assert test_key in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]
    if name in CHECKS:
        CHECKS[name](tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_method_fits_validates_checkpoints_and_tests_under_fsdp_on_cpu(name, tmp_path):
    _fit_and_test(name, tmp_path, FSDP_CPU, shards=2)


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(CASES))
def test_method_under_fsdp_in_bf16_on_cuda(name, tmp_path):
    """The same scenarios with the GPU fragment (bf16-mixed, NCCL) on up to 2 CUDA devices."""
    devices = min(2, torch.cuda.device_count())
    _fit_and_test(name, tmp_path, ["--config", "configs/trainer/fsdp.yaml", "--trainer.devices", str(devices)],
                  shards=devices)


def _train_losses(root) -> list[float]:
    import csv

    rows = [r for f in root.rglob("metrics.csv") for r in csv.DictReader(open(f)) if r.get("train/loss")]
    return [float(r["train/loss"]) for r in sorted(rows, key=lambda r: int(r["step"]))]


EQUIVALENCE = {
    "sft": ("configs/sft.yaml", ["--data.init_args.max_train_records", "32", "--data.init_args.batch_size", "4",
                                 "--model.init_args.max_length", "192", "--model.init_args.backbone.tiny.d_model",
                                 "32"]),
    "gotta": ("configs/gotta.yaml", ["--model.init_args.backbone.tiny.d_model", "32",
                                     "--model.init_args.max_source_length", "192",
                                     "--model.init_args.max_target_length", "48", "--checkpoint.monitor", "null"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EQUIVALENCE))
def test_fsdp_losses_and_weights_equal_ddp_after_three_steps(name, tmp_path):
    """Decoder-only (SFT, Llama) and encoder-decoder (Gotta, T5, with dropout): 2 processes, float32; the
    per-step losses and every weight after 3 AdamW steps agree to rtol 1e-4 / atol 1e-5 (FSDP's reduce-scatter
    sums in another order than DDP's all-reduce; nothing else differs)."""
    from lit_agents.export import load_checkpoint_state

    config, args = EQUIVALENCE[name]
    steps = ["--trainer.max_steps", "3", "--trainer.limit_val_batches", "0", "--trainer.log_every_n_steps", "1",
             "--trainer.enable_progress_bar", "false", "--trainer.logger", "true", *args]
    run_cli(["fit", "--config", config, *steps, "--trainer.strategy", "ddp", "--trainer.devices", "2",
             "--trainer.accelerator", "cpu"], tmp_path / "ddp")
    run_cli(["fit", "--config", config, *FSDP_CPU, *steps], tmp_path / "fsdp")
    ddp_losses, fsdp_losses = _train_losses(tmp_path / "ddp"), _train_losses(tmp_path / "fsdp")
    assert len(ddp_losses) == 3 and fsdp_losses == pytest.approx(ddp_losses, rel=1e-4, abs=1e-5)
    _, ddp = load_checkpoint_state(tmp_path / "ddp" / "checkpoints" / "last.ckpt")
    meta, fsdp = load_checkpoint_state(tmp_path / "fsdp" / "checkpoints" / "last.ckpt")
    assert meta["global_step"] == 3 and fsdp.keys() == ddp.keys()
    for k in ddp:
        torch.testing.assert_close(fsdp[k], ddp[k], rtol=1e-4, atol=1e-5, msg=k)
