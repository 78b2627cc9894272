"""Planning whole possessions: replanning every m frames with scripted defenders, plus the baselines.

``plan_possessions`` follows PlayBest's released evaluation: plan a horizon from the start state, execute the
first ``replan_every`` frames (the scripted defence overwriting the defence channels), then replan
conditioned on *everything executed so far* (those frames are clamped, like the start state), until the
horizon is filled. ``replan_every = 0`` plans once. ``n_samples`` plans are drawn per start state and the one
with the highest J is kept (the released code draws 5 and sorts by value).

Everything here works in feet outside the sampler; a ``space.TrajectorySpace`` maps to and from the model's
space (and is the only place that builds basketball features).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from data_modules.basketball.court import BASKET_X, BASKET_Y, COURT_LENGTH, COURT_WIDTH, RIM_HEIGHT_FT, is_three_point
from lit_agents.planning.defenders import DefenceConfig, ScriptedDefence
from lit_agents.planning.guidance import Denoiser, GuidedSampler, ValueFn
from lit_agents.planning.space import TrajectorySpace


@dataclass
class PlanningConfig:
    """Args: replan_every: frames executed between replans (0 = plan once); defence: scripted defence that
    drives the defence channels (``man``, the default of both PlayBest configs; ``none`` keeps the planned
    defence); n_samples: plans per start state, the
    highest-J one kept; defence_max_speed: scripted defenders' top speed (ft/s); seconds_per_step: time
    between planner frames (frame_stride / 25 for SportVU)."""

    replan_every: int = 0
    defence: Literal["none", "man", "zone"] = "man"
    n_samples: int = 1
    defence_max_speed: float = 20.0
    seconds_per_step: float = 0.04

    def scripted(self, scheme: str | None = None) -> ScriptedDefence | None:
        scheme = self.defence if scheme is None else scheme
        if scheme == "none":
            return None
        return ScriptedDefence(DefenceConfig(scheme=scheme, max_speed=self.defence_max_speed,
                                             seconds_per_step=self.seconds_per_step))


@torch.no_grad()
def plan_possessions(sampler: GuidedSampler, denoiser: Denoiser, value_fn: ValueFn | None,
                     space: TrajectorySpace, start: Tensor, horizon: int, cfg: PlanningConfig, *,
                     scale: float | Tensor | None = None, defence: str | None = None,
                     generator: torch.Generator | None = None, noise_groups: int = 1) -> dict[str, Tensor]:
    """Plan possessions from start frames ``start`` [B, 11, 3] (feet).

    ``scale``: alpha, or one per start state (``[B]``); ``noise_groups``: equal groups of start states that
    share every noise draw (``GuidedSampler.sample``). Returns ``positions`` [B, H, 11, 3] and ``trajectories``
    [B, H, 66] in feet (frame 0 is ``start`` exactly), and ``values`` [B], J at t = 0 of the executed possession
    (when a value function is given)."""
    scripted = cfg.scripted(defence)
    b, n = start.shape[0], max(cfg.n_samples, 1)
    if torch.is_tensor(scale):
        scale = scale.to(start).repeat_interleave(n)
    known = start[:, None].clone()
    while True:
        k = known.shape[1]
        values, mask = space.condition(known, horizon)
        out = sampler.sample(denoiser, value_fn, values.repeat_interleave(n, dim=0), mask, scale=scale,
                             generator=generator, noise_groups=noise_groups)
        plans = space.positions(out.trajectories).view(b, n, horizon, *start.shape[1:])
        if n > 1 and out.values is not None:
            best = out.values.view(b, n).argmax(dim=1)
        else:
            best = torch.zeros(b, dtype=torch.long, device=start.device)
        plan = plans[torch.arange(b), best]
        step = cfg.replan_every if cfg.replan_every > 0 else horizon
        end = min(k + step, horizon)
        executed = torch.cat([known, plan[:, k:end]], dim=1)
        if scripted is not None:
            executed = scripted.roll(executed, start=k)
        known = executed
        if known.shape[1] >= horizon:
            break
    traj = space.features(known)
    result = {"positions": known, "trajectories": traj}
    if value_fn is not None:
        t0 = torch.zeros(b, dtype=torch.long, device=start.device)
        result["values"] = value_fn(space.encode(traj), t0)
    return result


def plan_sweep(sampler: GuidedSampler, denoiser: Denoiser, value_fn: ValueFn | None, space: TrajectorySpace,
               start: Tensor, horizon: int, cfg: PlanningConfig, alphas: list[float], *, defence: str | None = None,
               generator: torch.Generator | None = None) -> list[dict[str, Tensor]]:
    """``plan_possessions`` for every alpha of ``alphas`` in one batched rollout (one sampler call per replanning
    round for all alphas, start states and samples). Every alpha sees the same noise, exactly the draws of a
    separate ``plan_possessions`` call per alpha with the same generator state; returns one result per alpha."""
    a, b = len(alphas), start.shape[0]
    scale = torch.tensor(alphas, dtype=start.dtype, device=start.device).repeat_interleave(b)
    out = plan_possessions(sampler, denoiser, value_fn, space, start.repeat(a, 1, 1), horizon, cfg, scale=scale,
                           defence=defence, generator=generator, noise_groups=a)
    return [{k: v[i * b:(i + 1) * b] for k, v in out.items()} for i in range(a)]


def random_walk(start: Tensor, horizon: int, *, step_std: float = 0.8,
                generator: torch.Generator | None = None) -> Tensor:
    """The random-walk baseline: every object takes Gaussian steps (ft per frame) within the court.

    Returns positions [B, H, 11, 3]; players stay on the floor (z = 0), the ball's height stays >= 0."""
    b = start.shape[0]
    steps = torch.randn(b, horizon - 1, 11, 3, generator=generator, device=start.device) * step_std
    steps[..., 1:, 2] = 0.0
    pos = torch.cat([start[:, None], start[:, None] + steps.cumsum(dim=1)], dim=1)
    lo = pos.new_tensor([0.0, 0.0, 0.0])
    hi = pos.new_tensor([COURT_LENGTH, COURT_WIDTH, 30.0])
    return torch.maximum(torch.minimum(pos, hi), lo)


