"""ReLiable DataModule: SportVU games (or synthetic ones) -> cached decision steps -> offline RL transitions
(s, a, r, s', done) in batches.

``prepare_data`` (once per node) writes synthetic games when asked, preprocesses every game into npz shards
(streamed, one game in memory at a time) and concatenates each chronological split into ``.npy`` files that
``setup`` memory-maps, so a season never has to fit in RAM. Items render the 17-channel images on the fly.
Split (``splits.chronological_split``): games on or after ``test_from_date`` are the test set (the chapter:
2015 train, 2016 test), without a date the last ``test_fraction`` of games by date; the last ``val_fraction``
of the earlier games are a validation split (the chapter has none; ours, so that checkpoints and early looks
are never chosen on test games). The known better actions, when present, are only used for metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from data_modules.base import ResumableTrainLoader
from data_modules.basketball.features import N_CHANNELS, flat_dim, render_frames
from data_modules.basketball.preprocess import ARRAYS, PreprocessSpec, cache_key, preprocess_games
from data_modules.basketball.sources import SyntheticGames, game_paths, resolve
from data_modules.basketball.splits import chronological_split
from data_modules.io import check_loader_args
from lit_agents.fileio import resolve_inside
from lit_agents.nets.history_encoder import frames_channels_last


class StepDataset(Dataset):
    """Decision steps of one split (memory-mapped arrays) -> dict of tensors for one transition."""

    def __init__(self, split_dir: Path, window: int, trail: int):
        self.a = {k: np.load(split_dir / f"{k}.npy", mmap_mode="r") for k in ARRAYS + ("game",)}
        self.window, self.trail = window, trail
        self.n = int(self.a["action"].shape[0])
        self.sample_weight: np.ndarray | None = None   # set by the DataModule when terminal steps are oversampled

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        a, W, T = self.a, self.window, self.trail
        f, done = int(a["first"][i]), bool(a["done"][i])
        nxt = i if done else i + 1
        idx = [max(k, f) for k in range(i - (W - 1) - (T - 1), i + 1)] + [nxt]
        imgs = render_frames(np.asarray(a["positions"][idx]), np.asarray(a["fg2"][i]), np.asarray(a["fg3"][i]), T)
        # channels last (NHWC in memory): the frame CNN's convolutions run about twice as fast on it
        out = {"image": frames_channels_last(torch.from_numpy(imgs[T - 1:T - 1 + W])),
               "next_image": frames_channels_last(torch.from_numpy(imgs[T:T + W])),
               "flat": torch.from_numpy(np.array(a["flat"][i])),
               "next_flat": torch.from_numpy(np.array(a["flat"][nxt])),
               "positions": torch.from_numpy(np.array(a["positions"][i]))}
        for k, dt in (("action", torch.long), ("reward", torch.float32), ("done", torch.float32), ("three", torch.long),
                      ("beyond_arc", torch.bool), ("scored", torch.bool), ("better", torch.long), ("poss", torch.long),
                      ("step", torch.long)):
            out[k] = torch.tensor(np.asarray(a[k][i]).item(), dtype=dt)
        sw = 1.0 if self.sample_weight is None else float(self.sample_weight[i])
        out["sample_weight"] = torch.tensor(sw, dtype=torch.float32)
        return out


class ReLiableDataModule(L.LightningDataModule):
    """Offline RL transitions for ReLiable (dissertation ch. 6).

    Args:
        games: SportVU game files (``.7z`` archives or extracted json; ``samples:`` for the bundled ones).
        pbp_dir: directory of play-by-play CSVs matched to the games.
        synthetic: synthetic games instead of files (``SyntheticGames``).
        cache_dir: where preprocessed transitions are cached.
        preprocess: preprocessing options (``PreprocessSpec``).
        window: frames of history per state.
        trail: frames of trajectory trail in the court encoding.
        test_from_date: games on or after this date (YYYY-MM-DD) form the test split.
        test_fraction: fraction of games held out for test when ``test_from_date`` is not set.
        val_fraction: the last fraction of the training games (by date) held out for validation and checkpoint
            selection, never the test games (0 = no validation split).
        batch_size: training records per batch per rank.
        num_workers: dataloader worker processes.
        seed: seed of the shuffling and of seeded splits.
        oversample_terminal: sampling weight of terminal transitions relative to the others.
    """

    def __init__(self, games: list[str] | None = None, pbp_dir: str | None = None,
                 synthetic: SyntheticGames | None = None, cache_dir: str = ".cache/reliable",
                 preprocess: PreprocessSpec | None = None, window: int = 3, trail: int = 3,
                 test_from_date: str | None = None, test_fraction: float = 0.34, val_fraction: float = 0.17,
                 batch_size: int = 32, num_workers: int = 0, seed: int = 0, oversample_terminal: float = 10.0):
        """games: SportVU ``.json``/``.7z`` paths or globs; pbp_dir: where ``<game_id>.csv`` play-by-play lie
        (default: next to each game); synthetic: write these games instead; window: history steps per state
        (1 = the MDP ablation); trail: steps drawn in each image's trajectory channels; test_from_date /
        test_fraction / val_fraction: the chronological split (module docstring)."""
        super().__init__()
        self.save_hyperparameters()
        if not games and synthetic is None:
            raise ValueError("give data.games (SportVU files) or data.synthetic")
        self.games, self.pbp_dir, self.synthetic = games or [], pbp_dir, synthetic
        self.cache_dir, self.spec = Path(cache_dir), preprocess or PreprocessSpec()
        self.window, self.trail = window, trail
        self.test_from_date, self.test_fraction, self.val_fraction = test_from_date, test_fraction, val_fraction
        check_loader_args(batch_size, num_workers)
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self._train_resume = ResumableTrainLoader(batch_size, seed)
        if oversample_terminal < 1.0:
            raise ValueError(f"oversample_terminal must be >= 1, got {oversample_terminal}")
        self.oversample_terminal = oversample_terminal
        self.datasets: dict[str, StepDataset] = {}

    @property
    def flat_dim(self) -> int:
        return flat_dim(self.spec.score_diff_max, self.spec.extra_flat)

    @property
    def in_channels(self) -> int:
        return N_CHANNELS

    def _game_paths(self) -> list[Path]:
        return game_paths(self.synthetic, self.games, self.cache_dir)

    def _split_dirs(self) -> tuple[Path, dict]:
        paths = self._game_paths()
        pbp = resolve(self.pbp_dir) if self.pbp_dir else None
        root = self.cache_dir / cache_key(paths, self.spec, pbp)
        return root, {"paths": paths, "pbp": pbp}

    def prepare_data(self) -> None:
        root, info = self._split_dirs()
        manifest = preprocess_games(info["paths"], root / "shards", self.spec, pbp_dir=info["pbp"])
        for i, g in enumerate(manifest["games"], start=1):  # shard names come from manifest.json: keep them inside
            resolve_inside(root / "shards", g["shard"], path=root / "shards" / "manifest.json", line=i, field="shard")
        games = [g for g in manifest["games"] if g["n_steps"] > 0]
        parts = chronological_split([(g["date"], g) for g in games], test_from_date=self.test_from_date,
                                    test_fraction=self.test_fraction, val_fraction=self.val_fraction,
                                    path=root / "shards" / "manifest.json")
        split_name = self._split_name()
        for name, part in parts.items():
            if not part:
                continue
            d = root / split_name / name
            if (d / "done").is_file():
                continue
            _concat_shards([root / "shards" / g["shard"] for g in part], d)
            (d / "games.json").write_text(json.dumps(part, indent=1))
            (d / "done").write_text("ok")

    def _split_name(self) -> str:
        return f"split_{self.test_from_date or self.test_fraction}_val{self.val_fraction}"

    def setup(self, stage: str | None = None) -> None:
        root, _ = self._split_dirs()
        split = root / self._split_name()
        for name in ("train", "val", "test"):
            if (split / name / "done").is_file():
                self.datasets[name] = StepDataset(split / name, self.window, self.trail)
        self.n_games = {name: len(json.loads((split / name / "games.json").read_text())) for name in self.datasets}
        self.n_test_games = self.n_games["test"]

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        # training: a seeded per-epoch shuffle that a resumed run continues mid-epoch (see state_dict)
        sampler = self._train_resume.sampler(self.datasets[name], self.trainer) if shuffle else None
        return DataLoader(self.datasets[name], batch_size=self.batch_size, sampler=sampler,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def state_dict(self) -> dict:
        """Where training stands in the current epoch, so a resumed run neither repeats nor skips steps."""
        return self._train_resume.progress(self.trainer)

    def load_state_dict(self, state: dict) -> None:
        self._train_resume.resume_from(state)

    def train_dataloader(self) -> DataLoader:
        if self.oversample_terminal == 1.0:
            return self._loader("train", True)
        ds = self.datasets["train"]
        w = np.where(np.asarray(ds.a["done"], bool), self.oversample_terminal, 1.0)
        ds.sample_weight = (w.mean() / w).astype(np.float32)     # E_sampler[sample_weight * f] = E_uniform[f]
        sampler = self._train_resume.sampler(ds, self.trainer, weights=w)  # weighted, with replacement, resumable
        return DataLoader(ds, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        """The validation games (never the test games); empty with ``val_fraction: 0``."""
        return self._loader("val", False) if "val" in self.datasets else []

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)


def _concat_shards(shards: list[Path], out: Path) -> None:
    """Concatenate per-game shards into per-array ``.npy`` files, one shard in memory at a time.

    Possession ids become global (game index * 100000 + local id) and ``first`` offsets become global rows."""
    out.mkdir(parents=True, exist_ok=True)
    sizes = []
    for s in shards:
        with np.load(s) as z:
            sizes.append((int(z["action"].shape[0]), {k: (z[k].shape[1:], z[k].dtype) for k in ARRAYS}))
    total = sum(n for n, _ in sizes)
    mm = {k: np.lib.format.open_memmap(out / f"{k}.npy", mode="w+", dtype=sizes[0][1][k][1],
                                       shape=(total,) + tuple(sizes[0][1][k][0])) for k in ARRAYS}
    mm["game"] = np.lib.format.open_memmap(out / "game.npy", mode="w+", dtype=np.int64, shape=(total,))
    row = 0
    for gi, (s, (n, _)) in enumerate(zip(shards, sizes)):
        with np.load(s) as z:
            for k in ARRAYS:
                v = z[k]
                if k == "first":
                    v = v + row
                elif k == "poss":
                    v = v + gi * 100000
                mm[k][row:row + n] = v
        mm["game"][row:row + n] = gi
        row += n
    for m in mm.values():
        m.flush()
