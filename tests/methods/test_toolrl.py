"""ToolRLModule / GRPO engine hooks: tool episodes in make_rollout, reward kwargs, weight schedules, evaluation."""
import json

import pytest
import torch

from data_modules.io import collate_records
from data_modules.tool_use import SyntheticToolTask, ToolUseDataModule
from lit_agents.methods.toolrl import ToolRLModule
from lit_agents.tools.environment import ToolEnvironment
from tests.helpers import run_cli, tiny_backbone

FUNCS = ["lit_agents.tools.rewards.toolrl_format_rewards", "lit_agents.tools.rewards.toolrl_correctness_rewards",
         "lit_agents.tools.rewards.toolrl_length_rewards"]


def _batch(n=2):
    dm = ToolUseDataModule(synthetic=SyntheticToolTask(n_train=n, n_val=1, n_test=2),
                           system_prompt="toolrl_system_short", assistant_prefix="<think> c </think>\n")
    dm.setup()
    return dm, collate_records(dm.train_records)


def test_make_rollout_with_tools_kwargs_and_schedules():
    torch.manual_seed(0)
    env = ToolEnvironment(functions=["lit_agents.tools.calculator.calculator"], max_turns=2)
    m = ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS, num_generations=2, max_completion_length=6,
                     max_prompt_length=2048,
                     reward_kwargs=[{}, {"granularity": "coarse"}, {"max_words_schedule": [[0, 1], [10, 2]]}],
                     reward_weight_schedules=[[[0, 4.0], [10, 2.0]], None, None], tool_env=env)
    assert "tool_env" not in m.hparams  # checkpoints stay weights_only-loadable
    _, batch = _batch()
    m.generation_steps = 5
    ro, t = m.make_rollout(batch)
    assert ro.num_turns.shape == (4,) and (ro.num_turns >= 1).all()
    # the prefill is part of what the rewards score
    assert all(text.startswith("<think> c </think>\n") for text in ro.texts)
    # coarse correctness: an unparsed call scores the minimum; format weight 3.0 at step 5
    assert t["per_fn"][:, 1].tolist() == [-3.0] * 4
    assert m.current_reward_weights().tolist() == [3.0, 1.0, 1.0]
    expected = t["per_fn"] @ torch.tensor([3.0, 1.0, 1.0])
    assert torch.allclose(t["rewards"], expected)
    with pytest.raises(ValueError, match="reward_kwargs"):
        ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS[:1], num_generations=2,
                     reward_kwargs=[{"no_such_arg": 1, "answer": 2, "completions": 3}])
    with pytest.raises(ValueError, match="reward_weight_schedules"):
        ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS[:1], num_generations=2, reward_weight_schedules=[[[1]]])


def test_evaluate_batch_scores_every_record(tmp_path):
    m = ToolRLModule(tiny_backbone("t5"), reward_funcs=FUNCS[:2], num_generations=2, eval_max_new_tokens=8,
                     max_prompt_length=2048, eval_batch_size=1)
    dm, _ = _batch()
    results = m.evaluate_batch(collate_records(dm.test_records))
    assert len(results) == 2 and all(r["kind"] == "tool_call" and r["correct"] is False for r in results)
    assert all(r["output"].startswith("<think> c </think>\n") for r in results)


@pytest.mark.slow
def test_cli_fit_then_test_writes_metrics_and_predictions(tmp_path):
    common = ["--config", "configs/toolrl.yaml", "--trainer.default_root_dir", str(tmp_path),
              "--data.init_args.synthetic.n_train", "8", "--data.init_args.synthetic.n_val", "4",
              "--data.init_args.synthetic.n_test", "4", "--model.init_args.num_generations", "4",
              "--model.init_args.max_completion_length", "8", "--model.init_args.eval_max_new_tokens", "8"]
    run_cli(["fit", *common, "--trainer.max_steps", "2", "--trainer.val_check_interval", "2"], tmp_path)
    ckpt = next(tmp_path.rglob("*.ckpt"))
    run_cli(["test", *common, "--ckpt_path", str(ckpt)], tmp_path)
    report = json.loads(next(tmp_path.rglob("test_toolrl_report.json")).read_text())
    for k in ("accuracy", "tool_name_accuracy", "param_name_f1", "param_value_accuracy", "format_valid_rate",
              "avg_tool_calls"):
        assert 0.0 <= report[k] <= (report["n"] if k == "avg_tool_calls" else 1.0)
    preds = [json.loads(x) for x in next(tmp_path.rglob("test_predictions.jsonl")).read_text().splitlines()]
    assert len(preds) == 4 and all({"id", "output", "correct", "pred_calls"} <= set(p) for p in preds)


