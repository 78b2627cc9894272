"""Pure GRPO loss functions (no model, no trainer): advantages, importance weights, clipped objective, KL.

Argument names follow TRL's ``GRPOConfig`` (``beta``, ``epsilon``, ``epsilon_high``, ``loss_type``,
``scale_rewards``, ``importance_sampling_level``) with TRL's meaning, so these settings move across (the
module's batching arguments do not share TRL's names: see ``GRPOModule``). Formula sources:

- GRPO (Shao et al. 2024, DeepSeekMath §4.1): group-normalised advantage ``Â_i = (r_i − mean(r)) / std(r)``,
  PPO-style clipped ratio, KL to the reference with the k3 estimator ``exp(q−p) − (q−p) − 1``
  (Schulman 2020, "Approximating KL divergence"), which is unbiased and non-negative.
- Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-like training"): no std division
  (``scale_rewards="none"``) and a constant normaliser ``B · max_completion_length`` (``loss_type="dr_grpo"``).
- DAPO (Yu et al. 2025): token-level mean over the whole (global) batch, asymmetric clip ``epsilon_high``.
- BNPO: token-level mean over the local batch.
- GSPO (Zheng et al. 2025): sequence-level importance ratio = exp(mean over tokens of the log-ratio).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from collections.abc import Callable

import torch
from torch import Tensor

LossType = Literal["grpo", "dr_grpo", "dapo", "bnpo"]
ImportanceLevel = Literal["token", "sequence"]
ScaleRewards = Literal["group", "batch", "none"]


def _scale_mode(scale_rewards: str | bool) -> str:
    if scale_rewards is True:
        return "group"
    if scale_rewards is False:
        return "none"
    if scale_rewards not in ("group", "batch", "none"):
        raise ValueError(f"scale_rewards must be 'group', 'batch', 'none' or a bool, got {scale_rewards!r}")
    return str(scale_rewards)


def nanstd(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Unbiased (ddof = 1) std of the non-NaN entries (TRL's ``nanstd``); NaN where fewer than 2 remain."""
    if dim is None:
        x, dim = x.reshape(-1), 0
    sq = (x - torch.nanmean(x, dim=dim, keepdim=True)) ** 2
    count = (~torch.isnan(x)).sum(dim=dim, keepdim=keepdim)
    var = torch.nansum(sq, dim=dim, keepdim=keepdim) / (count - 1).clamp(min=1)
    return torch.where(count > 1, var.sqrt(), torch.full_like(var, float("nan")))


