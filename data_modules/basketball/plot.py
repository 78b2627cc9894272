"""Draw one possession on the oriented half court with the logged and the chosen action at each step (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_modules.basketball.court import BASKET_X, BASKET_Y, THREE_PT_RADIUS


def plot_possession(positions: np.ndarray, logged: list[int], chosen: list[int], action_names: tuple[str, ...],
                    path: str | Path, title: str = "") -> Path:
    """positions [S, 11, 3] (decision steps, oriented); writes ``path`` and returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6.6))
    ax.add_patch(plt.Rectangle((0, 17), 19, 16, fill=False, color="0.6"))
    ax.add_patch(plt.Circle((BASKET_X, BASKET_Y), 0.75, fill=False, color="orange"))
    arc = np.linspace(-1.19, 1.19, 200)
    ax.plot(BASKET_X + THREE_PT_RADIUS * np.cos(arc), BASKET_Y + THREE_PT_RADIUS * np.sin(arc), color="0.6")
    ax.plot([0, 14], [3, 3], color="0.6")
    ax.plot([0, 14], [47, 47], color="0.6")
    for k in range(1, 11):
        ax.plot(positions[:, k, 0], positions[:, k, 1], color="tab:blue" if k <= 5 else "tab:red", alpha=0.5, lw=1)
    ax.plot(positions[:, 0, 0], positions[:, 0, 1], color="black", lw=1.5, label="ball")
    markers = ["o", "s", "^", "D"]
    colors = ["tab:green", "tab:purple", "tab:orange", "tab:brown"]
    for s in range(positions.shape[0]):
        ax.scatter(positions[s, 0, 0], positions[s, 0, 1], marker=markers[chosen[s] % 4], s=46, facecolors="none",
                   edgecolors=colors[chosen[s] % 4])
        ax.scatter(positions[s, 0, 0], positions[s, 0, 1], marker=markers[logged[s] % 4], s=10,
                   color=colors[logged[s] % 4])
    for a, name in enumerate(action_names):
        ax.scatter([], [], marker=markers[a], color=colors[a], label=f"{name} (small: logged, ring: policy)")
    ax.set_xlim(0, 47)
    ax.set_ylim(0, 50)
    ax.set_aspect("equal")
    ax.set_xlabel("feet from baseline")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title or "possession")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
