"""Log tables and images to whatever logger is attached, and always keep a copy in the run directory."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def run_dir(trainer) -> Path:
    """The run's log directory (where the resolved config and checkpoints live).

    Reads the logger's directory directly: ``Trainer.log_dir`` broadcasts from rank 0, which deadlocks (or
    mismatches collectives) when only rank 0 calls this, as ``log_table``/``log_image`` do.
    """
    loggers = list(getattr(trainer, "loggers", None) or [])
    # a logger with a per-run directory (CSV, TensorBoard: version_N) over one with a shared save_dir (W&B)
    logger = next((lg for lg in loggers if getattr(lg, "log_dir", None)), loggers[0] if loggers else None)
    d = (getattr(logger, "log_dir", None) or getattr(logger, "save_dir", None)) if logger is not None else None
    d = d or trainer.default_root_dir
    p = Path(d)
    p.mkdir(parents=True, exist_ok=True)
    return p


def _wandb_loggers(trainer):
    from lightning.pytorch.loggers import WandbLogger

    return [lg for lg in (trainer.loggers or []) if isinstance(lg, WandbLogger)]


def log_table(trainer, key: str, columns: list[str], rows: list[list[Any]]) -> Path | None:
    """Append ``rows`` to ``<run_dir>/<key>.jsonl`` (rank 0) and log a W&B table when W&B is on."""
    if trainer is None or not trainer.is_global_zero:
        return None
    path = run_dir(trainer) / f"{key.replace('/', '_')}.jsonl"
    with open(path, "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"step": trainer.global_step, **dict(zip(columns, r))}, ensure_ascii=False,
                               default=str) + "\n")
    for lg in _wandb_loggers(trainer):
        lg.log_table(key=key, columns=columns, data=[[str(c) for c in r] for r in rows])
    return path


def log_image(trainer, key: str, path: str | Path) -> None:
    """Log a PNG already written to disk to W&B when W&B is on (the file stays in the run dir)."""
    if trainer is None or not trainer.is_global_zero:
        return
    for lg in _wandb_loggers(trainer):
        lg.log_image(key=key, images=[str(path)])
