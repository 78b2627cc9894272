"""Impossible config values fail at start-up with a message that names the key."""

from pathlib import Path

import pytest
import yaml

from lit_agents.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
WITH_BATCH = [p for p in sorted((REPO / "configs").glob("*.yaml"))
              if "batch_size" in (yaml.safe_load(p.read_text()).get("data", {}).get("init_args") or {})]


@pytest.mark.parametrize("config", WITH_BATCH, ids=lambda p: p.name)
def test_negative_batch_size_names_the_key(config, tmp_path, monkeypatch, capsys, reliability_log):
    monkeypatch.chdir(REPO)
    with pytest.raises((ValueError, SystemExit)) as info:
        run_cli(["fit", "--config", str(config), "--data.init_args.batch_size", "-2",
                 "--trainer.default_root_dir", str(tmp_path)])
    message = str(info.value) + capsys.readouterr().err
    assert "batch_size" in message
    reliability_log("bad config", "data.batch_size -2 (every config with a batch size)",
                    "start-up error naming batch_size")


def test_grpo_group_of_one_is_refused(tmp_path, monkeypatch, capsys, reliability_log):
    monkeypatch.chdir(REPO)
    with pytest.raises((ValueError, SystemExit)) as info:
        run_cli(["fit", "--config", "configs/rm_r1_grpo.yaml", "--model.init_args.num_generations", "1",
                 "--trainer.default_root_dir", str(tmp_path)])
    assert "num_generations" in str(info.value) + capsys.readouterr().err
    reliability_log("bad config", "GRPO num_generations 1", "start-up error naming num_generations")


BAD_VALUES = [
    ("configs/playbest.yaml", ["--model.init_args.horizon", "30", "--data.init_args.horizon", "30"],
     "model.init_args.horizon", "PlayBest horizon 30, not a multiple of the U-Net's downsampling"),
    ("configs/sft.yaml", ["--model.class_path", "lit_agents.methods.nope.Missing"], "model",
     "unknown model class_path"),
    ("configs/tinyllm.yaml", ["--data.class_path", "data_modules.nope.Missing"], "data", "unknown data class_path"),
    ("configs/reliable.yaml", ["--data.init_args.num_workers", "-1"], "num_workers", "ReLiable num_workers -1"),
    ("configs/rm_r1_grpo.yaml", ["--model.init_args.reward_funcs", "[lit_agents.rewards.nope]"], "nope",
     "GRPO reward function that does not exist"),
]


@pytest.mark.parametrize("config,args,key,what", BAD_VALUES, ids=[b[3] for b in BAD_VALUES])
def test_bad_values_fail_at_start_up_naming_the_key(config, args, key, what, tmp_path, monkeypatch, capsys,
                                                    reliability_log):
    monkeypatch.chdir(REPO)
    with pytest.raises((ValueError, SystemExit)) as info:
        run_cli(["fit", "--config", config, *args, "--trainer.default_root_dir", str(tmp_path)])
    message = str(info.value) + capsys.readouterr().err
    assert key in message, message[-2000:]
    reliability_log("bad config", what, f"start-up error naming {key}")
