"""Numerical guards: a NaN or inf training loss stops the run before it can spoil the weights or a checkpoint."""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import Callback


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or inf loss; the message names the step and the last good checkpoint."""


class NonFiniteLossGuard(Callback):
    """Raises :class:`NonFiniteLossError` at the first non-finite training loss, before its backward pass.

    Checked in ``on_before_backward``, which Lightning calls for automatic and manual optimisation alike
    (``manual_backward`` in GRPO and IterAlign), so the optimiser never applies the bad step: the weights in
    memory and every checkpoint written so far are from the last good step, and ``--ckpt_path last`` resumes
    from there. No checkpoint is written on the way out (Lightning saves on exceptions only with
    ``OnExceptionCheckpoint``). Under DDP/FSDP the ranks decide together (one boolean all-reduce per backward),
    so a NaN on one rank stops every rank instead of leaving the others waiting in a collective.

    Cheaper than ``Trainer(detect_anomaly=True)``, which checks every autograd op, and clearer: the error says
    which step failed and where to resume from. Gradients are not checked: under fp16 mixed precision an inf
    gradient is routine (the grad scaler skips that step).
    """

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        loss = loss.detach()
        local_ok = bool(torch.isfinite(loss).all())
        finite = trainer.strategy.reduce_boolean_decision(local_ok, all=True) if trainer.world_size > 1 else local_ok
        if finite:
            return
        value = ("nan" if torch.isnan(loss).any() else "inf") if not local_ok else "non-finite on another rank"
        raise NonFiniteLossError(
            f"training loss is {value} at global step {trainer.global_step} (epoch {trainer.current_epoch}, batch "
            f"{trainer.fit_loop.epoch_loop.batch_idx}); stopped before its update, so the weights are those of "
            f"the last good step. {_last_checkpoint(trainer)} Lower the learning rate, add gradient clipping or "
            f"check that batch's data, then resume with --ckpt_path last.")


def _last_checkpoint(trainer) -> str:
    paths = [p for cb in trainer.checkpoint_callbacks for p in (cb.last_model_path, cb.best_model_path) if p]
    return f"Last good checkpoint: {paths[0]}." if paths else "No checkpoint has been written yet."
