"""RM-R1 still learns (issue 18 item 4): a reduced stage 1 of the checkable-pairs showcase
(configs/showcase/rm_r1/stage1_cor.yaml, fixed seed, fewer steps, the dev split).

What the showcase measures (docs/results.md): at this scale neither stage 1 nor stage 2 lifts the *pairwise
verdict* above chance, so this test does not assert that. It asserts what trace distillation demonstrably
teaches a random-init judge within the budget, on questions it never saw: to write the Chain-of-Rubrics
judgment with the correct solution (the reversal of a held-out word) and exact quotes of both answers, and a
parseable verdict — against the label-only baseline, which is trained on the same pairs and steps but writes no
solution at all (its solution rate is 0 by construction, so the floor is the comparison). Measured at seed 0:
solution rate 0.92, quote rate 0.88 (2.5 min on the shared machine). Zeroing the SFT loss makes it fail (tried
once: the untrained judge's output is unparseable, the first assertion fails).
"""
from __future__ import annotations

import re

import pytest

from lit_agents.cli import run_cli
from lit_agents.sampling.policy import sample_with_model
from tests.helpers import REPO

CFG = "configs/showcase/rm_r1/stage1_cor.yaml"
STEPS = 500
SOLUTION = re.compile(r"<solution>([A-Z]+)</solution>")
QUOTES = re.compile(r"<quote_A>([A-Z]+)</quote_A>.*<quote_B>([A-Z]+)</quote_B>")
FIELDS = re.compile(r"Reverse the letters: ([A-Z]+)\n.*Chatbot A's Response\]\n([A-Z]+)\n.*"
                    r"Chatbot B's Response\]\n([A-Z]+)\n", re.S)


@pytest.mark.slow
def test_cor_distillation_teaches_the_judge_to_solve_and_quote_held_out_pairs(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    cli = run_cli(["fit", "--config", CFG, "--seed_everything", "0", "--trainer.max_steps", str(STEPS),
                   "--trainer.val_check_interval", str(STEPS), "--trainer.default_root_dir", str(tmp_path),
                   "--trainer.enable_progress_bar", "false", "--model.init_args.export_dir", "null"])
    assert float(cli.trainer.callback_metrics["val/pairwise/unparseable"]) == 0.0  # every judgment has a verdict
    records = cli.datamodule.val_records  # dev pairs, both orders; their words are not in train
    prompts = [r["prompt"] for r in records]
    outs = sample_with_model(cli.model.model, cli.model.tokenizer, prompts, max_new_tokens=96, temperature=0.0,
                             apply_chat_template=False)
    solved = quoted = 0
    for prompt, out in zip(prompts, outs, strict=True):
        word, a, b = FIELDS.search(prompt).groups()
        sol, quotes = SOLUTION.search(out), QUOTES.search(out)
        solved += bool(sol) and sol.group(1) == word[::-1]
        quoted += bool(quotes) and quotes.groups() == (a, b)
    n = len(prompts)
    print(f"held-out solution rate {solved / n:.3f}, quote rate {quoted / n:.3f}")
    assert n == 128
    assert solved / n >= SOLVED_FLOOR, (solved / n, outs[:2])
    assert quoted / n >= QUOTED_FLOOR, (quoted / n, outs[:2])


SOLVED_FLOOR = 0.7
QUOTED_FLOOR = 0.7
