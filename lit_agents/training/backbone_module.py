"""What every language-model method shares: the backbone, the tokenizer and the optimiser set-up."""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, is_dataclass
from typing import Literal

import lightning as L
import torch

from lit_agents.backbone import BackboneConfig, Task, is_encoder_decoder
from lit_agents.training.clipping import GradientClippingMixin

Schedule = Literal["constant", "linear", "cosine"]


def warmup_schedule(step: int, *, warmup_steps: int, total_steps: int, kind: Schedule) -> float:
    """Learning-rate multiplier: linear warm-up, then constant, linear decay or cosine decay to 0."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if kind == "constant" or total_steps <= warmup_steps:
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if kind == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class BackboneModule(GradientClippingMixin, L.LightningModule):
    """Holds ``self.model`` and ``self.tokenizer`` built from a :class:`BackboneConfig`; AdamW + schedule.

    Subclasses call ``super().__init__(backbone, task=..., ...)`` and ``self.save_plain_hyperparameters()``.
    """

    def __init__(self, backbone: BackboneConfig, task: Task | None = None, learning_rate: float = 1e-4,
                 weight_decay: float = 0.0, warmup_steps: int = 0, scheduler: Schedule = "constant",
                 adam_betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__()
        if learning_rate <= 0:
            raise ValueError(f"model.learning_rate must be > 0, got {learning_rate}")
        if warmup_steps < 0:
            raise ValueError(f"model.warmup_steps must be >= 0, got {warmup_steps}")
        self.backbone_config = backbone
        self.model, self.tokenizer = backbone.build(task)
        self.encoder_decoder = is_encoder_decoder(self.model)
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        self.warmup_steps, self.scheduler_kind, self.adam_betas = warmup_steps, scheduler, tuple(adam_betas)

    def save_plain_hyperparameters(self, ignore: list[str] | None = None) -> None:
        """``save_hyperparameters()`` of the calling ``__init__``, with dataclass arguments stored as dicts: plain
        values only, so checkpoints load with ``torch.load(weights_only=True)``. Every method keeps its settings
        this way and reads them back as ``self.hparams.<name>``."""
        self.save_hyperparameters(ignore=ignore, frame=inspect.currentframe().f_back)
        for key, value in list(self.hparams.items()):
            if is_dataclass(value) and not isinstance(value, type):
                self.hparams[key] = asdict(value)

    def trainable_parameters(self):
        return [p for p in self.parameters() if p.requires_grad]

    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
        groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=self.learning_rate, betas=self.adam_betas)
        total = int(self.trainer.estimated_stepping_batches) if self._trainer is not None else 0
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: warmup_schedule(s, warmup_steps=self.warmup_steps, total_steps=total,
                                           kind=self.scheduler_kind))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "name": "lr"}}
