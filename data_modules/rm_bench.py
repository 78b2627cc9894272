"""The one RM-Bench reader: items are validated here once, then read two ways.

An RM-Bench item (``chat_filtered.json``, ``safety-refuse_filtered.json``, ...) is ``{id, prompt, chosen,
rejected}`` with ``chosen`` / ``rejected`` = the same answers in 3 styles (concise, detailed, markdown).

- :func:`style_pairs`: the diagonal of the style matrix (chosen and rejected of the same style; RM-Bench's
  "normal" setting), the preference pairs of :mod:`data_modules.preference` (format ``rm_bench``).
- :func:`style_matrix`: all 9 comparisons (chosen style i, rejected style j), the benchmark's easy / normal /
  hard cells, read by :func:`data_modules.reward_benchmarks.load_rm_bench`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lit_agents.fileio import DataError

STYLES = ("concise", "detailed", "markdown")


def read_item(rec: dict[str, Any], path: str, line: int) -> dict[str, Any]:
    """A validated item ``{item_id, domain, conversation, chosen, rejected}`` (3 styles each); a bad record
    raises a ``DataError`` naming file, line and field."""
    prompt = rec.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise DataError("expected a non-empty string", path=path, line=line, field="prompt")
    styles = {}
    for f in ("chosen", "rejected"):
        v = rec.get(f)
        if not (isinstance(v, list) and len(v) == len(STYLES) and all(isinstance(x, str) for x in v)):
            raise DataError(f"expected a list of {len(STYLES)} response strings ({', '.join(STYLES)})", path=path,
                            line=line, field=f)
        styles[f] = v
    return {"item_id": f"{Path(path).name}:{rec.get('id', line)}", "domain": domain(path, rec),
            "conversation": [{"role": "user", "content": prompt}], **styles}


def domain(path: str, rec: dict[str, Any]) -> str:
    """The record's ``domain`` field, else the file name's first word (``safety-refuse_filtered`` → safety)."""
    if isinstance(rec.get("domain"), str):
        return rec["domain"]
    return Path(path).name.split("_")[0].split("-")[0].split(".")[0]


def style_pairs(item: dict[str, Any]) -> list[dict[str, Any]]:
    """One pair per style: chosen and rejected written in the same style (``style`` = its index)."""
    return [{"conversation": item["conversation"], "chosen": c, "rejected": r, "style": k}
            for k, (c, r) in enumerate(zip(item["chosen"], item["rejected"], strict=True))]


def style_matrix(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The 9 comparisons of the style matrix (``cell`` = ``"i,j"``: chosen in style i, rejected in style j)."""
    n = len(STYLES)
    return [{"benchmark": "rm_bench", "subset": item["domain"], "item_id": item["item_id"], "cell": f"{i},{j}",
             "conversation": item["conversation"], "chosen": item["chosen"][i], "rejected": item["rejected"][j]}
            for i in range(n) for j in range(n)]
