"""The tool environment the GRPO rollout talks to between generation turns.

One episode per completion: ``env.fork().reset(record)``, then after each model turn that ends with a
complete ``<tool_call>`` block, ``step(calls)`` executes the calls and returns one observation per call
(``{"name", "results"}`` or ``{"name", "error"}``); the rollout appends them as an ``<obs>`` turn. The episode
is done when the model answers with ``<response>``, stops without a tool call, or after ``max_turns`` turns.
"""
from __future__ import annotations

import copy
import logging
from typing import Any
from collections.abc import Mapping

from lit_agents.tools.parsing import CALL_CLOSE, RESPONSE_CLOSE, RESPONSE_OPEN, render_observation
from lit_agents.tools.registry import FunctionTool, import_function
from lit_agents.tools.search import BM25Search, load_corpus

log = logging.getLogger(__name__)


class ToolEnvironment:
    """Tools the model may call, and the episode rules.

    Args:
        functions: import paths of typed Python functions (e.g. ``lit_agents.tools.calculator.calculator``);
            each becomes a tool whose schema comes from its signature, type hints and docstring.
        search_corpus: a local corpus file, or a list of them, for a BM25 ``search(query)`` tool (None: no
            search tool; formats: :func:`lit_agents.tools.search.load_corpus`).
        search_top_k: passages per search.
        max_turns: model turns per episode (a turn ends at ``</tool_call>``, ``</response>`` or EOS).
        max_observation_chars: each observation turn is cut to this many characters.
    """

    stop_strings = (CALL_CLOSE, RESPONSE_CLOSE)

    def __init__(self, functions: list[str] | None = None, search_corpus: str | list[str] | None = None,
                 search_top_k: int = 3, max_turns: int = 3, max_observation_chars: int = 1000):
        if max_turns < 1:
            raise ValueError(f"tool_env.max_turns must be >= 1, got {max_turns}")
        self.max_turns, self.max_observation_chars = max_turns, max_observation_chars
        self.tools: dict[str, FunctionTool] = {}
        for path in functions or []:
            self.add(FunctionTool.from_function(import_function(path)))
        if search_corpus is not None:
            corpus = load_corpus(search_corpus) if isinstance(search_corpus, list) else search_corpus
            self.add(FunctionTool.from_function(BM25Search(corpus, top_k=search_top_k).search, name="search"))
        self.record: Mapping[str, Any] = {}
        self.turn = 0
        self.calls_made = 0

    def add(self, tool: FunctionTool) -> ToolEnvironment:
        """Register a tool (a later tool of the same name replaces the earlier one)."""
        self.tools[tool.name] = tool
        return self

    def describe(self) -> str:
        """The numbered tool list as the rlla system prompt shows it."""
        return "\n".join(t.describe(i) for i, t in enumerate(self.tools.values(), start=1))

    # ------------------------------------------------------------------ episode interface
    def fork(self) -> ToolEnvironment:
        """A fresh episode sharing the tools (and any index) with this environment."""
        return copy.copy(self)

    def reset(self, record: Mapping[str, Any] | None = None) -> ToolEnvironment:
        """Start an episode for a data record (available to tools that need per-record state)."""
        self.record, self.turn, self.calls_made = dict(record or {}), 0, 0
        return self

    def step(self, tool_calls: list[dict]) -> list[dict]:
        """Execute the calls of one turn; one observation per call, errors reported, never raised."""
        out = []
        for call in tool_calls:
            name = call.get("name")
            tool = self.tools.get(name)
            self.calls_made += 1
            if tool is None:
                out.append({"name": name, "error": f"unknown tool {name!r}; available: {sorted(self.tools)}"})
                continue
            try:
                out.append({"name": name, "results": tool(**call.get("parameters", {}))})
            except Exception as e:  # noqa: BLE001 - a tool error is an observation for the model, not a crash
                out.append({"name": name, "error": f"{type(e).__name__}: {e}"})
        return out

    def observation_text(self, observations: list[dict]) -> str:
        """The ``<obs>`` turn appended after a tool call (cut to ``max_observation_chars``)."""
        text = render_observation(observations)
        if len(text) > self.max_observation_chars:
            text = text[: self.max_observation_chars - 7] + " </obs>"
        return "\n" + text + "\n"

    def finished(self, turn_text: str, called: bool) -> bool:
        """Whether the episode ends after this turn (``turn`` counts turns done, this one included)."""
        return (RESPONSE_OPEN in turn_text and RESPONSE_CLOSE in turn_text) or not called \
            or self.turn >= self.max_turns
