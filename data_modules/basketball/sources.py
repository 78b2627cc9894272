"""Where a basketball DataModule's games come from: real SportVU files (globs allowed) or synthetic games
written once into the cache. Shared by ReLiable's and PlayBest's DataModules."""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from data_modules.basketball.synthetic import GENERATOR_VERSION, write_synthetic_games
from data_modules.io import samples_dir
from lit_agents.fileio import DataError, resolve_inside


def resolve(path: str) -> Path:
    """``samples:reliable/x.csv`` -> the bundled sample; anything else as given."""
    return samples_dir() / path[len("samples:"):] if path.startswith("samples:") else Path(path)


@dataclass
class SyntheticGames:
    """Synthetic games to write (see ``synthetic.write_synthetic_games``)."""

    n_games: int = 6
    seed: int = 0
    pbp_csv: list[str] = field(default_factory=lambda: ["samples:reliable/0021500001.csv",
                                                        "samples:reliable/0021500492.csv",
                                                        "samples:reliable/0021500659.csv"])
    frames_per_second: int = 5
    max_possessions: int = 12
    max_possession_s: float = 10.0
    p_pass_up_open: float = 0.5
    outcome_noise: float = 0.15
    generator_version: int = GENERATOR_VERSION   # part of the cache key: cached games are rewritten when it changes


def game_paths(synthetic: SyntheticGames | None, games: list[str], cache_dir: Path) -> list[Path]:
    """The game files to read: the synthetic games (written on first use, keyed by their settings) or the
    files matching ``games`` (``data.games``); a pattern matching nothing or a missing file is an error."""
    if synthetic is not None:
        key = json.dumps(synthetic.__dict__, sort_keys=True, default=str)
        out = cache_dir / "synthetic" / hashlib.sha1(key.encode()).hexdigest()[:12]
        done = out / "done.json"
        if not done.is_file():
            s = synthetic
            paths = write_synthetic_games(out, s.n_games, seed=s.seed, pbp_csv=[resolve(p) for p in s.pbp_csv],
                                          frames_per_second=s.frames_per_second, max_possessions=s.max_possessions,
                                          max_possession_s=s.max_possession_s, p_pass_up_open=s.p_pass_up_open,
                                          outcome_noise=s.outcome_noise)
            done.write_text(json.dumps([p.name for p in paths]))
        names = json.loads(done.read_text())
        if not isinstance(names, list):
            raise DataError("expected a JSON list of game file names", path=done)
        return [resolve_inside(out, n, path=done, line=i, field="game file") for i, n in enumerate(names, start=1)]
    paths: list[Path] = []
    for g in games:
        hits = sorted(glob.glob(str(resolve(g)))) if any(c in g for c in "*?[") else [str(resolve(g))]
        if not hits:
            raise DataError("no game files match", path=g, field="data.games")
        paths += [Path(h) for h in hits]
    for p in paths:
        if not p.is_file():
            raise DataError("game file not found", path=p, field="data.games")
    return paths
