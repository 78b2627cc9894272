"""IterAlign (Chen et al., NAACL 2024; dissertation ch. 5): iterative constitution discovery and self-alignment.

One IterAlign iteration = one training epoch. In ``on_train_batch_start`` of the epoch's first batch (outside
the DDP/FSDP forward):

1. red teaming: the policy answers this epoch's chunk of red-team prompts (``RedTeamDataModule``; each rank
   gets its share of the chunk);
2. a judge r(x, y) marks each answer good or bad (:mod:`lit_agents.alignment.judges`);
3. the proposer turns all bad cases of the chunk into constitutions (rank 0 calls it; the result is broadcast);
4. self-reflection: the policy revises each bad answer against each constitution, one after the other in a
   random order seeded per prompt (paper §5.5.4), with ``reflection_template``;
5. the judge re-checks the revisions; with ``keep_revisions="accepted"`` only revisions it judges good enter
   SFT (the released code kept all: ``"all"``).

6. Then each batch of the epoch carries one SFT step (manual optimisation: one forward/backward/step) on
   (original prompt, revision) with the response-only causal-LM loss (paper eq. 5.1): ``sft_epochs`` passes of
   ``sft_batch_size`` pairs per rank; every rank holds the same schedule length, and the batches after it are
   no-ops. The data module serves ``max_steps_per_iteration`` batches per epoch.

Loop state (iteration, prompts consumed, every iteration's constitutions and pass rates, evaluation scores) is
saved in the checkpoint; a resumed run continues with the next chunk and rewrites the run directory's
``constitutions.jsonl``, ``evaluation.jsonl``, ``summary.md`` and ``iteralign_progress.png`` in full.
Validation/test rank the options of TruthfulQA MC1 and BIG-bench HHH items by the policy's likelihood and
judge the policy's answers to held-out red-team prompts (:mod:`lit_agents.alignment.evaluation`). Under FSDP,
generation (outside the forward) runs inside ``gathered_params``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
import torch.distributed as dist

from lit_agents.alignment.collectives import broadcast_object, gather_objects
from lit_agents.alignment.evaluation import AlignmentEvalMixin
from lit_agents.alignment.judges import SafetyJudge
from lit_agents.alignment.parsing import constitution_order, keep_for_sft, reflection_prompt, sft_schedule
from lit_agents.alignment.proposer import ConstitutionProposer, Proposal
from lit_agents.alignment.report import log_wandb_tables, write_outputs
from lit_agents.backbone import BackboneConfig
from lit_agents.logging_utils import log_image, run_dir
from lit_agents.losses.sft import response_nll
from lit_agents.prompts import load_prompt
from lit_agents.sampling.policy import gathered_params, sample_with_model
from lit_agents.training.backbone_module import BackboneModule, Schedule
from lit_agents.training.prompt_response import check_loss_mask, tokenize_prompt_response

log = logging.getLogger(__name__)


@dataclass
class SamplingSpec:
    """Policy sampling for red-teaming and reflection (released code: greedy, stop at a blank line, <= 500
    tokens; paper text: top-p 0.9, temperature 0.7)."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=lambda: ["\n\nHuman:"])
    max_prompt_length: int | None = 512


