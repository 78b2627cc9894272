"""Two-step arithmetic word problems for the TinyLLM showcase: multiple choice whose answer needs an
intermediate result.

Each question applies two operations to a start number, written in words::

    Start with 7, add 5, then take away 3. What do you get?
    Answer Choices: (a) 12  (b) 9  (c) 10  (d) 6

The gold answer (9) needs the intermediate result (7 + 5 = 12), and the distractors are the typical mistakes
of a solver that skips or garbles a step: the intermediate result itself (12), the second operation applied
the wrong way round (12 + 3 = 15) and near misses (gold ± 1, ± 2, + 3). A teacher's rationale spells out both
steps (``7 + 5 = 12. 12 - 3 = 9.``), so the rationale carries exactly the computation the label hides.

Every computation ``(start, op1, x, op2, y)`` occurs in one split only (:func:`check_no_leak`): train, dev
and test questions are disjoint, and so are their exact computations. Written as generic MCQA jsonl
(``question``, ``choices``, ``answer_index``; ``MCQASource(format="jsonl")`` reads it).

Regenerate the bundled files with ``python -m data_modules.showcase.stepwise_arith``
(``--out data_modules/samples/showcase/stepwise_arith``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from data_modules.io import samples_dir
from data_modules.showcase import generator_main, jsonl_text
from lit_agents.fileio import DataError, atomic_write_text

SPLITS = {"train": 1000, "dev": 100, "test": 300}
N_CHOICES = 4
WORDS = {"+": "add", "-": "take away"}
QUESTION = "Start with {start}, {w1} {x}, then {w2} {y}. What do you get?"
_PARSE = re.compile(r"Start with (\d+), (add|take away) (\d+), then (add|take away) (\d+)\. What do you get\?")


@dataclass(frozen=True)
class Problem:
    """``start op1 x op2 y``: the computation a question asks for."""

    start: int
    op1: str
    x: int
    op2: str
    y: int

    @property
    def middle(self) -> int:
        return apply(self.start, self.op1, self.x)

    @property
    def answer(self) -> int:
        return apply(self.middle, self.op2, self.y)

    def question(self) -> str:
        return QUESTION.format(start=self.start, w1=WORDS[self.op1], x=self.x, w2=WORDS[self.op2], y=self.y)


def apply(a: int, op: str, b: int) -> int:
    if op not in WORDS:
        raise ValueError(f"unknown operation {op!r}")
    return a + b if op == "+" else a - b


def parse_question(text: str) -> Problem:
    """The computation of a question this module wrote (what a scripted teacher reads)."""
    m = _PARSE.search(text)
    if m is None:
        raise ValueError(f"not a two-step arithmetic question: {text[:80]!r}")
    op = {w: o for o, w in WORDS.items()}
    return Problem(int(m.group(1)), op[m.group(2)], int(m.group(3)), op[m.group(4)], int(m.group(5)))


def all_problems() -> list[Problem]:
    """Every computation with numbers 1-9 whose intermediate and final results stay in 0-18."""
    out = []
    for start in range(1, 10):
        for op1 in WORDS:
            for x in range(1, 10):
                for op2 in WORDS:
                    for y in range(1, 10):
                        p = Problem(start, op1, x, op2, y)
                        if 0 <= p.middle <= 18 and 0 <= p.answer <= 18:
                            out.append(p)
    return out


def choices(rng: random.Random, p: Problem) -> tuple[list[str], int]:
    """Four distinct options: the answer and three mistakes (skipped step, flipped step, near misses)."""
    flipped = apply(p.middle, "-" if p.op2 == "+" else "+", p.y)
    mistakes = [v for v in dict.fromkeys([p.middle, flipped]) if v != p.answer and v >= 0]
    near = [p.answer + d for d in (-2, -1, 1, 2, 3) if p.answer + d >= 0 and p.answer + d not in mistakes]
    rng.shuffle(near)
    opts = [p.answer, *mistakes[:2], *near][:N_CHOICES]
    rng.shuffle(opts)
    return [str(v) for v in opts], opts.index(p.answer)


def generate(seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """``{split: [{id, question, choices, answer_index, computation}]}``; computations disjoint across splits."""
    sizes = sizes or SPLITS
    rng = random.Random(seed)
    problems = all_problems()
    if sum(sizes.values()) > len(problems):
        raise ValueError(f"{sum(sizes.values())} questions asked, only {len(problems)} distinct computations")
    rng.shuffle(problems)
    out, start = {}, 0
    for split, size in sizes.items():
        rows = []
        for i, p in enumerate(problems[start:start + size]):
            opts, gold = choices(rng, p)
            rows.append({"id": f"{split}-{i}", "question": p.question(), "choices": opts, "answer_index": gold,
                         "computation": f"{p.start}{p.op1}{p.x}{p.op2}{p.y}"})
        out[split] = rows
        start += size
    check_no_leak(out)
    return out


def check_no_leak(splits: dict[str, list[dict]]) -> None:
    """Raise unless no dev/test question or computation occurs in train, and dev and test share none."""
    def keys(split: str) -> set[str]:
        return {k for r in splits.get(split, []) for k in (r["question"], r["computation"])}

    train = keys("train")
    for held in ("dev", "test"):
        common = keys(held) & train
        if common:
            raise DataError(f"{len(common)} {held} question(s)/computation(s) also in train, e.g. "
                            f"{sorted(common)[0]!r}", path=held)
    if keys("dev") & keys("test"):
        raise DataError("dev and test share a question or computation", path="test")


def corpus_lines() -> list[str]:
    """The fixed text of questions, student inputs and both teachers' rationales, without any number: the tiny
    BPE tokenizer's corpus, so the template words become a few tokens while every digit stays one token."""
    from data_modules.showcase.arith_teachers import write_steps

    lines = [QUESTION.format(start="", w1=w1, x="", w2=w2, y="") for w1 in WORDS.values() for w2 in WORDS.values()]
    lines += ["Answer Choices:", "(a)  (b)  (c)  (d) ", "predict: explain: rationale: "]
    lines += [write_steps(Problem(1, o1, 1, o2, 1), o2, 0, style) for style in ("equations", "words")
              for o1 in WORDS for o2 in WORDS]
    return [re.sub(r"\d", "", line) for line in lines]


def write(out: Path, seed: int = 0) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in generate(seed).items():
        atomic_write_text(out / f"{split}.jsonl", jsonl_text(rows))
    atomic_write_text(out / "corpus.txt", "".join(line + "\n" for line in corpus_lines()))


def main(argv: list[str] | None = None) -> int:
    return generator_main(write, samples_dir() / "showcase" / "stepwise_arith", __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
