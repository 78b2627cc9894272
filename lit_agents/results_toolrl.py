"""The ToolRL section of ``docs/results.md`` (issues 16, 18): the embedded default, GRPO with the ToolRL reward
``R = R_format + R_correct`` after a format warm-up, against GRPO with the format reward alone (same warm-up, model,
steps, data and seeds).

    python -m lit_agents.results --only toolrl --jobs 2
"""

from __future__ import annotations

from collections.abc import Callable

from lit_agents.results import Comparison

REFERENCE = """\
| paper (ToolRL, Bamboogle: accuracy, avg. tool calls) | raw | SFT400 | PPO cold start | GRPO cold start |
|---|---|---|---|---|
| Qwen2.5-1.5B-Instruct | 20.8 %, 0.61 | 24.8 %, 0.78 | 23.2 %, 2.38 | 44.0 %, 1.19 |
| Qwen2.5-3B-Instruct | 52.0 %, 1.77 | 54.4 %, 0.86 | 40.0 %, 1.14 | 60.0 %, 1.32 |
| Qwen2.5-7B-Instruct | 69.6 %, 1.42 | 28.8 %, 3.71 | 48.0 %, 1.25 | 72.0 %, 1.63 |

Source: `../shared/seeds/talk-post-training-llm-agents.txt` ("ToolRL: RL with Principled Reward Design",
"Agentic Behavior Analysis"). The talk has no format-only arm: its ablations vary the correctness reward's
scale and granularity. The showcase checks the direction only: the correctness reward, not the format
reward, teaches which call a prompt needs."""

DESCRIPTION = """\
**Task**: the embedded default `configs/toolrl.yaml` unchanged, a synthetic tool task whose correct call the
prompt determines (`data_modules.tool_use.SyntheticToolTask`): `"<user> add 2 3 </user>"` ->
`{"name": "add", "parameters": {"a": 2, "b": 3}}` (tools `add` and `mul`, a, b in 0..9; 128 training, 16
validation and 16 test prompts, all distinct, the same split for every seed). A tiny Llama (d_model 128, 2 layers,
4 heads, a 400-token BPE trained at start-up on the training prompts and outputs only, random init). Both arms
first take 600 supervised *warm-up* steps (lr 1e-3) on each training prompt followed by its own call with the
tool name drawn afresh from {add, mul} at every step and the two numbers bound to a, b in a random order
(`data.format_target_arguments: own_unordered`): the syntax and copying the prompt's numbers, nothing about which
tool a prompt needs nor which number is `a`. Then 600 GRPO steps (16 prompts x 4 samples, temperature 1, lr 3e-4
after a 30-step ramp, KL 0.05 against the warmed-up policy, DAPO loss). `format_plus_correctness` = the ToolRL
reward, format {0, 1} + correctness [-3, 3] (weights 1, 1); `format_only`
(`configs/showcase/toolrl/format_only.yaml`) = the same run with the correctness weight 0 (still logged, never in
the advantages). Metrics: greedy decoding on the 16 test prompts, final model (no checkpoint selection):
exact-call accuracy (name and both values right), tool-name accuracy, parameter-value accuracy (share of gold
(tool, parameter, value) triples predicted, so a value under the wrong tool name counts as missed),
format-valid rate. The setting was chosen on validation numbers at seeds 0-2 before these test runs (README,
ToolRL); seeds 42-44 are new seeds."""

FINDINGS = """\
**The ToolRL reward teaches the calls; the format reward alone does not.** With format + correctness every seed
ends writing the right call for the held-out test prompts: exact-call accuracy 97.9 ± 3.6 % (100, 100, 93.8;
seed 44 misses one prompt) and tool-name accuracy 100 %, against 29.2 ± 7.2 % and 56.2 % with the format reward
alone. The format-only arm stays where the warm-up left it: one tool name for every prompt (right for that
tool's prompts only, 56.2 %) and whichever binding greedy decoding picks (its validation exact-call accuracy
0.31, 0.25, 0.25 after the warm-up, 0.19, 0.25, 0.19 at the end). Its logged reward is the format reward,
already ≈ 0.96 after the warm-up, and stays there (0.99). With the correctness reward the logged reward
(format + correctness, at most 4) rises from 0.19, 0.07, −0.07 (mean of the first ten logged GRPO steps) to
3.47, 3.37, 3.69 (last ten). Validation exact-call accuracy jumps rather than climbs: 0.38 → 1.0 between
steps 799 and 899 (seed 42), 0.31 → 1.0 between 1099 and 1199 (seed 43), 0.19 → 1.0 between 799 and 899
(seed 44). Seed 43 got there only in its last 100 steps, so 600 GRPO steps is near the edge. At the README's
seeds 0-2 (validation, the runs the setting was chosen on) one of three had learnt the binding but not the
tool choice by the end. What the warm-up gives both arms, and not the rewards: the syntax and copying the two
numbers. Which tool a prompt needs and which number is `a` come from the correctness reward alone."""


def register(add: Callable[[Comparison], None]) -> None:
    add(Comparison(
        name="toolrl",
        title="ToolRL: GRPO for tool calls from a cold start, format + correctness reward vs format only",
        arms={"format_plus_correctness": ["configs/toolrl.yaml"],
              "format_only": ["configs/toolrl.yaml", "configs/showcase/toolrl/format_only.yaml"]},
        metrics=[("test exact-call accuracy (%)", "test/toolrl/accuracy"),
                 ("tool-name accuracy (%)", "test/toolrl/tool_name_accuracy"),
                 ("parameter-value accuracy (%)", "test/toolrl/param_value_accuracy"),
                 ("format-valid rate (%)", "test/toolrl/format_valid_rate")],
        curves=["train/reward", "train/rewards/toolrl_correctness_rewards/mean",
                "train/rewards/toolrl_format_rewards/mean", "val/toolrl/accuracy", "val/toolrl/tool_name_accuracy"],
        reference=REFERENCE,
        description=DESCRIPTION,
        findings=FINDINGS,
        scale=100.0,
    ))
