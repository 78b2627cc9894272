"""ReLiable DataModule: synthetic games from real play-by-play -> cached shards -> chronological split -> items."""

import json

import numpy as np
import pytest

from data_modules.basketball.transition_data import ReLiableDataModule, SyntheticGames
from data_modules.basketball.labels import SHOOT
from lit_agents.fileio import DataError


@pytest.fixture(scope="module")
def dm(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    m = ReLiableDataModule(synthetic=SyntheticGames(n_games=3, max_possessions=5), cache_dir=str(cache), window=2,
                           trail=2, batch_size=4)
    m.prepare_data()
    m.setup("fit")
    return m


def test_chronological_split_and_cache_reuse(dm):
    root = next(p for p in dm.cache_dir.iterdir() if p.name != "synthetic")
    split = next(root.glob("split_*"))
    train = json.loads((split / "train" / "games.json").read_text())
    test = json.loads((split / "test" / "games.json").read_text())
    assert len(train) == 1 and len(test) == 1 and (split / "val" / "done").is_file()   # + 1 validation game
    assert max(g["date"] for g in train) < min(g["date"] for g in test)
    manifest = root / "shards" / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    dm.prepare_data()                                        # second run reuses the cache
    assert manifest.stat().st_mtime_ns == stamp
    stats = json.loads(manifest.read_text())["stats"]
    assert stats["game_dropped_few_players"] == 3 and stats["game_duplicates"] > 0   # counted, not silent


def test_items_are_consistent_transitions(dm):
    ds = dm.datasets["train"]
    a = ds.a
    assert len(ds) == a["action"].shape[0] > 50
    assert set(np.unique(a["action"]).tolist()) == {0, 1, 2}
    # every possession ends with exactly one terminal step, and rewards sit on shoot steps or the last step
    for p in np.unique(a["poss"]):
        rows = np.nonzero(a["poss"] == p)[0]
        assert a["done"][rows].sum() == 1 and a["done"][rows[-1]]
        nz = rows[a["reward"][rows] != 0]
        assert all(a["action"][r] == SHOOT or a["done"][r] for r in nz)
    last = int(np.nonzero(a["done"])[0][0])
    item, nxt = ds[last], ds[last - 1]
    assert item["image"].shape == (2, 17, 47, 50) and item["flat"].shape == (dm.flat_dim,)
    assert item["done"] == 1 and (item["next_flat"] == item["flat"]).all()          # terminal: no bootstrap target
    assert nxt["done"] == 0 and (nxt["next_image"][0] == nxt["image"][1]).all()       # window shifts by one
    assert 0 <= float(item["flat"].min()) and float(item["flat"].max()) <= 1


def test_missing_game_file_is_a_data_error(tmp_path):
    m = ReLiableDataModule(games=[str(tmp_path / "nope.json")], cache_dir=str(tmp_path / "c"))
    with pytest.raises(DataError, match="nope.json"):
        m.prepare_data()
