"""GRPO module: rollouts, reference handling, prompt filtering, learning signal, DDP CLI run."""
import json

import lightning as L
import pytest
import torch

from data_modules.io import collate_records
from lit_agents.methods.grpo import GRPOModule, import_callable
from lit_agents.sampling.group_rollout import completion_mask_from_ids
from tests.helpers import run_cli, tiny_backbone


def byte_a_reward(completions, **_):
    """Test reward: share of lower-case ASCII letters in the completion (learnable in a few steps)."""
    return [sum("a" <= ch <= "z" for ch in c) / max(1, len(c)) for c in completions]


def abstain_on_odd(completions, idx, **_):
    return [None if i % 2 else 1.0 for i in idx]


def one_zero_abstain_abstain(completions, **_):
    """Per group of 4 completions: rewards 1, 0, abstain, abstain."""
    return [[1.0, 0.0, None, None][i % 4] for i in range(len(completions))]


FLAKY_CALLS = []


def flaky_on_last_two(completions, **_):
    """Fails on the whole batch, then (asked one completion at a time) on the 3rd and 4th of each group."""
    if len(completions) > 1:
        raise RuntimeError("batch")
    i = len(FLAKY_CALLS) % 4
    FLAKY_CALLS.append(i)
    if i >= 2:
        raise RuntimeError("flaky")
    return [1.0 - i]


class PromptData(L.LightningDataModule):
    def __init__(self, prompts, batch_size=2):
        super().__init__()
        self.records = [{"prompt": p, "idx": i} for i, p in enumerate(prompts)]
        self.batch_size = batch_size

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self.records, batch_size=self.batch_size, collate_fn=collate_records)


def _fit(module, data, steps):
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(module, data)
    return trainer


def test_completion_mask_stops_at_eos_and_trailing_pad():
    ids = torch.tensor([[5, 6, 1, 7, 7], [5, 0, 0, 0, 0], [5, 6, 7, 8, 9]])  # eos=1, pad=0
    mask, term = completion_mask_from_ids(ids, eos_id=1, pad_id=0)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert term.tolist() == [True, True, False]


def test_import_callable_errors_name_the_path():
    assert import_callable("lit_agents.rewards.judgment_rewards").__name__ == "judgment_rewards"
    with pytest.raises(ValueError, match="nope"):
        import_callable("lit_agents.rewards.nope")


