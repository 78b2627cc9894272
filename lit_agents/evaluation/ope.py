"""Importance-sampling off-policy evaluation (ReLiable, dissertation §6.6.4.2).

The chapter's estimator is trajectory-wise: ``J(pi) ~ sum_i w_H^i sum_t gamma^t r_t^i`` with
``w_H^i = (1/n) prod_t pi(a_t|s_t) / pi_beta(a_t|s_t)``. Over long possessions this product degenerates, so we also
give the per-decision form (Precup et al. 2000), ``(1/n) sum_i sum_t gamma^t w_t^i r_t^i`` with the product up to
t only, its weighted (self-normalised) variant that divides by the mean weight at each t, and ratio clipping.
With ``pi == pi_beta`` every ratio is 1 and all forms equal the behaviour policy's mean discounted return.
"""

from __future__ import annotations

import torch
from torch import Tensor


def episode_layout(episode: Tensor, step: Tensor) -> tuple[Tensor, Tensor, int]:
    """Map (episode id, step) rows to a dense [n_episodes, max_len] grid: (row index, column index, n)."""
    uniq, row = torch.unique(episode, return_inverse=True)
    return row, step.long(), int(uniq.numel())


def episode_grids(reward: Tensor, logp_pi: Tensor, logp_beta: Tensor, episode: Tensor, step: Tensor, *,
                  gamma: float, clip: float | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Logged steps on dense ``[n_episodes, max_len]`` float64 grids: rewards ``R``, log ratios ``LR``
    (``log pi - log pi_beta``, capped at ``log(clip)``), the mask ``M`` of real steps (bool), and the
    discounts ``gamma^t``."""
    row, col, n = episode_layout(episode, step)
    T = int(col.max().item()) + 1 if col.numel() else 0
    dev = reward.device
    R = torch.zeros(n, T, dtype=torch.float64, device=dev)
    LR = torch.zeros(n, T, dtype=torch.float64, device=dev)
    M = torch.zeros(n, T, dtype=torch.bool, device=dev)
    R[row, col] = reward.double()
    ratio_log = (logp_pi - logp_beta).double()
    if clip is not None:
        ratio_log = ratio_log.clamp(max=float(torch.log(torch.tensor(clip))))
    LR[row, col] = ratio_log
    M[row, col] = True
    return R, LR, M, gamma ** torch.arange(T, dtype=torch.float64, device=dev)


def importance_sampling(reward: Tensor, logp_pi: Tensor, logp_beta: Tensor, episode: Tensor, step: Tensor, *,
                        gamma: float = 1.0, mode: str = "per_decision", weighted: bool = True,
                        clip: float | None = None) -> dict[str, Tensor]:
    """Off-policy estimate of J(pi) from logged steps (one row per step, any order).

    mode: "trajectory" (the chapter's) or "per_decision"; weighted: self-normalise the weights; clip: cap each
    ratio pi/pi_beta. Returns ``{"J", "J_behaviour", "per_episode", "variance", "ess"}``: the estimate, the
    behaviour policy's mean discounted return, each episode's weighted return (its mean is J when not
    weighted), the variance of those per-episode terms and the effective sample size of the final weights."""
    R, LR, M, disc = episode_grids(reward, logp_pi, logp_beta, episode, step, gamma=gamma, clip=clip)
    n, dev = R.shape[0], R.device
    G = (R * disc).sum(1)                                      # discounted return of each episode
    cum = torch.cumsum(LR, dim=1).exp() * M                     # w_t (unnormalised), 0 past the end
    if mode == "trajectory":
        lengths = M.sum(1)
        w = cum[torch.arange(n, device=dev), (lengths - 1).clamp(min=0)]
        if weighted:
            w = w / w.mean().clamp(min=1e-12)
        per_ep = w * G
    elif mode == "per_decision":
        w = cum
        if weighted:   # normalise w_t by its mean over the episodes still running at t
            alive = M.double().sum(0).clamp(min=1)
            w = w / ((w.sum(0) / alive).clamp(min=1e-12))
        per_ep = (w * R * disc).sum(1)
        w = w[torch.arange(n, device=dev), (M.sum(1) - 1).clamp(min=0)]
    else:
        raise ValueError(f"mode must be 'trajectory' or 'per_decision', got {mode!r}")
    ess = w.sum() ** 2 / (w.pow(2).sum()).clamp(min=1e-12)
    return {"J": per_ep.mean(), "J_behaviour": G.mean(), "per_episode": per_ep,
            "variance": per_ep.var(unbiased=False), "ess": ess}


def bootstrap_ope(reward: Tensor, logp_pi: Tensor, logp_beta: Tensor, episode: Tensor, step: Tensor, *,
                  gamma: float = 1.0, clip: float | None = None, n_boot: int = 1000, level: float = 0.95,
                  seed: int = 0) -> dict[str, Tensor]:
    """Percentile bootstrap over episodes of the weighted per-decision estimate.

    Resamples whole episodes (possessions) with replacement ``n_boot`` times and recomputes J(pi), J(pi_beta)
    and their difference on each resample (the self-normalisation is redone per resample). Returns
    ``{"J_lo", "J_hi", "J_behaviour_lo", "J_behaviour_hi", "diff", "diff_lo", "diff_hi"}`` at ``level``."""
    R, LR, mask, disc = episode_grids(reward, logp_pi, logp_beta, episode, step, gamma=gamma, clip=clip)
    n, dev, M = R.shape[0], R.device, mask.double()
    W = torch.cumsum(LR, 1).exp() * M
    g = torch.Generator(device="cpu").manual_seed(seed)
    idx = torch.randint(0, n, (n_boot, n), generator=g).to(dev)
    Wb, Rb, Mb = W[idx], R[idx] * disc, M[idx]                                 # [B, n, T]
    norm = (Wb.sum(1) / Mb.sum(1).clamp(min=1)).clamp(min=1e-12)               # mean weight of running episodes
    J = ((Wb / norm[:, None]) * Rb).sum(2).mean(1)
    Jb = Rb.sum(2).mean(1)
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64, device=dev)
    point = importance_sampling(reward, logp_pi, logp_beta, episode, step, gamma=gamma, clip=clip,
                                mode="per_decision", weighted=True)
    jq, bq, dq = torch.quantile(J, q), torch.quantile(Jb, q), torch.quantile(J - Jb, q)
    return {"J_lo": jq[0], "J_hi": jq[1], "J_behaviour_lo": bq[0], "J_behaviour_hi": bq[1],
            "diff": point["J"] - point["J_behaviour"], "diff_lo": dq[0], "diff_hi": dq[1]}
