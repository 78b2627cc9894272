"""Constitution proposal: a (stronger) LLM turns the bad cases of an iteration into principles.

:class:`ConstitutionProposer` builds the paper's proposer prompt (judge instruction + "If negative, please then
propose multiple very specific principles, rules or constitutions ..."), one worked example (the released code's
"Evaluation: Negative. / Constitution: ..." turn) and the bad cases, calls any ``TextGenerator`` and parses the
reply (last paragraph, as released, or a numbered list).

:class:`PrincipleBankGenerator` is the documented offline stand-in for GPT-4: a ``TextGenerator`` that answers
the same prompt by keyword-matching the bad cases against a bank of principles (``iteralign_principles.txt``)
and replies in the format the parser expects, so the embedded default exercises the same prompt/parse path.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lit_agents.alignment.judges import load_examples, stream_with_errors
from lit_agents.alignment.parsing import format_cases, parse_constitutions
from lit_agents.generation import TextGenerator
from lit_agents.prompts import load_prompt

log = logging.getLogger(__name__)


@dataclass
class Proposal:
    """Constitutions proposed from one iteration's bad cases."""

    constitutions: list[str]
    raw: str | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


class ConstitutionProposer:
    """Propose constitutions from (prompt, bad answer) cases.

    Args:
        generator: the proposer model (GPT-4 in the paper; ``OpenAIGenerator`` or a local model).
        system_prompt: prompt name or file (default: the paper's proposer instruction).
        example: a ``### message`` / ``### evaluation`` file with a worked example, or ``None``.
        user_template: the user turn; ``{cases}`` is replaced by the formatted bad cases.
        case_template: one case; ``{question}``, ``{prompt}``, ``{response}``. The released code sent only the
            responses (``"{response}"`` joined by a space); the paper describes responses *and* prompts.
        case_separator: between cases.
        parse: ``last_paragraph`` (released code: one constitution) or ``list`` (numbered items).
        max_constitutions: keep at most this many per iteration (``None``: all).
        max_cases: show at most this many bad cases (long prompts overflow small context windows).
        max_retries / retry_wait: attempts for calls that raise or replies with no constitution.
        max_new_tokens: reply budget.
    """

    def __init__(self, generator: TextGenerator, system_prompt: str = "iteralign_proposer",
                 example: str | None = "iteralign_proposer_example",
                 user_template: str = "Evaluate the following message: {cases}",
                 case_template: str = "Human: {question}\nAssistant: {response}", case_separator: str = "\n\n",
                 parse: Literal["last_paragraph", "list"] = "last_paragraph", max_constitutions: int | None = None,
                 max_cases: int = 20, max_retries: int = 2, retry_wait: float = 1.0, max_new_tokens: int = 512):
        self.generator = generator
        self.system = load_prompt(system_prompt).strip()
        self.examples = load_examples(example) if example else []
        self.user_template, self.case_template, self.case_separator = user_template, case_template, case_separator
        self.parse, self.max_constitutions, self.max_cases = parse, max_constitutions, max_cases
        self.max_retries, self.retry_wait, self.max_new_tokens = max_retries, retry_wait, max_new_tokens

    def messages(self, prompts: Sequence[str], responses: Sequence[str],
                 questions: Sequence[str]) -> list[dict[str, str]]:
        n = self.max_cases
        cases = format_cases(self.case_template, prompts[:n], responses[:n], questions[:n], self.case_separator)
        msgs = [{"role": "system", "content": self.system}]
        for ex_msg, ex_reply in self.examples:
            msgs += [{"role": "user", "content": self.user_template.replace("{cases}", ex_msg)},
                     {"role": "assistant", "content": ex_reply}]
        return msgs + [{"role": "user", "content": self.user_template.replace("{cases}", cases)}]

    def propose(self, prompts: Sequence[str], responses: Sequence[str], questions: Sequence[str]) -> Proposal:
        if not prompts:
            return Proposal(constitutions=[])
        msgs = self.messages(prompts, responses, questions)
        out = Proposal(constitutions=[])
        wait = self.retry_wait
        for attempt in range(1 + self.max_retries):
            if attempt:
                time.sleep(wait)
                wait *= 2
            out.attempts += 1
            texts, err = stream_with_errors(self.generator, [msgs], max_new_tokens=self.max_new_tokens)
            if err or texts[0] is None:
                out.errors.append(err or "no reply")
                log.warning("proposer call failed (attempt %d/%d): %s", attempt + 1, 1 + self.max_retries, err)
                continue
            out.raw = texts[0]
            found = parse_constitutions(texts[0], self.parse)
            if found:
                out.constitutions = found[: self.max_constitutions] if self.max_constitutions else found
                return out
            out.errors.append("reply has no constitution")
        log.warning("proposer: no constitution after %d attempts (%s)", out.attempts, "; ".join(out.errors))
        return out


def load_principle_bank(name_or_path: str) -> list[tuple[list[str], str]]:
    """``[(keywords, principle)]`` from ``keyword, keyword | principle`` lines (``*`` = fallback)."""
    bank = []
    for n, line in enumerate(load_prompt(name_or_path).splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "|" not in line:
            raise ValueError(f"{name_or_path}: line {n}: expected 'keywords | principle'")
        kws, principle = line.split("|", 1)
        keys = [k.strip().lower() for k in kws.split(",") if k.strip()]
        if not keys or not principle.strip():
            raise ValueError(f"{name_or_path}: line {n}: empty keywords or principle")
        bank.append((keys, principle.strip()))
    if not bank:
        raise ValueError(f"{name_or_path}: the principle bank is empty")
    return bank


class PrincipleBankGenerator(TextGenerator):
    """Offline rule-based proposer (a stand-in for GPT-4, documented as such).

    Reads the last user message, counts whole-word occurrences of each principle's keywords and replies
    ``"Evaluation: Negative.\\n\\n1. <principle>\\n2. ..."`` with the ``top_k`` best-matching principles (the
    ``*`` fallback when none match). Deterministic; ignores sampling settings.

    Args:
        bank: principle bank file or prompt name.
        top_k: principles per reply.
    """

    def __init__(self, bank: str = "iteralign_principles", top_k: int = 3, max_new_tokens: int = 512):
        super().__init__(max_new_tokens=max_new_tokens)
        self.bank_name, self.top_k = bank, top_k
        self.bank = load_principle_bank(bank)
        self._patterns = [re.compile("|".join(rf"\b{re.escape(k)}" for k in keys if k != "*"), re.IGNORECASE)
                          if keys != ["*"] else None for keys, _ in self.bank]

    def identity(self) -> dict[str, Any]:
        return {"type": "principle_bank", "bank": self.bank_name, "top_k": self.top_k}

    def reply(self, text: str) -> str:
        scores = [(len(p.findall(text)) if p is not None else 0, -i) for i, p in enumerate(self._patterns)]
        ranked = [(-neg_i) for s, neg_i in sorted(scores, reverse=True) if s > 0][: self.top_k]
        if not ranked:
            ranked = [i for i, p in enumerate(self._patterns) if p is None][:1] or [0]
        items = "\n".join(f"{k}. {self.bank[i][1]}" for k, i in enumerate(ranked, start=1))
        return f"Evaluation: Negative.\n\n{items}"

    def _stream(self, prompts, params):
        for i, p in enumerate(prompts):
            text = p if isinstance(p, str) else next((m["content"] for m in reversed(p) if m["role"] == "user"), "")
            yield i, self.reply(text)
