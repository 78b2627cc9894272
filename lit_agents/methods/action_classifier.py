"""The supervised baselines of ReLiable (dissertation §6.6.3): classifiers of the logged action.

Logistic regression (flat features, linear head), CNN (current frame), LSTM / GRU and Transformer (over the
window), all :class:`HistoryEncoder` variants trained with cross-entropy on the logged actions and evaluated by
the same action-copy F1 as the DQN (OPE is only reported for the RL methods, as in the chapter).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from lit_agents.evaluation.reliable import ReLiableEvalMixin
from lit_agents.nets.history_encoder import EncoderSpec, HistoryEncoder
from lit_agents.training.clipping import GradientClippingMixin


class ActionClassifier(GradientClippingMixin, ReLiableEvalMixin, L.LightningModule):
    """Behaviour cloning baseline: predict the logged action from the state.

    Args:
        flat_dim: size of the flat state features (37: ball, shooter and court features).
        in_channels: channels of the per-frame court encoding fed to the encoder.
        window: frames of history per state.
        action_set: ``dps`` (drive / pass / shoot) or ``three_point`` actions.
        encoder: history encoder (``EncoderSpec``: mlp, cnn, gru, lstm or transformer; default mlp).
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        class_weighting: weight the cross-entropy by inverse action frequency.
        plot_possessions: possessions drawn as PNGs (with the chosen actions) at test time.
    """

    def __init__(self, flat_dim: int = 37, in_channels: int = 17, window: int = 3,
                 action_set: Literal["dps", "three_point"] = "dps", encoder: EncoderSpec | None = None,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, class_weighting: bool = False,
                 plot_possessions: int = 1):
        """class_weighting: weight the cross-entropy by inverse class frequency in each batch (dribble dominates)."""
        super().__init__()
        spec = EncoderSpec(**encoder) if isinstance(encoder, dict) else (encoder or EncoderSpec())
        self.save_hyperparameters(ignore=["encoder"])
        self.hparams["encoder"] = asdict(spec)
        self._init_eval(action_set, 1.0, None, plot_possessions)
        self.ope_enabled = False
        self.net = HistoryEncoder(in_channels, flat_dim, self.n_actions, window, spec)

    def policy_outputs(self, batch: dict) -> tuple[Tensor, Tensor, Tensor]:
        logits = self.net(batch["image"], batch["flat"])[0]
        return logits, logits, logits

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        a = self.map_actions(batch)
        logits = self.net(batch["image"], batch["flat"])[0]
        weight = None
        if self.hparams.class_weighting:
            counts = torch.bincount(a, minlength=self.n_actions).float()
            weight = counts.sum() / counts.clamp(min=1) / self.n_actions
        loss = F.cross_entropy(logits, a, weight=weight)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.learning_rate,
                                 weight_decay=self.hparams.weight_decay)
