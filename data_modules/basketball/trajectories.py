"""PlayBest trajectory tensors: possessions -> ``[horizon, 66]`` arrays, min-max statistics, returns.

Layout (PlayBest's released code): 11 objects x (x, y, z, dx, dy, dz), object 0 the ball, 1-5 offence, 6-10
defence, so feature ``6 * obj + k``. ``d*`` is the forward difference ``p[t+1] - p[t]`` (the movement "action"
taken at t; 0 on the last frame). Possessions are subsampled every ``frame_stride`` frames, then cut to the
horizon or padded by repeating the last frame (so padded deltas are 0).

Normalisation is min-max to [-1, 1] per feature, fitted once on the training split. The released code
normalised twice (in the dataset and again in the model); here the data stay in feet and only the planner
normalises, with the statistics stored in its checkpoint (``DiffusionPlanner`` buffers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

N_OBJECTS, PER_OBJECT = 11, 6
TRANSITION_DIM = N_OBJECTS * PER_OBJECT
BALL, OFFENCE, DEFENCE = [0], list(range(1, 6)), list(range(6, 11))


def position_channels(objects: Sequence[int] = range(N_OBJECTS)) -> list[int]:
    """Feature indices of (x, y, z) of the given objects."""
    return [PER_OBJECT * o + k for o in objects for k in range(3)]


def object_channels(objects: Sequence[int]) -> list[int]:
    """All six feature indices of the given objects."""
    return [PER_OBJECT * o + k for o in objects for k in range(PER_OBJECT)]


def to_features(positions: Tensor) -> Tensor:
    """``[..., T, 11, 3]`` positions -> ``[..., T, 66]`` features (positions and forward deltas)."""
    if positions.shape[-2:] != (N_OBJECTS, 3):
        raise ValueError(f"positions must be [..., T, 11, 3], got {tuple(positions.shape)}")
    delta = torch.zeros_like(positions)
    delta[..., :-1, :, :] = positions[..., 1:, :, :] - positions[..., :-1, :, :]
    return torch.cat([positions, delta], dim=-1).flatten(-2)


def to_positions(features: Tensor) -> Tensor:
    """``[..., T, 66]`` -> ``[..., T, 11, 3]`` positions (the delta channels are ignored)."""
    return features.unflatten(-1, (N_OBJECTS, PER_OBJECT))[..., :3]


def fit_horizon(positions: np.ndarray, horizon: int, frame_stride: int = 1) -> np.ndarray:
    """Subsample every ``frame_stride`` frames, then cut to ``horizon`` or pad by repeating the last frame."""
    if positions.ndim != 3 or positions.shape[1:] != (N_OBJECTS, 3) or positions.shape[0] == 0:
        raise ValueError(f"positions must be [T>0, 11, 3], got {positions.shape}")
    p = positions[::frame_stride][:horizon]
    if len(p) < horizon:
        p = np.concatenate([p, np.repeat(p[-1:], horizon - len(p), axis=0)], axis=0)
    return p.astype(np.float32)


class MinMaxNormalizer:
    """Per-feature min-max scaling to [-1, 1]: ``2 (x - min) / (max - min) - 1``.

    A constant feature (max == min) uses a unit range, so it maps to -1 and back exactly."""

    def __init__(self, mins: Tensor, maxs: Tensor):
        if mins.shape != maxs.shape:
            raise ValueError(f"mins {tuple(mins.shape)} and maxs {tuple(maxs.shape)} differ in shape")
        self.mins, self.maxs = mins.float(), maxs.float()

    @classmethod
    def fit(cls, data: Tensor) -> MinMaxNormalizer:
        """Statistics over every axis but the last (features) of ``data``."""
        flat = data.reshape(-1, data.shape[-1]).float()
        return cls(flat.min(0).values, flat.max(0).values)

    @property
    def ranges(self) -> Tensor:
        r = self.maxs - self.mins
        return torch.where(r > 0, r, torch.ones_like(r))

    def normalize(self, x: Tensor) -> Tensor:
        return 2 * (x - self.mins.to(x)) / self.ranges.to(x) - 1

    def unnormalize(self, x: Tensor) -> Tensor:
        return (x + 1) / 2 * self.ranges.to(x) + self.mins.to(x)

    def state_dict(self) -> dict[str, list[float]]:
        return {"mins": self.mins.tolist(), "maxs": self.maxs.tolist()}


def swap_teams(traj: np.ndarray) -> np.ndarray:
    """The defence's view of ``[..., 66]`` features: objects 1-5 and 6-10 exchanged."""
    out = traj.copy()
    out[..., object_channels(OFFENCE)] = traj[..., object_channels(DEFENCE)]
    out[..., object_channels(DEFENCE)] = traj[..., object_channels(OFFENCE)]
    return out


def possessions_to_arrays(possessions: Iterable, horizon: int, frame_stride: int = 1,
                          defence_view: bool = False) -> dict[str, np.ndarray]:
    """Possessions (``data_modules.basketball.possessions.Possession``) -> arrays for the planner.

    Returns ``traj`` [N, horizon, 66] feet, ``returns`` [N] (PlayBest event table, offence's side), ``length``
    [N] frames before padding, ``game_id`` [N] and ``team_view`` [N] (0 offence, 1 the defence's view).
    With ``defence_view`` each possession also appears with the teams swapped and the return negated
    ("the same event by the opponent team takes the negative value", dissertation §7.5.1).
    """
    from data_modules.basketball.rewards import possession_return

    trajs, rets, lengths, games, views = [], [], [], [], []
    for p in possessions:
        pos = fit_horizon(np.asarray(p.positions, dtype=np.float32), horizon, frame_stride)
        feats = to_features(torch.from_numpy(pos)).numpy()
        r = possession_return(p.events)
        n = min(-(-p.positions.shape[0] // frame_stride), horizon)
        trajs.append(feats)
        rets.append(r)
        lengths.append(n)
        games.append(str(p.game_id))
        views.append(0)
        if defence_view:
            trajs.append(swap_teams(feats))
            rets.append(-r)
            lengths.append(n)
            games.append(str(p.game_id))
            views.append(1)
    if not trajs:
        raise ValueError("no possessions to turn into trajectories")
    return {"traj": np.stack(trajs).astype(np.float32), "returns": np.asarray(rets, np.float32),
            "length": np.asarray(lengths, np.int64), "game_id": np.asarray(games), "team_view": np.asarray(views)}
