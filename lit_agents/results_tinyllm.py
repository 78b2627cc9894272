"""The TinyLLM section of ``docs/results.md`` (issue 18): multi-teacher rationale distillation against
Distill-step-by-step (one teacher), standard KD (the teacher's labels) and label-only fine-tuning, on two-step
arithmetic multiple choice with two scripted rationale writers.

    python -m lit_agents.results --only tinyllm --jobs 2
"""

from __future__ import annotations

from collections.abc import Callable

from lit_agents.results import Comparison

CFG = "configs/showcase/tinyllm"

REFERENCE = """\
| paper (dissertation Table 3.1, 250M FLAN-T5 student, accuracy %) | OBQA | ARC | PIQA | Riddle | PQA | BioASQ |
|---|---|---|---|---|---|---|
| TinyLLM (FLAN-T5-xl + LLaMA-2-chat rationales) | 64.2 | 48.5 | 60.2 | 60.8 | 66.3 | 90.2 |
| Distill-step-by-step (best single teacher) | 56.8 | 43.9 | 56.4 | 45.7 | 64.8 | 86.2 |
| Standard KD (teacher labels) | 55.4 | 43.7 | 55.9 | 42.9 | 64.3 | 86.2 |
| Full fine-tuning (labels only) | 56.6 | 38.9 | 47.6 | 52.6 | 64.8 | 89.4 |"""

DESCRIPTION = """\
**Task** (`data_modules/showcase/stepwise_arith.py`, bundled in `data_modules/samples/showcase/stepwise_arith/`):
four-way multiple choice, `Start with 7, add 5, then take away 3. What do you get?`, numbers 1-9, results
0-18. The distractors are the mistakes of a solver that skips or garbles a step: the intermediate result (12),
the second step the wrong way round (15) and near misses. Train 1000, dev 100 and test 300 questions; no dev or
test question, nor its exact computation, is in train (checked by the generator and a test). **Teachers** are
two *scripted* rationale writers behind the `TextGenerator` interface (`data_modules/showcase/arith_teachers.py`;
no LLM can be downloaded here). `GeneratorTeacher` prompts them with TinyLLM's teacher-forcing CoT (2 in-context
examples, the gold answer). They write the intermediate step in two styles: `calculator` `7 + 5 = 12. 12 - 3 = 9.`
and `tutor` `We start with 7. Adding 5 gives 12. Then taking away 3 leaves 9.`. **Arms** (same student, steps,
data and evaluation): `tinyllm` = answer + both teachers' rationales (`L = L_label + L_calculator + L_tutor`);
`distill_step_by_step` = answer + the calculator's rationales; `standard_kd` = the answer a plain-CoT teacher
gives, no rationale (the calculator without the gold answer in its prompt, which slips on a seeded 25% of the
questions, so its labels are 75% right); `label_only` = the gold answer alone (the chapter's full fine-tuning).
Student: the embedded default's tiny T5 (d_model 64, 2+2 layers, random init) with a BPE tokenizer trained on
the template text only (353 tokens, every digit stays one token; 187K parameters), 600 steps, batch 16 (about
10 epochs), lr 3e-3 cosine, 20 warm-up steps. Metric: test accuracy of the option
the student finds likeliest after `predict: ` (`acc_rank`), and of its generated answer (`acc_gen`); the
checkpoint is the one with the best dev `acc_rank` (validation every 100 steps)."""

FINDINGS = """\
**The paper's direction, clearly on the answer likelihood and on generated answers, weakly on ranked accuracy.**
The two-teacher student gives the held-out gold answer the lowest NLL (0.87 ± 0.04, against 0.99 ± 0.06 with one
teacher's rationales, 1.12 ± 0.07 label-only, 1.17 ± 0.12 standard KD), lower than label-only at every seed. Its
greedy answers are right 25.2 ± 2.2 % of the time against 16.9 ± 6.2 % (one teacher), 14.0 ± 5.2 % (label-only)
and 9.6 ± 4.9 % (KD), again above label-only at every seed. Ranked-option accuracy, the table's first column,
follows the same order (40.3 ± 3.8 > 38.1 ± 0.7 > 36.6 ± 4.9 > 30.7 ± 3.8 %; chance 25 %) and is above label-only
at every seed (+4.7, +4.3, +2.3 points), but the gaps lie inside the seed spread: with 3 seeds this column alone
does not establish an effect. Standard KD learns its teacher's mistakes (25 % of its labels are wrong) and is the
worst arm, as in the chapter's table. The student is far from solving the task in 600 steps (the best arm picks
the right option 40 % of the time): the rationales help, but do not yet make it reliable. On dev the NLL gap to
label-only grows during the run (seeds 42 / 43: 0.11 / 0.04 at step 300, 0.16 / 0.13 at step 600; `val/loss_label`
plot). How the design was fixed, before any test number: two pilots at seed 0, dev split only. (1) A byte
tokenizer: the multi-teacher arm ran 3x slower per step than label-only (3 forwards a step, ~64-byte rationales),
too slow for the budget; both were stopped (label-only at step 329, dev 0.25 / 0.23 / 0.33 at steps 100-300). (2)
The 353-token BPE above: after 600 steps dev accuracy (ranked) was 0.39 (best 0.47) for the two-teacher student
and 0.36 (best 0.40) label-only, dev answer NLL 0.91 vs 1.18, generated 0.23 vs 0.14. Task, model, 600 steps and
lr were then frozen; the budget came from the wall time of a run on the shared machine (3.5-8.5 min). The NLL
column was added after those pilots and after one test value had been printed (Distill-step-by-step, seed 42),
with nothing else changed; the runs that had already finished were re-read from their logged metrics."""


def register(add: Callable[[Comparison], None]) -> None:
    add(Comparison(
        name="tinyllm",
        title="TinyLLM: multi-teacher rationale distillation on two-step arithmetic",
        arms={"tinyllm": [f"{CFG}/tinyllm.yaml"], "distill_step_by_step": [f"{CFG}/distill_step_by_step.yaml"],
              "standard_kd": [f"{CFG}/standard_kd.yaml"], "label_only": [f"{CFG}/label_only.yaml"]},
        metrics=[("test acc., ranked options (%)", "test/acc_rank"), ("test acc., generated (%)", "test/acc_gen"),
                 ("best dev acc., ranked (%)", "val/acc_rank"),
                 ("test NLL of the gold answer (lower is better)", "test/loss_label")],
        seed_keys=["data.init_args.seed"],
        curves=["train/loss_label", "val/loss_label", "val/acc_rank"],
        reference=REFERENCE,
        description=DESCRIPTION,
        findings=FINDINGS,
        scale=100.0,
    ))
