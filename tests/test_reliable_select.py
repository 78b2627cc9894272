"""The validation-only rule that picks ReLiable's CQL weight (lit_agents.reliable_select, issue 19 item 4)."""

from lit_agents.reliable_select import choose, page


def _rows(vals: dict[str, dict[str, float]]) -> dict[str, dict[str, dict[str, float]]]:
    return {a: {s: {"J_pi_minus_behaviour": v} for s, v in per_seed.items()} for a, per_seed in vals.items()}


def test_the_highest_mean_validation_difference_wins_over_all_seeds():
    rows = _rows({"0.05": {"42": 0.9, "0": -0.5, "1": 0.0}, "0.5": {"42": 0.2, "0": 0.3, "1": 0.1}})
    best, means = choose(rows, [42, 0, 1])
    assert best == "0.5" and abs(means["0.05"] - 0.4 / 3) < 1e-9      # one good seed does not carry 0.05
    assert "**Chosen: cql_alpha 0.5.**" in page(rows, [42, 0, 1], quick=False)


def test_ties_go_to_the_larger_weight_and_incomplete_weights_are_not_chosen():
    tie = _rows({"0.05": {"42": 0.3}, "0.5": {"42": 0.3}})
    assert choose(tie, [42])[0] == "0.5"
    partial = _rows({"0.05": {"42": 2.0}, "0.5": {"42": 0.1, "0": 0.1}})
    assert choose(partial, [42, 0])[0] == "0.5"                          # 0.05 lacks seed 0
    assert choose(_rows({"0.05": {"42": 2.0}}), [42, 0]) == (None, {})
    assert "No choice yet" in page(_rows({"0.05": {"42": 2.0}}), [42, 0], quick=False)


def test_the_page_names_every_missing_run_of_the_grid():
    text = page(_rows({"0.05": {"42": 2.0}}), [42, 0], quick=False, alphas=[0.05, 0.5])
    assert "0.05/0" in text and "0.5/42" in text and "0.5/0" in text and "Chosen" not in text
