"""How a CLI run logs: W&B offline without a key, a CSV logger beside W&B (each run its own directory, and the
``metrics.csv`` that :mod:`lit_agents.sweep` and the curves plot read), and the whole resolved config in W&B."""

from __future__ import annotations

import logging
import netrc
import os
from typing import Any
from urllib.parse import urlparse

import yaml
from jsonargparse import Namespace
from lightning.pytorch.cli import SaveConfigCallback

from lit_agents.logging_utils import run_dir

log = logging.getLogger(__name__)

_CSV = "lightning.pytorch.loggers.CSVLogger"
_DIR_LOGGERS = ("CSVLogger", "TensorBoardLogger")


def _class_path(item: Any) -> str:
    return str(item.get("class_path", "")) if isinstance(item, (dict, Namespace)) else type(item).__name__


def wandb_has_key() -> bool:
    """Whether wandb would find an API key: ``WANDB_API_KEY`` or a ``~/.netrc`` entry for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def prepare_loggers(trainer_cfg: Namespace, root: str) -> None:
    """Adjust ``trainer.logger`` in the parsed config (before it is instantiated) when it holds a WandbLogger:
    W&B writes under ``root`` unless its ``save_dir`` is set, runs offline when no API key is configured and
    ``WANDB_MODE`` is unset (said once), and a CSVLogger under ``root`` comes first, so the run directory
    (``root/lightning_logs/version_N``: config.yaml, metrics.csv, samples, plots) is per run as without W&B."""
    lg = trainer_cfg.get("logger")
    items = list(lg) if isinstance(lg, list) else [lg] if isinstance(lg, (dict, Namespace)) else []
    wandb = [x for x in items if _class_path(x).endswith("WandbLogger")]
    if not wandb:
        return
    for w in wandb:
        init = w.get("init_args")
        if init is None:
            init = w["init_args"] = Namespace()
        if init.get("save_dir") in (None, "", "."):
            init["save_dir"] = root
        if not os.environ.get("WANDB_MODE") and not init.get("offline") and not wandb_has_key():
            os.environ["WANDB_MODE"] = "offline"
            log.warning("W&B: no API key configured (WANDB_API_KEY or `wandb login`), so this run logs offline "
                        "under %s/wandb; upload it later with `wandb sync`.", init["save_dir"])
    dir_loggers = [x for x in items if _class_path(x).endswith(_DIR_LOGGERS)]
    if not dir_loggers:
        dir_loggers = [Namespace(class_path=_CSV, init_args=Namespace(save_dir=root))]
    trainer_cfg["logger"] = dir_loggers + [x for x in items if x not in dir_loggers]


class SaveConfigToLoggers(SaveConfigCallback):
    """Saves ``config.yaml`` in the run directory, and with W&B on also logs the whole resolved config (model,
    data, trainer, checkpoint, seed) as the run's config and uploads ``config.yaml`` (rank 0 only)."""

    def save_config(self, trainer, pl_module, stage: str) -> None:
        from lightning.pytorch.loggers import WandbLogger

        wandb_loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if not wandb_loggers:
            return
        config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
        path = run_dir(trainer) / self.config_filename
        for lg in wandb_loggers:
            lg.experiment.config.update(config, allow_val_change=True)
            if path.is_file():
                # uploaded as `version_N/config.yaml`: W&B keeps its own `config.yaml` in the run files
                lg.experiment.save(str(path), base_path=str(path.parent.parent), policy="now")
