"""Held-out data that is really held out: no test (or validation) possession replays a training possession,
and validation is a split of its own (issue 19)."""

import json

import numpy as np
import pytest

from data_modules.basketball.transition_data import ReLiableDataModule
from data_modules.basketball.sources import SyntheticGames
from data_modules.basketball.splits import chronological_split
from data_modules.basketball.trajectory_data import PlayBestDataModule
from lit_agents.fileio import DataError


def _keys(a: dict, sdm: int = 10) -> tuple[set, set]:
    """Per possession: its step-0 (game clock, shot clock, period, score difference) and its whole sequence."""
    cols = [0, 1, 2] + list(range(13, 13 + 2 * sdm + 1))    # flat features: clocks, period, score one-hot
    flat, poss = np.asarray(a["flat"])[:, cols].round(4), np.asarray(a["poss"])
    firsts, seqs = set(), set()
    for p in np.unique(poss):
        rows = flat[poss == p]
        firsts.add(tuple(rows[0].tolist()))
        seqs.add(tuple(map(tuple, rows.tolist())))
    return firsts, seqs


@pytest.fixture(scope="module")
def reliable(tmp_path_factory):
    # 6 games over the 3 bundled logs: before issue 19 games 3-5 replayed games 0-2 possession for possession
    dm = ReLiableDataModule(synthetic=SyntheticGames(n_games=6, max_possessions=6), window=1, trail=1,
                            cache_dir=str(tmp_path_factory.mktemp("c")), test_fraction=0.34, val_fraction=0.17)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_no_test_or_val_possession_occurs_in_training(reliable):
    train_first, train_seq = _keys(reliable.datasets["train"].a)
    for split in ("val", "test"):
        first, seq = _keys(reliable.datasets[split].a)
        assert len(first) >= 6
        assert not first & train_first, f"{split}: {len(first & train_first)} possessions start like a training one"
        assert not seq & train_seq
    # and the per-step (clock, score) vectors are essentially all new
    cols = [0, 1, 2] + list(range(13, 34))
    seen = {tuple(r) for r in np.asarray(reliable.datasets["train"].a["flat"])[:, cols].round(4).tolist()}
    test_rows = np.asarray(reliable.datasets["test"].a["flat"])[:, cols].round(4).tolist()
    assert np.mean([tuple(r) in seen for r in test_rows]) < 0.02


def test_validation_is_its_own_chronological_split(reliable):
    root = next(p for p in reliable.cache_dir.iterdir() if p.name != "synthetic")
    split = next(root.glob("split_*"))
    games = {n: json.loads((split / n / "games.json").read_text()) for n in ("train", "val", "test")}
    assert [len(games[n]) for n in ("train", "val", "test")] == [3, 1, 2]
    assert max(g["date"] for g in games["train"]) < games["val"][0]["date"] < min(g["date"] for g in games["test"])
    assert {g["game_id"] for g in games["val"]}.isdisjoint(g["game_id"] for g in games["test"])
    val_games = set(np.unique(np.asarray(reliable.datasets["val"].a["game"])).tolist())
    assert len(reliable.val_dataloader().dataset) == len(reliable.datasets["val"]) and val_games == {0}


def test_playbest_split_has_disjoint_games_and_possessions(tmp_path):
    dm = PlayBestDataModule(synthetic=SyntheticGames(n_games=6, max_possessions=4, max_possession_s=6.0),
                            cache_dir=str(tmp_path), horizon=16, test_fraction=0.34, val_fraction=0.17)
    dm.setup()
    ids = {n: set(dm.splits[n]["game_id"].tolist()) for n in ("train", "val", "test")}
    assert [len(ids[n]) for n in ("train", "val", "test")] == [3, 1, 2]
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    starts = {n: {tuple(r) for r in dm.splits[n]["traj"][:, 0].round(2).tolist()} for n in ("train", "test")}
    assert not starts["train"] & starts["test"]
    assert len(dm.test_dataloader().dataset) == len(dm.splits["test"]["traj"]) != len(dm.val_dataloader().dataset)


def test_split_rules_and_errors():
    dated = [(f"2015-10-{d:02d}", d) for d in range(10, 22)]    # 12 games
    parts = chronological_split(dated[::-1], test_from_date=None, test_fraction=0.34, val_fraction=0.17)
    assert parts == {"train": list(range(10, 16)), "val": [16, 17], "test": [18, 19, 20, 21]}
    by_date = chronological_split(dated, test_from_date="2015-10-20", test_fraction=0.5, val_fraction=0.0)
    assert by_date["test"] == [20, 21] and by_date["val"] == [] and len(by_date["train"]) == 10
    with pytest.raises(DataError, match="empty side"):
        chronological_split(dated[:2], test_from_date=None, test_fraction=0.34, val_fraction=0.17)
    with pytest.raises(DataError, match="empty side"):
        chronological_split(dated, test_from_date="2016-01-01", test_fraction=0.34, val_fraction=0.17)


def test_games_never_reuse_a_logs_possessions(tmp_path):
    from data_modules.basketball.sources import game_paths

    with pytest.raises(ValueError, match="live possessions"):   # 3 windows of 60 > any bundled log (141-174)
        game_paths(SyntheticGames(n_games=9, max_possessions=60), [], tmp_path)
