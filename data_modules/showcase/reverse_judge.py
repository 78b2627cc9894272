"""Checkable preference pairs for the RM-R1 showcase: which of two answers reverses a word correctly?

Each pair asks ``Reverse the letters: KPZ``; the chosen answer is the reversal (``ZPK``), the rejected one a
plausible mistake: the word left as it is (``KPZ``), or the reversal with one letter changed (``ZMK``). The
correct verdict is checkable by string reversal, so the judge's accuracy on held-out questions measures
whether it learned to *judge*, not to recall.

The stage-1 Chain-of-Rubrics traces are **written deterministically from these checkable facts** (no LLM and no
``TextGenerator`` oracle: :func:`cor_trace`): the Reasoning branch of CoR, i.e. ``<type>Reasoning</type>``, the
judge's own ``<solution>``, then an ``<eval>`` that quotes each answer and compares it with the solution letter
by letter, and the verdict::

    <type>Reasoning</type><solution>ZPK</solution><eval><quote_A>ZPK</quote_A> Z=Z P=P K=K right.
    <quote_B>ZMK</quote_B> Z=Z M/P K=K wrong.</eval><answer>[[A]]</answer>

The label-only baseline's "trace" is the verdict alone (``<answer>[[A]]</answer>``). Words are 3 random
capital letters from :data:`LETTERS`; train, dev and test use disjoint words (:func:`check_no_leak`), so no
held-out question is in train. Training traces follow the A/B alternation of
``data_modules.preference.build_records`` (pair ``i`` of the train file has the chosen answer in slot A iff
``i`` is even), and are keyed by its pair ids.

``corpus.txt`` is the tiny BPE tokenizer's training text: the fixed text of the prompt and the trace (system
prompt, user template, CoR tags) and none of the words, so the template text becomes a few tokens while every
letter of a word stays one token. :data:`LETTERS` leaves out the capitals that begin a template word (``Chatbot``,
``Question``, ``Response``, ``The`` ...), because a merged " C" would tokenize a word after a space differently
from the same word after ``>``.

Regenerate the bundled files with ``python -m data_modules.showcase.reverse_judge``
(``--out data_modules/samples/showcase/rm_r1``).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from data_modules.io import samples_dir
from data_modules.showcase import generator_main, jsonl_text
from lit_agents.fileio import DataError, atomic_write_text

SPLITS = {"train": 1000, "dev": 64, "test": 256}
LETTERS = "DFGHIKLMNOPUVWXYZ"  # capitals that start no word of the prompt or trace template
WORD_LEN = 3
QUESTION = "Reverse the letters: {word}"


def wrong_answer(rng: random.Random, word: str) -> str:
    """A plausible mistake: the word unreversed (when that differs from the reversal), else one letter changed."""
    right = word[::-1]
    if word != right and rng.random() < 0.5:
        return word
    i = rng.randrange(len(right))
    letter = rng.choice([c for c in LETTERS if c != right[i]])
    return right[:i] + letter + right[i + 1:]


def generate(seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """``{split: [{prompt, chosen, rejected, category, word}]}`` with disjoint words across the splits."""
    sizes = sizes or SPLITS
    rng = random.Random(seed)
    n = sum(sizes.values())
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < n:
        w = "".join(rng.choice(LETTERS) for _ in range(WORD_LEN))
        if w not in seen:
            seen.add(w)
            words.append(w)
    out, start = {}, 0
    for split, size in sizes.items():
        out[split] = [{"prompt": QUESTION.format(word=w), "chosen": w[::-1], "rejected": wrong_answer(rng, w),
                       "category": "Reasoning", "word": w} for w in words[start:start + size]]
        start += size
    check_no_leak(out)
    return out


def check_no_leak(splits: dict[str, list[dict]]) -> None:
    """Raise unless no dev/test question (word) occurs in train and dev and test share none."""
    words = {s: {r["prompt"] for r in rows} for s, rows in splits.items()}
    for held in ("dev", "test"):
        common = words.get(held, set()) & words.get("train", set())
        if common:
            raise DataError(f"{len(common)} {held} question(s) also in train, e.g. {sorted(common)[0]!r}",
                            path=held)
    if words.get("dev", set()) & words.get("test", set()):
        raise DataError("dev and test share a question", path="test")


def _compare(answer: str, solution: str) -> str:
    marks = " ".join(f"{a}={s}" if a == s else f"{a}/{s}" for a, s in zip(answer, solution))
    return f"{marks} {'right' if answer == solution else 'wrong'}."


def cor_trace(word: str, answer_a: str, answer_b: str) -> str:
    """The CoR (Reasoning branch) judgment of one presentation, computed from the checkable facts."""
    solution = word[::-1]
    if (answer_a == solution) == (answer_b == solution):
        raise ValueError(f"exactly one answer must be right: {word!r} -> {answer_a!r}, {answer_b!r}")
    verdict = "A" if answer_a == solution else "B"
    return (f"<type>Reasoning</type><solution>{solution}</solution><eval><quote_A>{answer_a}</quote_A> "
            f"{_compare(answer_a, solution)} <quote_B>{answer_b}</quote_B> {_compare(answer_b, solution)}</eval>"
            f"<answer>[[{verdict}]]</answer>")


def label_only_trace(label: str) -> str:
    return f"<answer>[[{label}]]</answer>"


def trace_rows(train: list[dict], file_name: str, *, label_only: bool) -> list[dict]:
    """One traces row per training pair, in the order and under the pair id ``build_records`` gives it."""
    rows = []
    for i, r in enumerate(train):
        chosen_first = i % 2 == 0
        a, b = (r["chosen"], r["rejected"]) if chosen_first else (r["rejected"], r["chosen"])
        label = "A" if chosen_first else "B"
        trace = label_only_trace(label) if label_only else cor_trace(r["word"], a, b)
        rows.append({"pair_id": f"{file_name}:{i + 1}:0", "order": f"chosen_{label}", "trace": trace, "attempt": 1})
    return rows


def corpus_lines(system_prompt: str = "rm_r1_cor_system_reasoning") -> list[str]:
    """The fixed text of prompts and traces, without any word (the BPE corpus)."""
    from lit_agents.prompts import load_prompt

    user = load_prompt("rm_r1_cor_user").format(question=QUESTION.format(word=""), answer_a="", answer_b="")
    trace = re.sub(f"[{LETTERS}]", "", re.sub(f"[{LETTERS}][=/][{LETTERS}]", "", cor_trace("DFG", "GFD", "DFG")))
    return [load_prompt(system_prompt), *user.splitlines(), trace, " right. wrong. <answer>[[B]]</answer>"]


def write(out: Path, seed: int = 0) -> None:
    out.mkdir(parents=True, exist_ok=True)
    splits = generate(seed)
    for split, rows in splits.items():
        atomic_write_text(out / f"{split}.jsonl", jsonl_text(rows))
    atomic_write_text(out / "traces_cor.jsonl",
                      jsonl_text(trace_rows(splits["train"], "train.jsonl", label_only=False)))
    atomic_write_text(out / "traces_label_only.jsonl",
                      jsonl_text(trace_rows(splits["train"], "train.jsonl", label_only=True)))
    atomic_write_text(out / "corpus.txt", "".join(line + "\n" for line in corpus_lines()))


def main(argv: list[str] | None = None) -> int:
    return generator_main(write, samples_dir() / "showcase" / "rm_r1", __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