def global_nanstd(rewards: Tensor, all_reduce_sum: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """:func:`nanstd` of the rewards of every rank together (``scale_rewards="batch"`` under DDP, as TRL's std
    over its gathered rewards). ``all_reduce_sum`` sums a float64 tensor over ranks (identity: one process).
    Two exact passes (count and sum, then squared deviations), so ranks may hold different numbers of rows."""
    reduce = all_reduce_sum or (lambda t: t)
    r = rewards.detach().double()
    valid = ~torch.isnan(r)
    count, total = reduce(torch.stack([valid.sum().double(), torch.nansum(r)])).unbind()
    mean = total / count.clamp(min=1.0)
    sq = reduce(((r[valid] - mean) ** 2).sum().reshape(1))[0]
    std = (sq / (count - 1)).sqrt() if count > 1 else r.new_tensor(float("nan"))
    return std.to(rewards.dtype)


def group_advantages(
    rewards: Tensor, num_generations: int, scale_rewards: ScaleRewards | bool = "group", eps: float = 1e-4,
    *, batch_std: Tensor | float | None = None,
) -> tuple[Tensor, Tensor]:
    """Group-relative advantages for rewards laid out as ``[prompt0 × G, prompt1 × G, ...]``.

    ``Â = r − mean_group(r)``, divided by ``std + eps`` where std is the group's (``"group"``, the GRPO paper)
    or the whole batch's (``"batch"``; ``batch_std`` gives the std over all ranks, default: over ``rewards``);
    ``"none"`` skips the division (Dr. GRPO). std is the unbiased sample std as in TRL.

    A NaN reward marks an unscorable completion (every reward function abstained, or failed with
    ``reward_failure_value: null``): as in TRL (≥ 1.13) it is left out of its group's mean and std and gets
    advantage 0, so ``[1, 0, NaN, NaN]`` → ``[0.71, −0.71, 0, 0]`` and ``[1, 1, 1, NaN]`` → zeros.
    Returns ``(advantages, group_std)``; ``group_std`` has one entry per prompt (0 marks a group with no
    spread — zero variance or fewer than two scored completions — which contributes no policy gradient).
    """
    if rewards.dim() != 1 or rewards.numel() % num_generations:
        raise ValueError(f"rewards must be 1-D with a multiple of num_generations={num_generations} entries, "
                         f"got shape {tuple(rewards.shape)}")
    grouped = rewards.view(-1, num_generations)
    mean = torch.nanmean(grouped, dim=1, keepdim=True)
    std = nanstd(grouped, dim=1, keepdim=True) if num_generations > 1 else torch.zeros_like(mean)
    adv = grouped - mean
    mode = _scale_mode(scale_rewards)
    if mode == "group":
        adv = adv / (std + eps)
    elif mode == "batch":
        if batch_std is None:
            batch_std = nanstd(rewards) if rewards.numel() > 1 else rewards.new_zeros(())
        adv = adv / (torch.as_tensor(batch_std, dtype=adv.dtype) + eps)
    return torch.nan_to_num(adv.reshape(-1), nan=0.0), torch.nan_to_num(std.squeeze(1), nan=0.0)


def k3_kl(per_token_logps: Tensor, ref_per_token_logps: Tensor) -> Tensor:
    """Per-token k3 estimator of KL(π_θ ‖ π_ref): ``exp(ref − logp) − (ref − logp) − 1`` (≥ 0, 0 iff equal)."""
    delta = ref_per_token_logps - per_token_logps
    return torch.exp(delta) - delta - 1.0


def log_importance_weights(
    per_token_logps: Tensor, old_per_token_logps: Tensor, mask: Tensor, level: ImportanceLevel = "token"
) -> Tensor:
    """log π_θ/π_old per token (``"token"``) or the masked per-sequence mean broadcast as ``[B, 1]`` (GSPO)."""
    log_ratio = per_token_logps - old_per_token_logps
    if level == "token":
        return log_ratio
    if level == "sequence":
        m = mask.to(log_ratio.dtype)
        return ((log_ratio * m).sum(-1) / m.sum(-1).clamp(min=1.0)).unsqueeze(-1)
    raise ValueError(f"importance_sampling_level must be 'token' or 'sequence', got {level!r}")


def clipped_surrogate(coef: Tensor, advantages: Tensor, epsilon_low: float, epsilon_high: float) -> Tensor:
    """PPO clipped objective as a loss: ``−min(ρ·Â, clip(ρ, 1−ε_low, 1+ε_high)·Â)`` (``advantages`` is ``[B]``)."""
    adv = advantages.unsqueeze(-1)
    coef_clipped = torch.clamp(coef, 1.0 - epsilon_low, 1.0 + epsilon_high)
    return -torch.min(coef * adv, coef_clipped * adv)


def aggregate_loss(
    per_token_loss: Tensor,
    mask: Tensor,
    loss_type: LossType = "grpo",
    *,
    max_completion_length: int | None = None,
    num_items_in_batch: float | Tensor | None = None,
) -> Tensor:
    """Reduce a ``[B, T]`` per-token loss to a scalar.

    - ``grpo``: mean over each sequence's tokens, then mean over sequences (longer answers weigh less per token).
    - ``bnpo``: sum over all tokens / number of active tokens in the local batch.
    - ``dr_grpo``: sum / (B · ``max_completion_length``) — a constant, so no length bias.
    - ``dapo``: sum / ``num_items_in_batch`` (active tokens of the whole global batch per process; defaults
      to the local count, which equals ``bnpo``).
    """
    m = mask.to(per_token_loss.dtype)
    masked = per_token_loss * m
    if loss_type == "grpo":
        return (masked.sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return masked.sum() / m.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        length = max_completion_length if max_completion_length is not None else per_token_loss.size(-1)
        return masked.sum() / (per_token_loss.size(0) * length)
    if loss_type == "dapo":
        denom = m.sum() if num_items_in_batch is None else torch.as_tensor(num_items_in_batch, dtype=m.dtype)
        return masked.sum() / denom.clamp(min=1.0)
    raise ValueError(f"loss_type must be one of grpo, dr_grpo, dapo, bnpo; got {loss_type!r}")


@dataclass
class GRPOLossOutput:
    """Scalar loss plus detached diagnostics (masked token means)."""

    loss: Tensor
    kl: Tensor
    clip_low: Tensor
    clip_high: Tensor
    clip_region: Tensor


def grpo_loss(
    per_token_logps: Tensor,
    completion_mask: Tensor,
    advantages: Tensor,
    old_per_token_logps: Tensor | None = None,
    ref_per_token_logps: Tensor | None = None,
    *,
    beta: float = 0.0,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    loss_type: LossType = "grpo",
    importance_sampling_level: ImportanceLevel = "token",
    max_completion_length: int | None = None,
    num_items_in_batch: float | Tensor | None = None,
) -> GRPOLossOutput:
    """GRPO objective on one batch of completions (``[B, T]`` log-probs of the sampled tokens).

    ``old_per_token_logps=None`` means the batch was generated by the current policy (``num_iterations=1``):
    the ratio is ``exp(logp − logp.detach()) = 1`` with gradient ``∇logp``, so the loss gradient is the plain
    policy gradient ``−Â ∇logp`` (plus the KL term). ``ref_per_token_logps`` is needed iff ``beta != 0``.
    """
    eps_high = epsilon if epsilon_high is None else epsilon_high
    old = per_token_logps.detach() if old_per_token_logps is None else old_per_token_logps
    log_w = log_importance_weights(per_token_logps, old, completion_mask, importance_sampling_level)
    coef = torch.exp(log_w)
    per_token_loss = clipped_surrogate(coef, advantages, epsilon, eps_high)
    m = completion_mask.to(per_token_logps.dtype)
    n_tokens = m.sum().clamp(min=1.0)
    kl_mean = per_token_logps.new_zeros(())
    if beta != 0.0:
        if ref_per_token_logps is None:
            raise ValueError("beta != 0 needs ref_per_token_logps")
        per_token_kl = k3_kl(per_token_logps, ref_per_token_logps)
        per_token_loss = per_token_loss + beta * per_token_kl
        kl_mean = ((per_token_kl * m).sum() / n_tokens).detach()
    loss = aggregate_loss(per_token_loss, completion_mask, loss_type,
                          max_completion_length=max_completion_length, num_items_in_batch=num_items_in_batch)
    # Clip diagnostics as in TRL: a token is "low-clipped" when ρ < 1−ε and Â < 0 (the clip is active).
    adv = advantages.unsqueeze(-1)
    coef_b = coef.detach().expand_as(per_token_logps)
    low = ((coef_b < 1.0 - epsilon) & (adv < 0)).to(m.dtype)
    high = ((coef_b > 1.0 + eps_high) & (adv > 0)).to(m.dtype)
    return GRPOLossOutput(
        loss=loss,
        kl=kl_mean,
        clip_low=(low * m).sum() / n_tokens,
        clip_high=(high * m).sum() / n_tokens,
        clip_region=(((low + high) > 0).to(m.dtype) * m).sum() / n_tokens,
    )


def selective_log_softmax(logits: Tensor, index: Tensor, temperature: float = 1.0) -> Tensor:
    """log softmax(logits / temperature) gathered at ``index`` (``[B, T, V]`` → ``[B, T]``).

    Dividing by the sampling temperature makes the log-probs those of the distribution the completions were
    drawn from (TRL does the same). Row-wise loop keeps the ``[B, T, V]`` float32 copy to one row at a time.
    """
    out = []
    for row_logits, row_idx in zip(logits, index):
        lp = torch.log_softmax(row_logits.float() / temperature, dim=-1)
        out.append(lp.gather(-1, row_idx.unsqueeze(-1)).squeeze(-1))
    return torch.stack(out)
