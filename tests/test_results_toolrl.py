"""The ToolRL section of docs/results.md: registered, and its baseline arm differs from the default only in the
correctness weight (same model, warm-up, steps, data), as the page says."""

from __future__ import annotations

import yaml

from lit_agents import results
from tests.helpers import run_cli


def _resolved(configs: list[str], tmp_path) -> dict:
    out = run_cli(["fit", *(a for c in configs for a in ("--config", c)), "--trainer.default_root_dir", str(tmp_path),
                   "--print_config"], tmp_path)
    return yaml.safe_load(out.stdout)


def test_toolrl_section_is_registered_and_its_baseline_only_drops_the_correctness_weight(tmp_path):
    results.load_sections()
    comp = results.COMPARISONS["toolrl"]
    assert list(comp.arms) == ["format_plus_correctness", "format_only"]
    assert {key for _, key in comp.metrics} == {"test/toolrl/accuracy", "test/toolrl/tool_name_accuracy",
                                                "test/toolrl/param_value_accuracy", "test/toolrl/format_valid_rate"}
    method, baseline = (_resolved(comp.arms[a], tmp_path) for a in comp.arms)
    assert method["model"]["init_args"]["reward_weights"] == [1.0, 1.0]
    assert baseline["model"]["init_args"]["reward_weights"] == [1.0, 0.0]
    baseline["model"]["init_args"]["reward_weights"] = [1.0, 1.0]
    assert baseline == method  # everything else (model, warm-up, GRPO steps, data, trainer) is the same
    alone = _resolved(["configs/showcase/toolrl/format_only.yaml"], tmp_path)  # the baseline runs alone too
    alone["model"]["init_args"]["reward_weights"] = [1.0, 1.0]
    assert alone == method
    assert "ToolRL" not in " ".join(results.PENDING)
