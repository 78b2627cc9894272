"""Scripted defences (man-to-man, 2-3 zone) that drive the defence channels of planned possessions.

PlayBest (dissertation §7.5.4.3) plays the planner against scripted defenders: after each planned segment
the five defence trajectories are replaced by those of a scripted defence reacting to the ball and offence.
The chapter gives no rules; these are ours, in oriented coordinates (offence attacks the basket at
(5.25, 25), see ``court.py``):

- man-to-man: defender k guards offender k (both teams are ordered by roster position) and stands between
  his man and the basket, ``gap_ball`` ft off the ball handler (the offender nearest the ball) and
  ``gap_help`` ft off everyone else;
- 2-3 zone: two guards at the elbows-extended, two forwards on the blocks-wide, a centre under the rim; each
  shifts ``zone_shift`` of the way toward the ball (at most ``zone_radius`` ft from its spot), and the
  defender whose spot is nearest the ball handler closes out on him.

Defenders react to the previous frame, move at most ``max_speed`` ft/s, and are kept on the court.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from data_modules.basketball.court import BASKET_X, BASKET_Y, COURT_LENGTH, COURT_WIDTH

ZONE_23_SPOTS = ((20.0, 17.0), (20.0, 33.0), (9.0, 9.0), (9.0, 41.0), (6.5, 25.0))
"""2-3 zone home spots (x, y) for defenders 6-10 in oriented feet: guards, forwards, centre."""


@dataclass
class DefenceConfig:
    """A scripted defence.

    Args:
        scheme: ``man`` (man-to-man) or ``zone`` (2-3 zone).
        max_speed: ft/s a defender can move (NBA sprint speeds are ~ 20-25 ft/s).
        seconds_per_step: time between planner frames (frame_stride / 25 for SportVU at 25 fps).
        gap_ball: man-to-man distance (ft) off the ball handler, toward the basket.
        gap_help: man-to-man distance (ft) off players without the ball.
        zone_shift: fraction of the way a zone defender shifts from his spot toward the ball.
        zone_radius: how far (ft) a zone defender leaves his spot (the closing-out defender excepted).
    """

    scheme: Literal["man", "zone"] = "man"
    max_speed: float = 20.0
    seconds_per_step: float = 0.04
    gap_ball: float = 3.0
    gap_help: float = 6.0
    zone_shift: float = 0.3
    zone_radius: float = 8.0

    def __post_init__(self) -> None:
        if self.scheme not in ("man", "zone"):
            raise ValueError(f"defence scheme must be 'man' or 'zone', got {self.scheme!r}")


def _toward_basket(p: Tensor, gap: float | Tensor) -> Tensor:
    """Point ``gap`` ft from ``p`` [..., 2] toward the basket (not past it)."""
    basket = p.new_tensor([BASKET_X, BASKET_Y])
    d = basket - p
    dist = d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    return p + d / dist * torch.minimum(torch.as_tensor(gap, dtype=p.dtype), dist)


def _handler(ball: Tensor, offence: Tensor) -> Tensor:
    """Index [B] of the offender nearest the ball (the ball handler)."""
    return (offence - ball[:, None]).norm(dim=-1).argmin(dim=1)


class ScriptedDefence:
    """Moves five defenders frame by frame in response to the ball and offence."""

    def __init__(self, config: DefenceConfig | None = None):
        self.config = config or DefenceConfig()

    def targets(self, ball: Tensor, offence: Tensor) -> Tensor:
        """Where each defender wants to be: ``ball`` [B, 2], ``offence`` [B, 5, 2] -> [B, 5, 2]."""
        cfg = self.config
        handler = _handler(ball, offence)
        has_ball = torch.nn.functional.one_hot(handler, 5).bool()
        if cfg.scheme == "man":
            gap = torch.where(has_ball, cfg.gap_ball, cfg.gap_help).to(offence)[..., None]
            return _toward_basket(offence, gap)
        spots = offence.new_tensor(ZONE_23_SPOTS).expand(offence.shape[0], 5, 2)
        shift = cfg.zone_shift * (ball[:, None] - spots)
        norm = shift.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        target = spots + shift * torch.clamp(cfg.zone_radius / norm, max=1.0)
        h_pos = offence[torch.arange(offence.shape[0]), handler]              # [B, 2]
        closer = (spots - h_pos[:, None]).norm(dim=-1).argmin(dim=1)           # [B]
        close_out = _toward_basket(h_pos, cfg.gap_ball)
        target[torch.arange(offence.shape[0]), closer] = close_out
        return target

    def step(self, frame: Tensor, defence: Tensor) -> Tensor:
        """Next defence positions [B, 5, 3] from the previous ``frame`` [B, 11, 3] and defence [B, 5, 3]."""
        cfg = self.config
        target = self.targets(frame[:, 0, :2], frame[:, 1:6, :2])
        move = target - defence[..., :2]
        dist = move.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        max_step = cfg.max_speed * cfg.seconds_per_step
        xy = defence[..., :2] + move * torch.clamp(max_step / dist, max=1.0)
        xy = torch.stack([xy[..., 0].clamp(0.0, COURT_LENGTH), xy[..., 1].clamp(0.0, COURT_WIDTH)], dim=-1)
        return torch.cat([xy, torch.zeros_like(defence[..., 2:])], dim=-1)  # players stay on the floor

    def roll(self, positions: Tensor, start: int = 1) -> Tensor:
        """Overwrite the defence of ``positions`` [B, T, 11, 3] from frame ``start`` on; returns a new tensor.

        Frame t's defence reacts to frame t-1 (ball, offence and defence)."""
        out = positions.clone()
        for t in range(max(start, 1), out.shape[1]):
            out[:, t, 6:11] = self.step(out[:, t - 1], out[:, t - 1, 6:11])
        return out
