"""Planning whole possessions: replanning every m frames with scripted defenders, plus the baselines.

``plan_possessions`` follows PlayBest's released evaluation: plan a horizon from the start state, execute the
first ``replan_every`` frames (the scripted defence overwriting the defence channels), then replan
conditioned on *everything executed so far* (those frames are clamped, like the start state), until the
horizon is filled. ``replan_every = 0`` plans once. ``n_samples`` plans are drawn per start state and the one
with the highest J is kept (the released code draws 5 and sorts by value).

Everything here works in feet outside the sampler; the normaliser maps to and from the model's space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from data_modules.basketball.court import BASKET_X, BASKET_Y, COURT_LENGTH, COURT_WIDTH, RIM_HEIGHT_FT, is_three_point
from data_modules.basketball.defenders import DefenceConfig, ScriptedDefence
from data_modules.basketball.trajectories import (
    TRANSITION_DIM,
    MinMaxNormalizer,
    position_channels,
    to_features,
    to_positions,
)
from lit_agents.planning.guidance import Denoiser, GuidedSampler, ValueFn


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


def conditioning(known: Tensor, horizon: int) -> tuple[Tensor, Tensor]:
    """Clamp values (feet) and mask for executed frames ``known`` [B, k, 11, 3].

    Frames before the last are fully known (positions and deltas); the last one's positions only (its delta
    leads to a frame not yet played)."""
    b, k = known.shape[:2]
    if k > horizon:
        raise ValueError(f"{k} executed frames exceed the horizon {horizon}")
    values = known.new_zeros(b, horizon, TRANSITION_DIM)
    values[:, :k] = to_features(known)
    mask = torch.zeros(horizon, TRANSITION_DIM, dtype=torch.bool, device=known.device)
    mask[:k - 1] = True
    mask[k - 1, position_channels()] = True
    return values, mask


@torch.no_grad()
def plan_possessions(sampler: GuidedSampler, denoiser: Denoiser, value_fn: ValueFn | None,
                     normalizer: MinMaxNormalizer, start: Tensor, horizon: int, cfg: PlanningConfig, *,
                     scale: float | None = None, defence: str | None = None,
                     generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Plan possessions from start frames ``start`` [B, 11, 3] (feet).

    Returns ``positions`` [B, H, 11, 3] and ``trajectories`` [B, H, 66] in feet (frame 0 is ``start``
    exactly), and ``values`` [B], J at t = 0 of the executed possession (when a value function is given)."""
    scripted = cfg.scripted(defence)
    b, n = start.shape[0], max(cfg.n_samples, 1)
    known = start[:, None].clone()
    while True:
        k = known.shape[1]
        values, mask = conditioning(known, horizon)
        cond = normalizer.normalize(values).repeat_interleave(n, dim=0)
        out = sampler.sample(denoiser, value_fn, cond, mask, scale=scale, generator=generator)
        plans = normalizer.unnormalize(out.trajectories).view(b, n, horizon, TRANSITION_DIM)
        if n > 1 and out.values is not None:
            best = out.values.view(b, n).argmax(dim=1)
        else:
            best = torch.zeros(b, dtype=torch.long, device=start.device)
        plan = to_positions(plans[torch.arange(b), best])
        step = cfg.replan_every if cfg.replan_every > 0 else horizon
        end = min(k + step, horizon)
        executed = torch.cat([known, plan[:, k:end]], dim=1)
        if scripted is not None:
            executed = scripted.roll(executed, start=k)
        known = executed
        if known.shape[1] >= horizon:
            break
    traj = to_features(known)
    result = {"positions": known, "trajectories": traj}
    if value_fn is not None:
        t0 = torch.zeros(b, dtype=torch.long, device=start.device)
        result["values"] = value_fn(normalizer.normalize(traj), t0)
    return result


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
