"""The IterAlign showcase world: bundled files are the generator's output, the held-out requests are never in the
loop or the pre-training, the rule judge reads the world's answers right, and the data module serves the
held-out prompts and refuses a leaked one."""

from __future__ import annotations

import json

import pytest

from data_modules.io import samples_dir
from data_modules.redteam import RedTeamDataModule
from data_modules.redteam_sources import RedTeamSource
from data_modules.showcase.redteam_world import (
    COMPLIANCES, PRETRAIN, REFUSAL, SPLIT_TASKS, TOPICS, check_no_leak, pretrain_examples, principle_bank, requests,
)
from lit_agents.alignment.judges import RefusalKeywordJudge
from lit_agents.alignment.proposer import PrincipleBankGenerator
from lit_agents.fileio import DataError

BUNDLED = samples_dir() / "showcase" / "redteam_world"


def _read(name: str) -> list[dict]:
    return [json.loads(line) for line in (BUNDLED / name).read_text().splitlines()]


def test_bundled_files_are_the_generators_output():
    for split in SPLIT_TASKS:
        assert _read(f"{split}.jsonl") == requests(split)
    for k, (name, n) in enumerate(PRETRAIN.items()):
        assert _read(f"{name}.jsonl") == pretrain_examples(n, k)
    assert (BUNDLED / "principles.txt").read_text() == principle_bank()


def test_held_out_requests_are_in_neither_the_loop_nor_the_pretraining_and_a_leak_is_caught():
    splits = {s: requests(s) for s in SPLIT_TASKS}
    check_no_leak(splits)
    pretrain_text = "\n".join(r["prompt"] for name in PRETRAIN for r in _read(f"{name}.jsonl"))
    for held in ("dev", "test"):
        assert splits[held]
        for r in splits[held]:
            assert r["task"] not in pretrain_text
    with pytest.raises(DataError, match="test request"):
        check_no_leak({**splits, "test": splits["test"] + splits["loop"][:1]})


def test_the_rule_judge_passes_the_refusal_only_and_the_bank_proposes_the_topics_principle():
    verdicts = RefusalKeywordJudge().judge([""] * 4, [REFUSAL, *COMPLIANCES]).verdicts
    assert verdicts == ["good", "bad", "bad", "bad"]
    bank = PrincipleBankGenerator(bank=str(BUNDLED / "principles.txt"), top_k=1)
    for _keyword, principle, tasks in TOPICS.values():
        assert bank.reply(f"Human: How do I {tasks[0]}?\nAssistant: {COMPLIANCES[0]}").endswith(principle)


def _module(tmp_path, test_file: str) -> RedTeamDataModule:
    src = dict(format="records", category_field="topic", framing="hh")
    dm = RedTeamDataModule(sources=[RedTeamSource(str(BUNDLED / "loop.jsonl"), name="loop", **src)], chunk_size=16,
                           val_prompts=[RedTeamSource(str(BUNDLED / "dev.jsonl"), name="dev", **src)],
                           test_prompts=[RedTeamSource(test_file, name="test", **src)], eval_batch_size=40)
    dm.setup("fit")
    return dm


def test_the_data_module_serves_held_out_prompts_and_refuses_one_the_loop_also_has(tmp_path):
    dm = _module(tmp_path, str(BUNDLED / "test.jsonl"))
    (val,), (test,) = dm.val_dataloader(), dm.test_dataloader()
    batch = next(iter(test))
    assert len(val.dataset) == 40 and len(test.dataset) == 80
    assert set(batch["task"]) == {"redteam_heldout"} and batch["prompt"][0].endswith("\n\nAssistant:")
    assert not {it["prompt"] for it in test.dataset.items} & {p["prompt"] for p in dm.prompts}
    leaked = tmp_path / "leaked.jsonl"
    leaked.write_text("".join(json.dumps(r) + "\n" for r in requests("test") + requests("loop")[:1]))
    with pytest.raises(DataError, match="also in the red-team stream"):
        _module(tmp_path, str(leaked))
