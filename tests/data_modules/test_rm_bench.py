"""The one RM-Bench reader (data_modules/rm_bench.py) serves both the preference pairs (format ``rm_bench``)
and the benchmark's style matrix, so the two reads of a file agree."""
import json

import pytest

from data_modules.io import samples_dir
from data_modules.preference import PreferenceSource, load_pairs
from data_modules.reward_benchmarks import load_rm_bench
from lit_agents.fileio import DataError

BUNDLED = samples_dir() / "reward_benchmarks" / "rm_bench_schema.json"


def test_preference_pairs_are_the_diagonal_of_the_benchmark_matrix():
    matrix = load_rm_bench(str(BUNDLED))
    pairs = load_pairs(PreferenceSource(str(BUNDLED), format="rm_bench"))
    items = json.loads(BUNDLED.read_text())
    assert len(matrix) == 9 * len(items) and len(pairs) == 3 * len(items)
    diagonal = [(c["conversation"], c["chosen"], c["rejected"]) for c in matrix if c["cell"] in ("0,0", "1,1", "2,2")]
    assert [(p["conversation"], p["chosen"], p["rejected"]) for p in pairs] == diagonal
    assert [p["style"] for p in pairs[:3]] == [0, 1, 2]
    assert {c["subset"] for c in matrix} == {it["domain"] for it in items}
    assert load_pairs(PreferenceSource(str(BUNDLED)))[0]["chosen"] == pairs[0]["chosen"]  # auto-detected format


@pytest.mark.parametrize("bad, field", [({"prompt": "", "chosen": ["a"] * 3, "rejected": ["b"] * 3}, "prompt"),
                                        ({"prompt": "q", "chosen": ["a"] * 3, "rejected": ["b", "c"]}, "rejected"),
                                        ({"prompt": "q", "chosen": "a", "rejected": ["b"] * 3}, "chosen")])
def test_both_reads_locate_the_same_bad_record(tmp_path, bad, field):
    path = tmp_path / "chat_filtered.json"
    path.write_text(json.dumps([{"id": 1, "prompt": "q", "chosen": ["a"] * 3, "rejected": ["b"] * 3}, bad]))
    for read in (lambda: load_rm_bench(str(path)), lambda: load_pairs(PreferenceSource(str(path), format="rm_bench"))):
        with pytest.raises(DataError) as err:
            read()
        assert err.value.line == 2 and err.value.field == field and "chat_filtered.json" in str(err.value)
    assert len(load_rm_bench(str(path), on_error="skip")) == 9
