"""The reliability report renders what tests logged, merged by scenario, with each row's test result."""

import pytest

from tests.reliability.report import render


def test_rows_are_merged_counted_and_show_failures():
    rows = {
        "tests/reliability/test_a.py::test_x[1]": [{"area": "bad input", "case": "jsonl | faults",
                                                    "outcome": "DataError", "tried": 3}],
        "tests/reliability/test_a.py::test_x[2]": [{"area": "bad input", "case": "jsonl | faults",
                                                    "outcome": "DataError", "tried": 4}],
        "tests/test_b.py::test_y": [{"area": "security", "case": "pickled checkpoint", "outcome": "refused",
                                     "tried": 1}],
    }
    outcome = {"tests/reliability/test_a.py::test_x[1]": "passed", "tests/reliability/test_a.py::test_x[2]": "passed",
               "tests/test_b.py::test_y": "failed"}
    text = render(rows, outcome)
    assert "2 of 3 tests passed" in text
    assert "| jsonl \\| faults | 7 | DataError | `tests/reliability/test_a.py` | pass |" in text
    assert "| pickled checkpoint | 1 | refused | `tests/test_b.py` | FAILED |" in text
    assert text.index("## Bad input") < text.index("## Security")


def test_unknown_area_is_refused(reliability_log):
    with pytest.raises(ValueError, match="area"):
        reliability_log("misc", "x", "y")
