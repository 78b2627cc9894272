"""Prompt templates as plain text files beside this module, and the one loader for them (and for custom ones)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lit_agents.fileio import DataError

PROMPTS_DIR = Path(__file__).parent

Prompt = str | list[dict[str, str]]
"""A prompt: plain text, or chat messages (``[{"role": ..., "content": ...}, ...]``) for a chat template."""


class PromptNotFoundError(DataError, FileNotFoundError):
    """A prompt that is neither a bundled name nor an existing file. A located ``DataError`` (so the CLI ends
    with its one-line message, like any bad input file) and a ``FileNotFoundError`` (what callers caught before)."""


def bundled_prompts() -> list[str]:
    """The names of the prompts shipped in ``lit_agents/prompts``."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))


@cache
def _bundled(name: str) -> str | None:
    path = PROMPTS_DIR / f"{name}.txt"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def load_prompt(name_or_path: str | Path) -> str:
    """The text of a bundled prompt, by name (``rm_r1_cor_user`` or ``rm_r1_cor_user.txt``, a file in
    ``lit_agents/prompts``), or of a text file given by path (custom prompts from YAML; ``~`` expanded).

    A bare name that matches a bundled prompt means the bundled one whatever the working directory holds (write
    ``./name.txt`` for a local file of the same name). Bundled prompts are read once and cached; a path is read
    on every call, since its content may change. Raises ``PromptNotFoundError`` for anything else."""
    text = str(name_or_path)
    p = Path(text).expanduser()
    if text and p.name == text and p.suffix in ("", ".txt"):  # no folder part: may be a bundled name
        bundled = _bundled(p.stem if p.suffix else text)
        if bundled is not None:
            return bundled
    if p.is_file():
        return p.read_text(encoding="utf-8")
    raise PromptNotFoundError(f"prompt not found: neither a file nor a name in {PROMPTS_DIR} "
                              f"(bundled prompts: {', '.join(bundled_prompts())})", path=p)