SQUAD = ["data_modules/samples/qa/squad_train_pool.json", "data_modules/samples/qa/squad_dev.json",
         "data_modules/samples/qa/squad_test.json"]
SEARCH_FIRST = ('<think> search </think>\n<tool_call>\n{"name": "search", "parameters": {"query": {question}}}'
                '\n</tool_call>')


def test_bamboogle_evaluation_with_the_search_tool():
    """Bamboogle questions, BM25 over the bundled real Wikipedia paragraphs (SQuAD), a scripted search for the
    question as first turn: every episode makes the call, gets the passages back as an <obs> turn, the tiny
    policy continues; EM and calls per question are what the metrics report."""
    from data_modules.tool_use import SAMPLES
    from lit_agents.tools.metrics import tool_use_metrics
    from lit_agents.tools.rewards import response_exact_match
    from lit_agents.tools.search import BM25Search, load_corpus

    env = ToolEnvironment(search_corpus=SQUAD, max_turns=2)
    m = ToolRLModule(tiny_backbone("llama"), reward_funcs=["lit_agents.tools.rewards.response_em_rewards"],
                     num_generations=2, eval_max_new_tokens=8, max_prompt_length=4096, tool_env=env,
                     eval_first_turn=SEARCH_FIRST)
    dm = ToolUseDataModule(train_path=None, test_path=str(SAMPLES / "bamboogle.json"),
                           tools=["lit_agents.tools.search.search"], limit=3)
    dm.setup()
    results = m.evaluate_batch(collate_records(dm.test_records))
    metrics = tool_use_metrics(results)
    assert metrics["n"] == 3 and metrics["avg_tool_calls"] == 1.0
    bm25 = BM25Search(load_corpus(SQUAD))
    for rec, r in zip(dm.test_records, results):
        assert r["kind"] == "qa" and r["tool_calls"] == 1
        first = SEARCH_FIRST.replace("{question}", json.dumps(rec["question"]))
        assert r["output"].startswith(first + "\n<obs> ")
        top = bm25.search(rec["question"])[0]
        assert json.dumps(top, ensure_ascii=False)[1:60] in r["output"]  # the corpus's best passage came back
        assert r["correct"] == bool(response_exact_match(r["output"], rec["answer"]))
    assert metrics["exact_match"] == sum(r["correct"] for r in results) / 3
    with pytest.raises(ValueError, match="tool_env"):
        ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS[:1], num_generations=2, eval_first_turn="x")


@pytest.mark.slow
def test_bamboogle_config_runs_lit_agents_test(tmp_path):
    """``lit-agents test --config configs/toolrl_bamboogle.yaml`` (no checkpoint: the random tiny policy) on 4
    questions writes the EM / tool-call report and the per-question predictions."""
    run_cli(["test", "--config", "configs/toolrl_bamboogle.yaml", "--trainer.default_root_dir", str(tmp_path),
             "--data.init_args.limit", "4"], tmp_path, timeout=600)
    report = json.loads(next(tmp_path.rglob("test_toolrl_report.json")).read_text())
    assert report["n"] == 4 and report["avg_tool_calls"] >= 1.0 and 0.0 <= report["exact_match"] <= 1.0
    preds = [json.loads(x) for x in next(tmp_path.rglob("test_predictions.jsonl")).read_text().splitlines()]
    assert len(preds) == 4 and all(p["tool_calls"] >= 1 and "<obs>" in p["output"] for p in preds)


@pytest.mark.slow
def test_default_config_learns_the_calls_from_the_toolrl_rewards(tmp_path):
    """``configs/toolrl.yaml`` as it is (seed 0: 600 warm-up steps, 600 GRPO steps): the held-out exact-call
    accuracy (tool name and both values right, validation prompts never in training) rises from what the warm-up
    leaves (tool and binding at chance) to well above it, and the GRPO reward (format + correctness) of the last
    ten logged steps beats the first ten (measured: accuracy 0.125 at step 599, 0.81 at 1199; README "ToolRL")."""
    import csv

    run_cli(["fit", "--config", "configs/toolrl.yaml", "--trainer.default_root_dir", str(tmp_path),
             "--trainer.val_check_interval", "600"], tmp_path, timeout=1500)
    rows = list(csv.DictReader(next(tmp_path.rglob("metrics.csv")).open()))
    reward = [float(r["train/reward"]) for r in rows if r.get("train/reward")]
    assert len(reward) == 120, reward  # GRPO steps 601..1200, logged every 5
    assert sum(reward[-10:]) / 10 > sum(reward[:10]) / 10 + 0.3, reward
    acc = {int(r["step"]): float(r["val/toolrl/accuracy"]) for r in rows if r.get("val/toolrl/accuracy")}
    assert sorted(acc) == [599, 1199] and acc[1199] >= acc[599] + 0.3, acc  # after the warm-up vs the end


