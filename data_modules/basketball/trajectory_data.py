"""PlayBest DataModule: SportVU (or synthetic) games -> cached ``[horizon, 66]`` trajectories and returns.

``prepare_data`` (rank 0) writes synthetic games when asked, cuts every game into possessions
(``possessions.iter_possessions``, play-by-play outcomes when found) and caches the trajectory arrays as npz.
``setup`` splits games chronologically into train / validation / test (``splits.chronological_split``) and
fits the min-max statistics on the training split only; the planner
copies them into its checkpoint. Batches are ``{"traj": [B, H, 66] feet, "returns": [B]}``; predict batches
are ``{"start": [B, 11, 3] feet, "index": [B]}`` from ``predict_starts`` (npz with ``positions`` [N, 11, 3])
or the first frames of test possessions.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from data_modules.base import ResumableTrainLoader
from data_modules.basketball.sources import SyntheticGames, game_paths, resolve
from data_modules.basketball.splits import chronological_split
from data_modules.basketball.trajectories import MinMaxNormalizer, possessions_to_arrays
from data_modules.io import check_loader_args
from lit_agents.fileio import DataError

CACHE_VERSION = 1


class TensorDictDataset(Dataset):
    """Rows of equally long tensors as dicts."""

    def __init__(self, **tensors: torch.Tensor):
        n = {len(v) for v in tensors.values()}
        if len(n) != 1:
            raise ValueError(f"tensors differ in length: { {k: len(v) for k, v in tensors.items()} }")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


def load_start_states(path: str | Path) -> np.ndarray:
    """Start frames [N, 11, 3] (feet) from an npz with ``positions`` ([N, 11, 3], or [N, T, 11, 3]: frame 0)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("start-state file not found", path=path, field="data.predict_starts")
    with np.load(path, allow_pickle=False) as z:
        if "positions" not in z:
            raise DataError(f"missing array 'positions' (has {sorted(z.files)})", path=path, field="positions")
        pos = np.asarray(z["positions"], dtype=np.float32)
    if pos.ndim == 4:
        pos = pos[:, 0]
    if pos.ndim != 3 or pos.shape[1:] != (11, 3):
        raise DataError(f"expected [N, 11, 3] or [N, T, 11, 3], got {pos.shape}", path=path, field="positions")
    bad = ~np.isfinite(pos).all(axis=(1, 2))
    if bad.any():
        raise DataError("non-finite coordinates", path=path, line=int(np.argmax(bad)), field="positions")
    return pos


