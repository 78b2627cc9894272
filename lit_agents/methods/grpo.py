"""GRPO (Shao et al. 2024) with pluggable verifiable rewards — RM-R1 stage 2, usable for any task.

Each training step takes a batch of prompt records, samples ``num_generations`` completions per prompt from
the current policy, scores them with a weighted list of reward functions (import paths in YAML, TRL's
``(completions, **columns) -> list[float | None]`` contract; :mod:`lit_agents.training.reward_functions`),
turns the rewards into group-normalised advantages, and takes ``num_iterations`` optimiser steps on that batch
with the clipped objective of :mod:`lit_agents.losses.grpo`. Decoder-only and encoder-decoder policies, full
or LoRA, are supported.

Distributed notes: every rank samples its own prompts' groups (groups never straddle ranks, so advantages are
local); gradients are averaged by DDP as usual (manual optimisation calls the reducer before each backward).
Under FSDP, ``model.generate`` bypasses the root's forward, so generation runs inside
:func:`lit_agents.sampling.policy.gathered_params` (full parameters summoned read-only, one rank's full copy of
the model in memory during sampling). The frozen reference model (``beta > 0`` without LoRA) is a plain
replica on every rank, not sharded: for large full-parameter runs prefer LoRA (reference = adapter disabled)
or ``beta: 0``.
"""
from __future__ import annotations

import copy
import logging
import math
from dataclasses import asdict, is_dataclass
from typing import Any, Literal

import torch

from lit_agents.backbone import BackboneConfig, zero_dropout
from lit_agents.evaluation.pairwise import PairwiseEvalMixin
from lit_agents.logging_utils import log_table
from lit_agents.losses.grpo import global_nanstd, group_advantages, grpo_loss
from lit_agents.sampling.group_rollout import (
    Rollout,
    completion_metrics,
    log_first_rollout,
    encode_prompts,
    generate_rollout,
    per_token_logps,
)
from lit_agents.sampling.policy import gathered_params
from lit_agents.sampling.tool_rollout import generate_tool_rollout
from lit_agents.tools.environment import ToolEnvironment
from lit_agents.training.backbone_module import BackboneModule, Schedule
from lit_agents.training.distributed import all_reduce_number, all_reduce_sum, zero_loss
from lit_agents.training.reward_functions import (
    bind_reward_kwargs,
    check_schedules,
    import_callable,
    reward_metrics,
    score_completions,
    weighted_rewards,
    weights_at,
)

log = logging.getLogger(__name__)


