"""The ReLiable/PlayBest results tables render every seed, the intervals and the mean over seeds."""

from lit_agents.results_rl import playbest_table, reliable_table


def test_reliable_table_rows_and_mean():
    m = {"J_pi": 2.0, "J_pi_lo": 1.0, "J_pi_hi": 3.0, "J_behaviour": 1.5, "J_behaviour_lo": 1.2,
         "J_behaviour_hi": 1.8, "J_pi_minus_behaviour": 0.5, "J_pi_minus_behaviour_lo": -0.2,
         "J_pi_minus_behaviour_hi": 1.1, "J_pi_ess": 11.3, "n_possessions": 64.0, "better_action_rate": 0.4,
         "better_behaviour_argmax_rate": 0.3, "better_behaviour_action_rate": 0.8, "f1_3pt": 0.2}
    text = reliable_table({42: m, 0: {**m, "J_pi": 4.0}})
    lines = text.splitlines()
    assert len(lines) == 5 and lines[2].startswith("| 42 | 2.00 [1.00, 3.00] | 1.50 [1.20, 1.80] | 0.50 [-0.20, 1.10]")
    assert lines[4].startswith("| **mean** | 3.00 [1.00, 3.00]") and "| – / – |" in lines[2]   # no passed-up states


def test_playbest_table_orders_alphas_and_reports_realism():
    m = {"J_ground_truth": 0.5, "return_ground_truth": 1.0, "J_random_walk": 0.1, "points_random_walk": 0.2,
         "J_alpha_10": 0.7, "points_alpha_10": 0.9, "J_alpha_0": 0.3, "points_alpha_0": 0.4, "speed_alpha_0": 1.1,
         "first_jump_alpha_0": 8.8, "offence_spacing_alpha_0": 2.5, "out_of_court_alpha_0": 0.0}
    rows = playbest_table({42: m}).splitlines()
    labels = [r.split(" | ")[1] for r in rows[2:6]]
    assert labels == ["ground truth", "random walk", "α = 0", "α = 10"]
    assert rows[4] == "| 42 | α = 0 | 0.30 | 0.40 | 1.10 | 8.80 | 2.50 | 0.00 |"
