"""Prompt templates as plain text files beside this module, loaded by name."""

from __future__ import annotations

from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).parent


@cache
def load_prompt(name: str) -> str:
    """The text of ``<name>.txt`` in this folder, or of a path given explicitly (custom prompts from YAML)."""
    path = Path(name)
    if not path.suffix:
        path = PROMPTS_DIR / f"{name}.txt"
    if not path.is_file():
        available = sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))
        raise FileNotFoundError(f"prompt {name!r} not found (looked for {path}); bundled prompts: {available}")
    return path.read_text(encoding="utf-8")
