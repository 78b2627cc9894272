"""``last.ckpt`` is always the latest model, whatever the checkpoint monitor says.

Lightning's ``ModelCheckpoint`` refreshes ``last.ckpt`` only at steps where it also wrote a top-k checkpoint, so
with a ``monitor`` that stops improving (or a run whose last optimiser step falls between validations)
``last.ckpt`` stays at an older step, and ``test``/``predict --ckpt_path last`` evaluate a model that is not the
final one (issue 19: PlayBest's ``last.ckpt`` held step 280 of 600). :class:`FinalLastCheckpoint` writes
``last.ckpt`` at every point where Lightning considers saving and at the end of training; the best-by-monitor
checkpoints stay separate files (``filename``, e.g. ``best-{step}``).
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class FinalLastCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``save_last`` is unconditional (see the module docstring)."""

    _last_written_step: int = -1

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        if self.save_last:
            self._last_written_step = trainer.global_step

    def _refresh_last(self, trainer: L.Trainer) -> None:
        from lightning.pytorch.trainer.states import TrainerFn

        if (not self.save_last or trainer.fast_dev_run or trainer.sanity_checking
                or trainer.state.fn != TrainerFn.FITTING or trainer.global_step == 0
                or self._last_written_step == trainer.global_step):
            return
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self._refresh_last(trainer)
