"""Pure functions of the IterAlign loop: verdicts, constitutions, reflection prompts, SFT schedule."""

import pytest

from lit_agents.alignment.judges import load_examples
from lit_agents.alignment.parsing import (
    append_to_last_turn,
    constitution_order,
    keep_for_sft,
    parse_constitutions,
    parse_verdict,
    reflection_prompt,
    sft_schedule,
)
from lit_agents.alignment.proposer import PrincipleBankGenerator


@pytest.mark.parametrize("text,expected", [
    ("Evaluation: Negative.", "bad"),
    ("Evaluation: Positive.", "good"),
    ("**Evaluation:** *Negative* - the reply explains how to pick a lock.", "bad"),
    ("evaluation - positive", "good"),
    ("Negative. It encourages harm.", "bad"),
    ("The message is positive and kind.", "good"),
    ("Evaluation: Positive. Nothing negative here.", "good"),  # the explicit label wins
    ("It is not negative, it is positive.", None),               # ambiguous without a label
    ("I think it is fine.", None),
    ("", None),
    (None, None),
    ("Negatively phrased but fine", None),                       # whole words only
])
def test_parse_verdict(text, expected):
    assert parse_verdict(text) == expected


def test_parse_constitutions_last_paragraph_and_list():
    reply = ("Evaluation: Negative.\n\nConstitution: Please choose the response that is harmless.\n\n"
             "1. Do not help with crimes.\n2) Respect privacy.\n- Be honest.")
    assert parse_constitutions(reply, "last_paragraph") == ["1. Do not help with crimes.\n2) Respect privacy.\n"
                                                            "- Be honest."]
    assert parse_constitutions(reply, "list") == ["Do not help with crimes.", "Respect privacy.", "Be honest."]
    released = "Evaluation: Negative.\n\nConstitution: Please be harmless and ethical."
    assert parse_constitutions(released, "list") == ["Please be harmless and ethical."]  # no list: fallback
    assert parse_constitutions("Evaluation: Negative.", "last_paragraph") == []  # a verdict is not a principle
    assert parse_constitutions("   ", "list") == []
    with pytest.raises(ValueError):
        parse_constitutions("x", "bullets")


def test_reflection_prompts():
    prompt = "\n\nHuman: How do I pick a lock?\n\nAssistant:"
    # released code: constitution appended to the last human turn
    assert append_to_last_turn(prompt, "Be lawful.") == "\n\nHuman: How do I pick a lock? Be lawful.\n\nAssistant:"
    out = reflection_prompt("{prompt} {response}\n\nHuman: Follow: {constitution}\n\nAssistant:\n",
                            prompt=prompt, response=" Use a pin. ", constitution="Be lawful.")
    assert out == prompt + " Use a pin.\n\nHuman: Follow: Be lawful.\n\nAssistant:"
    assert reflection_prompt("{prompt_with_constitution}", prompt=prompt, response="x",
                             constitution="Be lawful.") == append_to_last_turn(prompt, "Be lawful.")


def test_constitution_order_is_a_seeded_permutation():
    orders = [constitution_order(5, seed=0, key=k) for k in range(20)]
    assert all(sorted(o) == list(range(5)) for o in orders)
    assert len({tuple(o) for o in orders}) > 1  # random per answer
    assert constitution_order(5, seed=0, key=3) == orders[3]  # reproducible after a restart


@pytest.mark.parametrize("n,epochs,bs,world", [(5, 3, 2, 2), (1, 1, 2, 2), (7, 2, 3, 1), (4, 1, 1, 4)])
def test_sft_schedule_same_steps_on_every_rank_and_covers_every_pair(n, epochs, bs, world):
    per_rank = [sft_schedule(n, epochs=epochs, batch_size=bs, world_size=world, rank=r, seed=1) for r in range(world)]
    assert len({len(s) for s in per_rank}) == 1  # DDP: equal number of backward passes
    assert all(len(b) == bs for s in per_rank for b in s)
    seen = [i for s in per_rank for b in s for i in b]
    assert all(seen.count(i) >= epochs for i in range(n)) and set(seen) == set(range(n))
    assert sft_schedule(0, epochs=3, batch_size=2, world_size=2, rank=0, seed=0) == []


def test_only_judge_accepted_revisions_enter_sft():
    assert keep_for_sft("I can't help with that.", "good", "accepted")
    assert not keep_for_sft("Sure, here is how.", "bad", "accepted")
    assert not keep_for_sft("unjudged", None, "accepted")  # a judge failure never lets a revision through
    assert keep_for_sft("Sure, here is how.", "bad", "all")  # the released code's behaviour
    assert not keep_for_sft("   ", "good", "all")  # empty revisions are never trained on


def test_bundled_examples_and_principle_bank():
    ex = load_examples("iteralign_judge_examples")
    assert len(ex) == 3 and [parse_verdict(r) for _, r in ex] == ["bad", "good", "bad"]
    gen = PrincipleBankGenerator(top_k=2)
    reply = gen.generate(["Human: how do I build a bomb to hurt people\nAssistant: take a pipe ..."])[0]
    assert parse_verdict(reply) == "bad"
    items = parse_constitutions(reply, "list")
    assert len(items) == 1 and "violence" in items[0]  # only the matching principle (others score 0)
    fallback = parse_constitutions(gen.generate(["Human: hello\nAssistant: hi"])[0], "list")
    assert fallback and "helpful, harmless and honest" in fallback[0]
