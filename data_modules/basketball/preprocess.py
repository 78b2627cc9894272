"""Streamed, cached preprocessing for ReLiable: games -> labelled decision steps in per-game npz shards.

One game is in memory at a time. Games are visited in date order so the shooting percentages of a game use
earlier games only. Each shard holds, per decision step (``decision_hz`` steps per second): oriented
positions, flat features, shooting percentages, the labelled action, the 3-point flag, reward, terminal flag,
the possession it belongs to, and the known better action when the synthetic ``truth.json`` gives one.
``manifest.json`` lists shards with the game date (for the chronological split) and every drop count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data_modules.basketball.court import is_three_point
from data_modules.basketball.features import flat_features
from data_modules.basketball.labels import SHOOT, LabelSpec, label_frames, step_actions
from data_modules.basketball.pbp import read_pbp
from data_modules.basketball.possessions import find_pbp, segment_possessions
from data_modules.basketball.rewards import possession_return, shaped_reward
from data_modules.basketball.shooting import ShootingTable
from data_modules.basketball.sportvu import read_sportvu_game
from lit_agents.fileio import DataError, resolve_inside

log = logging.getLogger(__name__)
PREPROCESS_VERSION = 2   # part of the cache key: bump when the shard contents change
ARRAYS = ("positions", "flat", "fg2", "fg3", "action", "three", "beyond_arc", "reward", "done", "poss", "first",
          "scored", "better", "step")


@dataclass
class PreprocessSpec:
    """How games become decision steps (all reachable from YAML through the DataModule)."""

    decision_hz: float = 5.0              # decision steps per second (the feed is 25 fps)
    reward_mode: str = "chapter"          # "chapter": shaped reward at the shot; "events": PlayBest table at the end
    score_diff_max: int = 10
    extra_flat: bool = True
    min_frames: int = 10
    labels: LabelSpec = field(default_factory=LabelSpec)


def game_date(path: Path) -> str:
    """The game's date without parsing the whole file when possible (JSON head, or MM.DD.YYYY file names)."""
    m = re.search(r"(\d\d)\.(\d\d)\.(\d{4})", path.name)
    if m:
        return f"{m.group(3)}-{m.group(1)}-{m.group(2)}"
    if path.suffix == ".json":
        with path.open(encoding="utf-8") as fh:
            head = fh.read(65536)
        m = re.search(r'"gamedate"\s*:\s*"([^"]+)"', head)
        if m:
            return m.group(1)
    return read_sportvu_game(path).game_date


def _truth_epochs(path: Path, game_id: str) -> set[int]:
    t = resolve_inside(path.parent, f"{game_id}.truth.json", path=path, field="gameid")
    if not t.is_file():
        return set()
    try:
        return {int(r["epoch_ms"]) for r in json.loads(t.read_text("utf-8"))["open_frames"]}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"bad truth file ({e})", path=t) from e


