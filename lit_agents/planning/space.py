"""The planner's view of a possession: feet trajectories ``[B, H, 66]`` <-> the denoiser's space ``[B, H, 66]``.

The one place where planning touches the basketball feature layout (``data_modules.basketball.trajectories``):
the rollout, the evaluation and the LightningModule go through a :class:`TrajectorySpace` and never build
features themselves. Three encodings (``kind``), all min-max scaled by the training split's statistics:

* ``features`` (PlayBest's released code): the 66 features themselves, each scaled to [-1, 1]; the start state
  is inpainted into frame 0 and the denoiser must carry it through time to every later frame.
* ``offsets``: position channels hold each object's displacement from the start
  state, ``(p_t - p_0) / range`` (in [-1, 1] for any trajectory within the training ranges), delta channels hold
  the scaled start state ``p_0`` itself, repeated on every frame. The start is then known at every frame (no
  information has to travel along the time axis) and "stay near the start" is the zero output, so an
  under-trained denoiser still starts where the possession starts; but the smallest noise level (T = 20)
  is several feet per frame in these units, so plans jitter.
* ``velocities`` (ours, the default): delta channels hold the scaled forward deltas (as in ``features``),
  position channels the scaled start state on every frame; positions are the start plus the cumulated deltas.
  The start is known at every frame and the denoiser's residual error is in ft/frame, not in feet, so plans
  start where the possession starts and are smooth (README, PlayBest).

``delta_scale`` (``velocities`` only) multiplies the scaled delta channels: min-max scaling by the largest move in
the training split (a pass, ~14-35 ft/frame) leaves a typical player move at ~0.2, so most of the DDPM's noise
levels drown the motion and an under-trained denoiser outputs the mean move; a scale near 1 / std brings the
deltas to about unit variance, the scale the noise schedule assumes (as latent diffusion's scale factor).

Executed frames are known exactly in every encoding (``known_mask``), so replanning inpaints them like the
start state.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from data_modules.basketball.trajectories import (
    TRANSITION_DIM, MinMaxNormalizer, position_channels, to_features, to_positions,
)

SpaceKind = Literal["features", "offsets", "velocities"]
KINDS = ("features", "offsets", "velocities")
POS = position_channels()
DELTA = [c for c in range(TRANSITION_DIM) if c not in POS]
CHANNELS = TRANSITION_DIM


def _check(traj: Tensor) -> None:
    if traj.shape[-1] != TRANSITION_DIM:
        raise ValueError(f"trajectories must be [..., H, {TRANSITION_DIM}], got {tuple(traj.shape)}")


class TrajectorySpace:
    """Encode feet trajectories for the denoiser and the value net, decode plans back to feet.

    Args:
        normalizer: min-max statistics of the 66 features on the training split.
        kind: ``features`` | ``offsets`` | ``velocities`` (module docstring).
        delta_scale: factor on the scaled delta channels of ``velocities`` (module docstring; 1 = min-max only);
            the other spaces ignore it (their delta channels are min-max scaled only).
    """

    def __init__(self, normalizer: MinMaxNormalizer, kind: SpaceKind = "velocities", delta_scale: float = 1.0):
        if kind not in KINDS:
            raise ValueError(f"diffusion.space must be one of {KINDS}, got {kind!r}")
        if not delta_scale > 0:
            raise ValueError(f"diffusion.delta_scale must be > 0, got {delta_scale}")
        self.normalizer, self.kind = normalizer, kind
        self.delta_scale = float(delta_scale) if kind == "velocities" else 1.0  # the other spaces: min-max only

    # ---- scaling of the position and delta channels (per object and axis, [33]) ----
    def _pos_scale(self, x: Tensor) -> tuple[Tensor, Tensor]:
        n = self.normalizer
        return n.mins[POS].to(x), n.ranges[POS].to(x)

    def _start_code(self, p0: Tensor) -> Tensor:
        lo, rng = self._pos_scale(p0)
        return 2 * (p0 - lo) / rng - 1

    def _start_feet(self, code: Tensor) -> Tensor:
        lo, rng = self._pos_scale(code)
        return (code + 1) / 2 * rng + lo

    # ---- the two maps ----
    def encode(self, traj: Tensor) -> Tensor:
        """Feet features ``[..., H, 66]`` -> the denoiser's space ``[..., H, 66]``."""
        _check(traj)
        traj = traj.float()
        if self.kind == "features":
            return self.normalizer.normalize(traj)
        pos = traj[..., POS]                                  # [..., H, 33] feet
        start = self._start_code(pos[..., :1, :]).expand_as(pos)
        out = torch.empty_like(traj)
        if self.kind == "offsets":
            out[..., POS] = (pos - pos[..., :1, :]) / self._pos_scale(pos)[1]
            out[..., DELTA] = start
        else:
            out[..., DELTA] = self.normalizer.normalize(traj)[..., DELTA] * self.delta_scale
            out[..., POS] = start
        return out

    def decode(self, x: Tensor) -> Tensor:
        """The denoiser's space -> feet features ``[..., H, 66]``. For ``offsets`` and ``velocities`` the start is
        the mean of the start channels over frames (they are inpainted, so all equal), and the deltas are
        recomputed from the positions (a plan is one consistent trajectory)."""
        _check(x)
        if self.kind == "features":
            return self.normalizer.unnormalize(x)
        if self.kind == "offsets":
            start = self._start_feet(x[..., DELTA].mean(dim=-2, keepdim=True))
            pos = start + x[..., POS] * self._pos_scale(x)[1]
        else:
            start = self._start_feet(x[..., POS].mean(dim=-2, keepdim=True))
            code = x.clone()
            code[..., DELTA] = x[..., DELTA] / self.delta_scale
            delta = self.normalizer.unnormalize(code)[..., DELTA]
            steps = torch.cat([torch.zeros_like(delta[..., :1, :]), delta[..., :-1, :].cumsum(dim=-2)], dim=-2)
            pos = start + steps
        return to_features(pos.unflatten(-1, (-1, 3)))

    def known_mask(self, k: int, horizon: int, device: torch.device | None = None) -> Tensor:
        """``[H, 66]`` mask of the entries fixed by the first ``k`` executed frames (k >= 1: the start state)."""
        if not 1 <= k <= horizon:
            raise ValueError(f"{k} executed frames for a horizon of {horizon}")
        mask = torch.zeros(horizon, TRANSITION_DIM, dtype=torch.bool, device=device)
        if self.kind == "features":      # frames before the last fully; the last one's positions only
            mask[:k - 1] = True
            mask[k - 1, POS] = True
        elif self.kind == "offsets":     # every executed position; the start on every frame
            mask[:k, POS] = True
            mask[:, DELTA] = True
        else:                            # every delta between executed frames; the start on every frame
            mask[:k - 1, DELTA] = True
            mask[:, POS] = True
        return mask

    def condition(self, known: Tensor, horizon: int) -> tuple[Tensor, Tensor]:
        """Inpainting values (model space, ``[B, H, 66]``) and mask ``[H, 66]`` for executed frames ``known``
        ``[B, k, 11, 3]`` (feet); the entries outside the mask are placeholders."""
        b, k = known.shape[:2]
        if k > horizon:
            raise ValueError(f"{k} executed frames exceed the horizon {horizon}")
        pad = known[:, -1:].expand(b, horizon - k, *known.shape[2:])
        traj = to_features(torch.cat([known, pad], dim=1))
        return self.encode(traj), self.known_mask(k, horizon, known.device)

    def positions(self, x: Tensor) -> Tensor:
        """Positions ``[..., H, 11, 3]`` (feet) of plans in the denoiser's space."""
        return to_positions(self.decode(x))

    def features(self, positions: Tensor) -> Tensor:
        """Feet features ``[..., H, 66]`` of positions ``[..., H, 11, 3]`` (the data's layout)."""
        return to_features(positions)
