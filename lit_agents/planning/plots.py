"""Half-court pictures of (planned) possessions, in the style of the chapter's Figure 7.3.

Offence blue, defence black, ball orange; lines are trajectories, circles start positions and diamonds final
positions. Coordinates are oriented feet (offence attacks the basket at (5.25, 25), see ``court.py``); the
baseline is drawn on the left.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_modules.basketball.court import BASKET_X, BASKET_Y, COURT_WIDTH, HALF_LENGTH, THREE_PT_RADIUS


def _court(ax) -> None:
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


def plot_possession(positions: np.ndarray, path: str | Path, *, title: str = "") -> Path:
    """Draw ``positions`` [T, 11, 3] (0 ball, 1-5 offence, 6-10 defence) on a half court; save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    positions = np.asarray(positions)
    if positions.ndim != 3 or positions.shape[1:] != (11, 3):
        raise ValueError(f"positions must be [T, 11, 3], got {positions.shape}")
    fig, ax = plt.subplots(figsize=(6, 6.4))
    _court(ax)
    for obj in range(11):
        xy = positions[:, obj, :2]
        color, lw, z = ("tab:orange", 2.0, 4) if obj == 0 else (("tab:blue", 1.5, 3) if obj <= 5 else ("black", 1.0, 2))
        ax.plot(xy[:, 0], xy[:, 1], color=color, lw=lw, alpha=0.8, zorder=z)
        ax.scatter(xy[0, 0], xy[0, 1], color=color, marker="o", s=30, zorder=z)
        ax.scatter(xy[-1, 0], xy[-1, 1], color=color, marker="D", s=45, zorder=z + 1,
                   edgecolors="white" if obj else "black")
        if 1 <= obj <= 10:
            ax.annotate(str(obj if obj <= 5 else obj - 5), xy[-1], fontsize=7, color="white" if obj <= 5 else "0.8",
                        ha="center", va="center", zorder=z + 2)
    ax.set_xlim(-1, HALF_LENGTH + 1)
    ax.set_ylim(-1, COURT_WIDTH + 1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "planned possession (blue offence, black defence, orange ball)", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
