"""RM-R1 benchmark scores on hand-made judgments with hand-computed values, and the readers on their schemas."""
import json

import pytest

from data_modules.reward_benchmarks import (
    RewardBenchmarksDataModule,
    first_items,
    judge_records,
    load_rewardbench,
    load_rm_bench,
    load_rmb,
)
from lit_agents.fileio import DataError
from lit_agents.reward_benchmarks import benchmark_scores, markdown_table, rewardbench_scores, write_report
from tests.helpers import SHARED_DATA


def _res(bench, subset, item, correct, *, cell=None, order="chosen_A"):
    label = "A" if order == "chosen_A" else "B"
    wrong = "B" if label == "A" else "A"
    return {"benchmark": bench, "subset": subset, "item_id": item, "cell": cell, "order": order, "label": label,
            "verdict": label if correct else wrong}


def test_rewardbench_sections_use_the_official_counts():
    res = [_res("rewardbench", "alpacaeval-easy", i, True) for i in range(2)]            # acc 1.0, weight 100
    res += [_res("rewardbench", "mt-bench-easy", 10 + i, i == 0) for i in range(2)]      # acc 0.5, weight 28
    res += [_res("rewardbench", "llmbar-natural", 20, False)]                            # acc 0.0
    res += [_res("rewardbench", "donotanswer", 30, True)]                                # acc 1.0
    res += [_res("rewardbench", "math-prm", 40 + i, i == 0) for i in range(2)]           # acc 0.5, weight 984
    res += [_res("rewardbench", "hep-python", 50, True)]                                 # acc 1.0, weight 164
    s = rewardbench_scores(res)
    assert s["Chat"] == pytest.approx((100 * 1.0 + 28 * 0.5) / 128)                      # 0.890625, not 0.75
    assert s["Chat Hard"] == 0.0 and s["Safety"] == 1.0
    assert s["Reasoning"] == pytest.approx((984 * 0.5 + 164 * 1.0) / 1148)               # 0.5714, not 0.75
    assert s["overall"] == pytest.approx((0.890625 + 0 + 1 + 656 / 1148) / 4)
    assert s["subset/mt-bench-easy"] == 0.5


def test_rm_bench_easy_normal_hard_from_the_style_matrix():
    # chat item 1: right on the diagonal and below it, wrong above it (a style-biased judge); chat item 3 and
    # safety item 2: all right
    res = [_res("rm_bench", "chat", "1", i >= j, cell=f"{i},{j}") for i in range(3) for j in range(3)]
    res += [_res("rm_bench", "chat", "3", True, cell=f"{i},{j}") for i in range(3) for j in range(3)]
    res += [_res("rm_bench", "safety", "2", True, cell=f"{i},{j}") for i in range(3) for j in range(3)]
    s = benchmark_scores(res)["rm_bench"]
    assert (s["chat/easy"], s["chat/normal"], s["chat/hard"]) == (1.0, 1.0, 0.5)
    assert s["chat/average"] == pytest.approx((6 / 9 + 1) / 2) and s["safety/average"] == 1.0
    # overall = mean over the domains (each counts once), not over the 3 pooled items (hard would be 2/3)
    assert s["easy"] == 1.0 and s["normal"] == 1.0 and s["hard"] == 0.75
    assert s["average"] == pytest.approx(((6 / 9 + 1) / 2 + 1) / 2)
    assert s["n_comparisons"] == 27