def _synthetic_splits():
    import yaml

    config = yaml.safe_load(open("configs/toolrl.yaml"))
    data = config["data"]["init_args"]
    dm = ToolUseDataModule(synthetic=SyntheticToolTask(**data["synthetic"]), system_prompt=data["system_prompt"],
                           format_targets=True, format_target_arguments=data["format_target_arguments"])
    dm.setup()
    corpus = config["model"]["init_args"]["backbone"]["tiny"]["bpe_corpus"]
    return dm, dm.train_records, dm.val_records + dm.test_records, corpus


def test_default_task_held_out_prompts_and_format_targets_do_not_leak():
    """The default's validation/test prompts never occur in training; the BPE corpus is the training text only
    (and what ``synthetic_corpus_text`` makes); every format-warm-up choice of a record is its own values under
    every task tool in both bindings, the same names and bindings whatever the prompt, so the warm-up carries no
    information about which tool a prompt needs nor which value goes to which parameter."""
    from pathlib import Path

    dm, train, held_out, corpus_files = _synthetic_splits()
    train_prompts = {r["prompt"][1]["content"] for r in train}
    assert len(train_prompts) == len(train) == 128 and len(held_out) == 32
    assert not train_prompts & {r["prompt"][1]["content"] for r in held_out}
    corpus = Path(corpus_files[0]).read_text()
    assert corpus == dm.synthetic_corpus_text()
    assert not any(r["prompt"][1]["content"] in corpus for r in held_out)
    assert all(r["prompt"][1]["content"] in corpus for r in train)
    for r in train:
        calls = [json.loads(c.split("<tool_call>")[1].split("</tool_call>")[0]) for c in r["format_target_choices"]]
        gold = r["gold_calls"][0]["parameters"]
        assert sorted(c["name"] for c in calls) == ["add", "add", "mul", "mul"]
        assert sorted(tuple(c["parameters"].values()) for c in calls) == sorted(
            [(gold["a"], gold["b"])] * 2 + [(gold["b"], gold["a"])] * 2)
    assert not any("format_target_choices" in r or "format_target" in r for r in held_out)
    with pytest.raises(ValueError, match="distinct prompts"):
        SyntheticToolTask(ops=["add"], params=["x"], max_number=9, n_train=8, n_val=2, n_test=2).records()


WORLD = dict(ops=["sub", "max", "min", "pow"], params=["x", "y"], n_train=16, n_val=0, n_test=0, seed=1,
             tool_list="compact")


def test_disjoint_warmup_world_never_mentions_the_task_tools_nor_held_out_prompts():
    """``data.warmup_task``: every training record gets a prompt of the disjoint tool world (its own tool list)
    and that prompt's TRUE call; no warm-up prompt or target names a task tool or parameter, none is a task
    prompt (held-out or not), held-out records get none, and a world sharing a task name is refused."""
    task = SyntheticToolTask(n_train=32, n_val=8, n_test=8, tool_list="compact")
    dm = ToolUseDataModule(synthetic=task, system_prompt="toolrl_system_tiny",
                           warmup_task=SyntheticToolTask(**WORLD))
    dm.setup()
    task_prompts = {r["prompt"][1]["content"] for r in dm.train_records + dm.val_records + dm.test_records}
    for r in dm.train_records:
        system, user = (m["content"] for m in r["warmup_prompt"])
        call = json.loads(r["warmup_target"].split("<tool_call>")[1].split("</tool_call>")[0])
        op, *vals = user.removeprefix("<user> ").removesuffix(" </user>").split()
        assert call == {"name": op, "parameters": {"x": int(vals[0]), "y": int(vals[1])}}  # the true call
        assert user not in task_prompts
        for text in (system, user, r["warmup_target"]):
            assert not any(w in text for w in ("add", "mul", '"a"', '"b"', "a: int", "b: int")), text
    assert not any("warmup_prompt" in r or "warmup_target" in r for r in dm.val_records + dm.test_records)
    clash = ToolUseDataModule(synthetic=task, system_prompt="toolrl_system_tiny",
                              warmup_task=SyntheticToolTask(**{**WORLD, "ops": ["sub", "add"]}))
    with pytest.raises(ValueError, match="disjoint tool world.*add"):
        clash.setup()