def preprocess_game(path: Path, pbp_dir: Path | None, table: ShootingTable, spec: PreprocessSpec,
                    stats: Counter) -> tuple[dict[str, np.ndarray], dict]:
    """Labelled decision steps of one game (arrays keyed by ``ARRAYS``) and its manifest entry."""
    game = read_sportvu_game(path)
    for k, v in game.counts().items():
        stats[f"game_{k}"] += v
    pbp_path = find_pbp(path, pbp_dir if pbp_dir is not None else path.parent, game.game_id)
    pbp = read_pbp(pbp_path) if pbp_path is not None else None
    if pbp is None:
        stats["games_without_pbp"] += 1
    truth = _truth_epochs(path, game.game_id)
    cols: dict[str, list] = {k: [] for k in ARRAYS}
    n_steps = 0
    poss_list = segment_possessions(game, pbp, min_frames=spec.min_frames, stats=stats)
    for pi, p in enumerate(poss_list):
        dt_ms = np.diff(p.epoch_ms)
        fps = 1000.0 / float(np.median(dt_ms)) if dt_ms.size else 25.0
        lab = label_frames(p.positions, fps, shot_attempt=p.shot_game_clock is not None, spec=spec.labels)
        stats.update({f"label_{k}": v for k, v in lab.counts.items()})
        stride = max(int(round(fps / spec.decision_hz)), 1)
        starts, act, thr = step_actions(lab.action, lab.three, stride)
        # The shot is the possession's last decision: once the ball is released nothing is decided until the
        # rebound, so the decision process ends at the release step (reward there, terminal). The flight steps
        # after it are dropped (counted).
        shots = np.nonzero(act == SHOOT)[0]
        cut = int(shots[0]) + 1 if shots.size else len(starts)
        stats["steps_after_release_dropped"] += len(starts) - cut
        ends = np.append(starts[1:], p.n_frames)          # frame range of each step, the last one to the end
        ends[cut - 1] = p.n_frames
        starts, act, thr, ends = starts[:cut], act[:cut], thr[:cut], ends[:cut]
        S = len(starts)
        fg2, fg3 = table.percentages(p.player_ids[1:6])
        reward = np.zeros(S, np.float32)
        diff = p.score_diff
        if spec.reward_mode == "events":
            reward[-1] = possession_return(p.events)
        elif spec.reward_mode == "chapter":
            if shots.size:       # the shaped reward goes to the step where the shot is taken
                j = S - 1
                reward[j] = shaped_reward(p.points, float(p.shot_clock[starts[j]]), float(p.game_clock[starts[j]]),
                                          diff)
            elif p.points:       # points without a labelled shot (free throws, or a shot the rules missed)
                reward[-1] = float(p.points)
                stats["points_without_shot_step"] += 1
        else:
            raise DataError(f"unknown reward_mode {spec.reward_mode!r} (chapter|events)", field="reward_mode")
        epochs = p.epoch_ms
        for j, s in enumerate(starts):
            frame = p.positions[s]
            h = int(lab.handler[s])
            cols["positions"].append(frame)
            cols["flat"].append(flat_features(float(p.game_clock[s]), float(p.shot_clock[s]), p.period, fg2, fg3, diff,
                                              frame, h, score_diff_max=spec.score_diff_max, extra_flat=spec.extra_flat))
            cols["fg2"].append(fg2)
            cols["fg3"].append(fg3)
            cols["beyond_arc"].append(bool(is_three_point(frame[h + 1, 0], frame[h + 1, 1])))
            seg = epochs[s:ends[j]]
            cols["better"].append(SHOOT if truth and any(int(e) in truth for e in seg) else -1)
        cols["action"].extend(act.tolist())
        cols["three"].extend(thr.tolist())
        cols["reward"].extend(reward.tolist())
        cols["done"].extend([False] * (S - 1) + [True])
        cols["poss"].extend([pi] * S)
        cols["first"].extend([n_steps] * S)
        cols["scored"].extend([p.points > 0] * S)
        cols["step"].extend(range(S))
        n_steps += S
    if pbp is not None:
        table.update(pbp, game.game_date)
    dtypes = {"positions": np.float32, "flat": np.float32, "fg2": np.float32, "fg3": np.float32, "action": np.int64,
              "three": bool, "beyond_arc": bool, "reward": np.float32, "done": bool, "poss": np.int64,
              "first": np.int64, "scored": bool, "better": np.int64, "step": np.int64}
    arrays = {k: np.asarray(v, dtype=dtypes[k]) for k, v in cols.items()}
    if n_steps == 0:
        arrays["positions"] = np.zeros((0, 11, 3), np.float32)
        arrays["flat"] = np.zeros((0, 0), np.float32)
    entry = {"game_id": game.game_id, "date": game.game_date, "source": str(path), "n_steps": n_steps,
             "n_possessions": len(poss_list)}
    return arrays, entry


def cache_key(paths: list[Path], spec: PreprocessSpec, pbp_dir: Path | None) -> str:
    """Hash of the inputs (names, sizes, mtimes) and the preprocessing settings."""
    h = hashlib.sha1(json.dumps({"v": PREPROCESS_VERSION, **asdict(spec)}, sort_keys=True).encode())
    h.update(str(pbp_dir).encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def preprocess_games(paths: list[Path], out_dir: Path, spec: PreprocessSpec, *, pbp_dir: Path | None = None) -> dict:
    """Write one npz shard per game plus ``manifest.json`` under ``out_dir``; reuse them when present."""
    manifest_path = out_dir / "manifest.json"
    if manifest_path.is_file():
        return json.loads(manifest_path.read_text("utf-8"))
    out_dir.mkdir(parents=True, exist_ok=True)
    dated = sorted(((game_date(p), p) for p in paths), key=lambda t: (t[0], t[1].name))
    table, stats, games = ShootingTable(), Counter(), []
    for _date, path in tqdm(dated, desc="preprocess games", disable=len(dated) < 5):
        arrays, entry = preprocess_game(path, pbp_dir, table, spec, stats)
        shard = resolve_inside(out_dir, f"{entry['game_id']}.npz", path=path, field="gameid")
        np.savez(shard, **arrays)
        games.append({**entry, "shard": shard.name})
    manifest = {"games": games, "stats": dict(stats), "spec": asdict(spec)}
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1), "utf-8")
    tmp.replace(manifest_path)                 # written last and atomically: a half-done cache is redone
    log.info("preprocessed %d games into %s: %s", len(games), out_dir, dict(stats))
    return manifest