class PlayBestDataModule(L.LightningDataModule):
    """Trajectories of possessions for the diffusion planner and its value function.

    Args:
        games: SportVU ``.json``/``.7z`` files or globs (``samples:`` prefix = bundled samples).
        pbp_dir: play-by-play CSV folder (``<game_id>.csv``); default: next to each game.
        synthetic: write these synthetic games (driven by real play-by-play) instead of reading ``games``.
        cache_dir: where games and trajectory arrays are cached.
        horizon: planning horizon H in (subsampled) frames (paper 1024 at 25 fps).
        frame_stride: keep every n-th frame before cutting/padding to the horizon.
        min_frames: shorter possessions are dropped (counted in the log).
        defence_view: add each possession from the defence's side with the negated return.
        test_from_date: games on/after this date (YYYY-MM-DD) form the test split (the chapter: 2016 games).
        test_fraction: otherwise the last fraction of games by date.
        val_fraction: the last fraction of the earlier games form the validation split (checkpoint selection and
            the alpha sweep during fit; never the test games; ``splits.chronological_split``).
        batch_size: training batch size (paper 512).
        num_workers: DataLoader workers.
        predict_starts: npz of start states for ``predict``; default the first ``n_predict`` test possessions.
        n_predict: how many test start states to plan from when ``predict_starts`` is not given.
        seed: seed of the per-epoch training shuffle (resumable mid-epoch: the checkpoint records the position).
    """

    def __init__(self, games: list[str] | None = None, pbp_dir: str | None = None,
                 synthetic: SyntheticGames | None = None, cache_dir: str = ".cache/playbest", horizon: int = 32,
                 frame_stride: int = 1, min_frames: int = 10, defence_view: bool = False,
                 test_from_date: str | None = None, test_fraction: float = 0.34, val_fraction: float = 0.17,
                 batch_size: int = 32, num_workers: int = 0, predict_starts: str | None = None, n_predict: int = 8,
                 seed: int = 0):
        super().__init__()
        if not games and synthetic is None:
            raise ValueError("give data.games (SportVU files) or data.synthetic")
        if frame_stride < 1:
            raise ValueError(f"data.frame_stride must be >= 1, got {frame_stride}")
        self.games, self.pbp_dir, self.synthetic = games or [], pbp_dir, synthetic
        self.cache_dir, self.horizon, self.frame_stride = Path(cache_dir), horizon, frame_stride
        self.min_frames, self.defence_view = min_frames, defence_view
        self.test_from_date, self.test_fraction, self.val_fraction = test_from_date, test_fraction, val_fraction
        check_loader_args(batch_size, num_workers)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.predict_starts, self.n_predict = predict_starts, n_predict
        self.splits: dict[str, dict[str, np.ndarray]] = {}
        self._normalizer: MinMaxNormalizer | None = None
        self._train_resume = ResumableTrainLoader(batch_size, seed)

    # ---- files ----
    def _game_paths(self) -> list[Path]:
        return game_paths(self.synthetic, self.games, self.cache_dir)

    def _cache_file(self, paths: list[Path]) -> Path:
        key = json.dumps({"v": CACHE_VERSION, "paths": [str(p) for p in paths], "pbp": self.pbp_dir,
                          "h": self.horizon, "s": self.frame_stride, "m": self.min_frames, "d": self.defence_view},
                         sort_keys=True)
        return self.cache_dir / f"trajectories_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"

    def prepare_data(self) -> None:
        from data_modules.basketball.possessions import iter_possessions

        paths = self._game_paths()
        cache = self._cache_file(paths)
        if cache.is_file():
            return
        parts, stats = [], Counter()
        for path in paths:
            pbp_dir = resolve(self.pbp_dir) if self.pbp_dir else path.parent
            poss = list(iter_possessions([path], pbp_dir=pbp_dir, stats=stats, min_frames=self.min_frames))
            if not poss:
                stats["games_without_possessions"] += 1
                continue
            arr = possessions_to_arrays(poss, self.horizon, self.frame_stride, self.defence_view)
            arr["game_date"] = np.asarray([poss[0].game_date] * len(arr["traj"]))
            parts.append(arr)
        if not parts:
            raise DataError(f"no possessions in {len(paths)} game(s) ({dict(stats)})", path=paths[0] if paths else None)
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **merged)
        tmp.replace(cache)
        (cache.with_suffix(".stats.json")).write_text(json.dumps(dict(stats), indent=1))

    # ---- splits and statistics ----
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        cache = self._cache_file(self._game_paths())
        if not cache.is_file():
            self.prepare_data()
        with np.load(cache, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        games = sorted(set(zip(data["game_date"].tolist(), data["game_id"].tolist())))
        parts = chronological_split(games, test_from_date=self.test_from_date, test_fraction=self.test_fraction,
                                    val_fraction=self.val_fraction, path=cache)
        self.splits = {}
        for name, ids in parts.items():
            sel = np.isin(data["game_id"], ids)
            if sel.any():
                self.splits[name] = {k: v[sel] for k, v in data.items()}
        self._normalizer = MinMaxNormalizer.fit(torch.from_numpy(self.splits["train"]["traj"]))

    def normalizer(self) -> MinMaxNormalizer:
        """Min-max statistics of the training split (fitted once in ``setup``)."""
        if self._normalizer is None:
            self.setup()
        return self._normalizer

    def state_dict(self) -> dict:
        state = {"normalizer": self._normalizer.state_dict()} if self._normalizer is not None else {}
        state.update(self._train_resume.progress(getattr(self, "trainer", None)))
        return state

    def load_state_dict(self, state: dict) -> None:
        self._train_resume.resume_from(state)

    # ---- loaders ----
    def _dataset(self, split: str) -> TensorDictDataset:
        s = self.splits[split]
        return TensorDictDataset(traj=torch.from_numpy(s["traj"]), returns=torch.from_numpy(s["returns"]))

    def train_dataloader(self) -> DataLoader:
        dataset = self._dataset("train")
        return DataLoader(dataset, batch_size=self.batch_size, drop_last=False, num_workers=self.num_workers,
                          sampler=self._train_resume.sampler(dataset, getattr(self, "trainer", None)))

    def val_dataloader(self) -> DataLoader:
        """The validation games (never the test games); empty with ``val_fraction: 0``."""
        if "val" not in self.splits:
            return []
        return DataLoader(self._dataset("val"), batch_size=self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset("test"), batch_size=self.batch_size, num_workers=self.num_workers)

    def predict_dataloader(self) -> DataLoader:
        if self.predict_starts:
            starts = load_start_states(self.predict_starts)
        else:
            starts = self.splits["test"]["traj"][: self.n_predict, 0].reshape(-1, 11, 6)[..., :3]
        ds = TensorDictDataset(start=torch.from_numpy(np.ascontiguousarray(starts)),
                               index=torch.arange(len(starts)))
        return DataLoader(ds, batch_size=self.batch_size, num_workers=self.num_workers)