def test_warmup_steps_train_on_the_warmup_world_prompts():
    """With ``warmup_prompt`` in the batch, a warm-up step's loss is the NLL of the world's call after the
    world's prompt (not after the task prompt); with ``format_targets`` too, both sets of rows."""
    torch.manual_seed(0)
    m = ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS[:2], num_generations=2, max_completion_length=4,
                     max_prompt_length=2048, format_warmup_steps=1, learning_rate=1e-3)
    dm = ToolUseDataModule(synthetic=SyntheticToolTask(n_train=4, n_val=1, n_test=1, tool_list="compact"),
                           system_prompt="toolrl_system_tiny", warmup_task=SyntheticToolTask(**WORLD))
    dm.setup()
    batch = collate_records(dm.train_records)
    _, world_rows = m._filter_prompts({**batch, "prompt": batch["warmup_prompt"]})
    _, task_rows = m._filter_prompts(batch)
    assert world_rows != task_rows
    rows, targets = m._warmup_rows(batch)
    assert rows == world_rows and targets == batch["warmup_target"]
    assert m._warmup_loss(rows, targets).item() != m._warmup_loss(task_rows, targets).item()
    both = ToolUseDataModule(synthetic=SyntheticToolTask(n_train=4, n_val=1, n_test=1, tool_list="compact"),
                             system_prompt="toolrl_system_tiny", format_targets=True,
                             warmup_task=SyntheticToolTask(**WORLD))
    both.setup()
    batch = collate_records(both.train_records)  # both: the task prompts' unrelated targets, then the world's
    assert m._warmup_rows(batch) == (task_rows + world_rows, batch["format_target"] + batch["warmup_target"])


def test_format_warmup_steps_train_the_format_target_then_grpo(tmp_path):
    """Two warm-up steps (NLL of the format targets, no rollout, the GRPO counter untouched), then GRPO."""
    torch.manual_seed(0)
    m = ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS[:2], num_generations=2, max_completion_length=4,
                     max_prompt_length=2048, format_warmup_steps=2)
    dm = ToolUseDataModule(synthetic=SyntheticToolTask(n_train=4, n_val=1, n_test=1),
                           system_prompt="toolrl_system_tiny", format_targets=True)
    dm.setup()
    batch = collate_records(dm.train_records)
    keep, rows = m._filter_prompts(batch)
    first = m._warmup_loss(rows, batch["format_target"]).item()
    opt = torch.optim.AdamW(m.model.parameters(), lr=1e-2)
    for _ in range(5):
        loss = m._warmup_loss(rows, batch["format_target"])
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert m._warmup_loss(rows, batch["format_target"]).item() < first
    assert m._warming_up() and m.generation_steps == 0
    m.format_warmup_done = 2
    assert not m._warming_up()
    ckpt: dict = {}
    m.on_save_checkpoint(ckpt)
    assert ckpt["toolrl_state"] == {"format_warmup_done": 2, "reference_warmed_up": False}
    with pytest.raises(ValueError, match="format_warmup_steps"):
        ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS[:1], num_generations=2, format_warmup_steps=-1)


def test_own_argument_targets_copy_the_values_and_leave_tool_and_binding_to_the_rewards():
    """``format_target_arguments: own_unordered``: every training record's warm-up choices are its own values under
    every task tool and in every parameter order, so the names and the bindings they carry are the same for every
    prompt (nothing about which call a prompt needs); the warm-up draws one per row and step, reproducibly; ``own``
    keeps the order; held-out records get none; a file-based task is refused."""
    task = SyntheticToolTask(n_train=16, n_val=4, n_test=4, tool_list="compact")
    dm = ToolUseDataModule(synthetic=task, system_prompt="toolrl_system_tiny", format_targets=True,
                           format_target_arguments="own_unordered")
    dm.setup()
    for r in dm.train_records:
        gold = r["gold_calls"][0]["parameters"]
        calls = [json.loads(c.split("<tool_call>")[1].split("</tool_call>")[0]) for c in r["format_target_choices"]]
        assert sorted(c["name"] for c in calls) == ["add", "add", "mul", "mul"]  # every tool, whatever the prompt
        assert sorted((c["parameters"]["a"], c["parameters"]["b"]) for c in calls) == sorted(
            [(gold["a"], gold["b"])] * 2 + [(gold["b"], gold["a"])] * 2)  # both bindings of its own values
        assert "format_target" not in r
    assert not any("format_target_choices" in r for r in dm.val_records + dm.test_records)
    m = ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS[:2], num_generations=2, max_completion_length=4,
                     max_prompt_length=2048, format_warmup_steps=3)
    batch = collate_records(dm.train_records)
    first = m._warmup_rows(batch)[1]
    assert m._warmup_rows(batch)[1] == first  # the same step draws the same targets (exact resume)
    m.format_warmup_done = 1
    assert m._warmup_rows(batch)[1] != first and all(t in c for t, c in zip(first, batch["format_target_choices"]))
    ordered = ToolUseDataModule(synthetic=task, system_prompt="toolrl_system_tiny", format_targets=True,
                                format_target_arguments="own")
    ordered.setup()
    assert all(len(r["format_target_choices"]) == 2 and r["answer"] in r["format_target_choices"]
               for r in ordered.train_records)
    with pytest.raises(ValueError, match="format_target_arguments"):
        ToolUseDataModule(format_target_arguments="mine")
    files = ToolUseDataModule(format_targets=True, format_target_arguments="own")
    with pytest.raises(ValueError, match="needs data.synthetic"):
        files.setup()


