"""Impossible config values fail at start-up with a message that names the key."""

from pathlib import Path

import pytest
import yaml

from lit_agents.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
WITH_BATCH = [p for p in sorted((REPO / "configs").glob("*.yaml"))
              if "batch_size" in (yaml.safe_load(p.read_text()).get("data", {}).get("init_args") or {})]


@pytest.mark.parametrize("config", WITH_BATCH, ids=lambda p: p.name)
def test_negative_batch_size_names_the_key(config, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    with pytest.raises((ValueError, SystemExit)) as info:
        run_cli(["fit", "--config", str(config), "--data.init_args.batch_size", "-2",
                 "--trainer.default_root_dir", str(tmp_path)])
    message = str(info.value) + capsys.readouterr().err
    assert "batch_size" in message


def test_grpo_group_of_one_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    with pytest.raises((ValueError, SystemExit)) as info:
        run_cli(["fit", "--config", "configs/rm_r1_grpo.yaml", "--model.init_args.num_generations", "1",
                 "--trainer.default_root_dir", str(tmp_path)])
    assert "num_generations" in str(info.value) + capsys.readouterr().err
