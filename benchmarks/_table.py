"""One result record per benchmark figure, and the table they make (``make bench``, ``docs/benchmarks.md``).

Every script calls :func:`emit` with its :class:`Result` records: each is printed as one ``BENCH_RESULT {json}``
line and, when ``LIT_AGENTS_BENCH_OUT`` names a file, appended to it as JSON lines. ``benchmarks/_run_all.py``
runs every script with that variable set and renders the records with :func:`markdown_table`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass

PREFIX = "BENCH_RESULT "
OUT_ENV = "LIT_AGENTS_BENCH_OUT"


@dataclass
class Result:
    """One compared figure: ``ratio = ours / peer`` of ``metric``; ``goal`` is the ratio to reach (at least
    it when ``higher_is_better``, at most it otherwise), ``None`` when there is no goal."""

    benchmark: str
    metric: str
    ours: float
    peer: float | None = None
    peer_name: str = ""
    higher_is_better: bool = True
    goal: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.peer is None or not self.peer or not math.isfinite(self.peer):
            return None
        return self.ours / self.peer

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        return self.ratio >= self.goal if self.higher_is_better else self.ratio <= self.goal

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "ratio": self.ratio, "met": self.met}, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Result:
        d = json.loads(line)
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def emit(*results: Result) -> None:
    """Print each record (``BENCH_RESULT`` line) and append it to ``$LIT_AGENTS_BENCH_OUT`` when set."""
    path = os.environ.get(OUT_ENV)
    for r in results:
        print(PREFIX + r.to_json(), flush=True)
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(r.to_json() + "\n")


def parse_output(text: str) -> list[Result]:
    """The records a script printed (its ``BENCH_RESULT`` lines)."""
    return [Result.from_json(line[len(PREFIX):]) for line in text.splitlines() if line.startswith(PREFIX)]


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def markdown_table(results: list[Result]) -> str:
    """benchmark | metric | ours | peer | ratio | goal | met? — one row per record."""
    rows = ["| benchmark | metric | ours | peer | ratio ours/peer | goal | met? |", "|---|---|---|---|---|---|---|"]
    for r in results:
        goal = "—" if r.goal is None else ("≥ " if r.higher_is_better else "≤ ") + f"{r.goal:g}"
        met = {None: "—", True: "yes", False: "**no**"}[r.met]
        peer = "—" if r.peer is None else f"{_num(r.peer)} ({r.peer_name})" if r.peer_name else _num(r.peer)
        metric = r.metric + (f" ({r.note})" if r.note else "")
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}×"
        rows.append(f"| {r.benchmark} | {metric} | {_num(r.ours)} | {peer} | {ratio} | {goal} | {met} |")
    return "\n".join(rows)
