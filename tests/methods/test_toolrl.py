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
    dm = ToolUseDataModule(synthetic=SyntheticToolTask(n_train=n, n_val=1, n_test=2), system_prompt="toolrl_system_short",
                           assistant_prefix="<think> c </think>\n")
    dm.setup()
    return dm, collate_records(dm.train_records)


def test_make_rollout_with_tools_kwargs_and_schedules():
    torch.manual_seed(0)
    env = ToolEnvironment(functions=["lit_agents.tools.calculator.calculator"], max_turns=2)
    m = ToolRLModule(tiny_backbone("llama"), reward_funcs=FUNCS, num_generations=2, max_completion_length=6, max_prompt_length=2048,
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
    m = ToolRLModule(tiny_backbone("t5"), reward_funcs=FUNCS[:2], num_generations=2, eval_max_new_tokens=8, max_prompt_length=2048,
                     eval_batch_size=1)
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
