"""The one half-court drawing of a possession (PNG), used by PlayBest's plans and ReLiable's decisions alike.

One colour scheme, the chapter's Figure 7.3: offence blue, defence black, ball orange; lines are trajectories,
circles start positions, diamonds final positions. Coordinates are oriented feet (offence attacks the basket at
(5.25, 25), see ``court.py``); the baseline is drawn on the left. With ``actions`` (ReLiable) each decision step
also marks the ball with the logged action (small dot) and the policy's choice (ring).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from data_modules.basketball.court import BASKET_X, BASKET_Y, COURT_WIDTH, HALF_LENGTH, THREE_PT_RADIUS

TEAM_COLOURS = {"ball": "tab:orange", "offence": "tab:blue", "defence": "black"}
ACTION_STYLE = (("o", "tab:green"), ("s", "tab:purple"), ("^", "tab:red"), ("D", "tab:brown"))
"""(marker, colour) of action 0, 1, 2, 3 (none of the team colours)."""


def draw_court(ax) -> None:
    """Half-court lines on a matplotlib axis: sideline box, paint, free-throw circle, rim, backboard, 3-pt line."""
    import matplotlib.patches as mp

    ax.add_patch(mp.Rectangle((0, 0), HALF_LENGTH, COURT_WIDTH, fill=False, lw=1.5, color="0.3"))
    ax.add_patch(mp.Rectangle((0, BASKET_Y - 8), 19, 16, fill=False, lw=1, color="0.5"))          # the paint
    ax.add_patch(mp.Circle((19, BASKET_Y), 6, fill=False, lw=1, color="0.5"))                       # FT circle
    ax.add_patch(mp.Circle((BASKET_X, BASKET_Y), 0.75, fill=False, lw=1.5, color="tab:red"))        # rim
    ax.plot([4, 4], [BASKET_Y - 3, BASKET_Y + 3], color="0.3", lw=2)                                # backboard
    ax.plot([0, 14], [3, 3], color="0.5", lw=1)
    ax.plot([0, 14], [COURT_WIDTH - 3, COURT_WIDTH - 3], color="0.5", lw=1)
    theta = np.arcsin((BASKET_Y - 3) / THREE_PT_RADIUS)
    arc = np.linspace(-theta, theta, 100)
    ax.plot(BASKET_X + THREE_PT_RADIUS * np.cos(arc), BASKET_Y + THREE_PT_RADIUS * np.sin(arc), color="0.5", lw=1)
    ax.add_patch(mp.Arc((HALF_LENGTH, BASKET_Y), 12, 12, theta1=90, theta2=270, color="0.5", lw=1))


def _draw_actions(ax, ball: np.ndarray, actions: tuple[Sequence[int], Sequence[int], Sequence[str]]) -> None:
    logged, chosen, names = actions
    if not len(logged) == len(chosen) == len(ball):
        raise ValueError(f"actions: {len(logged)} logged and {len(chosen)} chosen for {len(ball)} steps")
    for s in range(len(ball)):
        m, c = ACTION_STYLE[chosen[s] % len(ACTION_STYLE)]
        ax.scatter(ball[s, 0], ball[s, 1], marker=m, s=46, facecolors="none", edgecolors=c, zorder=6)
        m, c = ACTION_STYLE[logged[s] % len(ACTION_STYLE)]
        ax.scatter(ball[s, 0], ball[s, 1], marker=m, s=10, color=c, zorder=7)
    for a, name in enumerate(names):
        m, c = ACTION_STYLE[a % len(ACTION_STYLE)]
        ax.scatter([], [], marker=m, color=c, label=f"{name} (dot: logged, ring: policy)")
    ax.legend(loc="upper right", fontsize=7)


def plot_possession(positions: np.ndarray, path: str | Path, *, title: str = "",
                    actions: tuple[Sequence[int], Sequence[int], Sequence[str]] | None = None) -> Path:
    """Draw ``positions`` [T, 11, 3] (0 ball, 1-5 offence, 6-10 defence) on a half court; save a PNG at ``path``.

    ``actions``: (logged, chosen, action names), one logged and one chosen action index per row of
    ``positions`` (decision steps), drawn on the ball's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    positions = np.asarray(positions)
    if positions.ndim != 3 or positions.shape[1:] != (11, 3):
        raise ValueError(f"positions must be [T, 11, 3], got {positions.shape}")
    fig, ax = plt.subplots(figsize=(6, 6.4))
    draw_court(ax)
    for obj in range(11):
        xy = positions[:, obj, :2]
        team = "ball" if obj == 0 else ("offence" if obj <= 5 else "defence")
        color = TEAM_COLOURS[team]
        lw, z = {"ball": (2.0, 4), "offence": (1.5, 3), "defence": (1.0, 2)}[team]
        ax.plot(xy[:, 0], xy[:, 1], color=color, lw=lw, alpha=0.8, zorder=z)
        ax.scatter(xy[0, 0], xy[0, 1], color=color, marker="o", s=30, zorder=z)
        ax.scatter(xy[-1, 0], xy[-1, 1], color=color, marker="D", s=45, zorder=z + 1,
                   edgecolors="white" if obj else "black")
        if obj:
            ax.annotate(str(obj if obj <= 5 else obj - 5), xy[-1], fontsize=7, color="white" if obj <= 5 else "0.8",
                        ha="center", va="center", zorder=z + 2)
    if actions is not None:
        _draw_actions(ax, positions[:, 0, :2], actions)
    ax.set_xlim(-1, HALF_LENGTH + 1)
    ax.set_ylim(-1, COURT_WIDTH + 1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "possession (blue offence, black defence, orange ball)", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
