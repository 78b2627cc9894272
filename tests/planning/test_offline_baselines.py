"""The d3rlpy offline-RL baselines' MDP (BCQ / CQL / IQL of Table 7.3)."""

import numpy as np
import pytest
import torch

from data_modules.basketball.trajectories import MinMaxNormalizer, to_features
from lit_agents.planning.offline_baselines import mdp_arrays, rollout, train_baseline


def _data(n=6, h=8):
    g = torch.Generator().manual_seed(0)
    pos = torch.rand(n, h, 11, 3, generator=g) * 40
    pos[..., 1:, 2] = 0                      # players on the floor
    traj = to_features(pos).numpy()
    return traj, np.full(n, h - 2), np.linspace(-1, 3, n).astype(np.float32)


def test_mdp_arrays_episodes_rewards_and_actions():
    traj, lengths, returns = _data()
    norm = MinMaxNormalizer.fit(torch.from_numpy(traj))
    arr = mdp_arrays(traj, lengths, returns, norm, action_scale=5.0)
    assert arr["observations"].shape == (36, 33) and arr["actions"].shape == (36, 18)
    assert np.abs(arr["observations"]).max() <= 1 + 1e-6 and np.abs(arr["actions"]).max() <= 1
    ends = np.nonzero(arr["terminals"])[0]
    assert ends.tolist() == [5, 11, 17, 23, 29, 35]                     # one episode per possession
    assert np.allclose(arr["rewards"][ends, 0], returns) and arr["rewards"].sum() == pytest.approx(returns.sum())
    # the action is the next move of ball + offence (scaled), clipped to [-1, 1]
    d = (traj[0, 1, :36].reshape(6, 6)[:, :3] - traj[0, 0, :36].reshape(6, 6)[:, :3]).reshape(-1) / 5.0
    assert np.allclose(arr["actions"][0], np.clip(d, -1, 1), atol=1e-5)


def test_iql_policy_plays_a_possession():
    pytest.importorskip("d3rlpy")
    traj, lengths, returns = _data()
    norm = MinMaxNormalizer.fit(torch.from_numpy(traj))
    algo = train_baseline("IQL", mdp_arrays(traj, lengths, returns, norm, 5.0), n_steps=3, batch_size=8)
    start = torch.from_numpy(traj[:2, 0]).view(2, 11, 6)[..., :3]
    pos = rollout(algo, start, 8, norm, 5.0)
    assert pos.shape == (2, 8, 11, 3) and torch.equal(pos[:, 0], start)
    assert ((pos[:, 1:, :6] - pos[:, :-1, :6]).abs() <= 5.0 + 1e-4).all()   # actions bounded by the scale
