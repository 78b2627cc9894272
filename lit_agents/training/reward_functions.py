"""Reward functions named in YAML, for methods that score sampled completions (GRPO and its subclasses).

A reward function follows TRL's contract ``(completions, prompts=..., **batch_columns) -> list[float | None]``
(``None`` = abstain). This module imports them by dotted path, binds per-function keyword arguments, checks
weight schedules, and scores a batch so that one function failing on one completion costs that completion
its score, never the run. It also summarises the scores for logging.
"""
from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable
from typing import Any

import torch

from lit_agents.dotted import import_callable as _import_callable
from lit_agents.tools.rewards import schedule_value

log = logging.getLogger(__name__)

Schedule = list[list[float]]


def import_callable(path: str) -> Callable:
    """A reward function named by its dotted import path (the YAML way to name a reward)."""
    return _import_callable(path, "reward function", "lit_agents.rewards.judgment_rewards")


def checked_rewards(fn: Callable, name: str, completions: list, prompts: list,
                    columns: dict[str, list]) -> torch.Tensor:
    """One reward function's values as a float tensor (NaN = abstain); raises on a broken contract."""
    vals = fn(completions=completions, prompts=prompts, **columns)
    if len(vals) != len(completions):
        raise ValueError(f"reward function {name} returned {len(vals)} values for {len(completions)} completions")
    out = torch.tensor([float("nan") if v is None else float(v) for v in vals], dtype=torch.float32)
    bad = [vals[i] for i in range(len(vals)) if vals[i] is not None and not math.isfinite(out[i])]
    if bad:
        raise ValueError(f"reward function {name} returned a non-finite value {bad[0]!r}")
    return out


def bind_reward_kwargs(fns: list[Callable], kwargs: list[dict[str, Any]] | None) -> list[Callable]:
    """Each function with its ``reward_kwargs`` entry bound (checked against its signature)."""
    if kwargs is None:
        return fns
    if len(kwargs) != len(fns):
        raise ValueError(f"model.reward_kwargs has {len(kwargs)} entries for {len(fns)} reward_funcs")
    out = []
    for fn, kw in zip(fns, kwargs):
        if kw:
            try:
                inspect.signature(fn).bind_partial(completions=[], **kw)
            except TypeError as e:
                raise ValueError(f"model.reward_kwargs {kw} do not fit {fn.__name__}: {e}") from None
        out.append(functools.update_wrapper(functools.partial(fn, **kw), fn) if kw else fn)
    return out


def check_schedules(schedules: list[Schedule | None] | None, n: int) -> list[Schedule | None]:
    """One piecewise-linear ``[[generation_step, weight], ...]`` schedule (or None) per reward function."""
    if schedules is None:
        return [None] * n
    if len(schedules) != n:
        raise ValueError(f"model.reward_weight_schedules has {len(schedules)} entries for {n} reward_funcs")
    for s in schedules:
        if s is not None and (not s or any(len(p) != 2 for p in s)):
            raise ValueError(f"model.reward_weight_schedules: each schedule is a non-empty list of "
                             f"[generation_step, weight] pairs, got {s}")
    return [None if s is None else [[float(a), float(b)] for a, b in s] for s in schedules]


def takes_step(fn: Callable) -> bool:
    """Whether ``fn`` has a ``step`` parameter not already bound (it then receives the generation step)."""
    target = fn.func if isinstance(fn, functools.partial) else fn
    if isinstance(fn, functools.partial) and "step" in fn.keywords:
        return False
    try:
        return "step" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def score_completions(fns: list[Callable], names: list[str], completions: list[str], prompts: list[Any],
                      columns: dict[str, list], *, step: int, failure_value: float | None,
                      failures_so_far: int = 0) -> tuple[torch.Tensor, int]:
    """``([B, n_funcs] rewards (NaN where a function abstained), failures)``.

    A reward function that fails on the batch (raises, returns non-finite values or the wrong number of
    values) is asked again one completion at a time, so only the completions it fails on score
    ``failure_value`` (``None``: abstain); ``failures`` counts them. User reward code (a parser meeting
    an odd completion, a flaky verifier) must not end a run hours in.
    """
    out = torch.full((len(completions), len(fns)), float("nan"))
    failed = failure_value if failure_value is not None else float("nan")
    failures = 0
    for j, (fn, name) in enumerate(zip(fns, names)):
        if takes_step(fn):
            fn = functools.partial(fn, step=step)
        try:
            out[:, j] = checked_rewards(fn, name, completions, prompts, columns)
        except Exception as batch_error:  # noqa: BLE001 - isolate the failing completions below
            errors = 0
            for i in range(len(completions)):
                try:
                    out[i, j] = checked_rewards(fn, name, completions[i:i + 1], prompts[i:i + 1],
                                                {k: v[i:i + 1] for k, v in columns.items()})[0]
                except Exception:  # noqa: BLE001 - counted and scored as the failure value
                    out[i, j], errors = failed, errors + 1
            failures += errors
            log.warning("GRPO: reward function %s failed on %d of %d completions (%d failures so far; scored "
                        "%s): %s: %s", name, errors, len(completions), failures_so_far + failures, failed,
                        type(batch_error).__name__, batch_error)
    return out, failures


def weights_at(weights: torch.Tensor, schedules: list[Schedule | None], step: int) -> torch.Tensor:
    """The reward weights at generation ``step`` (schedules applied to their entries), on the CPU."""
    w = weights.detach().cpu().clone()
    for j, sched in enumerate(schedules):
        if sched is not None:
            w[j] = schedule_value(sched, step)
    return w


def weighted_rewards(per_fn: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(reward per completion, completions on which every function abstained)``: the weighted sum, where an
    abstention counts 0; a completion with no score at all is NaN (unscorable: out of the group statistics,
    advantage 0, as TRL)."""
    abstain_all = torch.isnan(per_fn).all(dim=1)
    rewards = torch.nansum(per_fn * weights, dim=1)
    rewards[abstain_all] = float("nan")
    return rewards, int(abstain_all.sum())


def reward_metrics(rewards: torch.Tensor | None, per_fn: torch.Tensor | None, group_std: torch.Tensor | None,
                   names: list[str]) -> dict[str, torch.Tensor | float]:
    """What a step logs about its rewards (NaN = unscorable / abstained, left out of the means); ``None``: the
    same keys at 0 (a step whose every prompt was dropped)."""
    if rewards is None:
        return dict.fromkeys(["reward", "reward_std", "frac_reward_zero_std",
                              *(f"rewards/{n}/{s}" for n in names for s in ("mean", "std"))], 0.0)
    scored = rewards[~torch.isnan(rewards)]
    out: dict[str, torch.Tensor | float] = {
        "reward": scored.mean() if scored.numel() else 0.0, "reward_std": group_std.mean(),
        "frac_reward_zero_std": (group_std < 1e-6).float().mean()}
    for j, name in enumerate(names):
        col = per_fn[:, j]
        col = col[~torch.isnan(col)]
        out[f"rewards/{name}/mean"] = col.mean() if col.numel() else 0.0
        out[f"rewards/{name}/std"] = col.std() if col.numel() > 1 else 0.0
    return out
