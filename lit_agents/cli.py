"""``lit-agents fit|validate|test|predict --config <yaml>``: a LightningCLI in subclass mode.

Every method is a LightningModule and its data a LightningDataModule, picked by ``class_path`` in YAML, so a
config file is the whole description of a run. Each run seeds everything (``seed_everything: 42`` by default),
saves its resolved config beside its logs and checkpoints, keeps ``last.ckpt`` for ``--ckpt_path last`` (written
atomically, see :mod:`lit_agents.checkpoint_io`), draws random numbers as a function of the loop position (so a
resumed run is exact), stops at the first NaN/inf loss (:mod:`lit_agents.guards`), and shows a rich progress bar
when attached to a terminal.
"""

from __future__ import annotations

import logging
import os
import sys

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, RichProgressBar
from lightning.pytorch.cli import LightningCLI

from lit_agents.checkpoint_io import AtomicCheckpointIO, ResumableRNG, unsafe_checkpoint_error
from lit_agents.checkpointing import FinalLastCheckpoint
from lit_agents.guards import NonFiniteLossGuard


class LoggerAwareLRMonitor(LearningRateMonitor):
    """LearningRateMonitor that stays quiet (instead of failing) when the run has no logger."""

    def on_train_start(self, trainer, *args, **kwargs):
        if trainer.loggers:
            super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer, *args, **kwargs):
        if trainer.loggers:
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer, *args, **kwargs):
        if trainer.loggers:
            super().on_train_epoch_start(trainer, *args, **kwargs)


class LitAgentsCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        # The checkpoint callback is always on and configurable as `checkpoint.*` (monitor, mode, every_n_*).
        # FinalLastCheckpoint: last.ckpt is always the final model, whatever the monitor (issue 19).
        parser.add_lightning_class_args(FinalLastCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True, "checkpoint.save_top_k": 1})

    def before_fit(self) -> None:
        # Atomic saves and weights_only loads for the default (non-sharded) checkpoint format, for every
        # subcommand (validate/test/predict --ckpt_path load through it too); sharded FSDP checkpoints keep theirs.
        from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

        if type(self.trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            self.trainer.strategy.checkpoint_io = AtomicCheckpointIO()

    before_validate = before_test = before_predict = before_fit

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads an explicit --ckpt_path's hyperparameters with torch.load(weights_only=True): say
        # which file was refused and why, instead of torch's bare unpickling error.
        import pickle

        try:
            super()._parse_ckpt_path()
        except pickle.UnpicklingError as e:
            ckpt = self.config[self.config.subcommand].get("ckpt_path")
            raise unsafe_checkpoint_error(ckpt, e) from e

    def before_instantiate_classes(self) -> None:
        # Checkpoints go to a fixed `<default_root_dir>/checkpoints` (not the logger's version_N directory), so
        # that `--ckpt_path last` on a re-run of the same config finds the interrupted run's last.ckpt.
        cfg = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        ckpt = cfg.get("checkpoint")
        if ckpt is not None and ckpt.get("dirpath") is None:
            root = cfg.get("trainer", {}).get("default_root_dir") or os.getcwd()
            ckpt["dirpath"] = os.path.join(str(root), "checkpoints")


def default_callbacks() -> list[L.Callback]:
    cbs: list[L.Callback] = [LoggerAwareLRMonitor(logging_interval="step"), ResumableRNG(), NonFiniteLossGuard()]
    if sys.stdout.isatty():
        cbs.append(RichProgressBar())
    return cbs


def run_cli(args: list[str] | None = None) -> LightningCLI:
    """Run the CLI from Python with an argument list (``None`` reads ``sys.argv``); returns the CLI object."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return LitAgentsCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=42,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={"callbacks": default_callbacks()},
        args=args,
    )


def main() -> None:
    """Console entry point ``lit-agents``."""
    run_cli()


if __name__ == "__main__":
    main()
