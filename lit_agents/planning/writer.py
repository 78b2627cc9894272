"""``lit-agents predict`` output for the planner: planned trajectories as npz and half-court PNGs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from lightning.pytorch.callbacks import BasePredictionWriter

from lit_agents.logging_utils import log_image, run_dir
from data_modules.basketball.plot import plot_possession

log = logging.getLogger(__name__)


class PlanWriter(BasePredictionWriter):
    """Writes ``plans_rank{r}_batch{i}.npz`` (``positions`` [B, H, 11, 3] and ``trajectories`` [B, H, 66] in
    feet, ``values`` J, ``event_points``, ``index`` of the start state) and PNGs of the first ``n_plots`` plans.

    Args:
        output_dir: where to write (default: ``<run dir>/plans``).
        n_plots: pictures per batch (rank 0 logs them to W&B when a WandbLogger is attached).
    """

    def __init__(self, output_dir: str | None = None, n_plots: int = 2):
        super().__init__(write_interval="batch")
        self.output_dir, self.n_plots = output_dir, n_plots
        self._written: list[Path] = []

    def _dir(self, trainer) -> Path:
        d = Path(self.output_dir) if self.output_dir else run_dir(trainer) / "plans"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx: int,
                           dataloader_idx: int = 0) -> None:
        d = self._dir(trainer)
        arrays = {k: v.numpy() for k, v in prediction.items()}
        npz = d / f"plans_rank{trainer.global_rank}_batch{batch_idx}.npz"
        np.savez_compressed(npz, **arrays)
        self._written.append(npz)
        for i in range(min(self.n_plots, len(arrays["positions"]))):
            idx = int(arrays["index"][i])
            title = f"plan from start state {idx}"
            if "values" in arrays:
                title += f": J = {float(arrays['values'][i]):.3f}, event points {float(arrays['event_points'][i]):g}"
            path = plot_possession(arrays["positions"][i], d / f"plan_{idx}.png", title=title)
            log_image(trainer, f"plans/start_{idx}", path)

    def on_predict_start(self, trainer, pl_module) -> None:
        self._written = []

    def on_predict_end(self, trainer, pl_module) -> None:
        """Say where the plans went (a user of ``lit-agents predict`` otherwise has to search for them)."""
        if self._written:
            n = sum(len(np.load(p)["index"]) for p in self._written)
            log.info("predict: %d plans written to %s (%d npz files, plan_<start>.png pictures)", n,
                     self._written[0].parent.resolve(), len(self._written))
