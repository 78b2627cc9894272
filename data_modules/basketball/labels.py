"""Frame labelling rules of ReLiable (dissertation §6.5.1.2), thresholds as parameters.

* Ball handler = the offensive player nearest the ball (x, y).
* Dribble: frames covered by a ``dribble_window_s`` (2 s) window over which the handler does not change.
* Pass: the handler changes and the distance between the two handlers exceeds ``pass_min_dist_ft`` (20 cm);
  the frames from the release (the ball last within ``hold_radius_ft`` of the passer) to the change are "pass".
* Shoot: in possessions with a play-by-play field-goal attempt, within the last ``shoot_window_s`` (5 s): frames
  where the ball is above the rim (``rim_height_ft``, 10 ft) while its distance to the rim keeps decreasing
  until it is near 0 (< ``near_rim_ft``), plus the ``release_s`` before it leaves the shooter's hands.
* 3-point set: a shot is a 3-point attempt when the shooter (handler at release) stands beyond the arc.
Priority shoot > pass > dribble; frames no rule covers are "dribble" and counted (``fallback_dribble``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from data_modules.basketball.court import BASKET_X, BASKET_Y, RIM_HEIGHT_FT, is_three_point

DRIBBLE, PASS, SHOOT = 0, 1, 2
ACTION_NAMES = ("dribble", "pass", "shoot")


@dataclass
class LabelSpec:
    """Thresholds of the labelling rules (defaults: the chapter's)."""

    dribble_window_s: float = 2.0
    pass_min_dist_ft: float = 0.656      # 20 cm
    hold_radius_ft: float = 3.0
    shoot_window_s: float = 5.0
    rim_height_ft: float = RIM_HEIGHT_FT
    near_rim_ft: float = 2.0
    release_s: float = 0.4


@dataclass
class FrameLabels:
    handler: np.ndarray      # [T] 0..4 index among the offence (object = handler + 1)
    action: np.ndarray       # [T] DRIBBLE / PASS / SHOOT
    three: np.ndarray        # [T] bool: frame belongs to a 3-point attempt
    counts: Counter


def ball_handler(positions: np.ndarray) -> np.ndarray:
    """[T] index (0..4) of the offensive player nearest the ball."""
    d = np.linalg.norm(positions[:, 1:6, :2] - positions[:, :1, :2], axis=-1)
    return np.argmin(d, axis=1)


def _shoot_frames(pos: np.ndarray, fps: float, spec: LabelSpec) -> tuple[int, int] | None:
    """(release, arrival) frame indices of the last shot in the final window, or None."""
    n = pos.shape[0]
    lo = max(0, n - int(round(spec.shoot_window_s * fps)))
    rim = np.array([BASKET_X, BASKET_Y, spec.rim_height_ft], np.float32)
    dist = np.linalg.norm(pos[:, 0] - rim, axis=-1)
    high = np.nonzero(pos[lo:, 0, 2] > spec.rim_height_ft)[0] + lo
    for first in high:
        # from the first frame above the rim, the distance must keep decreasing to near the rim
        k = first
        while k + 1 < n and dist[k + 1] < dist[k] + 1e-6:
            k += 1
        if dist[k] < spec.near_rim_ft and k > first:
            release = max(lo, first - int(round(spec.release_s * fps)))
            return release, k
    return None


def label_frames(positions: np.ndarray, fps: float, *, shot_attempt: bool,
                 spec: LabelSpec | None = None) -> FrameLabels:
    """Label every frame of one possession (oriented positions [T, 11, 3])."""
    spec = spec or LabelSpec()
    n = positions.shape[0]
    counts: Counter = Counter()
    handler = ball_handler(positions)
    action = np.full(n, -1, np.int64)
    three = np.zeros(n, bool)
    # pass
    hold = spec.hold_radius_ft
    max_back = int(round(spec.dribble_window_s * fps))
    for c in np.nonzero(handler[1:] != handler[:-1])[0] + 1:
        a, b = handler[c - 1], handler[c]
        if np.linalg.norm(positions[c, a + 1, :2] - positions[c, b + 1, :2]) <= spec.pass_min_dist_ft:
            counts["handler_changes_too_close"] += 1
            continue
        near = np.linalg.norm(positions[:c, 0, :2] - positions[:c, a + 1, :2], axis=-1) <= hold
        held = np.nonzero(near[max(0, c - max_back):])[0]
        r = (max(0, c - max_back) + held[-1]) if held.size else c - 1
        action[r:c] = PASS
        counts["passes"] += 1
    # shoot (overrides)
    if shot_attempt:
        sf = _shoot_frames(positions, fps, spec)
        if sf is None:
            counts["shots_not_found"] += 1
        else:
            r, k = sf
            action[r:k + 1] = SHOOT
            shooter = handler[r]
            three[r:k + 1] = bool(is_three_point(positions[r, shooter + 1, 0], positions[r, shooter + 1, 1]))
            counts["shots"] += 1
    # dribble: frames covered by a constant-handler window
    w = max(int(round(spec.dribble_window_s * fps)), 1)
    covered = np.zeros(n, bool)
    if n >= w:
        same = np.array([np.all(handler[s:s + w] == handler[s]) for s in range(n - w + 1)])
        for s in np.nonzero(same)[0]:
            covered[s:s + w] = True
    free = action < 0
    counts["fallback_dribble"] += int((free & ~covered).sum())
    action[free] = DRIBBLE
    return FrameLabels(handler=handler, action=action, three=three, counts=counts)


def step_actions(action: np.ndarray, three: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse frames into decision steps of ``stride`` frames: (step start frames, action, three).

    A step is "shoot" if any of its frames is, else "pass" if any is, else "dribble" (short actions survive)."""
    starts = np.arange(0, action.shape[0], stride)
    act = np.array([action[s:s + stride].max() for s in starts], np.int64)
    thr = np.array([three[s:s + stride].any() for s in starts], bool)
    return starts, act, thr