def test_multi_iteration_with_reference_steps_and_logs():
    L.seed_everything(0)
    m = GRPOModule(tiny_backbone(), reward_funcs=["tests.methods.test_grpo.byte_a_reward",
                                                  "tests.methods.test_grpo.abstain_on_odd"],
                   reward_weights=[1.0, 0.5], num_generations=3, max_completion_length=6, beta=0.1,
                   num_iterations=2, optimizer_steps_per_generation=2, micro_batch_size=2, learning_rate=1e-2,
                   log_completions_every=0)
    before = [p.detach().clone() for p in m.model.parameters()]
    tr = _fit(m, PromptData(["hi there", "abc", "what?", "ok"]), steps=8)
    assert tr.global_step == 8 and m.generation_steps == 2  # 2 generations x 2 iterations x 2 mini-batches
    assert any(not torch.equal(a, b) for a, b in zip(before, m.model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(before, m.ref_model.parameters()))  # reference frozen
    metrics = tr.callback_metrics
    for key in ("train/reward", "train/kl", "train/clip_ratio/region", "train/frac_reward_zero_std",
                "train/rewards/byte_a_reward/mean", "train/rewards/abstain_on_odd/std",
                "train/completions/mean_length"):
        assert key in metrics, key
    assert float(metrics["train/kl"]) > 0  # second iteration moved away from the reference
    ckpt = {}
    m.on_save_checkpoint(ckpt)
    assert ckpt["grpo_state"]["generation_steps"] == 2


@pytest.mark.parametrize("reward, failure_value", [("one_zero_abstain_abstain", 0.0), ("flaky_on_last_two", None)])
def test_unscorable_completions_get_zero_advantage_and_stay_out_of_the_group(reward, failure_value):
    """Issue 14 item 18: all-abstain (or null-failure) completions: advantage 0, group stats over the others."""
    FLAKY_CALLS.clear()
    m = GRPOModule(tiny_backbone(), reward_funcs=[f"tests.methods.test_grpo.{reward}"], num_generations=4,
                   max_completion_length=3, reward_failure_value=failure_value, log_completions_every=0)
    _, t = m.make_rollout({"prompt": ["a", "b"]})
    r = 0.5 / (0.5 ** 0.5 + 1e-4)
    assert torch.allclose(t["advantages"], torch.tensor([r, -r, 0.0, 0.0] * 2), atol=1e-6)
    assert torch.isnan(t["rewards"]).tolist() == [False, False, True, True] * 2
    assert m.abstained_completions == 4


def test_optimizer_steps_per_generation_is_not_trls_steps_per_generation():
    """Issue 14 item 19: TRL's ``steps_per_generation`` counts micro-batches; ours has its own name."""
    with pytest.raises(TypeError, match="steps_per_generation"):
        GRPOModule(tiny_backbone(), reward_funcs=["tests.methods.test_grpo.byte_a_reward"], steps_per_generation=8)


@pytest.mark.parametrize("loss_type, exact", [("grpo", True), ("dr_grpo", True), ("bnpo", False), ("dapo", True)])
def test_micro_batching_reproduces_the_full_batch_loss_except_for_bnpo(loss_type, exact):
    """Issue 14 item 19: what `_chunk_loss`'s comment promises: accumulated micro-batch losses equal the full
    batch's for grpo/dr_grpo/dapo; bnpo gives the row-weighted mean of the micro-batch token means."""
    L.seed_everything(0)
    m = GRPOModule(tiny_backbone(), reward_funcs=["tests.methods.test_grpo.byte_a_reward"], num_generations=2,
                   max_completion_length=4, loss_type=loss_type, micro_batch_size=1, log_completions_every=0)
    ro, t = m.make_rollout({"prompt": ["ab", "cd"]})
    ro.completion_mask = torch.ones_like(ro.completion_mask)
    ro.completion_mask[0, 1:] = 0  # unequal token counts: 1, 4, 4, 4
    t["advantages"] = torch.tensor([1.0, -0.5, 0.25, 2.0])
    tokens = float(ro.completion_mask.sum())
    with torch.no_grad():
        full = m._chunk_loss((ro, t), torch.arange(4), 4, tokens).loss
        parts = [m._chunk_loss((ro, t), torch.tensor([i]), 4, tokens).loss for i in range(4)]
    if exact:
        assert torch.allclose(sum(parts), full, atol=1e-6)
    else:
        assert not torch.allclose(sum(parts), full, atol=1e-4)
        assert torch.allclose(sum(parts), torch.stack([p * 4 for p in parts]).mean(), atol=1e-6)


def test_encoder_decoder_lora_reference_is_adapter_off_and_long_prompts_are_counted():
    L.seed_everything(0)
    bb = tiny_backbone("t5")
    bb.lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q", "v"]}
    m = GRPOModule(bb, reward_funcs=["tests.methods.test_grpo.byte_a_reward"], num_generations=2,
                   max_completion_length=5, max_prompt_length=12, beta=0.05, learning_rate=1e-2,
                   log_completions_every=0)
    assert m.ref_model is None and m.uses_lora
    long_prompt = "x" * 40
    tr = _fit(m, PromptData(["short", long_prompt, "tiny", long_prompt]), steps=2)
    assert m.filtered_prompts == 2 and float(tr.callback_metrics["train/filtered_prompts"]) == 2
    assert "train/kl" in tr.callback_metrics


def test_reward_rises_on_a_learnable_reward():
    """25 GRPO steps on the lower-case-letter reward (byte_a_reward): the mean reward of the last 5 steps beats
    the first 5 by 0.1. With the GRPO loss multiplied by 0 (tried once) it fails: last-5 mean 0.13, first-5 0.20."""
    L.seed_everything(1)
    m = GRPOModule(tiny_backbone(), reward_funcs=["tests.methods.test_grpo.byte_a_reward"], num_generations=8,
                   max_completion_length=6, learning_rate=2e-2, beta=0.0, log_completions_every=0,
                   apply_chat_template=False)
    data = PromptData(["q"] * 4, batch_size=4)
    rewards = []

    class Track(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            rewards.append(float(trainer.callback_metrics["train/reward"]))

    trainer = L.Trainer(max_steps=25, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Track()])
    trainer.fit(m, data)
    assert sum(rewards[-5:]) / 5 > sum(rewards[:5]) / 5 + 0.1, rewards


@pytest.mark.slow
def test_ddp_cli_run_with_pairwise_validation(tmp_path):
    run_cli(["fit", "--config", "configs/rm_r1_grpo.yaml", "--trainer.strategy", "ddp", "--trainer.devices", "2",
             "--trainer.accelerator", "cpu", "--trainer.max_steps", "2", "--trainer.val_check_interval", "2",
             "--trainer.limit_val_batches", "1", "--model.init_args.backbone.tiny.d_model", "32",
             "--model.init_args.num_generations", "2", "--model.init_args.max_completion_length", "8",
             "--model.init_args.eval_max_new_tokens", "8", "--data.init_args.batch_size", "1",
             "--data.init_args.eval_batch_size", "2", "--data.init_args.max_response_chars", "40",
             "--model.init_args.scale_rewards", "batch"],  # the batch std is a collective over both ranks
            tmp_path, timeout=300)
    ckpts = list(tmp_path.rglob("last.ckpt"))
    assert ckpts, list(tmp_path.rglob("*"))
    ckpt = torch.load(ckpts[0], map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2 and ckpt["grpo_state"]["generation_steps"] == 2
    report = json.loads(next(tmp_path.rglob("val_pairwise_report.json")).read_text())
    assert report["n"] == 4  # 2 val records per rank x 2 ranks, both orders of 2 pairs
    assert 0.0 <= report["accuracy"] <= 1.0 and "position_bias" in report


def test_resume_restores_step_counters(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    def make():
        L.seed_everything(0)
        return GRPOModule(tiny_backbone(), reward_funcs=["tests.methods.test_grpo.byte_a_reward"], num_generations=2,
                          max_completion_length=4, learning_rate=1e-3, log_completions_every=0,
                          max_prompt_length=40)

    def trainer(steps):
        return L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=str(tmp_path),
                         callbacks=[ModelCheckpoint(dirpath=str(tmp_path), save_last=True)])

    first = make()
    trainer(2).fit(first, PromptData(["a much longer prompt that exceeds the limit", "b", "c", "d"], batch_size=1))
    assert first.generation_steps == 2 and first.filtered_prompts == 1
    resumed = make()
    tr = trainer(4)
    tr.fit(resumed, PromptData(["a", "b", "c", "d"], batch_size=1), ckpt_path=str(tmp_path / "last.ckpt"))
    assert tr.global_step == 4 and resumed.generation_steps == 4
    assert resumed.filtered_prompts == 1  # restored from the checkpoint (no long prompt after the resume)


def test_fast_sampler_draws_exactly_what_generate_draws():
    from lit_agents.sampling.group_rollout import _pad, sample_decoder_only

    model, tok = tiny_backbone().build()
    model.eval()
    ids, mask = _pad([tok("hello there")["input_ids"], tok("hi")["input_ids"]], tok.pad_token_id, left=True)
    common = dict(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, suppress_tokens=[tok.pad_token_id])
    for seed in range(2):
        torch.manual_seed(seed)
        ref = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=True, top_k=0,
                             temperature=0.7, top_p=0.9, num_return_sequences=3, **common)[:, ids.shape[1]:]
        torch.manual_seed(seed)
        got = sample_decoder_only(model, ids, mask, num_generations=3, max_new_tokens=12, eos_id=tok.eos_token_id,
                                  pad_id=tok.pad_token_id, temperature=0.7, top_p=0.9)
        assert torch.equal(ref, got)


def test_fast_sampler_uses_the_supported_cache_api():
    """No deprecated ``past_key_values`` (transformers 5.x: "will be removed in version 5.40.0"): the loop passes
    an explicit cache object under the supported name, and greedy decoding still equals ``generate``."""
    import warnings

    from lit_agents.sampling.group_rollout import _pad, sample_decoder_only

    model, tok = tiny_backbone().build()
    model.eval()
    ids, mask = _pad([tok("hello there")["input_ids"], tok("hi")["input_ids"]], tok.pad_token_id, left=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        # eos_id -1: never finishes early, so the loop really runs on the cache for all 8 steps
        got = sample_decoder_only(model, ids, mask, num_generations=2, max_new_tokens=8, eos_id=-1,
                                  pad_id=tok.pad_token_id, do_sample=False)
    # reference: greedy decoding without any cache (full forward over the growing sequence each step)
    seq, attn = ids, mask
    with torch.no_grad():
        for _ in range(8):
            pos = (attn.cumsum(-1) - 1).clamp(min=0)
            nxt = model(input_ids=seq, attention_mask=attn, position_ids=pos).logits[:, -1].argmax(-1, keepdim=True)
            seq, attn = torch.cat([seq, nxt], 1), torch.cat([attn, torch.ones_like(nxt)], 1)
    assert got.shape == (4, 8)
    assert torch.equal(seq[:, ids.shape[1]:].repeat_interleave(2, dim=0), got)


@pytest.mark.parametrize("arch", ["llama", "t5"])
def test_scored_logps_match_the_sampling_distribution(arch):
    """per_token_logps (left padding, position ids, decoder start) equals the log-softmax of the logits
    ``generate`` sampled from, token by token."""
    from lit_agents.sampling.group_rollout import Rollout, _pad, completion_mask_from_ids, per_token_logps

    torch.manual_seed(0)
    model, tok = tiny_backbone(arch).build()
    model.eval()
    enc_dec = arch == "t5"
    ids, mask = _pad([tok("hello there, friend")["input_ids"], tok("hi")["input_ids"]], tok.pad_token_id,
                     left=not enc_dec)
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=True, top_k=0,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, output_logits=True,
                         return_dict_in_generate=True, suppress_tokens=[tok.pad_token_id])
    comp = out.sequences[:, 1:] if enc_dec else out.sequences[:, ids.shape[1]:]
    cmask, term = completion_mask_from_ids(comp, tok.eos_token_id, tok.pad_token_id)
    ro = Rollout(ids, mask, comp, cmask, ["", ""], term)
    got = per_token_logps(model, ro, encoder_decoder=enc_dec)
    ref = torch.stack([torch.log_softmax(step.float(), -1).gather(-1, comp[:, t:t + 1]).squeeze(1)
                       for t, step in enumerate(out.logits)], dim=1)
    assert torch.allclose(got[cmask.bool()], ref[cmask.bool()], atol=1e-4)


def test_shared_prompt_scoring_equals_one_forward_over_prompt_and_completion():
    """per_token_logps encodes each distinct prompt of a group once (its cache indexed out to the group's rows):
    the log-probs and the weights' gradients equal those of a plain forward over every prompt + completion row."""
    from lit_agents.sampling.group_rollout import encode_prompts, generate_rollout, per_token_logps

    torch.manual_seed(0)
    model, tok = tiny_backbone().build()
    rows = encode_prompts(tok, ["hello there, friend", "hi", "a b c"], encoder_decoder=False,
                          apply_chat_template=False)
    ro = generate_rollout(model, tok, rows, encoder_decoder=False, num_generations=4, max_completion_length=10)
    model.train()
    got = per_token_logps(model, ro, encoder_decoder=False)
    got.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    ids = torch.cat([ro.prompt_ids, ro.completion_ids], 1)
    attn = torch.cat([ro.prompt_mask, torch.ones_like(ro.completion_ids)], 1)
    logits = model(input_ids=ids, attention_mask=attn, position_ids=(attn.cumsum(-1) - 1).clamp(min=0)).logits
    c = ro.completion_ids.shape[1]
    ref = torch.log_softmax(logits[:, -c - 1:-1].float(), -1).gather(-1, ro.completion_ids.unsqueeze(-1)).squeeze(-1)
    ref.sum().backward()
    assert torch.allclose(got, ref, atol=1e-5)
    for g, p in zip(grads, model.parameters()):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fsdp_gpu_run_generates_with_gathered_params(tmp_path):
    devices = str(min(2, torch.cuda.device_count()))
    run_cli(["fit", "--config", "configs/rm_r1_grpo.yaml", "--config", "configs/trainer/fsdp.yaml",
             "--trainer.devices", devices, "--trainer.max_steps", "2", "--trainer.val_check_interval", "2",
             "--trainer.limit_val_batches", "1", "--model.init_args.num_generations", "2",
             "--model.init_args.max_completion_length", "8", "--model.init_args.eval_max_new_tokens", "8",
             "--data.init_args.batch_size", "1", "--data.init_args.eval_batch_size", "2"], tmp_path)
    assert list(tmp_path.rglob("last.ckpt"))
    assert list(tmp_path.rglob("val_pairwise_report.json"))
