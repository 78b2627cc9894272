"""The RM-R1 section of ``docs/results.md`` (issue 18): a judge for checkable preference pairs, stage 1 (CoR
trace distillation), stage 1 + stage 2 (GRPO with the ±1 judgment reward alone) and a label-only SFT baseline.

    python -m lit_agents.results --only rm_r1 --seeds 42,43,44
"""

from __future__ import annotations

from collections.abc import Callable

from lit_agents.results import Comparison

CFG = "configs/showcase/rm_r1"

REFERENCE = """\
| paper (RM-R1, the 2025 talk's results table) | RewardBench | RM-Bench | RMB |
|---|---|---|---|
| RM-R1-DeepSeek-Distilled-Qwen-14B (trace distillation + RL with the ±1 reward) | 88.9 | 81.5 | 68.5 |

Source: `../shared/seeds/talk-2025-knowledge-reasoning-alignment.txt`. Its training-recipe table (Qwen2.5-Instruct,
RewardBench average) goes 85.8 (instruct) -> 89.5 (+ cold-start RL) -> 90.1 (+ rubrics) -> 90.8 (+ query
categorisation) -> 91.4 (RM-R1, + distillation): RL alone is not enough and distillation adds on every axis.
The showcase checks the direction only: the trace-distilled
judge above the label-only judge, and GRPO with the ±1 reward alone raising the distilled judge's accuracy."""

DESCRIPTION = """\
**Task** (`data_modules/showcase/reverse_judge.py`, bundled in `data_modules/samples/showcase/rm_r1/`): each
preference pair asks `Reverse the letters: KPZ` (3 random capitals); the chosen answer is the reversal (`ZPK`),
the rejected one a plausible mistake: the word left as it is, or the reversal with one letter changed. The
correct verdict is checkable, and the words of train (1000 pairs), dev (64) and test (256) are disjoint (checked
by the generator), so a judge has to reverse and compare, not recall. Stage-1 traces are written deterministically from
the checkable facts (no LLM): the CoR Reasoning branch, `<type>Reasoning</type><solution>ZPK</solution><eval>`
quoting each answer and comparing it letter by letter with the solution, then `<answer>[[A]]</answer>`.
A tiny Llama (d_model 128, 2 layers, random init, condensed CoR system prompt
`rm_r1_cor_system_reasoning`; a 400-token BPE trained on the fixed template text only, so every letter
of a word is one token). Arms: `stage1_cor` = SFT on the CoR traces (600 steps, batch 16, lr 3e-3
cosine); `label_only_sft` = the same SFT (model, pairs, steps) with the verdict alone as the target;
`stage1_cor_grpo` = `stage1_cor`'s final model, then GRPO with RM-R1's ±1 judgment reward **alone** (30 steps ×
4 prompts × 8 judgments, temperature 1, lr 3e-4, β 1e-3, ε 0.2, DAPO loss). Metric: held-out test accuracy,
every pair judged greedily in both A/B orders (unparseable = wrong), the both-orders-correct rate and the
accuracy per order; the final model of each run is tested (no checkpoint selection). Task, model and steps
were fixed on the dev split before any test number was seen (stage-1 pilots, seed 0, dev only: a byte tokenizer
gave input-independent judgments after 300 steps; with the BPE the judge had learned the reversal in its
`<solution>` by step 500 and dev accuracy was 55%; the budget of ≤ ~5 min per run on the shared machine set 600)."""

FINDINGS = """\
**No effect: every arm judges at chance (48.8-50.0 %, both-orders-correct 0-1.3 %).** The judges do not compare;
they pick a slot. Stage 1 does learn what the traces spell out, on held-out words: the CoR format (0-1 %
unparseable), the exact quotes of both answers, and the correct reversal in `<solution>` (on the dev judgments
we read, as in the learning test `tests/methods/test_rm_r1_learning.py`). But the letter-by-letter comparison
collapses to a position prior: answer A is marked `right` and B `wrong` whatever they say, and the verdict
follows (stage 1 picks A for 89-100 % of pairs). The label-only judge also picks one slot for every pair (A for
seed 42, B for 43 and 44). GRPO with the ±1 reward alone starts from that prior with reward variance (at
temperature 1 the sampled verdicts differ), but within 30 steps the groups lose their variance (zero-std groups
rise from 0-15 % to 5-65 %). The mean reward then follows the share of A labels in each batch of 4 prompts, and
test accuracy stays at 46-50 % (seed 42 flipped to always-B). The ±1 reward alone never rewarded the comparison
step itself. Showing the paper's effect needs a judge that compares within the budget: more SFT steps (a dev
pilot with a 1000-step schedule was at 55 % at step 500, when it was stopped), a larger model, or a pretrained
one."""


def register(add: Callable[[Comparison], None]) -> None:
    add(Comparison(
        name="rm_r1",
        title="RM-R1: a generative judge of checkable preference pairs",
        arms={"stage1_cor_grpo": [f"{CFG}/stage2_grpo.yaml"], "stage1_cor": [f"{CFG}/stage1_cor.yaml"],
              "label_only_sft": [f"{CFG}/label_only.yaml"]},
        starts_from={"stage1_cor_grpo": "stage1_cor"},
        metrics=[("test accuracy, both orders (%)", "test/pairwise/accuracy"),
                 ("both orders correct (%)", "test/pairwise/both_correct"),
                 ("acc., chosen in A (%)", "test/pairwise/accuracy_chosen_A"),
                 ("acc., chosen in B (%)", "test/pairwise/accuracy_chosen_B"),
                 ("unparseable (%)", "test/pairwise/unparseable")],
        seed_keys=["data.init_args.seed"],
        curves=["train/loss", "train/reward", "val/pairwise/accuracy"],
        reference=REFERENCE,
        description=DESCRIPTION,
        findings=FINDINGS,
        scale=100.0,
    ))