def event_points(positions: Tensor, *, rim_radius: float = 1.5, rim_band: float = 1.5,
                 holder_radius: float = 4.0) -> Tensor:
    """Heuristic event-based return of trajectories [B, H, 11, 3]: points of the first made basket.

    A basket is made at frame t when the ball is within ``rim_radius`` ft (horizontally) of the rim centre and
    within ``rim_band`` ft of rim height, having come down onto it (higher at t-1), and at t+1 is still over
    the rim but below it (through the net; a miss leaves the rim sideways). It counts 3 if the last offender who
    held the ball (within ``holder_radius`` ft, ball below 8 ft) stood behind the three-point line, else 2.
    Plans carry no play-by-play, so this geometric rule stands in for the event table (ours, not the paper's).
    """
    ball = positions[:, :, 0]
    over_rim = (ball[..., 0] - BASKET_X).hypot(ball[..., 1] - BASKET_Y) <= rim_radius
    at_rim = over_rim & ((ball[..., 2] - RIM_HEIGHT_FT).abs() <= rim_band)
    made = torch.zeros_like(at_rim)
    made[:, 1:-1] = at_rim[:, 1:-1] & (ball[:, :-2, 2] > ball[:, 1:-1, 2]) & over_rim[:, 2:] \
        & (ball[:, 2:, 2] < RIM_HEIGHT_FT - 0.5)
    d = (positions[:, :, 1:6, :2] - ball[:, :, None, :2]).norm(dim=-1)     # [B, H, 5]
    held = (d.min(dim=-1).values <= holder_radius) & (ball[..., 2] < 8.0)
    points = torch.zeros(positions.shape[0], device=positions.device)
    for i in range(positions.shape[0]):
        hits = made[i].nonzero()
        if len(hits) == 0:
            continue
        t = int(hits[0])
        before = held[i, :t].nonzero()
        if len(before) == 0:
            points[i] = 2.0
            continue
        s = int(before[-1])
        shooter = positions[i, s, 1 + int(d[i, s].argmin()), :2].cpu().numpy()
        points[i] = 3.0 if bool(is_three_point(shooter[0], shooter[1])) else 2.0
    return points
