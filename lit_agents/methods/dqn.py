"""ReLiable: offline double DQN over player-tracking data (dissertation ch. 6).

An online and a target :class:`HistoryEncoder` (CNN per frame -> Transformer over the window -> concat flat
features -> MLP -> Q-values). TD loss with double-Q targets (``lit_agents.losses.td``), terminal at possession
ends; the target network follows by a hard copy every ``target_update_every`` optimiser steps or by Polyak
averaging with ``tau``; the update counter is a buffer, so resuming keeps the schedule. Optional CQL penalty
(extension, ``cql_alpha``). A behaviour-policy head (a linear classifier on the detached state representation,
trained with cross-entropy on the logged actions) gives pi_beta for importance-sampling OPE.

Where the chapter is silent (ours): gamma (0.95 per 0.2 s decision step by default: README, ReLiable, "Why the
first default lost"), the Huber loss (default; ``loss: mse`` is the chapter's squared TD error), the CQL penalty
(``cql_alpha`` 0.5 by default; 0 is the chapter's plain double DQN), the target schedule,
pi_theta = softmax(Q / ope_temperature) for OPE (the chapter's greedy policy makes every IS weight
0 or 1/pi_beta; ``ope_temperature -> 0`` recovers it).
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_agents.evaluation.reliable import ReLiableEvalMixin
from lit_agents.losses.td import cql_penalty, double_q_target, max_q_target, td_loss
from lit_agents.nets.history_encoder import EncoderSpec, HistoryEncoder
from lit_agents.training.clipping import GradientClippingMixin


class ReLiableDQN(GradientClippingMixin, ReLiableEvalMixin, L.LightningModule):
    """Offline double DQN on ReLiable transitions (batches from ``ReLiableDataModule``).

    Args:
        flat_dim: size of the flat state features (37: ball, shooter and court features).
        in_channels: channels of the per-frame court encoding fed to the encoder.
        window: frames of history per state.
        action_set: ``dps`` (drive / pass / shoot), ``three_point`` actions, or ``binary`` (CartPole anchor).
        encoder: history encoder (``EncoderSpec``: mlp, cnn, gru, lstm or transformer; default mlp).
        gamma: discount factor.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        double_q: double DQN target (online argmax, target network value).
        loss: TD loss: ``mse`` or ``huber``.
        huber_delta: Huber loss threshold.
        target_update: ``hard`` copy every ``target_update_every`` steps, or ``polyak`` averaging with ``tau``.
        target_update_every: steps between hard target-network copies.
        tau: Polyak averaging rate.
        cql_alpha: weight of the CQL regulariser (0 = off).
        bcq_threshold: discrete-BCQ action filter: keep actions whose behaviour probability / max >= this (0 = off).
        behaviour_weight: weight of the behaviour-cloning head's loss (the OPE behaviour policy).
        ope_temperature: softmax temperature turning Q values into the evaluated policy for OPE.
        ope_gamma: discount of the off-policy evaluation returns.
        ope_clip: clip of the per-step importance ratios (None = no clip).
        plot_possessions: possessions drawn as PNGs (with the chosen actions) at test time.
    """

    def __init__(self, flat_dim: int = 37, in_channels: int = 17, window: int = 3,
                 action_set: Literal["dps", "three_point", "binary"] = "dps", encoder: EncoderSpec | None = None,
                 gamma: float = 0.95, learning_rate: float = 3e-4, weight_decay: float = 0.0, double_q: bool = True,
                 loss: Literal["huber", "mse"] = "huber", huber_delta: float = 1.0,
                 target_update: Literal["hard", "polyak"] = "hard", target_update_every: int = 100, tau: float = 0.005,
                 cql_alpha: float = 0.5, bcq_threshold: float = 0.0, behaviour_weight: float = 1.0,
                 ope_temperature: float = 0.5,
                 ope_gamma: float = 1.0, ope_clip: float | None = 20.0, plot_possessions: int = 1):
        """flat_dim/in_channels/window must match the DataModule (checked at setup); action_set: "dps"
        (dribble/pass/shoot), "three_point" (attempt a three or not) or "binary" (the logged 0/1 actions of another
        task: the CartPole anchor, ``lit_agents.rl_anchor``); gamma: discount per decision step;
        double_q: False uses the chapter's plain ``max_a Q_target(s', a)``; cql_alpha > 0 adds the CQL penalty;
        bcq_threshold > 0 restricts every argmax (policy and target) to actions the behaviour head finds
        plausible, ``pi_beta(a|s) / max_a' pi_beta(a'|s) >= bcq_threshold`` (discrete BCQ, Fujimoto et al. 2019);
        ope_*: the OPE policy temperature, discount and per-step ratio clip."""
        super().__init__()
        spec = EncoderSpec(**encoder) if isinstance(encoder, dict) else (encoder or EncoderSpec())
        # hparams hold plain types only, so checkpoints load with torch.load(weights_only=True)
        self.save_hyperparameters(ignore=["encoder"])
        self.hparams["encoder"] = asdict(spec)
        self._init_eval(action_set, ope_gamma, ope_clip, plot_possessions)
        self.online = HistoryEncoder(in_channels, flat_dim, self.n_actions, window, spec)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        self.behaviour = nn.Linear(self.online.rep_dim, self.n_actions)
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        hp = self.hparams
        for name, want in (("flat_dim", getattr(dm, "flat_dim", None)),
                           ("in_channels", getattr(dm, "in_channels", None)),
                           ("window", getattr(dm, "window", None))):
            if want is not None and want != hp[name]:
                raise ValueError(f"model.{name}={hp[name]} but the data give {want}: set model.{name}: {want}")

    def forward(self, image: Tensor, flat: Tensor) -> Tensor:
        """Q-values [B, A] of the online network (-inf for actions the BCQ filter rules out)."""
        return self.allowed(*self.online(image, flat))

    def allowed(self, q: Tensor, rep: Tensor) -> Tensor:
        """Q with implausible actions set to -inf when ``bcq_threshold > 0`` (else ``q`` unchanged)."""
        if self.hparams.bcq_threshold <= 0:
            return q
        p = torch.softmax(self.behaviour(rep.detach()), -1)
        keep = p / p.max(-1, keepdim=True).values >= self.hparams.bcq_threshold
        return q.masked_fill(~keep, float("-inf"))

    def policy_outputs(self, batch: dict) -> tuple[Tensor, Tensor, Tensor]:
        q, rep = self.online(batch["image"], batch["flat"])
        qa = self.allowed(q, rep)
        return qa, qa / max(self.hparams.ope_temperature, 1e-6), self.behaviour(rep)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        hp = self.hparams
        a = self.map_actions(batch)
        q, rep, frames = self.online_on_state(batch)
        with torch.no_grad():
            next_q_target = self.target(batch["next_image"], batch["next_flat"])[0]
            if hp.double_q:
                next_q_online, next_rep = self.online_on_next_state(batch, frames)
                y = double_q_target(batch["reward"], batch["done"], self.allowed(next_q_online, next_rep),
                                    next_q_target, hp.gamma)
            else:
                y = max_q_target(batch["reward"], batch["done"], next_q_target, hp.gamma)
        loss_td = td_loss(q, a, y, hp.loss, hp.huber_delta)
        # pi_beta must be the logged policy: undo any oversampling of terminal steps (sample_weight, mean 1)
        sw = batch.get("sample_weight")
        ce_each = F.cross_entropy(self.behaviour(rep.detach()), a, reduction="none")
        ce = ce_each.mean() if sw is None else (ce_each * sw).sum() / sw.sum()
        loss = loss_td + hp.behaviour_weight * ce
        if hp.cql_alpha > 0:
            cql = cql_penalty(q, a)
            loss = loss + hp.cql_alpha * cql
            self.log("train/cql", cql)
        self.log_dict({"train/td_loss": loss_td, "train/behaviour_ce": ce, "train/q_mean": q.mean().detach(),
                       "train/target_mean": y.mean()}, prog_bar=False)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def online_on_state(self, batch: dict) -> tuple[Tensor, Tensor, Tensor | None]:
        """Online ``(Q(s), representation, per-frame CNN features or None)``; the features are kept when s'
        is s's window moved on by one frame (what ``ReLiableDataModule`` yields), so s' can reuse them."""
        net = self.online
        if not (net.shares_frames() and next_window_follows(batch["image"], batch["next_image"])):
            return (*net(batch["image"], batch["flat"]), None)
        frames = net.frame_features(batch["image"])
        rep = net.represent_frames(frames, batch["flat"])
        return net.head(rep), rep, frames

    def online_on_next_state(self, batch: dict, frames: Tensor | None) -> tuple[Tensor, Tensor]:
        """Online ``(Q(s'), representation)``: only s''s newest frame goes through the CNN when ``frames`` (the
        CNN features of s's window) are given; the same numbers as ``self.online(next_image, next_flat)``."""
        if frames is None:
            return self.online(batch["next_image"], batch["next_flat"])
        newest = self.online.frame_features(batch["next_image"][:, -1:])
        rep = self.online.represent_frames(torch.cat([frames[:, 1:].detach(), newest], dim=1), batch["next_flat"])
        return self.online.head(rep), rep

    def optimizer_step(self, *args, **kwargs) -> None:
        # The update counter and the target network change right after the optimiser step (not in
        # on_train_batch_end, which runs after ModelCheckpoint saved), so a checkpoint holds them in step.
        super().optimizer_step(*args, **kwargs)
        self.after_update()

    def after_update(self) -> None:
        """Count the update and refresh the target network (hard every N updates, or Polyak)."""
        self.n_updates += 1
        hp = self.hparams
        with torch.no_grad():
            if hp.target_update == "polyak":
                for pt, po in zip(self.target.parameters(), self.online.parameters()):
                    pt.lerp_(po, hp.tau)
            elif int(self.n_updates) % hp.target_update_every == 0:
                self.target.load_state_dict(self.online.state_dict())

    def predict_step(self, batch: dict, batch_idx: int) -> dict[str, Tensor]:
        q = self(batch["image"], batch["flat"])
        return {"q": q, "action": q.argmax(-1), "poss": batch["poss"], "step": batch["step"]}

    def configure_optimizers(self):
        params = list(self.online.parameters()) + list(self.behaviour.parameters())
        return torch.optim.AdamW(params, lr=self.hparams.learning_rate, weight_decay=self.hparams.weight_decay)


def next_window_follows(image: Tensor, next_image: Tensor) -> bool:
    """Whether every s' window ``[B, W, ...]`` is its s window moved on by one frame (frames 1.. of s are
    frames ..W-1 of s'); an exact comparison, so a batch built any other way falls back to the full forward."""
    return image.shape == next_image.shape and torch.equal(next_image[:, :-1], image[:, 1:])

