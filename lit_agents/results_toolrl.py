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
**No clear effect at these seeds: neither arm learns which call a prompt needs.** With format + correctness
the policy stays format-valid (100 %) and its test tool-name accuracy is 33.3 ± 29.5 % against 0 % with the
format reward alone. But the 56.2 % and 43.8 % are a single call written for every prompt (right for the
prompts of that tool only). Every run of the default ends with one greedy output for all 16 test prompts (the
format-only runs with one or two): at lr 3e-3 without KL the policy collapses within about 100 GRPO steps.
Seed 43 of the default converged to a format-valid but unparseable call: correctness −3 for every sample,
zero-std groups 4 % → 88 %, nothing prompt-dependent left to reinforce. The arguments are never learnt
(exact-call accuracy 0, parameter values 1.0 ± 1.8 %): copying the digits takes this model hundreds of fully
supervised steps (README, ToolRL). With the format reward alone the format itself collapses in seeds 42 and
43 (the logged format reward 0.81 → 0.0, every group zero-std at the end; format-valid rate 33.3 ± 57.7 %).
At the README's seeds 0 and 2 the default does learn the tool choice (test name accuracy 1.0), so over six
seeds the ToolRL reward teaches the tool choice in two and the format reward alone in none."""


def register(add: Callable[[Comparison], None]) -> None:
    add(Comparison(
        name="toolrl",
        title="ToolRL: GRPO for tool calls from a cold start, format + correctness reward vs format only",
        arms={"format_plus_correctness": ["configs/toolrl.yaml"],
              "format_only": ["configs/toolrl.yaml", "configs/showcase/toolrl/format_only.yaml"]},
        metrics=[("test tool-name accuracy (%)", "test/toolrl/tool_name_accuracy"),
                 ("exact-call accuracy (%)", "test/toolrl/accuracy"),
                 ("parameter-value accuracy (%)", "test/toolrl/param_value_accuracy"),
                 ("format-valid rate (%)", "test/toolrl/format_valid_rate")],
        curves=["train/reward", "train/rewards/toolrl_correctness_rewards/mean",
                "train/rewards/toolrl_format_rewards/mean", "val/toolrl/tool_name_accuracy"],
        reference=REFERENCE,
        description=DESCRIPTION,
        findings=FINDINGS,
        scale=100.0,
    ))
