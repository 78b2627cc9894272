"""The offline-RL baselines of PlayBest's Table 7.3 (BCQ, CQL, IQL) trained with d3rlpy on the same data.

The chapter gives no MDP for them; ours: the state is one frame's positions of all 11 objects (33 numbers,
min-max normalised with the planner's statistics), the action is the next move of the ball and the five
offenders (18 deltas, scaled to [-1, 1] by ``action_scale`` ft), the reward is the possession return on the
last real frame (0 before), terminal there. A policy plays a possession by applying its actions from the start
state; the defence is the scripted man-to-man (the policy controls the offence only, as PlayBest's plans are
scored for the offence). Plays are scored like the planner's: J_phi at t = 0 and ``event_points``.

d3rlpy is optional (``pip install d3rlpy==2.8.1``); ``available()`` says whether it is installed.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from lit_agents.planning.defenders import DefenceConfig, ScriptedDefence
from data_modules.basketball.trajectories import MinMaxNormalizer, position_channels, to_features

ALGOS = ("BCQ", "CQL", "IQL")


def available() -> bool:
    return importlib.util.find_spec("d3rlpy") is not None


def _state_norm(norm: MinMaxNormalizer) -> MinMaxNormalizer:
    idx = position_channels()
    return MinMaxNormalizer(norm.mins[idx], norm.maxs[idx])


def mdp_arrays(traj: np.ndarray, lengths: np.ndarray, returns: np.ndarray, norm: MinMaxNormalizer,
               action_scale: float) -> dict[str, np.ndarray]:
    """Flatten possessions [N, H, 66] (feet) into transitions (one episode per possession)."""
    obs, act, rew, term = [], [], [], []
    sn = _state_norm(norm)
    for tr, n, r in zip(traj, lengths, returns):
        n = int(max(n, 2))
        pos = torch.from_numpy(tr[:n]).view(n, 11, 6)[..., :3]
        obs.append(sn.normalize(pos.reshape(n, 33)).numpy())
        d = np.zeros((n, 18), np.float32)
        d[:-1] = (pos[1:, :6] - pos[:-1, :6]).reshape(n - 1, 18).numpy()
        act.append(np.clip(d / action_scale, -1.0, 1.0))
        rw = np.zeros(n, np.float32)
        rw[-1] = r
        rew.append(rw)
        t = np.zeros(n, np.float32)
        t[-1] = 1.0
        term.append(t)
    return {"observations": np.concatenate(obs).astype(np.float32), "actions": np.concatenate(act),
            "rewards": np.concatenate(rew)[:, None], "terminals": np.concatenate(term)}


def train_baseline(name: Literal["BCQ", "CQL", "IQL"], arrays: dict[str, np.ndarray], *, n_steps: int = 500,
                   batch_size: int = 64, seed: int = 0):
    """A d3rlpy continuous-action algorithm fitted offline for ``n_steps`` updates."""
    import d3rlpy

    d3rlpy.seed(seed)
    ds = d3rlpy.dataset.MDPDataset(observations=arrays["observations"], actions=arrays["actions"],
                                   rewards=arrays["rewards"], terminals=arrays["terminals"],
                                   action_space=d3rlpy.constants.ActionSpace.CONTINUOUS)
    cfg = {"BCQ": d3rlpy.algos.BCQConfig, "CQL": d3rlpy.algos.CQLConfig, "IQL": d3rlpy.algos.IQLConfig}[name]
    algo = cfg(batch_size=batch_size).create(device="cpu:0")
    algo.fit(ds, n_steps=n_steps, n_steps_per_epoch=n_steps, show_progress=False, save_interval=10**9,
             logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    return algo


@torch.no_grad()
def rollout(algo, start: Tensor, horizon: int, norm: MinMaxNormalizer, action_scale: float,
            seconds_per_step: float = 0.04) -> Tensor:
    """Positions [B, H, 11, 3]: the policy moves ball and offence, scripted man-to-man moves the defence."""
    sn = _state_norm(norm)
    defence = ScriptedDefence(DefenceConfig(scheme="man", seconds_per_step=seconds_per_step))
    frames = [start.float()]
    for _ in range(horizon - 1):
        cur = frames[-1]
        obs = sn.normalize(cur.reshape(len(cur), 33)).numpy().astype(np.float32)
        a = torch.from_numpy(np.asarray(algo.predict(obs), dtype=np.float32)).view(-1, 6, 3) * action_scale
        nxt = cur.clone()
        nxt[:, :6] = cur[:, :6] + a
        nxt[:, 1:6, 2] = 0.0
        nxt[:, 0, 2] = nxt[:, 0, 2].clamp_min(0.0)
        nxt[:, 6:11] = defence.step(cur, cur[:, 6:11])
        frames.append(nxt)
    return torch.stack(frames, dim=1)


def evaluate_baselines(module, train: dict[str, np.ndarray], start: Tensor, *, n_steps: int = 500,
                       action_scale: float = 5.0) -> dict[str, dict[str, float]]:
    """{algo: {"J": mean J_phi, "points": mean event points}} of possessions played from ``start``."""
    from lit_agents.planning.rollout import event_points

    norm = module.normalizer
    arrays = mdp_arrays(train["traj"], train["length"], train["returns"], norm, action_scale)
    out = {}
    for name in ALGOS:
        algo = train_baseline(name, arrays, n_steps=n_steps, seed=module.seed)
        pos = rollout(algo, start, module.horizon, norm, action_scale, module.planning.seconds_per_step)
        out[name] = {"J": float(module.value_of(to_features(pos)).mean()), "points": float(event_points(pos).mean())}
    return out


__all__ = ["ALGOS", "available", "evaluate_baselines", "mdp_arrays", "rollout", "train_baseline"]
