"""The IterAlign loop with a real Trainer: one chunk per iteration, checkpointed loop state, SFT filtering,
judge failures, evaluation; and the CLI under DDP (2 CPU processes, gloo)."""

import json
import socket

import lightning as L
import pytest
from lightning.pytorch.callbacks import ModelCheckpoint

from data_modules.alignment_eval import EvalSet
from data_modules.redteam import RedTeamDataModule
from data_modules.redteam_sources import RedTeamSource
from lit_agents.alignment.judges import LLMJudge, RefusalKeywordJudge
from lit_agents.alignment.proposer import ConstitutionProposer, PrincipleBankGenerator
from lit_agents.generation import OpenAIGenerator
from lit_agents.methods.iteralign import IterAlignModule, SamplingSpec
from tests.helpers import run_cli, tiny_backbone

SAMPLING = SamplingSpec(max_new_tokens=8, temperature=0.0, max_prompt_length=256)


def _data(chunk_size=3, eval_sets=False, max_steps=2):
    evals = [EvalSet(path="iteralign/truthfulqa_head40.csv", format="truthfulqa_csv", task="truthfulqa_mc1", limit=2),
             EvalSet(path="iteralign/hhh_harmless_head10.task.json", task="hhh", category="harmless", limit=2)]
    return RedTeamDataModule(sources=[RedTeamSource(path="iteralign/dangerousqa_head40.json")],
                             chunk_size=chunk_size, eval_sets=evals if eval_sets else None,
                             max_steps_per_iteration=max_steps)


def _module(judge=None, **kw):
    args = dict(learning_rate=1e-3, red_team_sampling=SAMPLING, sft_epochs=1, sft_batch_size=2, max_length=128,
                eval_max_length=512, keep_revisions="all", check_replicas=True)
    args.update(kw)
    proposer = ConstitutionProposer(PrincipleBankGenerator(top_k=2), parse="list", retry_wait=0.0)
    return IterAlignModule(tiny_backbone("llama"), judge=judge or RefusalKeywordJudge(), proposer=proposer, **args)