def test_rmb_best_of_n_needs_every_loser_beaten_and_orders_give_position_bias():
    res = [_res("rmb_bon", "Helpfulness", "b1", True, cell="0"), _res("rmb_bon", "Helpfulness", "b1", False, cell="1"),
           _res("rmb_bon", "Harmlessness", "b2", True, cell="0"), _res("rmb_bon", "Harmlessness", "b2", True, cell="1"),
           _res("rmb_bon", "Harmlessness", "b2", True, cell="2")]
    # the same comparisons in the other order: this judge gets everything wrong there
    res += [{**r, "order": "chosen_B", "label": "B", "verdict": "A"} for r in res]
    s = benchmark_scores(res)["rmb_bon"]
    # pairwise the judge is right on 4 of 5 comparisons, but only b2 counts for Best-of-N
    assert s["accuracy@chosen_A"] == 0.5 and s["accuracy@chosen_B"] == 0.0
    assert s["accuracy"] == 0.25 and s["position_bias"] == 0.5
    assert s["Helpfulness"] == 0.0 and s["Harmlessness"] == 0.5
    pw = benchmark_scores([_res("rmb_pairwise", "Helpfulness", "p1", True),
                           _res("rmb_pairwise", "Harmlessness", "p2", False),
                           {**_res("rmb_pairwise", "Harmlessness", "p3", True), "verdict": None}])["rmb_pairwise"]
    assert pw["accuracy"] == pytest.approx(1 / 3) and pw["Harmlessness"] == 0.0  # unparseable = wrong


def test_report_files(tmp_path):
    res = [_res("rewardbench", "alpacaeval-easy", 1, True), _res("rewardbench", "alpacaeval-easy", 1, False,
                                                                    order="chosen_B")]
    scores = write_report(tmp_path, "test", res, judge="tiny")
    assert json.loads((tmp_path / "test_reward_benchmarks.json").read_text())["scores"] == scores
    md = (tmp_path / "test_reward_benchmarks.md").read_text()
    assert "| rewardbench | overall | 50.00 |" in md and "| rewardbench | position_bias | 100.00 |" in md
    assert markdown_table(scores).count("subset/") == 0


def test_bundled_schema_samples_read():
    dm = RewardBenchmarksDataModule()
    comps = dm.comparisons()
    by = {b: [c for c in comps if c["benchmark"] == b] for b in ("rewardbench", "rm_bench", "rmb_pairwise", "rmb_bon")}
    assert len(by["rewardbench"]) == 8 and len(by["rm_bench"]) == 18
    assert len(by["rmb_pairwise"]) == 3 and len(by["rmb_bon"]) == 5
    assert {c["subset"] for c in by["rmb_bon"]} == {"Helpfulness", "Harmlessness"}
    multi = next(c for c in by["rmb_pairwise"] if c["item_id"] == "Pairwise_set/Helpfulness/Chat/Discussion:h2")
    assert [m["role"] for m in multi["conversation"]] == ["user", "assistant", "user"]
    recs = judge_records(by["rewardbench"][:1], system_prompt="S", max_response_chars=None, prompt_format="text")
    assert [r["label"] for r in recs] == ["A", "B"] and recs[0]["response_A"] == recs[1]["response_B"]
    assert len(first_items(by["rm_bench"], 1)) == 9


def test_readers_locate_bad_records(tmp_path):
    p = tmp_path / "rb.jsonl"
    p.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b", "subset": "donotanswer"}) + "\n"
                 + json.dumps({"prompt": "q", "chosen": "a", "subset": "donotanswer"}) + "\n")
    with pytest.raises(DataError, match="line 2.*rejected"):
        load_rewardbench(str(p))
    assert len(load_rewardbench(str(p), on_error="skip")) == 1
    q = tmp_path / "chat_filtered.json"
    q.write_text(json.dumps([{"id": 1, "prompt": "q", "chosen": ["a", "b", "c"], "rejected": ["x", "y"]}]))
    with pytest.raises(DataError, match="rejected"):
        load_rm_bench(str(q))
    r = tmp_path / "S1.json"
    r.write_text(json.dumps([{"pair_uid": "1", "conversation_input": [{"role": "user", "content": "q"}],
                              "chosen": {"answer": "a"}, "reject": {"answer": "b"},
                              "category_path": "Pairwise_set/Other"}]))
    with pytest.raises(DataError, match="category_path"):
        load_rmb(str(r))


@pytest.mark.skipif(not (SHARED_DATA / "rm_bench").is_dir(), reason="needs ../shared/data/rm_bench")
def test_real_rm_bench_files_give_nine_comparisons_per_item():
    comps = load_rm_bench(str(SHARED_DATA / "rm_bench" / "safety-response_filtered.json"))
    assert len(comps) == 157 * 9 and {c["subset"] for c in comps} == {"safety"}
