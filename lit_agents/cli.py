"""``lit-agents fit|validate|test|predict --config <yaml>``: a LightningCLI in subclass mode.

Every method is a LightningModule and its data a LightningDataModule, picked by ``class_path`` in YAML, so a
config file is the whole description of a run. Each run seeds everything (``seed_everything: 42`` by default),
saves its resolved config beside its logs and checkpoints, keeps ``last.ckpt`` for ``--ckpt_path last`` (written
atomically, see :mod:`lit_agents.checkpoint_io`), draws random numbers as a function of the loop position (so a
resumed run is exact), stops at the first NaN/inf loss (:mod:`lit_agents.guards`), and shows a rich progress bar
when attached to a terminal. ``last.ckpt`` is always the newest run's (no ``last-v1.ckpt``); every run has its
own ``lightning_logs/version_N`` directory, also with W&B (:mod:`lit_agents.run_logging`), and ends ``fit`` with
``training_curves.png`` (:mod:`lit_agents.curves`). ``validate/test/predict --ckpt_path last`` with nothing to
load is an error; parser mistakes, bad data files and unfetchable models end in a few lines
(:mod:`lit_agents.cli_parser`, :func:`main`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import lightning as L
from jsonargparse import Namespace
from lightning.pytorch.callbacks import LearningRateMonitor, RichProgressBar
from lightning.pytorch.cli import LightningCLI

from lit_agents.checkpoint_io import AtomicCheckpointIO, ResumableRNG, unsafe_checkpoint_error
from lit_agents.checkpointing import FinalLastCheckpoint
from lit_agents.cli_parser import LitAgentsArgumentParser, description, switch_backbone_source
from lit_agents.curves import TrainingCurves
from lit_agents.guards import NonFiniteLossGuard
from lit_agents.run_logging import SaveConfigToLoggers, prepare_loggers

log = logging.getLogger(__name__)


class RunError(RuntimeError):
    """A mistake in how a run was asked for (no checkpoint to test, ...): ``lit-agents`` prints the message
    alone, without a traceback, and exits non-zero."""


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
        # No `last-v1.ckpt` on a re-run with the same root: `checkpoints/last.ckpt` is always the newest run's.
        parser.set_defaults({"checkpoint.save_last": True, "checkpoint.save_top_k": 1,
                             "checkpoint.enable_version_counter": False})

    def parse_arguments(self, parser, args) -> None:
        # `--...backbone.name_or_path X` over a tiny config (or the reverse) switches the model source
        # (parsed here rather than by super(), which warns when given a list while sys.argv is set)
        self._argv: list[str] = []
        if isinstance(args, (dict, Namespace)):
            self.config = parser.parse_object(args)
        else:
            self._argv = switch_backbone_source(list(sys.argv[1:] if args is None else args))
            self.config = parser.parse_args(self._argv)

    def _require_checkpoint(self) -> None:
        # validate/test/predict with `--ckpt_path last` and nothing there would evaluate a randomly initialised
        # model (Lightning only warns): refuse, naming the directory searched.
        ckpt = self.config[self.subcommand].get("ckpt_path")
        if ckpt is None or ckpt in ("best", "hpc", "registry") or str(ckpt).startswith("registry:"):
            return
        if ckpt == "last":
            dirs = [cb.dirpath for cb in self.trainer.checkpoint_callbacks if getattr(cb, "dirpath", None)]
            if not any(Path(d).is_dir() and any(Path(d).glob("last*.ckpt")) for d in dirs):
                where = ", ".join(str(Path(d).resolve()) for d in dirs) or "(no checkpoint directory configured)"
                raise RunError(f"{self.subcommand} --ckpt_path last: no last.ckpt in {where}; run `lit-agents fit` "
                               "with the same config and trainer.default_root_dir first, or pass --ckpt_path FILE")
        elif not Path(ckpt).exists():
            raise RunError(f"{self.subcommand} --ckpt_path {ckpt}: no such file")

    def before_fit(self) -> None:
        # Atomic saves and weights_only loads for the default (non-sharded) checkpoint format, for every
        # subcommand (validate/test/predict --ckpt_path load through it too); sharded FSDP checkpoints keep theirs.
        from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

        if type(self.trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            self.trainer.strategy.checkpoint_io = AtomicCheckpointIO()

    def before_validate(self) -> None:
        self._require_checkpoint()
        self.before_fit()

    before_test = before_predict = before_validate

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads an explicit --ckpt_path's hyperparameters with torch.load(weights_only=True): say
        # which file was refused and why, instead of torch's bare unpickling error.
        import copy
        import pickle

        given = copy.deepcopy(self.config)
        try:
            super()._parse_ckpt_path()
        except pickle.UnpicklingError as e:
            ckpt = self.config[self.config.subcommand].get("ckpt_path")
            raise unsafe_checkpoint_error(ckpt, e) from e
        # Lightning puts the checkpoint's hyperparameters over the whole parsed config, so an evaluation setting
        # given on the command line (`test --ckpt_path X --model.init_args.evaluation.n_starts 4`) was silently
        # replaced by the training run's value. Keys the command line names explicitly win again.
        sub = self.config.get("subcommand")
        for key in explicit_model_keys(self._argv):
            full = f"{sub}.{key}"
            if full in given:
                self.config[full] = copy.deepcopy(given[full])

    def before_instantiate_classes(self) -> None:
        # Checkpoints go to a fixed `<default_root_dir>/checkpoints` (not the logger's version_N directory), so
        # that `--ckpt_path last` on a re-run of the same config finds the interrupted run's last.ckpt.
        cfg = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        ckpt = cfg.get("checkpoint")
        root = str(cfg.get("trainer", {}).get("default_root_dir") or os.getcwd())
        if ckpt is not None and ckpt.get("dirpath") is None:
            ckpt["dirpath"] = os.path.join(root, "checkpoints")
        if cfg.get("trainer") is not None:
            prepare_loggers(cfg["trainer"], root)


class EpochAwareRichProgressBar(RichProgressBar):
    """RichProgressBar whose description reads ``Epoch 3`` when the run is bounded by steps only
    (``max_epochs: -1``, as in GRPO), instead of Lightning's ``Epoch 3/-2``."""

    def _get_train_description(self, current_epoch: int) -> str:
        max_epochs = self.trainer.max_epochs
        desc = f"Epoch {current_epoch}" + (f"/{max_epochs - 1}" if max_epochs is not None and max_epochs > 0 else "")
        if self.trainer.max_steps is not None and self.trainer.max_steps > 0 and not (max_epochs and max_epochs > 0):
            desc += f" (step {self.trainer.global_step}/{self.trainer.max_steps})"
        return f"{desc:{len(self.validation_description)}}" if len(self.validation_description) > len(desc) else desc


