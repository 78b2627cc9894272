"""How basketball-like a play is, next to its return (issue 19): plans that leave the data manifold score
oddly under J_phi, so PlayBest's evaluation reports these beside every alpha.

For positions ``[B, H, 11, 3]`` in feet (object 0 the ball, 1-5 offence, 6-10 defence), means over the batch:

* ``speed``: mean player displacement per frame (ft/frame; the synthetic data move ~1 ft per 0.2 s frame);
* ``first_jump``: mean player displacement from frame 0 (the real start state) to frame 1, where a planner that
  ignores its clamped start jumps;
* ``max_speed``: the 99th percentile of player displacement per frame;
* ``offence_spacing``: mean pairwise distance between the five offensive players (a collapsed offence ~2 ft);
* ``out_of_court``: fraction of player positions outside the 94 x 50 ft floor (more than 1 ft beyond a line).
"""

from __future__ import annotations

import torch
from torch import Tensor

from data_modules.basketball.court import COURT_LENGTH, COURT_WIDTH

METRICS = ("speed", "first_jump", "max_speed", "offence_spacing", "out_of_court")


def realism(positions: Tensor) -> dict[str, Tensor]:
    """The realism metrics of a batch of plays (see the module docstring)."""
    p = positions[..., 1:11, :2].float()                                     # players' x, y
    step = (p[:, 1:] - p[:, :-1]).norm(dim=-1)                               # [B, H-1, 10]
    off = p[:, :, :5]
    pair = (off[:, :, :, None] - off[:, :, None, :]).norm(dim=-1)           # [B, H, 5, 5]
    iu = torch.triu_indices(5, 5, offset=1, device=p.device)
    x, y = p[..., 0], p[..., 1]
    out = (x < -1) | (x > COURT_LENGTH + 1) | (y < -1) | (y > COURT_WIDTH + 1)
    return {"speed": step.mean(), "first_jump": step[:, 0].mean(), "max_speed": torch.quantile(step.flatten(), 0.99),
            "offence_spacing": pair[:, :, iu[0], iu[1]].mean(), "out_of_court": out.float().mean()}
