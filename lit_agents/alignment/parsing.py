"""Pure text functions of the IterAlign loop: judge verdicts, constitutions, reflection prompts.

The released IterAlign code marks an answer bad iff the judge's reply contains ``Negative`` and takes the last
paragraph (split on blank lines) of the proposer's reply as the constitution. Here a verdict is read from an
explicit ``Evaluation: <label>`` first; otherwise from the only sentiment word present; a reply with both
words and no explicit label, or neither, is *unparseable* (the caller retries and then counts it), instead
of silently reading as bad.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Literal

Verdict = Literal["good", "bad"]

_EXPLICIT = re.compile(r"evaluation\s*[:\-]?\s*[*_\"'\[(]*\s*(positive|negative)\b", re.IGNORECASE)
_NEG = re.compile(r"\bnegative\b", re.IGNORECASE)
_POS = re.compile(r"\bpositive\b", re.IGNORECASE)
_ITEM = re.compile(r"^\s*(?:\d+\s*[.)]|[-*\u2022])\s*(.+?)\s*$")
_LABEL = re.compile(r"^\s*(?:\**\s*)?(?:constitutions?|principles?|rules?)\s*\**\s*:\s*", re.IGNORECASE)


def parse_verdict(text: str | None) -> Verdict | None:
    """``"good"``, ``"bad"`` or ``None`` (unparseable) from a positive/negative judge reply."""
    if not text or not text.strip():
        return None
    explicit = _EXPLICIT.findall(text)
    if explicit:
        return "bad" if explicit[0].lower() == "negative" else "good"
    neg, pos = bool(_NEG.search(text)), bool(_POS.search(text))
    if neg != pos:
        return "bad" if neg else "good"
    return None


def last_paragraph(text: str) -> str:
    """The released code's rule: the text after the last blank line (``split("\\n\\n")[-1]``), label stripped."""
    paras = [p.strip() for p in text.strip().split("\n\n") if p.strip()]
    return _LABEL.sub("", paras[-1]).strip() if paras else ""


def parse_constitutions(text: str, mode: Literal["last_paragraph", "list"] = "last_paragraph") -> list[str]:
    """Constitutions from a proposer reply.

    ``last_paragraph``: one constitution, the last paragraph (released code). ``list``: every numbered or
    bulleted item (``1.``, ``2)``, ``-``, ``*``) after the evaluation line; falls back to the last paragraph
    when the reply has no list. Empty replies give ``[]``.
    """
    if not text or not text.strip():
        return []
    if mode == "list":
        items = [m.group(1) for line in text.splitlines() if (m := _ITEM.match(line))]
        items = [_LABEL.sub("", it).strip() for it in items]
        items = [it for it in items if it and not _is_bare_verdict(it)]
        if items:
            return items
    elif mode != "last_paragraph":
        raise ValueError(f"unknown constitution parse mode {mode!r} (last_paragraph, list)")
    para = last_paragraph(text)
    return [] if not para or _is_bare_verdict(para) else [para]


def _is_bare_verdict(text: str) -> bool:
    """``"Evaluation: Negative."`` and the like: a verdict, not a principle."""
    return len(text.split()) <= 3 and parse_verdict(text) is not None


def append_to_last_turn(prompt: str, constitution: str) -> str:
    """The released code's reflection prompt: the constitution appended to the paragraph before the final
    one (the last human turn of ``"...\\n\\nHuman: q\\n\\nAssistant:"``)."""
    parts = prompt.split("\n\n")
    if len(parts) < 2:
        return f"{prompt.rstrip()} {constitution}"
    return "\n\n".join(parts[:-1]) + " " + constitution + "\n\n" + parts[-1]


def reflection_prompt(template: str, *, prompt: str, response: str, constitution: str) -> str:
    """Fill a reflection template: ``{prompt}``, ``{response}``, ``{constitution}``, ``{prompt_with_constitution}``."""
    fields = {"prompt": prompt, "response": response.strip(), "constitution": constitution.strip(),
              "prompt_with_constitution": append_to_last_turn(prompt, constitution.strip())}
    out = template
    for k, v in fields.items():
        out = out.replace("{" + k + "}", v)
    return out.rstrip("\n")


def constitution_order(n: int, *, seed: int, key: int) -> list[int]:
    """The random order in which one answer is revised against ``n`` constitutions (seeded per answer, so a
    resumed run reproduces it)."""
    order = list(range(n))
    random.Random(seed * 1_000_003 + key).shuffle(order)
    return order


def sft_schedule(n_pairs: int, *, epochs: int, batch_size: int, world_size: int, rank: int,
                 seed: int) -> list[list[int]]:
    """Micro-batches of pair indices for this rank.

    ``epochs`` shuffled passes over the (global, identical on every rank) list of pairs are concatenated and
    cycled up to a multiple of ``world_size * batch_size``, so every rank runs the same number of backward
    passes (DDP needs this) and every pair is seen at least ``epochs`` times overall.
    """
    if n_pairs == 0:
        return []
    rng = random.Random(seed)
    flat: list[int] = []
    for _ in range(epochs):
        perm = list(range(n_pairs))
        rng.shuffle(perm)
        flat.extend(perm)
    step = world_size * batch_size
    total = -(-len(flat) // step) * step
    flat = [flat[i % len(flat)] for i in range(total)]
    return [flat[s + rank * batch_size: s + (rank + 1) * batch_size] for s in range(0, total, step)]


def format_cases(template: str, prompts: Sequence[str], responses: Sequence[str], questions: Sequence[str],
                 sep: str = "\n\n") -> str:
    """The bad cases shown to the proposer: ``template`` (``{prompt}``, ``{question}``, ``{response}``) per case."""
    cases = []
    for p, r, q in zip(prompts, responses, questions):
        cases.append(template.replace("{prompt}", p.strip()).replace("{question}", q.strip())
                     .replace("{response}", r.strip()))
    return sep.join(cases)


def keep_for_sft(revision: str, verdict: str | None, keep_revisions: str) -> bool:
    """Whether a revision becomes an SFT target: non-empty, and judged good unless ``keep_revisions="all"``."""
    return bool(revision.strip()) and (keep_revisions == "all" or verdict == "good")
