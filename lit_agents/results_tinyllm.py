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
Student: the embedded default's tiny T5 (d_model 64, 2+2 layers, byte tokenizer, 189K parameters, random init),
600 steps, batch 16 (about 10 epochs), lr 3e-3 cosine, 20 warm-up steps. Metric: test accuracy of the option
the student finds likeliest after `predict: ` (`acc_rank`), and of its generated answer (`acc_gen`); the
checkpoint is the one with the best dev `acc_rank` (validation every 100 steps)."""

FINDINGS = ""


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
        curves=["train/loss_label", "val/acc_rank"],
        reference=REFERENCE,
        description=DESCRIPTION,
        findings=FINDINGS,
        scale=100.0,
    ))
