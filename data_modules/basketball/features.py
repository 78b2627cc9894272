"""ReLiable state features (dissertation §6.5.1.1): 17-channel 47x50 half-court images and flat features.

Channels: 0 = court region id (normalised to [0, 1]); 1-11 = trajectory of each object (ball, 5 offence,
5 defence) over the last ``trail`` steps, brighter for more recent cells; 12-16 = each offensive player's
shooting percentage (3-pt beyond the arc, else 2-pt; earlier games only) painted in a disc around him.
Flat features, all in [0, 1]: game clock / 720, shot clock / 24, period / 5, the five 2-pt and five 3-pt
percentages, the score difference one-hot over [-K, K] (categorical, as the chapter does), and (ours, option
``extra_flat``) the handler's distance to his nearest defender / 30 ft, distance to the basket / 47 ft and a
beyond-the-arc flag.
"""

from __future__ import annotations

import numpy as np

from data_modules.basketball.court import IMAGE_H, IMAGE_W, basket_distance, is_three_point, region_map

N_CHANNELS = 17
_REGIONS = region_map().astype(np.float32)
_REGIONS /= max(float(_REGIONS.max()), 1.0)
_DISC = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3) if dx * dx + dy * dy <= 4]
_DX = np.array([d[0] for d in _DISC])
_DY = np.array([d[1] for d in _DISC])


def _cells(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel indices (row = x, col = y) of oriented positions, clipped to the half court."""
    r = np.clip(np.floor(xy[..., 0]).astype(np.int64), 0, IMAGE_H - 1)
    c = np.clip(np.floor(xy[..., 1]).astype(np.int64), 0, IMAGE_W - 1)
    return r, c


def render_frames(steps: np.ndarray, fg2: np.ndarray, fg3: np.ndarray, trail: int) -> np.ndarray:
    """Images for every step of ``steps`` [L, 11, 3]: returns [L, 17, 47, 50] float32.

    Image l uses steps max(0, l - trail + 1) .. l for the trajectory channels (so callers pass a window
    preceded by ``trail - 1`` history steps and keep the tail)."""
    L = steps.shape[0]
    img = np.zeros((L, N_CHANNELS, IMAGE_H, IMAGE_W), np.float32)
    img[:, 0] = _REGIONS
    r, c = _cells(steps[..., :2])                                  # [L, 11]
    chan = np.arange(1, 12)
    for back in range(min(trail, L) - 1, -1, -1):                  # older first; newer (brighter) overwrite
        ls = np.arange(back, L)
        k = ls - back
        img[ls[:, None], chan[None, :], r[k], c[k]] = (trail - back) / trail
    three = is_three_point(steps[:, 1:6, 0], steps[:, 1:6, 1])     # [L, 5]
    pct = np.where(three, fg3[None, :], fg2[None, :])
    rr = r[:, 1:6, None] + _DX[None, None, :]                      # [L, 5, D]
    cc = c[:, 1:6, None] + _DY[None, None, :]
    ok = (rr >= 0) & (rr < IMAGE_H) & (cc >= 0) & (cc < IMAGE_W)
    li, pi, di = np.nonzero(ok)
    img[li, 12 + pi, rr[li, pi, di], cc[li, pi, di]] = pct[li, pi]
    return img


def flat_dim(score_diff_max: int = 10, extra_flat: bool = True) -> int:
    """Length of the flat feature vector."""
    return 3 + 10 + 2 * score_diff_max + 1 + (3 if extra_flat else 0)


def flat_features(game_clock: float, shot_clock: float, period: int, fg2: np.ndarray, fg3: np.ndarray,
                  score_diff: int, frame: np.ndarray, handler: int, *, score_diff_max: int = 10,
                  extra_flat: bool = True) -> np.ndarray:
    """Flat features of one step (``frame`` [11, 3] oriented, ``handler`` 0..4)."""
    sc = 24.0 if np.isnan(shot_clock) else shot_clock
    onehot = np.zeros(2 * score_diff_max + 1, np.float32)
    onehot[int(np.clip(score_diff, -score_diff_max, score_diff_max)) + score_diff_max] = 1.0
    parts = [np.array([np.clip(game_clock / 720.0, 0, 1), np.clip(sc / 24.0, 0, 1), min(period, 5) / 5.0],
                      np.float32), fg2.astype(np.float32), fg3.astype(np.float32), onehot]
    if extra_flat:
        hx, hy = frame[handler + 1, 0], frame[handler + 1, 1]
        dd = np.min(np.hypot(frame[6:11, 0] - hx, frame[6:11, 1] - hy))
        parts.append(np.array([min(dd / 30.0, 1.0), min(float(basket_distance(hx, hy)) / 47.0, 1.0),
                               float(is_three_point(hx, hy))], np.float32))
    return np.concatenate(parts).astype(np.float32)
