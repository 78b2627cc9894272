"""A new user's first hour with ``lit-agents`` (issue 14): short messages, no silent stale or random models,
per-run directories, W&B without an account, curves as a PNG."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from lit_agents.cli import RunError
from lit_agents.cli import run_cli as cli
from tests.helpers import REPO, run_cli

# a 1-2 step SFT run of the embedded default
SFT_FAST = ["--config", "configs/sft.yaml", "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps", "1",
            "--model.init_args.num_val_samples", "1", "--model.init_args.val_max_new_tokens", "4",
            "--trainer.enable_progress_bar", "false"]


def _error(args, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli(args)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


# ---- item 13: config mistakes get a few lines, with "did you mean"
def test_typo_in_an_init_arg_says_did_you_mean(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    err = _error(["fit", "--config", "configs/sft.yaml", "--model.init_args.learnin_rate", "1", "--print_config"],
                 capsys)
    assert "did you mean learning_rate?" in err
    assert len(err.strip().splitlines()) <= 8, err


def test_typo_in_a_yaml_trainer_key_says_did_you_mean(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  max_step: 3\n")
    err = _error(["fit", "--config", "configs/sft.yaml", "--config", str(bad), "--print_config"], capsys)
    assert "max_step" in err and "did you mean trainer.max_steps" in err
    assert len(err.strip().splitlines()) <= 8, err


def test_abbreviated_option_is_refused(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    err = _error(["fit", "--config", "configs/sft.yaml", "--trainer.max_step", "3", "--print_config"], capsys)
    assert "unrecognized arguments: --trainer.max_step" in err
    assert "--trainer.max_steps" in err


@pytest.mark.slow
def test_missing_data_file_and_unfetchable_model_end_in_one_line(tmp_path):
    for extra, expect in ((["--data.init_args.train_file", str(tmp_path / "nope.jsonl")], "nope.jsonl: file not found"),
                          (["--model.init_args.backbone.name_or_path", "someorg/no-such-model"], "no-such-model")):
        proc = run_cli(["fit", "--config", "configs/sft.yaml", *extra], tmp_path, check=False, timeout=120)
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("lit-agents: error:") and expect in last, last


# ---- item 1: --ckpt_path last with nothing there is an error, not a random model
def test_test_with_ckpt_path_last_and_no_checkpoint_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(RunError, match=str(tmp_path / "checkpoints")):
        cli(["test", *SFT_FAST, "--ckpt_path", "last", "--trainer.default_root_dir", str(tmp_path)])
    with pytest.raises(RunError, match="no such file"):
        cli(["validate", *SFT_FAST, "--ckpt_path", str(tmp_path / "x.ckpt"), "--trainer.default_root_dir",
             str(tmp_path)])


# ---- a setting named on the command line beats the checkpoint's stored hyperparameters
def test_explicit_model_override_beats_the_checkpoint_hparams(tmp_path, monkeypatch):
    """LightningCLI puts ``--ckpt_path``'s hyperparameters over the parsed config; an evaluation setting given
    explicitly with ``test --ckpt_path`` must still apply, and everything not given comes from the checkpoint."""
    monkeypatch.chdir(REPO)
    root = ["--trainer.default_root_dir", str(tmp_path)]
    cli(["fit", *SFT_FAST, *root, "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0",
         "--model.init_args.learning_rate", "0.0123"])
    ckpt = str(tmp_path / "checkpoints" / "last.ckpt")
    run = cli(["test", *SFT_FAST, *root, "--ckpt_path", ckpt, "--trainer.limit_test_batches", "1",
               "--model.init_args.val_max_new_tokens=7", "--model.num_val_samples", "2"])
    assert run.model.hparams.val_max_new_tokens == 7 and run.model.hparams.num_val_samples == 2
    assert run.model.hparams.learning_rate == pytest.approx(0.0123)  # not on the test command line: the checkpoint's


def test_explicit_model_keys_normalises_the_forms():
    from lit_agents.cli import explicit_model_keys

    argv = ["--config", "c.yaml", "--model.init_args.a.b", "1", "--model.c=2", "--model.class_path", "X",
            "--trainer.max_steps", "3"]
    assert explicit_model_keys(argv) == ["model.init_args.a.b", "model.init_args.c"]


# ---- item 14: the command line switches an embedded tiny backbone to a hub name / local directory
def test_name_or_path_on_the_command_line_replaces_the_tiny_spec(tmp_path, monkeypatch):
    from transformers import ByT5Tokenizer, T5Config, T5ForConditionalGeneration

    monkeypatch.chdir(REPO)
    saved = tmp_path / "student"
    T5ForConditionalGeneration(T5Config(vocab_size=384, d_model=48, d_ff=96, num_layers=1, num_heads=2,
                                        d_kv=24, decoder_start_token_id=0)).save_pretrained(saved)
    ByT5Tokenizer().save_pretrained(saved)
    for extra in (["--model.init_args.backbone.name_or_path", str(saved)],
                  ["--model.init_args.backbone.tiny", "null", f"--model.init_args.backbone.name_or_path={saved}"]):
        run = cli(["--config", "configs/tinyllm.yaml", *extra, "--trainer.default_root_dir", str(tmp_path)],
                  run=False)
        backbone = run.model.hparams.backbone
        assert (backbone["tiny"] if isinstance(backbone, dict) else backbone.tiny) is None
        assert run.model.model.config.d_model == 48  # the saved model, not the config's tiny d_model 64


# ---- item 2: a re-run's last.ckpt is the newest; each fit gets its own version directory
@pytest.mark.slow
def test_rerun_overwrites_last_ckpt_and_gets_a_new_run_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    for steps in (1, 2):
        cli(["fit", *SFT_FAST, "--trainer.max_steps", str(steps), "--trainer.default_root_dir", str(tmp_path)])
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").glob("last*.ckpt"))
    assert ckpts == ["last.ckpt"]
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert state["global_step"] == 2
    runs = sorted(p.name for p in (tmp_path / "lightning_logs").iterdir())
    assert runs == ["version_0", "version_1"]
    # item 17: each run's curves beside its metrics.csv, with the logged series
    from PIL import Image

    for run in runs:
        d = tmp_path / "lightning_logs" / run
        header = (d / "metrics.csv").read_text().splitlines()[0].split(",")
        png = Image.open(d / "training_curves.png")
        series = png.info["Series"].split(",")
        assert "train/loss" in series and set(series) <= set(header)
        assert png.size[0] > 200 and png.size[1] > 150


# ---- item 3: W&B without a key runs offline (said once), keeps a per-run CSV dir, logs the whole config
@pytest.mark.slow
def test_wandb_without_key_runs_offline_with_a_run_dir(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_MODE", "WANDB_API_KEY")}
    env.update(HOME=str(home), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    root = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "lit_agents.cli", "fit", *SFT_FAST, "--config",
                           "configs/trainer/wandb.yaml", "--trainer.max_steps", "1", "--trainer.default_root_dir",
                           str(root)], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stderr.count("no API key configured") == 1
    run_dir = root / "lightning_logs" / "version_0"
    assert (run_dir / "metrics.csv").is_file() and (run_dir / "config.yaml").is_file()
    assert (run_dir / "training_curves.png").is_file()
    (wandb_run,) = (root / "wandb").glob("offline-run-*")
    assert (wandb_run / "files" / "version_0" / "config.yaml").is_file()
    assert list((wandb_run / "files" / "media" / "images").glob("training_curves*.png"))
    record = next(wandb_run.glob("run-*.wandb")).read_bytes()
    assert b"val_fraction" in record and b"default_root_dir" in record  # data and trainer config, not only hparams
    assert not (root / "config.yaml").exists() and not (root / "wandb" / "config.yaml").exists()


# ---- item 15: a steps-bounded run (GRPO: max_epochs -1) has no "Epoch 0/-2"
def test_progress_bar_of_a_steps_bounded_run_reads_sensibly():
    import lightning as L

    from lit_agents.cli import EpochAwareRichProgressBar

    bar = EpochAwareRichProgressBar()
    bar._trainer = L.Trainer(max_steps=5, max_epochs=-1, logger=False, enable_checkpointing=False)
    assert bar._get_train_description(0).strip() == "Epoch 0 (step 0/5)"
    bar._trainer = L.Trainer(max_epochs=3, logger=False, enable_checkpointing=False)
    assert bar._get_train_description(1).strip() == "Epoch 1/2"


# ---- item 12: the help lists the methods and data modules, and documents every argument
def test_help_lists_methods_and_data_modules(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit):
        cli(["--help"])
    out = capsys.readouterr().out
    assert "lit_agents.methods.sft.SFTModule" in out and "data_modules.sft.SFTDataModule" in out
    assert "Lightning Trainer command line tool" not in out


def _classes():
    from lit_agents.cli_parser import _registered_classes

    methods, datas = _registered_classes()
    return methods + datas


@pytest.mark.parametrize("class_path", _classes())
def test_every_argument_of_every_class_has_a_description(class_path):
    import importlib

    from jsonargparse import ArgumentParser

    module, _, name = class_path.rpartition(".")
    parser = ArgumentParser()
    parser.add_class_arguments(getattr(importlib.import_module(module), name), "x")
    undocumented = [a.dest[2:] for a in parser._actions
                    if a.dest.startswith("x.") and a.dest.count(".") == 1 and not (a.help or "").strip()]
    assert not undocumented, f"{class_path}: no description for {undocumented} (add them to the Args: section)"


def test_backbone_fields_are_documented():
    from jsonargparse import ArgumentParser

    from lit_agents.methods.sft import SFTModule

    parser = ArgumentParser()
    parser.add_class_arguments(SFTModule, "x")
    backbone = {a.dest: a.help for a in parser._actions if a.dest.startswith("x.backbone.")}
    assert backbone and all((h or "").strip() for h in backbone.values()), backbone


def test_backbone_source_switch_rewrites_the_arguments():
    from lit_agents.cli_parser import switch_backbone_source

    p = "--model.init_args.backbone"
    assert switch_backbone_source(["fit", f"{p}.name_or_path", "x/y"]) == \
        ["fit", f"{p}.name_or_path", "x/y", p, '{"tiny": null}']
    assert switch_backbone_source([f"{p}.tiny.arch=t5"]) == [f"{p}.tiny.arch=t5", p, '{"name_or_path": null}']
    assert switch_backbone_source([f"{p}.tiny", "null"]) == [p, '{"tiny": null}']
    assert switch_backbone_source(["--trainer.max_steps", "3"]) == ["--trainer.max_steps", "3"]


def test_wandb_logger_gets_a_csv_logger_first_and_goes_offline_without_a_key(tmp_path, monkeypatch, caplog):
    from jsonargparse import Namespace

    from lit_agents.run_logging import prepare_loggers

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("NETRC", raising=False)
    trainer = Namespace(logger=Namespace(class_path="lightning.pytorch.loggers.WandbLogger",
                                         init_args=Namespace(project="p", save_dir=".")))
    prepare_loggers(trainer, str(tmp_path))
    kinds = [lg.class_path.rsplit(".", 1)[1] for lg in trainer.logger]
    assert kinds == ["CSVLogger", "WandbLogger"]
    assert trainer.logger[0].init_args.save_dir == trainer.logger[1].init_args.save_dir == str(tmp_path)
    assert os.environ["WANDB_MODE"] == "offline"
    assert sum("no API key configured" in r.getMessage() for r in caplog.records) == 1