class GRPOModule(PairwiseEvalMixin, BackboneModule):
    """Group Relative Policy Optimisation with pluggable rewards (argument names follow TRL's GRPOConfig, same
    meaning; ``optimizer_steps_per_generation`` and ``micro_batch_size`` replace TRL's ``steps_per_generation`` /
    ``gradient_accumulation_steps``, whose meaning differs).

    Args:
        backbone: policy model (decoder-only or encoder-decoder; ``backbone.lora`` for LoRA).
        reward_funcs: import paths of reward functions ``(completions, **batch_columns) -> list[float|None]``.
        reward_weights: one weight per function (default all 1); the reward is the weighted sum, where a
            ``None`` (abstain) counts as 0. A completion on which every function abstains (or fails, with
            ``reward_failure_value: null``) is unscorable: it is left out of its group's mean/std and gets
            advantage 0 (as TRL); counted in ``abstained_completions`` (checkpointed).
        reward_failure_value: what a completion scores from a reward function that raised on it (or returned a
            non-finite value or the wrong number of values); failures are counted (``train/reward_failures``,
            checkpointed) and logged, never fatal. ``null`` scores them as an abstention.
        prompt_field: batch column holding the prompt (a string or a list of chat messages). A batch column
            ``assistant_prefix`` prefills the start of each answer (after the rendered prompt); the reward
            functions see prefix + completion, the loss only the sampled completion.
        num_generations: completions sampled per prompt (the group, G).
        max_prompt_length: prompts longer than this (in tokens) are dropped and counted (never truncated).
        max_completion_length: new tokens per completion.
        temperature / top_p / top_k / stop: sampling; log-probs use the same temperature.
        beta: KL coefficient (k3 estimator) against the reference; 0 skips the reference entirely.
        epsilon / epsilon_high: clip range ``[1−ε, 1+ε_high]`` (``epsilon_high`` defaults to ``epsilon``).
        num_iterations: passes over each generated batch (μ, PPO epochs); >1 makes the ratio differ from 1.
        optimizer_steps_per_generation: optimiser steps per pass — the generated batch is split into this
            many mini-batches (veRL: rollout batch / ``ppo_mini_batch_size``); ``num_iterations ×
            optimizer_steps_per_generation`` optimiser steps per generation, off-policy (clipped against π_old)
            after the first. Not TRL's ``steps_per_generation``, which counts micro-batches: TRL's optimiser
            steps per generation are ``steps_per_generation / gradient_accumulation_steps`` (here
            ``micro_batch_size`` sets the micro-batches).
        loss_type: ``grpo`` | ``dr_grpo`` | ``dapo`` | ``bnpo`` (see :func:`aggregate_loss`).
        scale_rewards: ``group`` | ``batch`` | ``none`` (Dr. GRPO: no std division).
        importance_sampling_level: ``token`` | ``sequence`` (GSPO).
        mask_truncated_completions: exclude completions that hit ``max_completion_length`` from the loss.
        disable_dropout: set every dropout probability to 0 (policy and reference), so π_old, π_θ and π_ref
            are deterministic functions of the weights and the ratio is exactly 1 on-policy.
        micro_batch_size: completions per forward/backward (gradient accumulation); default all at once.
        max_grad_norm: gradient clipping (manual optimisation: set here, not on the Trainer).
        apply_chat_template: render string prompts as a user turn (chat messages always are).
        log_completions_every: write a sample table every N generation steps (0 = never).
        eval_*: greedy judging for the pairwise validation/test (records with ``label`` A/B).
        reward_kwargs: per reward function, keyword arguments bound to it (``{}`` for none), e.g. ToolRL's
            ``{granularity: coarse}``. A function with a ``step`` parameter also receives the generation step.
        reward_weight_schedules: per reward function, ``null`` (its fixed ``reward_weights`` entry) or a
            piecewise-linear schedule ``[[generation_step, weight], ...]`` (constant outside the points) — e.g.
            ToolRL's dynamic scale, format weight falling while correctness rises.
        tool_env: a :class:`~lit_agents.tools.environment.ToolEnvironment`: completions become multi-turn
            episodes (tool calls executed, results appended as ``<obs>`` turns excluded from the loss; see
            :mod:`lit_agents.sampling.tool_rollout`); ``max_completion_length`` then bounds each turn.
        temperature: rollout sampling temperature.
        top_p: rollout nucleus-sampling threshold.
        top_k: rollout top-k (None = off).
        stop: stop strings ending a completion.
        epsilon: lower clipping range of the importance ratio (1 - epsilon).
        epsilon_high: upper clipping range (1 + epsilon_high; DAPO's clip-higher; default: ``epsilon``).
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear learning-rate warm-up.
        scheduler: learning-rate schedule after warm-up: ``constant``, ``linear`` or ``cosine`` decay to 0.
        eval_max_new_tokens: tokens generated per judgement in evaluation.
        eval_batch_size: prompts per evaluation generation call.
    """

    def __init__(self, backbone: BackboneConfig, reward_funcs: list[str],
                 reward_weights: list[float] | None = None, reward_failure_value: float | None = 0.0,
                 prompt_field: str = "prompt",
                 num_generations: int = 8, max_prompt_length: int = 512, max_completion_length: int = 256,
                 temperature: float = 1.0, top_p: float = 1.0, top_k: int | None = None,
                 stop: list[str] | None = None, beta: float = 0.0, epsilon: float = 0.2,
                 epsilon_high: float | None = None, num_iterations: int = 1, optimizer_steps_per_generation: int = 1,
                 loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = "dapo",
                 scale_rewards: Literal["group", "batch", "none"] = "group",
                 importance_sampling_level: Literal["token", "sequence"] = "token",
                 mask_truncated_completions: bool = False, disable_dropout: bool = True,
                 micro_batch_size: int | None = None,
                 max_grad_norm: float | None = 1.0, learning_rate: float = 1e-6, weight_decay: float = 0.0,
                 warmup_steps: int = 0, scheduler: Schedule = "constant", apply_chat_template: bool = True,
                 log_completions_every: int = 10, eval_max_new_tokens: int = 256, eval_batch_size: int = 8,
                 reward_kwargs: list[dict[str, Any]] | None = None,
                 reward_weight_schedules: list[list[list[float]] | None] | None = None,
                 tool_env: ToolEnvironment | None = None):
        super().__init__(backbone, learning_rate=learning_rate, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, scheduler=scheduler)
        self.save_hyperparameters()
        # plain values only, so checkpoints load with torch.load(weights_only=True)
        self.hparams["backbone"] = asdict(backbone) if is_dataclass(backbone) else backbone
        self.hparams.pop("tool_env", None)  # an object (tools, an index): the CLI's config.yaml records it
        self.automatic_optimization = False
        if num_generations < 2:
            raise ValueError(f"model.num_generations must be >= 2 for group-relative advantages, got {num_generations}")
        if min(num_iterations, optimizer_steps_per_generation, max_completion_length, max_prompt_length) < 1:
            raise ValueError("model.num_iterations, optimizer_steps_per_generation, max_completion_length and "
                             "max_prompt_length must be >= 1")
        if not reward_funcs:
            raise ValueError("model.reward_funcs: give at least one reward function import path")
        weights = reward_weights if reward_weights is not None else [1.0] * len(reward_funcs)
        if len(weights) != len(reward_funcs):
            raise ValueError(f"model.reward_weights has {len(weights)} entries for {len(reward_funcs)} reward_funcs")
        self.reward_fns = bind_reward_kwargs([import_callable(p) for p in reward_funcs], reward_kwargs)
        self.reward_schedules = check_schedules(reward_weight_schedules, len(reward_funcs))
        self.tool_env = tool_env
        self.reward_names = [p.rpartition(".")[2] for p in reward_funcs]
        self.register_buffer("reward_weights", torch.tensor(weights, dtype=torch.float32), persistent=False)
        if reward_failure_value is not None and not math.isfinite(reward_failure_value):
            raise ValueError(f"model.reward_failure_value must be finite or null, got {reward_failure_value}")
        self.uses_lora = hasattr(self.model, "disable_adapter")
        if disable_dropout:
            zero_dropout(self.model)
        # The reference is the initial policy. It is kept out of the module tree (no DDP sync, not in the
        # checkpoint): on resume it is rebuilt from the same backbone config, i.e. the same initial weights.
        ref = None
        if beta != 0.0 and not self.uses_lora:
            ref = copy.deepcopy(self.model).eval().requires_grad_(False)
        object.__setattr__(self, "ref_model", ref)
        # step counters saved in the checkpoint (the optimiser-step count is Lightning's global_step)
        self.generation_steps = self.filtered_prompts = self.abstained_completions = self.reward_failures = 0

    # ------------------------------------------------------------------ checkpoint state
    _COUNTERS = ("generation_steps", "filtered_prompts", "abstained_completions", "reward_failures")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["grpo_state"] = {k: getattr(self, k) for k in self._COUNTERS}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("grpo_state", {})
        for k in self._COUNTERS:
            setattr(self, k, int(state.get(k, 0)))

    def on_fit_start(self) -> None:
        if self.ref_model is not None:
            self.ref_model.to(self.device)

    # ------------------------------------------------------------------ rewards
    def compute_rewards(self, completions: list[str], prompts: list[Any], columns: dict[str, list]) -> torch.Tensor:
        """``[B, n_funcs]`` rewards (NaN where a function abstained); a function failing on a completion scores
        it ``reward_failure_value`` and counts in ``reward_failures`` (see
        :func:`~lit_agents.training.reward_functions.score_completions`)."""
        out, failures = score_completions(self.reward_fns, self.reward_names, completions, prompts, columns,
                                          step=self.generation_steps,
                                          failure_value=self.hparams.reward_failure_value,
                                          failures_so_far=self.reward_failures)
        self.reward_failures += failures
        return out

    # ------------------------------------------------------------------ rollout
    def _filter_prompts(self, batch: dict[str, list]) -> tuple[list[int], list[list[int]]]:
        # string prompts become a user turn only when the tokenizer has a chat template (tiny T5/BART have none)
        templated = self.hparams.apply_chat_template and getattr(self.tokenizer, "chat_template", None) is not None
        rows = encode_prompts(self.tokenizer, batch[self.hparams.prompt_field], encoder_decoder=self.encoder_decoder,
                              apply_chat_template=templated)
        if "assistant_prefix" in batch:  # a prefilled start of the answer (its text is prepended for the rewards)
            rows = [r + (self.tokenizer(p, add_special_tokens=False)["input_ids"] if p else [])
                    for r, p in zip(rows, batch["assistant_prefix"])]
        keep = [i for i, r in enumerate(rows) if len(r) <= self.hparams.max_prompt_length]
        dropped = len(rows) - len(keep)
        if dropped:
            self.filtered_prompts += dropped
            log.warning("GRPO: dropped %d of %d prompts longer than max_prompt_length=%d (%d so far)", dropped,
                        len(rows), self.hparams.max_prompt_length, self.filtered_prompts)
        return keep, [rows[i] for i in keep]

    @torch.no_grad()
    def make_rollout(self, batch: dict[str, list]) -> tuple[Rollout, dict[str, torch.Tensor]] | None:
        """Generate and score one batch: ``(rollout, tensors)`` or None if every prompt was dropped.

        Called from ``on_train_batch_start``, i.e. outside the strategy's forward: FSDP refuses to gather
        full parameters inside its own forward/backward, and ``generate`` needs them gathered.
        """
        G = self.hparams.num_generations
        keep, rows = self._filter_prompts(batch)
        batch_scale = self.hparams.scale_rewards == "batch"
        if not keep:
            if batch_scale:  # the batch std is a collective: this rank takes part with no rows
                global_nanstd(torch.zeros(0), self._all_reduce_sum)
            return None
        with gathered_params(self):
            ro = self.generate_group(rows, [{k: v[i] for k, v in batch.items()} for i in keep])
        columns = {k: [v[i] for i in keep for _ in range(G)] for k, v in batch.items()}
        if getattr(ro, "num_turns", None) is not None:  # tool episodes: what a reward may want to know
            columns.update(num_turns=ro.num_turns.tolist(), num_tool_calls=ro.num_tool_calls.tolist())
        prompts = columns.get(self.hparams.prompt_field, [])
        if "assistant_prefix" in columns:
            ro.texts = [(p or "") + t for p, t in zip(columns["assistant_prefix"], ro.texts)]
        per_fn = self.compute_rewards(ro.texts, prompts, columns)
        rewards, abstained = weighted_rewards(per_fn, self.current_reward_weights())
        self.abstained_completions += abstained
        batch_std = global_nanstd(rewards, self._all_reduce_sum) if batch_scale else None
        adv, group_std = group_advantages(rewards, G, self.hparams.scale_rewards, batch_std=batch_std)
        mask = ro.completion_mask
        if self.hparams.mask_truncated_completions:
            mask = mask * ro.terminated.unsqueeze(1).long()
            ro.completion_mask = mask
        return ro, dict(rewards=rewards, per_fn=per_fn, advantages=adv.to(self.device), group_std=group_std)

    def generate_group(self, rows: list[list[int]], records: list[dict[str, Any]], **overrides: Any) -> Rollout:
        """``num_generations`` completions per tokenised prompt: plain sampling, or tool-use episodes when
        ``tool_env`` is set (``overrides`` replace sampling settings, e.g. greedy evaluation)."""
        kw = dict(encoder_decoder=self.encoder_decoder, num_generations=self.hparams.num_generations,
                  max_completion_length=self.hparams.max_completion_length, temperature=self.hparams.temperature,
                  top_p=self.hparams.top_p, top_k=self.hparams.top_k, stop=list(self.hparams.stop or []))
        kw.update(overrides)
        if self.tool_env is not None:
            return generate_tool_rollout(self.model, self.tokenizer, rows, records, self.tool_env, **kw)
        return generate_rollout(self.model, self.tokenizer, rows, **kw)

    def current_reward_weights(self) -> torch.Tensor:
        """The reward weights at the current generation step (schedules applied), on the CPU."""
        return weights_at(self.reward_weights, self.reward_schedules, self.generation_steps)

    @torch.no_grad()
    def add_old_and_ref_logps(self, ro: Rollout, t: dict[str, torch.Tensor]) -> None:
        """π_old (when the batch is reused) and π_ref (when ``beta != 0``) log-probs, inside the forward."""
        temp = self.hparams.temperature
        if self.hparams.num_iterations > 1 or self.hparams.optimizer_steps_per_generation > 1:
            # π_old is the sampling policy; with a single on-policy step it is the detached π itself
            t["old_logps"] = self._logps(self.model, ro, temp)
        if self.hparams.beta != 0.0:
            if self.uses_lora:
                with self.model.disable_adapter():
                    t["ref_logps"] = self._logps(self.model, ro, temp)
            else:
                t["ref_logps"] = self._logps(self.ref_model, ro, temp)

    def _logps(self, model, ro: Rollout, temperature: float) -> torch.Tensor:
        chunks = self._chunks(ro.completion_ids.shape[0])
        return torch.cat([per_token_logps(model, ro.select(idx), encoder_decoder=self.encoder_decoder,
                                          temperature=temperature) for idx in chunks])

    def _chunks(self, n: int) -> list[torch.Tensor]:
        size = self.hparams.micro_batch_size or n
        return [torch.arange(s, min(n, s + size), device=self.device) for s in range(0, n, size)]

    # ------------------------------------------------------------------ training
    def _all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        return all_reduce_sum(t, self.device)

    def on_train_batch_start(self, batch: dict[str, list], batch_idx: int) -> None:
        self._pending = (self.make_rollout(batch),)

    def training_step(self, batch: dict[str, list], batch_idx: int) -> None:
        opt, sched = self.optimizers(), self.lr_schedulers()
        pending, self._pending = getattr(self, "_pending", None), None
        prepared = pending[0] if pending is not None else self.make_rollout(batch)
        if prepared is not None:
            self.add_old_and_ref_logps(*prepared)
            if self.generation_steps == 0:
                log_first_rollout(self.tokenizer, prepared[0])
        self.generation_steps += 1
        n_rows = 0 if prepared is None else prepared[0].completion_ids.shape[0]
        steps = self.hparams.optimizer_steps_per_generation
        parts = list(torch.arange(n_rows, device=self.device).tensor_split(steps))
        stats: dict[str, list[torch.Tensor]] = {"loss": [], "kl": [], "clip_low": [], "clip_high": [],
                                                "clip_region": []}
        for _ in range(self.hparams.num_iterations):
            for part in parts:
                self._optimizer_step(opt, sched, prepared, part, stats)
        self._log_generation(prepared, stats, batch_size=max(1, n_rows))

    def _optimizer_step(self, opt, sched, prepared, part: torch.Tensor, stats: dict[str, list]) -> None:
        """One optimiser step on the rows ``part`` of the rollout (micro-batched)."""
        chunks = [part[c] for c in self._chunks(len(part))] if len(part) else []
        # every rank runs as many backwards as the others (DDP)
        n_chunks = int(all_reduce_number(len(chunks), "max", self.device))
        tokens = 0.0 if prepared is None else float(prepared[0].completion_mask[part].sum())
        # DAPO normaliser: active tokens of this step over all ranks, per process (DDP averages gradients)
        global_tokens = all_reduce_number(tokens, "sum", self.device) / max(1, self.trainer.world_size)
        for c in range(n_chunks):
            if c < len(chunks):
                out = self._chunk_loss(prepared, chunks[c], len(part), global_tokens)
                loss = out.loss
                for k in stats:
                    stats[k].append(getattr(out, k).detach())
            else:  # this rank has fewer rows: a zero loss keeps the gradient all-reduce in step
                loss = self._zero_loss()
            self.manual_backward(loss)
        if self.hparams.max_grad_norm is not None:  # the shared way (under FSDP: the root's norm over all shards)
            self.configure_gradient_clipping(opt, self.hparams.max_grad_norm, "norm")
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()

    def _zero_loss(self) -> torch.Tensor:
        """A loss of 0 through every parameter: a rank with nothing to train on still runs the backward (and its
        gradient collectives) the other ranks run."""
        return zero_loss(self.model, self.trainable_parameters(), root=getattr(self.trainer.strategy, "model", None),
                         device=self.device, pad_id=int(self.tokenizer.pad_token_id or 0),
                         encoder_decoder=self.encoder_decoder)

    def _chunk_loss(self, prepared, idx: torch.Tensor, n_rows: int, global_tokens: float):
        ro, t = prepared
        sub = ro.select(idx)
        logps = per_token_logps(self.model, sub, encoder_decoder=self.encoder_decoder,
                                temperature=self.hparams.temperature)
        out = grpo_loss(logps, sub.completion_mask, t["advantages"][idx],
                        t["old_logps"][idx] if "old_logps" in t else None,
                        t["ref_logps"][idx] if "ref_logps" in t else None,
                        beta=self.hparams.beta, epsilon=self.hparams.epsilon, epsilon_high=self.hparams.epsilon_high,
                        loss_type=self.hparams.loss_type,
                        importance_sampling_level=self.hparams.importance_sampling_level,
                        max_completion_length=self.hparams.max_completion_length, num_items_in_batch=global_tokens)
        if self.hparams.loss_type in ("grpo", "bnpo", "dr_grpo"):
            # These normalise per chunk; each chunk is weighted by its share of the step's rows. For grpo (mean
            # of per-sequence means) and dr_grpo (sum / (B·L)) the accumulated loss then equals the full-batch
            # loss exactly. bnpo does not: each chunk is divided by its own token count (as TRL's bnpo is per
            # micro-batch), so the result is the row-weighted mean of the micro-batch token means, which equals
            # the full-batch token mean only when every micro-batch has the same number of active tokens.
            out.loss = out.loss * (len(idx) / n_rows)
        return out

    def _log_generation(self, prepared, stats, batch_size: int) -> None:
        def put(name: str, value: float | torch.Tensor) -> None:
            v = torch.as_tensor(value, dtype=torch.float32, device=self.device)
            self.log(name, v, on_step=True, on_epoch=False, sync_dist=True, batch_size=batch_size,
                     prog_bar=name == "train/reward")

        mean = lambda xs: torch.stack(xs).mean() if xs else torch.zeros(())  # noqa: E731
        put("train/loss", mean(stats["loss"]))
        put("train/kl", mean(stats["kl"]))
        for k in ("clip_low", "clip_high", "clip_region"):
            put(f"train/clip_ratio/{k.split('_')[1]}", mean(stats[k]))
        put("train/filtered_prompts", float(self.filtered_prompts))
        put("train/reward_failures", float(self.reward_failures))
        if prepared is None:  # every prompt was dropped: the same keys, at 0
            for name in [*reward_metrics(None, None, None, self.reward_names), *completion_metrics(None)]:
                put(f"train/{name}", 0.0)
            return
        ro, t = prepared
        if any(s is not None for s in self.reward_schedules):
            for name, w in zip(self.reward_names, self.current_reward_weights().tolist()):
                put(f"train/reward_weights/{name}", w)
        if getattr(ro, "num_turns", None) is not None:
            put("train/tools/turns_per_episode", ro.num_turns.float().mean())
            put("train/tools/calls_per_episode", ro.num_tool_calls.float().mean())
        metrics = {**reward_metrics(t["rewards"], t["per_fn"], t["group_std"], self.reward_names),
                   **completion_metrics(ro)}
        for name, value in metrics.items():
            put(f"train/{name}", value)
        every = self.hparams.log_completions_every
        if every and (self.generation_steps - 1) % every == 0:
            G = self.hparams.num_generations
            rows = [[self.generation_steps, str(ro.texts[i])[:2000], float(t["rewards"][i]), float(t["advantages"][i])]
                    for i in range(0, len(ro.texts), max(1, G // 2))][:8]
            log_table(self.trainer, "train/completions", ["generation_step", "completion", "reward", "advantage"], rows)
