"""ReLiable evaluation shared by the double DQN and the supervised baselines (dissertation §6.6.2-6.6.4).

* Action copy on scoring possessions: F1 of the 3-point decision (binary) and micro/macro F1 of
  dribble/pass/shoot (torchmetrics, synchronised across DDP ranks).
* Known better action (synthetic data only): in open states the generator makes "shoot" better than "pass"
  (a passed-up open shot ends in a contested miss). ``better_action_rate``: the policy's argmax is "shoot";
  ``shoot_over_pass_rate``: Q(shoot) > Q(pass) there; each with the logged behaviour's rate beside it;
  ``better_action_prob``: mean pi_theta(better | s) there vs ``better_action_prob_behaviour`` (pi_beta's);
  ``q_shoot_open_minus_other``: mean Q(shoot) in those open states minus that of the other logged shots.
  Most planted states are release steps of shots the behaviour took (any copy of the data scores there), so
  the ``*_passed_up`` metrics repeat the rates on the states where the logged behaviour passed the open shot
  up (the only ones where a policy can beat the data): the policy's argmax, pi_beta's argmax
  (``better_behaviour_argmax_rate_passed_up``; the logged action scores 0 there by construction) and
  ``q_shoot_minus_best_other_passed_up``. ``better_behaviour_argmax_rate`` is pi_beta's argmax on all of them.
* Importance-sampling OPE of J(pi) against the behaviour policy pi_beta (a classifier head), pi = softmax(Q/T)
  with T = ``ope_temperature`` a fixed evaluation choice (0.5 in every shipped config; not tuned: J moves a lot
  with T, so compare runs only at the same T). J is per possession and, times the mean possessions per game of
  the split, per game (the chapter's "points per game"). Uncertainty: ``J_pi_ess`` (effective sample size of
  the final weights) and a 95 % percentile bootstrap over possessions (``ope.bootstrap_ope``, 1000 resamples,
  fixed seed) of J(pi) (``J_pi_lo``/``J_pi_hi``), J(pi_beta) and ``J_pi_minus_behaviour`` (``_lo``/``_hi``).
* A PNG of one test possession with the logged and chosen actions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryF1Score, MulticlassF1Score

from data_modules.basketball.labels import PASS, SHOOT
from lit_agents.evaluation.ope import bootstrap_ope, importance_sampling


class ReLiableEvalMixin:
    """Adds metrics, OPE and the possession plot to a LightningModule whose ``policy_outputs(batch)`` returns
    ``(scores [B, A] for the greedy policy, logits of pi_theta [B, A], logits of pi_beta [B, A])``; it also
    supplies the module's validation and test hooks."""

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def _init_eval(self, action_set: str, ope_gamma: float, ope_clip: float | None, plot_possessions: int) -> None:
        if action_set not in ("dps", "three_point", "binary"):
            raise ValueError(f"action_set must be 'dps', 'three_point' or 'binary', got {action_set!r}")
        self.action_set, self.ope_gamma, self.ope_clip, self.plot_possessions = (action_set, ope_gamma, ope_clip,
                                                                                 plot_possessions)
        for split in ("val", "test"):
            setattr(self, f"{split}_f1_3pt", BinaryF1Score())
            setattr(self, f"{split}_f1_micro", MulticlassF1Score(num_classes=3, average="micro"))
            setattr(self, f"{split}_f1_macro", MulticlassF1Score(num_classes=3, average="macro"))
            setattr(self, f"{split}_better", MeanMetric())
            setattr(self, f"{split}_better_behaviour", MeanMetric())
            setattr(self, f"{split}_better_prob", MeanMetric())
            setattr(self, f"{split}_better_prob_behaviour", MeanMetric())
            setattr(self, f"{split}_over_worse", MeanMetric())
            setattr(self, f"{split}_over_worse_behaviour", MeanMetric())
            setattr(self, f"{split}_q_open", MeanMetric())
            setattr(self, f"{split}_q_contested", MeanMetric())
            setattr(self, f"{split}_better_beta_argmax", MeanMetric())
            setattr(self, f"{split}_better_passed_up", MeanMetric())
            setattr(self, f"{split}_better_beta_argmax_passed_up", MeanMetric())
            setattr(self, f"{split}_q_margin_passed_up", MeanMetric())
        self._ope_rows: list[Tensor] = []
        self._plot_rows: list[tuple] = []

    @property
    def n_actions(self) -> int:
        return 3 if self.action_set == "dps" else 2

    def map_actions(self, batch: dict) -> Tensor:
        """Logged actions in the configured action set (three_point: 1 = a 3-point attempt, else 0; binary: the
        logged 0/1 actions of a non-basketball two-action task, e.g. the CartPole anchor)."""
        if self.action_set in ("dps", "binary"):
            return batch["action"]
        return ((batch["action"] == SHOOT) & (batch["three"] > 0)).long()

    def _eval_step(self, batch: dict, split: str) -> None:
        if self.action_set == "binary":
            raise ValueError("the basketball metrics need action_set 'dps' or 'three_point' (binary: evaluate online, "
                             "see lit_agents.rl_anchor)")
        greedy_scores, logits_pi, logits_beta = self.policy_outputs(batch)
        pred = greedy_scores.argmax(-1)
        act = self.map_actions(batch)
        label3 = ((batch["action"] == SHOOT) & (batch["three"] > 0)).long()
        if self.action_set == "dps":
            pred_dps, pred3 = pred, ((pred == SHOOT) & batch["beyond_arc"]).long()
            better = batch["better"]
        else:
            pred_dps, pred3 = None, pred
            better = torch.where((batch["better"] == SHOOT) & batch["beyond_arc"], 1, -1)
        sc = batch["scored"]
        if sc.any():
            getattr(self, f"{split}_f1_3pt").update(pred3[sc], label3[sc])
            if pred_dps is not None:
                getattr(self, f"{split}_f1_micro").update(pred_dps[sc], batch["action"][sc])
                getattr(self, f"{split}_f1_macro").update(pred_dps[sc], batch["action"][sc])
        known = better >= 0
        if self.action_set == "dps" and torch.isfinite(greedy_scores[:, SHOOT]).all():
            # does Q value the planted open shots above the logged shots that were not open?
            shots = (batch["action"] == SHOOT) & ~known
            if known.any():
                getattr(self, f"{split}_q_open").update(greedy_scores[known, SHOOT])
            if shots.any():
                getattr(self, f"{split}_q_contested").update(greedy_scores[shots, SHOOT])
        if known.any():
            getattr(self, f"{split}_better").update((pred[known] == better[known]).float())
            getattr(self, f"{split}_better_behaviour").update((act[known] == better[known]).float())
            # the stochastic policy OPE evaluates vs the estimated behaviour policy: P(better action | open state)
            bk = better[known].long()[:, None]
            getattr(self, f"{split}_better_prob").update(
                F.softmax(logits_pi[known].float(), -1).gather(-1, bk).squeeze(-1))
            getattr(self, f"{split}_better_prob_behaviour").update(
                F.softmax(logits_beta[known].float(), -1).gather(-1, bk).squeeze(-1))
            beta_arg = logits_beta[known].argmax(-1)
            getattr(self, f"{split}_better_beta_argmax").update((beta_arg == better[known]).float())
            passed = act[known] != better[known]        # the behaviour passed the better action up here
            if passed.any():
                getattr(self, f"{split}_better_passed_up").update(
                    (pred[known][passed] == better[known][passed]).float())
                getattr(self, f"{split}_better_beta_argmax_passed_up").update(
                    (beta_arg[passed] == better[known][passed]).float())
                gs = greedy_scores[known][passed].float()
                if torch.isfinite(gs).all():
                    b = better[known][passed].long()[:, None]
                    other = gs.scatter(-1, b, float("-inf")).max(-1).values
                    getattr(self, f"{split}_q_margin_passed_up").update(gs.gather(-1, b).squeeze(-1) - other)
            if self.action_set == "dps":   # the generator's worse action in open states is passing the shot up
                gs = greedy_scores[known]
                getattr(self, f"{split}_over_worse").update((gs[:, SHOOT] > gs[:, PASS]).float())
                getattr(self, f"{split}_over_worse_behaviour").update((act[known] != PASS).float())
        lp_pi = F.log_softmax(logits_pi.float(), -1).gather(-1, act[:, None]).squeeze(-1)
        lp_b = F.log_softmax(logits_beta.float(), -1).gather(-1, act[:, None]).squeeze(-1)
        self._ope_rows.append(torch.stack([batch["poss"].double(), batch["step"].double(), batch["reward"].double(),
                                           lp_pi.double(), lp_b.double()], -1).detach())
        if split == "test" and "positions" in batch and len({r[0] for r in self._plot_rows}) < self.plot_possessions:
            for i in range(batch["poss"].shape[0]):
                self._plot_rows.append((int(batch["poss"][i]), int(batch["step"][i]), batch["positions"][i].cpu(),
                                        int(act[i]), int(pred[i]), bool(batch["scored"][i])))

    def _eval_epoch_end(self, split: str) -> None:
        log = dict(sync_dist=False, prog_bar=split == "val")
        names = ["f1_3pt"] + (["f1_micro", "f1_macro"] if self.action_set == "dps" else [])
        for name in names:
            m = getattr(self, f"{split}_{name}")
            if m.update_count:
                self.log(f"{split}/{name}", m, **log)
        qo, qc = getattr(self, f"{split}_q_open"), getattr(self, f"{split}_q_contested")
        if qo.update_count and qc.update_count:
            self.log(f"{split}/q_shoot_open_minus_other", qo.compute() - qc.compute())
            qo.reset()
            qc.reset()
        for name, key in (("better", "better_action_rate"), ("better_behaviour", "better_behaviour_action_rate"),
                          ("better_prob", "better_action_prob"),
                          ("better_prob_behaviour", "better_action_prob_behaviour"),
                          ("over_worse", "shoot_over_pass_rate"),
                          ("over_worse_behaviour", "shoot_over_pass_behaviour_rate"),
                          ("better_beta_argmax", "better_behaviour_argmax_rate"),
                          ("better_passed_up", "better_action_rate_passed_up"),
                          ("better_beta_argmax_passed_up", "better_behaviour_argmax_rate_passed_up"),
                          ("q_margin_passed_up", "q_better_minus_best_other_passed_up")):
            m = getattr(self, f"{split}_{name}")
            if m.update_count:
                self.log(f"{split}/{key}", m)
        if not getattr(self, "ope_enabled", True):
            self._ope_rows = []
            if split == "test" and self._plot_rows:
                self._plot()
            return
        rows = (torch.cat(self._ope_rows) if self._ope_rows
                else torch.zeros(0, 5, dtype=torch.float64, device=self.device))
        self._ope_rows = []
        if self.trainer.world_size > 1:
            rows = self.all_gather(rows).reshape(-1, 5)   # DistributedSampler pads to equal lengths
        if rows.shape[0] == 0:
            return
        key = rows[:, 0] * 100000 + rows[:, 1]              # padding repeats rows: keep each (possession, step) once
        _, inv = torch.unique(key, return_inverse=True)
        keep = torch.zeros(int(inv.max()) + 1, dtype=torch.long, device=rows.device).scatter_(
            0, inv, torch.arange(rows.shape[0], device=rows.device))
        rows = rows[keep]
        common = dict(gamma=self.ope_gamma, clip=self.ope_clip)
        pd = importance_sampling(rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 0].long(), rows[:, 1].long(),
                                 mode="per_decision", weighted=True, **common)
        tr = importance_sampling(rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 0].long(), rows[:, 1].long(),
                                 mode="trajectory", weighted=False, **common)
        boot = bootstrap_ope(rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 0].long(), rows[:, 1].long(), **common)
        n_poss = torch.unique(rows[:, 0]).numel()
        dm = getattr(self.trainer, "datamodule", None)
        n_games = (getattr(dm, "n_games", None) or {}).get(split, getattr(dm, "n_test_games", 1))
        per_game = n_poss / max(n_games or 1, 1)
        vals = {"J_pi": pd["J"], "J_pi_lo": boot["J_lo"], "J_pi_hi": boot["J_hi"],
                "J_behaviour_lo": boot["J_behaviour_lo"], "J_behaviour_hi": boot["J_behaviour_hi"],
                "J_pi_minus_behaviour": boot["diff"], "J_pi_minus_behaviour_lo": boot["diff_lo"],
                "J_pi_minus_behaviour_hi": boot["diff_hi"], "n_possessions": torch.tensor(float(n_poss)),
                "J_pi_var": pd["variance"], "J_pi_ess": pd["ess"], "J_pi_trajectory_is": tr["J"],
                "J_pi_trajectory_is_var": tr["variance"], "J_behaviour": pd["J_behaviour"],
                "J_pi_per_game": pd["J"] * per_game, "J_behaviour_per_game": pd["J_behaviour"] * per_game}
        for k, v in vals.items():
            # every rank gathered the same rows, so every rank logs the same value (ModelCheckpoint may monitor it)
            self.log(f"{split}/{k}", v.float(), prog_bar=split == "val" and k == "J_pi")
        if split == "test" and self._plot_rows:
            self._plot()

    def _plot(self) -> None:
        from data_modules.basketball.plot import plot_possession
        from lit_agents.logging_utils import log_image, run_dir

        rows, self._plot_rows = sorted(self._plot_rows), []
        if not self.trainer.is_global_zero:
            return
        first = rows[0][0]
        rows = [r for r in rows if r[0] == first]
        names = ("dribble", "pass", "shoot") if self.action_set == "dps" else ("no 3PA", "3PA")
        path = run_dir(self.trainer) / "reliable_possession.png"
        plot_possession(torch.stack([r[2] for r in rows]).numpy(), path, title=f"test possession {first} "
                        f"(scored={rows[0][5]})", actions=([r[3] for r in rows], [r[4] for r in rows], names))
        log_image(self.trainer, "test/possession", path)