def test_kl_reference_warmed_up_is_the_policy_after_the_warmup_and_survives_a_checkpoint():
    """``kl_reference: warmed_up``: at the first GRPO step the KL reference becomes the warmed-up policy (not
    the initial weights), the snapshot is checkpointed and restored, and LoRA is refused."""
    torch.manual_seed(0)
    m = ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS[:2], num_generations=2, max_completion_length=4,
                     max_prompt_length=2048, format_warmup_steps=1, beta=0.1, kl_reference="warmed_up")
    with torch.no_grad():
        for p in m.model.parameters():  # what the warm-up did
            p.add_(0.01)
    m.format_warmup_done = 1
    m._snapshot_reference()
    assert m.reference_warmed_up
    for a, b in zip(m.model.parameters(), m.ref_model.parameters()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    ckpt: dict = {}
    m.on_save_checkpoint(ckpt)
    fresh = ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS[:2], num_generations=2, max_completion_length=4,
                         max_prompt_length=2048, format_warmup_steps=1, beta=0.1, kl_reference="warmed_up")
    assert not all(torch.equal(a, b) for a, b in zip(fresh.ref_model.parameters(), m.ref_model.parameters()))
    fresh.on_load_checkpoint(ckpt)
    assert fresh.reference_warmed_up and fresh.format_warmup_done == 1
    assert all(torch.equal(a, b) for a, b in zip(fresh.ref_model.parameters(), m.ref_model.parameters()))
    with pytest.raises(ValueError, match="kl_reference"):
        ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS[:1], num_generations=2, kl_reference="final")
    from lit_agents.backbone import LoRASpec

    lora = tiny_backbone("llama")
    lora.lora = LoRASpec(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])
    with pytest.raises(ValueError, match="warmed_up needs full-parameter"):
        ToolRLModule(lora, reward_funcs=FUNCS[:1], num_generations=2, beta=0.1, kl_reference="warmed_up")


@pytest.mark.slow
def test_ddp_run_with_a_tool_environment(tmp_path):
    """Two CPU ranks, one format warm-up step, then a GRPO step on multi-turn episodes with the calculator
    (tool_env from the command line)."""
    import csv

    run_cli(["fit", "--config", "configs/toolrl.yaml", "--trainer.strategy", "ddp", "--trainer.devices", "2",
             "--trainer.max_steps", "2", "--trainer.val_check_interval", "2", "--trainer.log_every_n_steps", "1",
             "--data.init_args.synthetic.n_train", "8", "--data.init_args.synthetic.n_val", "4",
             "--data.init_args.synthetic.n_test", "4", "--data.init_args.batch_size", "2",
             "--model.init_args.num_generations", "2", "--model.init_args.max_completion_length", "8",
             "--model.init_args.eval_max_new_tokens", "8", "--model.init_args.format_warmup_steps", "1",
             "--model.init_args.tool_env.class_path", "lit_agents.tools.environment.ToolEnvironment",
             "--model.init_args.tool_env.init_args.functions", "[lit_agents.tools.calculator.calculator]",
             "--model.init_args.tool_env.init_args.max_turns", "2"], tmp_path, timeout=600)
    rows = list(csv.DictReader(next(tmp_path.rglob("metrics.csv")).open()))
    turns = [float(r["train/tools/turns_per_episode"]) for r in rows if r.get("train/tools/turns_per_episode")]
    assert len(turns) == 1 and all(1.0 <= t <= 2.0 for t in turns)
    assert any(r.get("val/toolrl/accuracy") for r in rows)
