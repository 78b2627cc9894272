"""Name a Python function in YAML by its dotted import path (rewards, tools)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def import_callable(path: str, what: str = "function",
                    example: str = "lit_agents.rewards.judgment_rewards") -> Callable[..., Any]:
    """``"package.module.function"`` → the function; ``what`` names it in errors ("reward function", ...)."""
    module, _, name = path.rpartition(".")
    if not module:
        raise ValueError(f"{what} {path!r} must be a dotted import path, e.g. {example}")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot import {what} {path!r}: {e}") from e
    if not callable(fn):
        raise ValueError(f"{what} {path!r} is not callable")
    return fn
