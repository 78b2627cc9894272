"""Training curves as a picture: at the end of ``fit``, plot the run's main logged series from ``metrics.csv``
into ``training_curves.png`` beside it (and log it to W&B when W&B is on)."""

from __future__ import annotations

import csv
import logging
import math
import re
from pathlib import Path

import lightning as L

from lit_agents.logging_utils import log_image

log = logging.getLogger(__name__)

# the curves a reader looks at first: losses, rewards, TD loss, returns, accuracies / scores
MAIN_SERIES = re.compile(r"(loss|reward|return|acc|score|f1|exact|win|kl)", re.IGNORECASE)
_SKIP = re.compile(r"^(epoch|step|lr-|lr$)")
PNG_NAME = "training_curves.png"


def read_series(metrics_csv: Path) -> dict[str, list[tuple[int, float]]]:
    """``{column: [(step, value), ...]}`` for every numeric column of a Lightning ``metrics.csv``."""
    series: dict[str, list[tuple[int, float]]] = {}
    with open(metrics_csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                step = int(float(row.get("step") or 0))
            except ValueError:
                continue
            for key, val in row.items():
                if key is None or _SKIP.match(key) or val in (None, ""):
                    continue
                try:
                    x = float(val)
                except ValueError:
                    continue
                if math.isfinite(x):
                    series.setdefault(key, []).append((step, x))
    return series


def main_series(series: dict[str, list[tuple[int, float]]], max_panels: int = 12) -> list[str]:
    """The series to draw: those matching :data:`MAIN_SERIES` (training ones first), else every series."""
    keys = [k for k in series if MAIN_SERIES.search(k)] or list(series)
    keys.sort(key=lambda k: (not k.startswith("train"), k))
    return keys[:max_panels]


def plot_curves(metrics_csv: Path, out: Path | None = None) -> tuple[Path, list[str]] | None:
    """Draw the main series of ``metrics_csv`` one panel each (value against step) into ``out`` (default
    ``training_curves.png`` beside it); the PNG's ``Series`` text field lists them. None when nothing was
    logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_series(metrics_csv)
    keys = main_series(series)
    if not keys:
        return None
    out = out or metrics_csv.with_name(PNG_NAME)
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        steps, vals = zip(*series[key])
        ax.plot(steps, vals, marker="o" if len(vals) < 20 else None, markersize=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=90, metadata={"Series": ",".join(keys), "Software": "lit-agents"})
    plt.close(fig)
    return out, keys


class TrainingCurves(L.Callback):
    """At the end of ``fit`` (rank 0), ``training_curves.png`` of the main curves beside each CSV logger's
    ``metrics.csv``, logged to W&B as ``training_curves`` when a WandbLogger is attached."""

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from lightning.pytorch.loggers import CSVLogger

        if not trainer.is_global_zero:
            return
        for lg in trainer.loggers:
            if not isinstance(lg, CSVLogger):
                continue
            lg.save()  # flush the rows logged since the last write
            metrics = Path(lg.log_dir) / "metrics.csv"
            if not metrics.is_file():
                continue
            done = plot_curves(metrics)
            if done is not None:
                log.info("training curves (%s) written to %s", ", ".join(done[1]), done[0])
                log_image(trainer, "training_curves", done[0])
