"""The ReLiable/PlayBest sections of docs/results.md: tables with every seed, the intervals and the mean over seeds,
registered with the results runner, and (slow) one reduced ReLiable run through the CLI, tested on last.ckpt."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from lit_agents import results
from lit_agents.results import run_one, write_report
from lit_agents.results_rl import QUICK, playbest_table, reliable_table

M = {"J_pi": 2.0, "J_pi_lo": 1.0, "J_pi_hi": 3.0, "J_behaviour": 1.5, "J_behaviour_lo": 1.2,
     "J_behaviour_hi": 1.8, "J_pi_minus_behaviour": 0.5, "J_pi_minus_behaviour_lo": -0.2,
     "J_pi_minus_behaviour_hi": 1.1, "J_pi_ess": 11.3, "n_possessions": 64.0, "better_action_rate": 0.4,
     "better_behaviour_argmax_rate": 0.3, "better_behaviour_action_rate": 0.8, "f1_3pt": 0.2}


def test_reliable_table_rows_and_mean():
    text = reliable_table({42: M, 0: {**M, "J_pi": 4.0}})
    lines = text.splitlines()
    assert len(lines) == 5 and lines[2].startswith("| 42 | 2.00 [1.00, 3.00] | 1.50 [1.20, 1.80] | 0.50 [-0.20, 1.10]")
    assert lines[4].startswith("| **mean** | 3.00 [1.00, 3.00]") and "| – / – |" in lines[2]   # no passed-up states


def test_tables_read_the_runners_test_prefixed_metrics():
    prefixed = {f"test/{k}": v for k, v in M.items()}
    assert reliable_table({42: prefixed}) == reliable_table({42: M})


def test_playbest_table_orders_alphas_and_reports_realism():
    m = {"J_ground_truth": 0.5, "return_ground_truth": 1.0, "J_random_walk": 0.1, "points_random_walk": 0.2,
         "J_alpha_10": 0.7, "points_alpha_10": 0.9, "J_alpha_0": 0.3, "points_alpha_0": 0.4, "speed_alpha_0": 1.1,
         "first_jump_alpha_0": 8.8, "offence_spacing_alpha_0": 2.5, "out_of_court_alpha_0": 0.0}
    rows = playbest_table({42: m}).splitlines()
    labels = [r.split(" | ")[1] for r in rows[2:6]]
    assert labels == ["ground truth", "random walk", "α = 0", "α = 10"]
    assert rows[4] == "| 42 | α = 0 | 0.30 | 0.40 | 1.10 | 8.80 | 2.50 | 0.00 |"


def test_both_sections_are_registered_and_test_the_final_model():
    results.load_sections()
    for name, cfg in (("reliable", "configs/reliable.yaml"), ("playbest", "configs/playbest.yaml")):
        comp = results.COMPARISONS[name]
        assert comp.arms == {name: [cfg]} and comp.checkpoint == "last" and comp.table is not None


def test_a_section_with_its_own_table_renders_it_from_the_finished_runs(tmp_path):
    results.load_sections()
    comp = results.COMPARISONS["reliable"]
    for seed, j in ((42, 2.0), (43, 4.0)):
        run = tmp_path / "reliable" / "reliable" / f"seed{seed}"
        run.mkdir(parents=True)
        metrics = {f"test/{k}": v for k, v in {**M, "J_pi": j}.items()}
        (run / "done.json").write_text(json.dumps({"seed": seed, "elapsed_s": 90.0, "metrics": metrics,
                                                   "commands": [f"python -m lit_agents.cli fit {seed}"]}))
    text = write_report([comp], tmp_path, [42, 43], tmp_path / "docs" / "results.md")
    assert "| 42 | 2.00 [1.00, 3.00] | 1.50 [1.20, 1.80]" in text and "| 43 | 4.00 [1.00, 3.00]" in text
    assert "| **mean** | 3.00 [1.00, 3.00]" in text
    assert "2 runs; their wall times add up to 3.0 minutes" in text and "fit 42" in text


def test_checkpoint_choice_is_checked():
    with pytest.raises(ValueError, match="checkpoint must be 'best' or 'last'"):
        results.Comparison(name="x", title="X", arms={"a": ["a.yaml"]}, metrics=[], checkpoint="final")


@pytest.mark.slow
def test_a_reduced_reliable_run_through_the_runner_tests_last_ckpt_and_renders_intervals(tmp_path):
    results.load_sections()
    comp = replace(results.COMPARISONS["reliable"], args=[*results.COMPARISONS["reliable"].args, *QUICK["reliable"]])
    record = run_one(comp, "reliable", 7, tmp_path)
    test_cmd = record["commands"][1]
    assert test_cmd.endswith("last.ckpt") and "fit/checkpoints/last.ckpt" in test_cmd
    m = record["metrics"]
    assert m["test/J_pi_lo"] <= m["test/J_pi"] <= m["test/J_pi_hi"] and m["test/n_possessions"] > 0
    assert run_one(comp, "reliable", 7, tmp_path) == record          # finished: skipped
    text = write_report([comp], tmp_path, [7], tmp_path / "results.md")
    assert f"| 7 | {m['test/J_pi']:.2f} [{m['test/J_pi_lo']:.2f}, {m['test/J_pi_hi']:.2f}]" in text