def default_callbacks() -> list[L.Callback]:
    cbs: list[L.Callback] = [LoggerAwareLRMonitor(logging_interval="step"), ResumableRNG(), NonFiniteLossGuard(),
                             TrainingCurves()]
    if sys.stdout.isatty():
        cbs.append(EpochAwareRichProgressBar())
    return cbs


def explicit_model_keys(argv: list[str]) -> list[str]:
    """The ``model.init_args.*`` keys an argument list sets explicitly (``--model.x.y V``, ``--model.x.y=V``,
    ``--model.init_args.x.y V``), in the ``model.init_args.x.y`` form, in order."""
    keys: list[str] = []
    for tok in argv:
        if not tok.startswith("--model."):
            continue
        key = tok[2:].split("=", 1)[0]
        if key in ("model.class_path", "model.help"):
            continue
        if not key.startswith("model.init_args."):
            key = "model.init_args." + key.removeprefix("model.")
        keys.append(key)
    return keys


def run_cli(args: list[str] | None = None, run: bool = True) -> LightningCLI:
    """Run the CLI from Python with an argument list (``None`` reads ``sys.argv``); returns the CLI object.
    With ``run=False`` the arguments take no subcommand and the classes are only instantiated."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return LitAgentsCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=42,
        save_config_callback=SaveConfigToLoggers,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={"callbacks": default_callbacks()},
        parser_class=LitAgentsArgumentParser,
        parser_kwargs={"prog": "lit-agents", "description": description(list(sys.argv[1:] if args is None else args))},
        args=args,
        run=run,
    )


def _user_error(exc: BaseException) -> BaseException | None:
    """The run-input error (no checkpoint, bad or missing data file, unfetchable hub model) behind ``exc``, also
    when jsonargparse wrapped it while instantiating a class; None for anything else (a real bug)."""
    from lit_agents.backbone import BackboneUnavailableError
    from lit_agents.fileio import DataError

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, (RunError, DataError, BackboneUnavailableError)):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def main() -> None:
    """Console entry point ``lit-agents``: a mistake in the run's inputs (no checkpoint, a missing or bad data
    file, a hub model that cannot be fetched) ends with its one-line message and exit status 1."""
    try:
        run_cli()
    except Exception as exc:
        err = _user_error(exc)
        if err is None:
            raise
        sys.stderr.write(f"lit-agents: error: {err}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
