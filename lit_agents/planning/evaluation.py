"""PlayBest's evaluation: return per possession of plans from the real start states (dissertation §7.5).

- ``alpha_sweep``: J_phi (the learned value, the chapter's measure) and the geometric event return
  (``rollout.event_points``) of plans for each guidance scale alpha, against the ground-truth possessions
  (their J and their real play-by-play return) and the random-walk baseline, all from the same start states
  (Tables 7.3 and 7.4), each with the realism metrics of ``planning.realism`` (``eval/<metric>_alpha_<a>``,
  ``_ground_truth``, ``_random_walk``): per-frame speed, first-frame jump, offence spacing, out-of-court share.
- ``defence_table``: J of possessions played against the scripted man-to-man and 2-3 zone defences, replanning
  every m frames (Table 7.5).

The offline-RL baselines of Table 7.3 (BCQ, CQL, IQL via d3rlpy) are not included (see the PlayBest section of
README.md).
"""

from __future__ import annotations

import logging
import time

from dataclasses import replace

import torch
from torch import Tensor

from data_modules.basketball.trajectories import to_features, to_positions
from lit_agents.planning.realism import realism
from lit_agents.planning.rollout import event_points, random_walk

log = logging.getLogger(__name__)


def _fmt(a: float) -> str:
    return f"{a:g}"


@torch.no_grad()
def alpha_sweep(module, batch: dict[str, Tensor], alphas: list[float]) -> tuple[dict[str, Tensor], dict]:
    """Metrics ``eval/*`` (means over the batch) and the plans per alpha (``positions``, ``values``)."""
    traj = batch["traj"].float()
    start = to_positions(traj[:, 0])
    metrics = {"eval/J_ground_truth": module.value_of(traj).mean(),
               "eval/return_ground_truth": batch["returns"].float().mean()}
    g = module.generator(offset=7)
    walk = random_walk(start, module.horizon, generator=g)
    metrics["eval/J_random_walk"] = module.value_of(to_features(walk)).mean()
    metrics["eval/points_random_walk"] = event_points(walk).mean()
    for name, pos in (("ground_truth", to_positions(traj)), ("random_walk", walk)):
        metrics.update({f"eval/{k}_{name}": v for k, v in realism(pos).items()})
    t0 = time.monotonic()
    # every alpha, start state and sample in one batched rollout, the same noise for every alpha
    outs = module.plan_alphas(start, alphas, generator=module.generator(offset=11))
    plans = dict(zip(alphas, outs))
    for a, out in plans.items():
        metrics[f"eval/J_alpha_{_fmt(a)}"] = out["values"].mean()
        metrics[f"eval/points_alpha_{_fmt(a)}"] = event_points(out["positions"]).mean()
        metrics.update({f"eval/{k}_alpha_{_fmt(a)}": v for k, v in realism(out["positions"]).items()})
    # on terminals and in logs alike (a sweep can take minutes at paper scale)
    log.info("alpha sweep: alphas %s, J %s over %d start states (%.1fs, one batched rollout)",
             "/".join(map(_fmt, alphas)), "/".join(f"{float(o['values'].mean()):.3f}" for o in outs), len(start),
             time.monotonic() - t0)
    return metrics, plans


@torch.no_grad()
def defence_table(module, batch: dict[str, Tensor], segment_lengths: list[int] | None = None,
                  schemes: tuple[str, ...] = ("man", "zone")) -> dict[str, Tensor]:
    """``eval/J_{scheme}_m{m}``: J of possessions planned against a scripted defence, replanning every m."""
    lengths = segment_lengths or module.eval_cfg.segment_lengths
    start = to_positions(batch["traj"][:, 0].float())
    out = {}
    for scheme in schemes:
        for m in lengths:
            cfg = replace(module.planning, replan_every=m, defence=scheme)
            res = module.plan(start, planning=cfg, generator=module.generator(offset=13))
            out[f"eval/J_{scheme}_m{m}"] = res["values"].mean()
    return out
