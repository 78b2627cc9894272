"""Gradient clipping that works under every strategy, FSDP included."""

from __future__ import annotations

from torch.optim import Optimizer


class GradientClippingMixin:
    """One ``configure_gradient_clipping`` for every module: the Trainer's ``gradient_clip_val`` (automatic
    optimisation) and manual-optimisation modules (IterAlign, GRPO: ``self.configure_gradient_clipping(opt,
    val, "norm")``) both land here.

    Norm clipping under FSDP must use the root's ``FullyShardedDataParallel.clip_grad_norm_`` (the norm over
    all ranks' shards, a collective); Lightning's FSDP precision plugin refuses ``"norm"`` because it has no
    reference to the root. Everything else goes to Lightning's own clipping.
    """

    def configure_gradient_clipping(self, optimizer: Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        root = getattr(self.trainer.strategy, "model", None)
        if gradient_clip_val and isinstance(root, FSDP) and (gradient_clip_algorithm or "norm") == "norm":
            from torch.distributed.fsdp._common_utils import TrainingState

            if root.training_state != TrainingState.IDLE and all(p.grad is None for p in root.parameters()):
                return  # no backward ran in this step on any rank (backward under FSDP is collective)
            root.clip_grad_norm_(float(gradient_clip_val))
            return
        self.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val,
                            gradient_clip_algorithm=gradient_clip_algorithm)
