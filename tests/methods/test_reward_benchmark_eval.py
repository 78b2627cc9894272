"""The RM-R1 benchmark table end to end: the generative judge (CLI, `lit-agents test`) and the scalar
Bradley–Terry baseline (trained, then judged on the same records)."""
import json

import lightning as L
import pytest
import torch

from data_modules.io import samples_dir
from data_modules.preference import PreferenceSource
from data_modules.reward_benchmarks import RewardBenchmarksDataModule
from lit_agents.losses.reward_model import bradley_terry_loss
from lit_agents.methods.scalar_rm import ScalarRewardModule
from tests.helpers import run_cli, tiny_backbone

BENCHMARKS = {"rewardbench", "rm_bench", "rmb_pairwise", "rmb_bon"}



@pytest.mark.slow
def test_scalar_reward_model_learns_pairs_and_fills_the_table(tmp_path):
    L.seed_everything(0)
    dm = RewardBenchmarksDataModule(train=[PreferenceSource(str(samples_dir() / "rm_r1" / "hh_harmless_train.jsonl"),
                                                            limit=8)], limit=1, batch_size=8)
    module = ScalarRewardModule(tiny_backbone("llama"), learning_rate=3e-3, max_length=256)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))

    def bt() -> float:
        with torch.no_grad():
            n = len(batch["chosen"])
            r = module.reward(batch["conversation"] * 2, list(batch["chosen"]) + list(batch["rejected"]))
            return bradley_terry_loss(r[:n], r[n:]).item()

    before = bt()
    trainer = L.Trainer(max_steps=15, accelerator="cpu", logger=L.pytorch.loggers.CSVLogger(tmp_path),
                        enable_checkpointing=False, enable_progress_bar=False, limit_val_batches=0,
                        enable_model_summary=False)
    trainer.fit(module, datamodule=dm)
    assert bt() < before * 0.7, (before, bt())
    trainer.test(module, datamodule=dm)
    report = json.loads(next(tmp_path.rglob("test_reward_benchmarks.json")).read_text())
    assert report["judge"] == "scalar" and set(report["scores"]) == BENCHMARKS
    # a scalar reward does not see the presentation order: both orders score the same
    for scores in report["scores"].values():
        assert scores["position_bias"] == 0.0
    assert report["scores"]["rm_bench"]["n_comparisons"] == 9


@pytest.mark.slow
def test_generative_judge_table_from_the_cli(tmp_path):
    run_cli(["test", "--config", "configs/rm_r1_eval.yaml", "--data.init_args.limit", "1",
             "--model.init_args.eval_max_new_tokens", "4"], tmp_path)
    report = json.loads(next(tmp_path.rglob("test_reward_benchmarks.json")).read_text())
    assert report["judge"] == "generative" and set(report["scores"]) == BENCHMARKS
    md = next(tmp_path.rglob("test_reward_benchmarks.md")).read_text()
    assert "rewardbench overall" in md and "rm_bench hard" in md and "rmb_bon Harmlessness" in md
    judgments = next(tmp_path.rglob("test_reward_benchmark_judgments.jsonl")).read_text().splitlines()
    # 1 RewardBench pair + 9 RM-Bench cells + RMB (1 + 1 pairs, 2 + 3 BoN losers) = 17 comparisons x 2 orders
    assert len(judgments) == 34
    assert {json.loads(j)["order"] for j in judgments} == {"chosen_A", "chosen_B"}