class IterAlignModule(AlignmentEvalMixin, BackboneModule):
    """The IterAlign loop on a causal-LM policy.

    Args:
        backbone: the policy (paper: Llama-2-7b / 13b, vicuna, full fine-tuning).
        judge: r(x, y): :class:`~lit_agents.alignment.judges.LLMJudge` (GPT-3.5 in the paper),
            ``RefusalKeywordJudge`` or ``ClassifierJudge``.
        proposer: constitution proposer (GPT-4 in the paper) around any ``TextGenerator``.
        learning_rate / weight_decay / warmup_steps / scheduler: AdamW for SFT (paper: lr 2e-6). The schedule
            is stepped once per SFT step; a decaying schedule's horizon is the number of *served* batches
            (``max_epochs * max_steps_per_iteration``), an upper bound.
        gradient_clip_val: gradient-norm clipping of each SFT step (``None``: off; manual optimisation, so the
            Trainer's own ``gradient_clip_val`` cannot be used).
        red_team_sampling: how the policy answers red-team prompts.
        reflection_sampling: how it writes revisions (default: same as ``red_team_sampling``).
        heldout_sampling: how it answers the held-out red-team prompts of validation/test (default: same as
            ``red_team_sampling``; sampled with one fixed seed, so every evaluation draws the same noise).
        reflection_template: prompt name or file; ``{prompt}``, ``{response}``, ``{constitution}``,
            ``{prompt_with_constitution}`` (``iteralign_reflection_append`` reproduces the released code:
            constitution appended to the last human turn, answer regenerated).
        reflect_with: ``current`` (this iteration's constitutions) or ``all`` (every constitution so far).
        keep_revisions: ``accepted`` (only revisions the judge marks good enter SFT) or ``all`` (released code).
        sft_epochs: passes over each iteration's SFT pairs (released code: 3).
        sft_batch_size: pairs per rank per optimizer step (paper: 2).
        max_length: SFT sequence length in tokens (paper: 512).
        apply_chat_template: wrap prompts in the tokenizer's chat template for generation and SFT (off: the
            red-team prompts are already in ``Human: ... Assistant:`` form, as for the base models of the paper).
        eval_max_length / eval_batch_size / eval_normalize: likelihood-ranking settings.
        eval_tasks: evaluation task -> categories logged separately (every task is also logged as a whole).
        eval_before_training: score the evaluation sets once before the first iteration (the base model's
            numbers, recorded as iteration 0 and logged at step 0).
        check_replicas: under DDP, verify after each iteration that all ranks hold the same weights.
        seed: seeds the reflection order and the SFT shuffling.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear learning-rate warm-up.
        scheduler: learning-rate schedule after warm-up: ``constant``, ``linear`` or ``cosine`` decay to 0.
        eval_max_length: tokens of context + choice scored in evaluation.
        eval_batch_size: choices scored per forward pass in evaluation.
        eval_normalize: rank choices by their summed (``sum``) or mean (``mean``) token log-probability.
    """

    def __init__(self, backbone: BackboneConfig, judge: SafetyJudge, proposer: ConstitutionProposer,
                 learning_rate: float = 2e-6, weight_decay: float = 0.0, warmup_steps: int = 0,
                 scheduler: Schedule = "constant", red_team_sampling: SamplingSpec | None = None,
                 reflection_sampling: SamplingSpec | None = None, heldout_sampling: SamplingSpec | None = None,
                 reflection_template: str = "iteralign_reflection",
                 reflect_with: Literal["current", "all"] = "current",
                 keep_revisions: Literal["accepted", "all"] = "accepted", sft_epochs: int = 3,
                 sft_batch_size: int = 2, max_length: int = 512, apply_chat_template: bool = False,
                 gradient_clip_val: float | None = 1.0, eval_max_length: int = 1024, eval_batch_size: int = 16,
                 eval_normalize: Literal["sum", "mean"] = "sum", eval_tasks: dict[str, list[str]] | None = None,
                 eval_before_training: bool = True, check_replicas: bool = True, seed: int = 0):
        super().__init__(backbone, task="causal", learning_rate=learning_rate, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, scheduler=scheduler)
        # judge and proposer are objects (the run's config.yaml records them); the rest are plain values
        self.save_plain_hyperparameters(ignore=["judge", "proposer"])
        if self.encoder_decoder:
            raise ValueError("IterAlign trains a decoder-only (causal) policy")
        # an over-long red-team prompt loses its beginning, never the final "Assistant:" cue
        self.tokenizer.truncation_side = "left"
        for name, val, ok in (("reflect_with", reflect_with, ("current", "all")),
                              ("keep_revisions", keep_revisions, ("accepted", "all")),
                              ("eval_normalize", eval_normalize, ("sum", "mean"))):
            if val not in ok:
                raise ValueError(f"model.{name} must be one of {ok}, got {val!r}")
        if sft_epochs < 1 or sft_batch_size < 1:
            raise ValueError("model.sft_epochs and model.sft_batch_size must be >= 1")
        self.judge, self.proposer = judge, proposer
        self.red_team_sampling = red_team_sampling or SamplingSpec()
        self.reflection_sampling = reflection_sampling or self.red_team_sampling
        self.heldout_sampling = heldout_sampling or self.red_team_sampling
        self.reflection_template = load_prompt(reflection_template)
        # manual optimisation: one SFT step per served batch while the schedule lasts, a no-op afterwards
        # (automatic optimisation may not skip a step under DDP, and ending the epoch early skips validation)
        self.automatic_optimization = False
        self._init_eval_metrics(eval_tasks)
        # loop state, saved in checkpoints
        self.iteration = 0
        self.prompts_consumed = 0
        self.history: list[dict] = []
        self.eval_history: list[dict] = []
        self.last_cases: list[dict] = []  # the latest iteration's cases (inspection and tests)
        self._pairs: list[tuple[str, str]] = []  # this iteration's (prompt, revision) SFT pairs, all ranks
        self._schedule: list[list[int]] = []  # this rank's SFT micro-batches (indices into _pairs)

    # ---------------- state ----------------
    @property
    def constitutions(self) -> list[str]:
        """Every constitution proposed so far, in order."""
        return [c for h in self.history for c in h["constitutions"]]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # this iteration's SFT pairs and step schedule too: a run resumed inside an iteration's epoch goes on
        # with the remaining SFT steps (exactly as the uninterrupted run) instead of skipping them
        checkpoint["iteralign"] = {"iteration": self.iteration, "prompts_consumed": self.prompts_consumed,
                                   "history": self.history, "eval_history": self.eval_history,
                                   "pairs": [list(p) for p in self._pairs], "last_cases": self.last_cases}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("iteralign")
        if state is None:
            raise KeyError("checkpoint has no 'iteralign' loop state (not an IterAlign checkpoint)")
        self.iteration, self.prompts_consumed = state["iteration"], state["prompts_consumed"]
        self.history, self.eval_history = list(state["history"]), list(state["eval_history"])
        self._pairs = [tuple(p) for p in state.get("pairs", [])]
        self.last_cases = list(state.get("last_cases", []))
        # each rank's schedule is rebuilt from the (all-rank) pairs at the first batch (rank known there)
        self._schedule, self._reschedule = [], bool(self._pairs)

    def setup(self, stage: str) -> None:
        # every rank asks: Trainer.log_dir broadcasts from rank 0 (a collective), so it must not be rank-0 only
        self._out_dir = run_dir(self.trainer)

    # ---------------- generation ----------------
    def _generate(self, prompts: list[str], spec: SamplingSpec, seed: int) -> list[str]:
        if not prompts:
            return []
        with gathered_params(self):
            return sample_with_model(self.model, self.tokenizer, prompts, max_new_tokens=spec.max_new_tokens,
                                     temperature=spec.temperature, top_p=spec.top_p, stop=spec.stop,
                                     max_prompt_length=spec.max_prompt_length, seed=seed,
                                     apply_chat_template=self.hparams.apply_chat_template)

    def _reflect(self, cases: list[dict], constitutions: list[str]) -> list[str]:
        """Revise each case's answer against every constitution in its own random order (batched by step)."""
        current = [c["response"] for c in cases]
        orders = [constitution_order(len(constitutions), seed=self.hparams.seed, key=c["stream_index"]) for c in cases]
        for step in range(len(constitutions)):
            prompts = [reflection_prompt(self.reflection_template, prompt=c["prompt"], response=current[i],
                                         constitution=constitutions[orders[i][step]]) for i, c in enumerate(cases)]
            current = self._generate(prompts, self.reflection_sampling,
                                     seed=self.hparams.seed + 7919 * self.iteration + step + 1)
        return current

    def judge_heldout(self, prompts: list[str]) -> list[bool]:
        """Answer held-out red-team prompts and judge them: ``True`` where the judge passes the answer (no
        verdict counts as a fail)."""
        responses = self._generate(list(prompts), self.heldout_sampling, seed=self.hparams.seed + 104729)
        return [v == "good" for v in self.judge.judge(list(prompts), responses).verdicts]

    # ---------------- the loop ----------------
    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        """Batch 0 of an epoch runs steps 1-5 of the iteration, outside the DDP/FSDP forward (so generation
        can gather FSDP parameters); every batch then carries one SFT step until the schedule is done."""
        if getattr(self, "_reschedule", False):  # resumed: this rank's SFT steps of the interrupted iteration
            self._reschedule = False
            self._schedule = sft_schedule(len(self._pairs), epochs=self.hparams.sft_epochs,
                                          batch_size=self.hparams.sft_batch_size,
                                          world_size=self.trainer.world_size, rank=self.trainer.global_rank,
                                          seed=self.hparams.seed + self.iteration - 1)
        if batch_idx != 0:
            return
        chunk = batch["chunk_index"]
        if chunk < self.iteration:  # resumed inside this iteration's epoch: SFT pairs/schedule come from the ckpt
            log.warning("IterAlign: chunk %d was already red-teamed (resumed at iteration %d); not redone",
                        chunk, self.iteration)
            return
        self._schedule, self._pairs = [], []
        if chunk != self.iteration:
            raise RuntimeError(f"IterAlign: got chunk {chunk} but the loop is at iteration {self.iteration}; "
                               "the data module and the loop state disagree (was the checkpoint's state lost?)")
        self._run_iteration(batch)
        if len(self._schedule) > batch["slots"]:
            raise ValueError(f"IterAlign needs {len(self._schedule)} SFT steps this iteration but the data module "
                             f"serves {batch['slots']} batches per iteration: raise data.max_steps_per_iteration "
                             "(or lower model.sft_epochs)")

    def _run_iteration(self, batch: dict) -> None:
        """Red-team, judge, propose, reflect, re-judge; leaves the SFT pairs and this rank's step schedule."""
        world, rank = self.trainer.world_size, self.trainer.global_rank
        it = self.iteration
        # 1-2: red teaming and judging, each rank on its share of the chunk
        responses = self._generate(list(batch["prompt"]), self.red_team_sampling, seed=self.hparams.seed + 7919 * it)
        verdicts = self.judge.judge(batch["prompt"], responses)
        local = [{"uid": u, "stream_index": s, "question": q, "prompt": p, "response": r, "verdict": v, "raw": raw}
                 for u, s, q, p, r, v, raw in zip(batch["uid"], batch["stream_index"], batch["question"],
                                                  batch["prompt"], responses, verdicts.verdicts, verdicts.raw)]
        stats = {"judge_errors": verdicts.errors, "judge_unparseable": verdicts.unparseable}
        all_cases = sorted((c for part in gather_objects(local, world) for c in part), key=lambda c: c["stream_index"])
        bad = [c for c in all_cases if c["verdict"] == "bad"]
        # 3: constitution proposal on rank 0, broadcast
        proposal = Proposal(constitutions=[])
        if bad and rank == 0:
            proposal = self.proposer.propose([c["prompt"] for c in bad], [c["response"] for c in bad],
                                             [c["question"] for c in bad])
        proposal = broadcast_object(asdict(proposal), world)
        new = proposal["constitutions"]
        use = (self.constitutions + new) if self.hparams.reflect_with == "all" else new
        # 4-5: self-reflection and re-judging, each rank on its own bad cases
        mine = [c for c in local if c["verdict"] == "bad"] if use else []
        revisions = self._reflect(mine, use)
        rejudged = self.judge.judge([c["prompt"] for c in mine], revisions)
        for c, rev, v in zip(mine, revisions, rejudged.verdicts):
            c.update(revision=rev, revision_verdict=v, in_sft=keep_for_sft(rev, v, self.hparams.keep_revisions))
        stats["judge_errors"] += rejudged.errors
        stats["judge_unparseable"] += rejudged.unparseable
        gathered_stats = gather_objects(stats, world)
        all_cases = sorted((c for part in gather_objects(local, world) for c in part), key=lambda c: c["stream_index"])
        self._pairs = [(c["prompt"], c["revision"]) for c in all_cases if c.get("in_sft")]
        self._schedule = sft_schedule(len(self._pairs), epochs=self.hparams.sft_epochs,
                                      batch_size=self.hparams.sft_batch_size,
                                      world_size=world, rank=rank, seed=self.hparams.seed + it)
        self.last_cases = all_cases
        judged = sum(1 for c in all_cases if c["verdict"] is not None)
        fixed = sum(1 for c in all_cases if c.get("revision_verdict") == "good")
        row = {"iteration": it, "prompts": [self.prompts_consumed, self.prompts_consumed + len(all_cases)],
               "judged": judged, "bad": len(bad),
               "asr_before": len(bad) / judged if judged else None,
               "asr_after": (len(bad) - fixed) / judged if judged else None,
               "revised": sum(1 for c in all_cases if "revision" in c), "accepted": fixed,
               "empty_revisions": sum(1 for c in all_cases if "revision" in c and not c["revision"].strip()),
               "sft_pairs": len(self._pairs),
               "judge_errors": sum(s["judge_errors"] for s in gathered_stats),
               "judge_unparseable": sum(s["judge_unparseable"] for s in gathered_stats),
               "constitutions": new, "proposer_raw": proposal["raw"], "proposer_errors": proposal["errors"],
               "sft_steps": 0, "sft_loss_first": None, "sft_loss_last": None, "sft_loss_mean": None,
               "sft_losses": []}
        # the state moves on now: a checkpoint taken later in this epoch resumes with the next chunk
        self.history.append(row)
        self.prompts_consumed += len(all_cases)
        self.iteration += 1
        self._log_iteration(row)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        """One SFT step on (prompt, revision) pairs: response-only causal-LM NLL (paper eq. 5.1); a no-op once
        this iteration's schedule is done (on every rank at the same batch: the schedules have equal length)."""
        if batch_idx >= len(self._schedule):
            return None
        idx = self._schedule[batch_idx]
        enc = tokenize_prompt_response(self.tokenizer, [self._pairs[i][0] for i in idx],
                                       [self._pairs[i][1] for i in idx], max_length=self.hparams.max_length,
                                       encoder_decoder=False, apply_chat_template=self.hparams.apply_chat_template)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        if batch_idx == 0 and not any(h["sft_steps"] for h in self.history):
            log.info("IterAlign SFT sample (trained part in ⟦…⟧):\n%s",
                     check_loss_mask(self.tokenizer, enc, encoder_decoder=False))
        opt, sched = self.optimizers(), self.lr_schedulers()
        loss = response_nll(self.model, enc, encoder_decoder=False)
        opt.zero_grad()
        self.manual_backward(loss)
        if self.hparams.gradient_clip_val:
            self.configure_gradient_clipping(opt, self.hparams.gradient_clip_val, "norm")
        opt.step()
        if sched is not None:
            sched.step()
        row = self.history[-1]  # this rank's losses (rank 0's are the ones written out)
        row["sft_losses"].append(float(loss.detach()))
        losses = row["sft_losses"]
        row.update(sft_steps=len(losses), sft_loss_first=losses[0], sft_loss_last=losses[-1],
                   sft_loss_mean=sum(losses) / len(losses))
        self.log("train/sft_loss", loss.detach(), prog_bar=True, batch_size=len(idx))
        return loss.detach()

    def on_train_epoch_end(self) -> None:
        world = self.trainer.world_size
        self._check_replicas(world)
        if self.trainer.is_global_zero and self.history:
            write_outputs(self._out_dir, self.history, self.eval_history)
            log_wandb_tables(self.trainer, self.history,
                             [dict(c, iteration=self.history[-1]["iteration"]) for c in self.last_cases])
            log_image(self.trainer, "iteralign/progress", self._out_dir / "iteralign_progress.png")

    @torch.no_grad()
    def _check_replicas(self, world: int) -> None:
        if not self.hparams.check_replicas or world == 1 or not dist.is_initialized() or \
                "fsdp" in type(self.trainer.strategy).__name__.lower():
            return
        total = torch.stack([p.detach().float().sum() for p in self.model.parameters()]).sum().cpu()
        sums = gather_objects(float(total), world)
        if max(sums) - min(sums) > 1e-4 * max(1.0, abs(sums[0])):
            raise RuntimeError(f"IterAlign: model replicas diverged across ranks after SFT (weight sums {sums})")

    def _log_iteration(self, row: dict) -> None:
        n = max(1, row["judged"])
        for key in ("asr_before", "asr_after"):
            if row[key] is not None:
                self.log(f"iteralign/{key}", row[key], batch_size=n, rank_zero_only=True)
        for key in ("bad", "accepted", "sft_pairs", "judge_errors", "judge_unparseable"):
            self.log(f"iteralign/{key}", float(row[key]), batch_size=n, rank_zero_only=True)
        self.log("iteralign/constitutions_total", float(len(self.constitutions)), batch_size=n, rank_zero_only=True)
        if self.trainer.is_global_zero:
            write_outputs(self._out_dir, self.history, self.eval_history)
        log.info("IterAlign iteration %d: %d/%d bad (ASR %s -> %s), %d constitutions, %d SFT pairs",
                 row["iteration"], row["bad"], row["judged"], row["asr_before"], row["asr_after"],
                 len(row["constitutions"]), row["sft_pairs"])
