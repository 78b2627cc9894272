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


def test_bamboogle_evaluation_with_the_search_tool(tmp_path):
    from data_modules.tool_use import SAMPLES
    from lit_agents.tools.metrics import tool_use_metrics

    corpus = tmp_path / "wiki.txt"
    corpus.write_text("Citibank was founded in 1812.\nJames Madison was president of the United States in 1812.\n")
    env = ToolEnvironment(search_corpus=str(corpus), max_turns=2)
    m = ToolRLModule(tiny_backbone("llama"), reward_funcs=["lit_agents.tools.rewards.response_em_rewards"],
                     num_generations=2, eval_max_new_tokens=8, max_prompt_length=4096, tool_env=env)
    dm = ToolUseDataModule(train_path=None, test_path=str(SAMPLES / "bamboogle.json"),
                           tools=["lit_agents.tools.search.search"], limit=2)
    dm.setup()
    results = m.evaluate_batch(collate_records(dm.test_records))
    metrics = tool_use_metrics(results)
    assert metrics["n"] == 2 and metrics["exact_match"] == 0.0 and "avg_tool_calls" in metrics
    assert all(r["kind"] == "qa" and r["tool_calls"] == 0 for r in results)  # a random policy calls nothing


@pytest.mark.slow
def test_default_config_reward_rises_from_a_cold_start(tmp_path):
    """``configs/toolrl.yaml`` (seed 0), its first 40 steps: the mean reward of the last three logged steps
    beats the first three (measured: −2.4934 → −2.4907; the rise continues to ≈ −2.47 by step 70, README)."""
    import csv

    run_cli(["fit", "--config", "configs/toolrl.yaml", "--trainer.default_root_dir", str(tmp_path),
             "--trainer.max_steps", "40", "--trainer.val_check_interval", "40", "--trainer.log_every_n_steps", "5",
             ], tmp_path, timeout=900)
    rows = list(csv.DictReader(next(tmp_path.rglob("metrics.csv")).open()))
    reward = [float(r["train/reward"]) for r in rows if r.get("train/reward")]
    assert len(reward) == 8
    first, last = sum(reward[:3]) / 3, sum(reward[-3:]) / 3
    assert last > first + 0.002, reward
    val = [r for r in rows if r.get("val/toolrl/accuracy")]
    assert val and 0.0 <= float(val[-1]["val/toolrl/accuracy"]) <= 1.0


@pytest.mark.slow
def test_ddp_run_with_a_tool_environment(tmp_path):
    """Two CPU ranks, multi-turn episodes with the calculator (tool_env from the command line), 2 steps."""
    import csv

    run_cli(["fit", "--config", "configs/toolrl.yaml", "--trainer.strategy", "ddp", "--trainer.devices", "2",
             "--trainer.max_steps", "2", "--trainer.val_check_interval", "2", "--trainer.log_every_n_steps", "1",
             "--data.init_args.synthetic.n_train", "8", "--data.init_args.synthetic.n_val", "4",
             "--data.init_args.synthetic.n_test", "4", "--data.init_args.batch_size", "2",
             "--model.init_args.num_generations", "2", "--model.init_args.max_completion_length", "8",
             "--model.init_args.eval_max_new_tokens", "8",
             "--model.init_args.tool_env.class_path", "lit_agents.tools.environment.ToolEnvironment",
             "--model.init_args.tool_env.init_args.functions", "[lit_agents.tools.calculator.calculator]",
             "--model.init_args.tool_env.init_args.max_turns", "2"], tmp_path, timeout=600)
    rows = list(csv.DictReader(next(tmp_path.rglob("metrics.csv")).open()))
    turns = [float(r["train/tools/turns_per_episode"]) for r in rows if r.get("train/tools/turns_per_episode")]
    assert len(turns) == 2 and all(1.0 <= t <= 2.0 for t in turns)
    assert any(r.get("val/toolrl/accuracy") for r in rows)
