"""Exponential moving average of weights, as in Janner's Diffuser trainer (which PlayBest's code forks).

Before ``start_step`` the average is reset to a copy of the live weights at every update; from then on, every
``update_every`` steps, ``ema <- decay * ema + (1 - decay) * live`` (Janner: ``step_start_ema=2000``,
``update_ema_every=10``, decay 0.995; PlayBest uses 0.996). The copy is a submodule, so it is saved in the
Lightning checkpoint with the live weights.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class EMAConfig:
    """Args: decay: averaging factor; start_step: optimiser step from which averaging starts (copy before);
    update_every: average every this many steps; use_for_sampling: plan with the averaged weights."""

    decay: float = 0.996
    start_step: int = 2000
    update_every: int = 10
    use_for_sampling: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.decay <= 1.0:
            raise ValueError(f"ema.decay must be in [0, 1], got {self.decay}")
        if self.update_every < 1:
            raise ValueError(f"ema.update_every must be >= 1, got {self.update_every}")


class EMAWeights(nn.Module):
    """Holds ``model``'s averaged copy (no gradients) and updates it from the live model."""

    def __init__(self, model: nn.Module, config: EMAConfig | None = None):
        super().__init__()
        self.config = config or EMAConfig()
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)
        self.model.eval()

    @torch.no_grad()
    def update(self, live: nn.Module, step: int) -> None:
        """Call after optimiser step ``step`` (the number of steps taken so far)."""
        cfg = self.config
        if step < cfg.start_step:
            for e, p in zip(self.model.parameters(), live.parameters(), strict=True):
                e.copy_(p)
        elif step % cfg.update_every == 0:
            for e, p in zip(self.model.parameters(), live.parameters(), strict=True):
                e.lerp_(p, 1.0 - cfg.decay)
        for e, b in zip(self.model.buffers(), live.buffers(), strict=True):
            e.copy_(b)

    def train(self, mode: bool = True) -> EMAWeights:  # the averaged copy always runs in eval mode
        super().train(mode)
        self.model.eval()
        return self
