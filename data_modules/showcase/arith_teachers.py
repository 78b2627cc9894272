"""Scripted rationale writers for the TinyLLM showcase: two teachers behind the ``TextGenerator`` interface.

No LLM can be downloaded here, so the showcase's two teachers are **scripted**: each reads the TinyLLM teacher
prompt that :class:`~data_modules.rationales.GeneratorTeacher` builds (in-context examples, then the question,
its options and, with teacher forcing, the gold answer), solves the two-step question of
:mod:`data_modules.showcase.stepwise_arith` and writes its rationale in its own style:

- ``equations`` (a terse calculator):  ``7 + 5 = 12. 12 - 3 = 9.``
- ``words`` (a chatty tutor):          ``We start with 7. Adding 5 gives 12. Then taking away 3 leaves 9.``

Both end with ``Thus, the answer is (x) N`` as the released rationales do (``parse_rationale`` splits it off
and reads the teacher's answer from it). With teacher forcing the rationale always reaches the given gold
answer. Without it (plain CoT: the standard-KD teacher) the writer solves alone and slips on a seeded
``error_rate`` share of the questions, the way a real teacher's plain CoT is sometimes wrong: it forgets the
second step or applies it the wrong way round, and states the answer it reached. The in-context examples of the
prompt are read past (a script needs no demonstration); the sampling arguments are accepted and ignored.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any, Literal

from data_modules.mcqa import LETTERS
from data_modules.showcase.stepwise_arith import Problem, apply, parse_question
from lit_agents.generation import TextGenerator
from lit_agents.prompts import Prompt

Style = Literal["equations", "words"]
_OPTION = re.compile(r"\(([a-z])\) (\d+)")
_GIVEN = re.compile(r"\nAnswer: \(([a-z])\) (\d+)")
_VERB = {"+": ("Adding", "gives", "adding", "gives"), "-": ("Taking away", "leaves", "taking away", "leaves")}


def write_steps(p: Problem, second: str, result: int, style: Style) -> str:
    """The rationale of ``p`` whose second step uses operation ``second`` and reaches ``result``."""
    if style == "equations":
        return f"{p.start} {p.op1} {p.x} = {p.middle}. {p.middle} {second} {p.y} = {result}."
    if style == "words":
        v1, g1, _, _ = _VERB[p.op1]
        _, _, v2, g2 = _VERB[second]
        return f"We start with {p.start}. {v1} {p.x} {g1} {p.middle}. Then {v2} {p.y} {g2} {result}."
    raise ValueError(f"unknown rationale style {style!r}; use 'equations' or 'words'")


class ScriptedArithmeticTeacher(TextGenerator):
    """A rationale writer for two-step arithmetic questions, in one of two styles.

    Args:
        style: ``equations`` or ``words`` (see the module docstring).
        error_rate: share of questions on which the writer slips when the prompt gives no answer (plain CoT);
            teacher-forced prompts are always solved correctly.
        seed: seeds which questions it slips on and how.
    """

    def __init__(self, style: Style = "equations", error_rate: float = 0.0, seed: int = 0):
        super().__init__()
        if style not in ("equations", "words"):
            raise ValueError(f"ScriptedArithmeticTeacher.style: 'equations' or 'words', got {style!r}")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"ScriptedArithmeticTeacher.error_rate must be in [0, 1], got {error_rate}")
        self.style, self.error_rate, self.seed = style, float(error_rate), seed

    def identity(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "style": self.style, "error_rate": self.error_rate, "seed": self.seed}

    def _stream(self, prompts: list[Prompt], params: dict[str, Any]) -> Iterator[tuple[int, str]]:
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise TypeError("ScriptedArithmeticTeacher reads text prompts, not chat messages")
            yield i, self.answer(prompt)

    def answer(self, prompt: str) -> str:
        """The rationale for the last question of a TinyLLM teacher prompt."""
        block = prompt[prompt.rfind("Question:"):]
        if not block:
            raise ValueError(f"no 'Question:' in the teacher prompt: {prompt[:80]!r}")
        p = parse_question(block)
        line = next((x for x in block.splitlines() if x.startswith("Options:")), "")
        options = {int(v): letter for letter, v in _OPTION.findall(line)}
        second, result = p.op2, p.answer
        if _GIVEN.search(block) is None:  # plain CoT: the writer solves alone and may slip
            rng = random.Random(f"{self.seed}:{p}")
            if rng.random() < self.error_rate:
                if rng.random() < 0.5:
                    return f"{write_steps_first(p, self.style)} Thus, the answer is " + _stated(options, p.middle)
                second = "-" if p.op2 == "+" else "+"
                result = apply(p.middle, second, p.y)
        return f"{write_steps(p, second, result, self.style)} Thus, the answer is " + _stated(options, result)


def write_steps_first(p: Problem, style: Style) -> str:
    """A rationale that stops after the first step (the "forgot the second step" slip)."""
    if style == "equations":
        return f"{p.start} {p.op1} {p.x} = {p.middle}."
    v1, g1, _, _ = _VERB[p.op1]
    return f"We start with {p.start}. {v1} {p.x} {g1} {p.middle}."


def _stated(options: dict[int, str], value: int) -> str:
    """``(x) value`` when ``value`` is an option, else the bare value (then no option is stated)."""
    letter = options.get(value)
    return f"({letter}) {value}." if letter is not None and letter in LETTERS else f"{value}."
