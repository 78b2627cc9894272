"""PlayBest trajectory tensors and normalisation."""

from collections import Counter

import numpy as np
import pytest
import torch

from data_modules.basketball.trajectories import (
    MinMaxNormalizer,
    fit_horizon,
    position_channels,
    possessions_to_arrays,
    swap_teams,
    to_features,
    to_positions,
)
from data_modules.basketball.trajectory_data import load_start_states
from lit_agents.fileio import DataError


def test_feature_layout_positions_then_forward_deltas():
    pos = torch.arange(4 * 11 * 3, dtype=torch.float32).view(4, 11, 3) ** 1.5
    f = to_features(pos)
    assert f.shape == (4, 66)
    # object o occupies features 6o..6o+5: (x, y, z, dx, dy, dz), ball first
    for o in (0, 3, 10):
        assert torch.equal(f[:, 6 * o:6 * o + 3], pos[:, o])
        assert torch.allclose(f[:-1, 6 * o + 3:6 * o + 6], pos[1:, o] - pos[:-1, o])
        assert torch.equal(f[-1, 6 * o + 3:6 * o + 6], torch.zeros(3))
    assert torch.equal(to_positions(f), pos)
    assert position_channels([0, 1]) == [0, 1, 2, 6, 7, 8]


def test_fit_horizon_cuts_pads_and_strides():
    pos = np.random.default_rng(0).normal(size=(10, 11, 3)).astype(np.float32)
    padded = fit_horizon(pos, 16)
    assert padded.shape == (16, 11, 3)
    assert np.array_equal(padded[:10], pos) and (padded[10:] == pos[-1]).all()
    assert np.array_equal(fit_horizon(pos, 4), pos[:4])
    assert np.array_equal(fit_horizon(pos, 5, frame_stride=2), pos[::2])
    # padding repeats the last frame, so the padded deltas are zero
    assert (to_features(torch.from_numpy(padded))[9:, 3::6] == 0).all()
    with pytest.raises(ValueError, match=r"\[T>0, 11, 3\]"):
        fit_horizon(np.zeros((0, 11, 3)), 4)


def test_minmax_round_trip_and_range():
    data = torch.randn(20, 8, 66) * 30 + 10
    data[..., 5] = 3.0  # a constant feature
    norm = MinMaxNormalizer.fit(data)
    x = norm.normalize(data)
    assert x.min() >= -1 - 1e-6 and x.max() <= 1 + 1e-6
    assert torch.allclose(x.amin(dim=(0, 1))[:5], torch.full((5,), -1.0))
    assert torch.allclose(x.amax(dim=(0, 1))[:5], torch.full((5,), 1.0))
    assert torch.allclose(norm.unnormalize(x), data, atol=1e-4)
    assert torch.equal(x[..., 5], torch.full_like(x[..., 5], -1.0))
    back = MinMaxNormalizer(torch.tensor(norm.state_dict()["mins"]), torch.tensor(norm.state_dict()["maxs"]))
    assert torch.allclose(back.normalize(data), x)


class _P:  # the fields of data_modules.basketball.possessions.Possession that the arrays use
    def __init__(self, positions, events, game_id="g"):
        self.positions, self.events, self.game_id = positions, events, game_id


def test_possession_arrays_returns_and_defence_view():
    rng = np.random.default_rng(1)
    poss = [_P(rng.uniform(0, 40, (12, 11, 3)).astype(np.float32), ["miss", "rebound", "2pt_made"]),
            _P(rng.uniform(0, 40, (5, 11, 3)).astype(np.float32), ["turnover"])]
    arr = possessions_to_arrays(poss, horizon=8, defence_view=True)
    assert arr["traj"].shape == (4, 8, 66)
    assert arr["returns"].tolist() == [2.25, -2.25, -1.0, 1.0]
    assert arr["length"].tolist() == [8, 8, 5, 5]
    assert np.array_equal(arr["traj"][1], swap_teams(arr["traj"][0]))
    assert np.array_equal(arr["traj"][1][:, 6:36], arr["traj"][0][:, 36:66])


def test_real_possessions_from_synthetic_games(tmp_path):
    from data_modules.basketball.possessions import iter_possessions
    from data_modules.basketball.synthetic import write_synthetic_games
    from data_modules.io import samples_dir

    # the bundled copy of ../shared/data/nba_sportvu_pbp/0021500001.csv (data_modules/samples/reliable/SOURCE.md)
    paths = write_synthetic_games(tmp_path, 1, seed=0, pbp_csv=samples_dir() / "reliable" / "0021500001.csv",
                                  frames_per_second=5, max_possessions=6, max_possession_s=8.0)
    stats = Counter()
    poss = list(iter_possessions(paths, pbp_dir=tmp_path, stats=stats, min_frames=5))
    arr = possessions_to_arrays(poss, horizon=40)
    assert arr["traj"].shape == (len(poss), 40, 66) and len(poss) > 0
    from data_modules.basketball.rewards import possession_return
    assert arr["returns"].tolist() == [possession_return(p.events) for p in poss]


def test_start_state_file_errors(tmp_path):
    ok = tmp_path / "ok.npz"
    np.savez(ok, positions=np.zeros((3, 11, 3), np.float32))
    assert load_start_states(ok).shape == (3, 11, 3)
    bad = tmp_path / "bad.npz"
    np.savez(bad, positions=np.zeros((3, 10, 3), np.float32))
    with pytest.raises(DataError, match=r"bad.npz.*field 'positions'"):
        load_start_states(bad)
    nan = tmp_path / "nan.npz"
    arr = np.zeros((3, 11, 3), np.float32)
    arr[2, 4, 1] = np.nan
    np.savez(nan, positions=arr)
    with pytest.raises(DataError, match=r"line 2.*non-finite"):
        load_start_states(nan)
    with pytest.raises(DataError, match="missing array 'positions'"):
        np.savez(tmp_path / "other.npz", start=arr)
        load_start_states(tmp_path / "other.npz")