def _trainer(tmp_path, max_epochs, **kw):
    return L.Trainer(accelerator="cpu", devices=1, max_epochs=max_epochs, reload_dataloaders_every_n_epochs=1,
                     default_root_dir=tmp_path, enable_progress_bar=False, enable_model_summary=False,
                     num_sanity_val_steps=0, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)],
                     **kw)


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_chunk_per_iteration_and_state_survives_resume(tmp_path):
    L.seed_everything(0)
    module = _module()
    _trainer(tmp_path, 2).fit(module, datamodule=_data())
    assert [h["prompts"] for h in module.history] == [[0, 3], [3, 6]]
    assert [c["stream_index"] for c in module.last_cases] == [3, 4, 5]  # exactly the second chunk
    assert module.prompts_consumed == 6 and module.iteration == 2
    first = module.history
    # keep_revisions="all": every non-empty revision is trained on, sft_epochs=1 pass of batches of 2
    assert all(h["bad"] == 3 and h["revised"] == 3 and h["sft_steps"] == -(-h["sft_pairs"] // 2) for h in first)
    assert all(c["in_sft"] == bool(c["revision"].strip()) for c in module.last_cases)
    assert sum(h["sft_pairs"] for h in first) > 0
    assert len(module.constitutions) >= 2
    out = next(tmp_path.rglob("constitutions.jsonl"))
    assert [r["iteration"] for r in _rows(out)] == [0, 1] and (out.parent / "summary.md").exists()

    L.seed_everything(0)
    resumed = _module()  # a fresh process would start with empty loop state
    _trainer(tmp_path / "resumed", 3).fit(resumed, datamodule=_data(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert resumed.history[:2] == first  # constitutions and pass rates of earlier iterations kept
    assert resumed.history[2]["prompts"] == [6, 9] and [c["stream_index"] for c in resumed.last_cases] == [6, 7, 8]
    assert resumed.constitutions[: len(module.constitutions)] == module.constitutions
    rows = _rows(next((tmp_path / "resumed").rglob("constitutions.jsonl")))
    assert [r["iteration"] for r in rows] == [0, 1, 2]  # the new run directory shows the whole history


def test_only_accepted_revisions_are_trained_on_and_eval_runs(tmp_path):
    """The keyword judge never accepts a tiny random model's revision, so nothing reaches SFT."""
    module = _module(keep_revisions="accepted")
    _trainer(tmp_path, 1).fit(module, datamodule=_data(eval_sets=True))
    row = module.history[0]
    assert row["bad"] == 3 and row["revised"] == 3 and row["accepted"] == 0
    assert row["sft_pairs"] == 0 and row["sft_steps"] == 0 and row["asr_after"] == 1.0
    assert all(c["revision_verdict"] == "bad" and not c["in_sft"] for c in module.last_cases)
    # evaluation: once before training (iteration 0) and after the iteration, TruthfulQA and HHH both scored
    assert [e["iteration"] for e in module.eval_history] == [0, 1]
    assert {"truthfulqa_mc1/all", "hhh/all", "hhh/harmless"} <= set(module.eval_history[-1]["metrics"])


def test_a_failing_judge_is_counted_and_the_loop_goes_on(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    judge = LLMJudge(OpenAIGenerator("gpt-3.5-turbo", dead, max_retries=0, timeout=5.0), max_retries=1,
                     retry_wait=0.0)
    module = _module(judge=judge)
    _trainer(tmp_path, 1).fit(module, datamodule=_data())
    row = module.history[0]
    assert row["judge_errors"] == 3 and row["judged"] == 0 and row["bad"] == 0 and row["asr_before"] is None
    assert row["constitutions"] == [] and row["sft_steps"] == 0 and module.prompts_consumed == 3


def test_misconfigured_runs_fail_clearly(tmp_path):
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, default_root_dir=tmp_path, enable_progress_bar=False,
                        logger=False, enable_checkpointing=False)
    with pytest.raises(ValueError, match="reload_dataloaders_every_n_epochs"):
        trainer.fit(_module(), datamodule=_data())
    # even one pair x 10 SFT epochs / batches of 2 = 5 steps, but only 2 batches are served per iteration
    with pytest.raises(ValueError, match="max_steps_per_iteration"):
        _trainer(tmp_path, 1).fit(_module(sft_epochs=10), datamodule=_data())


@pytest.mark.slow
def test_cli_ddp_two_processes(tmp_path):
    run_cli(["fit", "--config", "configs/iteralign.yaml", "--trainer.strategy", "ddp", "--trainer.devices", "2",
             "--trainer.accelerator", "cpu", "--trainer.max_epochs", "2", "--data.init_args.chunk_size", "2",
             "--model.init_args.backbone.tiny.d_model", "32", "--model.init_args.backbone.tiny.d_ff", "64",
             "--model.init_args.red_team_sampling.max_new_tokens", "4",
             "--model.init_args.reflection_sampling.max_new_tokens", "4",
             "--data.init_args.eval_sets", json.dumps([
                 {"path": "iteralign/hhh_harmless_head10.task.json", "task": "hhh", "category": "harmless", "limit": 2},
                 {"path": "iteralign/hhh_honest_head10.task.json", "task": "hhh", "category": "honest", "limit": 2}])],
            tmp_path, timeout=300)
    rows = _rows(next(tmp_path.rglob("constitutions.jsonl")))
    # both ranks' answers are gathered: each iteration judged the whole chunk of 2, in order
    assert [r["prompts"] for r in rows] == [[0, 2], [2, 4]] and all(r["judged"] == 2 for r in rows)
    assert all(r["sft_steps"] > 0 for r in rows)  # keep_revisions: all in the embedded config
    evals = _rows(next(tmp_path.rglob("evaluation.jsonl")))
    assert [e["iteration"] for e in evals] == [0, 1, 2] and "hhh/honest" in evals[-1]["metrics"]
    assert (next(tmp_path.rglob("summary.md"))).read_text().count("### Iteration") == 2


def test_eval_accuracy_counts_a_padding_repeat_once():
    """issue 14 item 5: a DistributedSampler padding repeat (same id) counts once. A one-choice item is always
    right, a two-identical-choice item always wrong (a tie): [right, wrong, right-again] -> 0.5, not 2/3."""
    module = _module()
    batch = {"id": ["t/1", "t/2", "t/1"], "task": ["truthfulqa_mc1"] * 3, "category": ["all"] * 3,
             "context": ["Q: a?\nA:", "Q: b?\nA:", "Q: a?\nA:"], "choices": [[" yes"], [" no", " no"], [" yes"]],
             "label": [0, 0, 0]}
    module._score_batch(batch)
    assert float(module.eval_metrics["truthfulqa_mc1__all"].compute()) == 0.5


def test_evaluation_sets_come_as_one_loader_with_ids():
    """issue 14 item 7: one evaluation loader (``test`` prints one column of task-named metrics, not the same
    metrics under five "DataLoader i" columns); every item has an id."""
    dm = _data(eval_sets=True)
    dm.setup("validate")
    (loader,) = dm.val_dataloader()
    items = [r for b in loader for r in zip(b["id"], b["task"])]
    assert len(items) == 4 and len({i for i, _ in items}) == 4
    assert {t for _, t in items} == {"truthfulqa_mc1", "hhh"}
