"""Run every benchmark script and end with one table (``make bench``); also written to ``docs/benchmarks.md``.

    python benchmarks/_run_all.py [--quick] [--only dqn_vs_d3rlpy ...] [--out docs/benchmarks.md]

Each ``benchmarks/<name>.py`` (not starting with ``_``) runs in its own process with the repository root on
``PYTHONPATH`` and ``LIT_AGENTS_BENCH_OUT`` naming a file where it appends its ``_table.Result`` records. A
script that fails gets a row saying so, the others still run, and the exit status is 1. ``--quick`` runs each
script's seconds-long smoke variant and writes no page unless ``--out`` is given (its figures mean nothing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import OUT_ENV, Result, markdown_table  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAGE_HEAD = """# Benchmarks

`make bench` runs every script in `benchmarks/` (each against the peer a user would otherwise pick, both sides
in one process, alternating where the script says so) and writes this page. `ratio` is ours / peer of the
metric; whether higher or lower is better is in the goal column (≥ or ≤). On a shared machine only the ratios
count, and CPU-second figures are steadier than wall-clock ones. Conditions of each figure are in the script's
docstring and in the method's section of the README.
"""


def scripts(only: list[str] | None = None) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
    if only:
        missing = set(only) - {p.stem for p in found}
        if missing:
            raise SystemExit(f"no benchmark named {sorted(missing)}; have {[p.stem for p in found]}")
        found = [p for p in found if p.stem in only]
    return found


def run_script(path: Path, quick: bool) -> tuple[list[Result], int, float]:
    """(records, exit status, wall seconds) of one script run in its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.jsonl"
        env = {**os.environ, OUT_ENV: str(out),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, str(path), *(["--quick"] if quick else [])], cwd=ROOT, env=env).returncode
        wall = time.perf_counter() - t0
        lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    return [Result.from_json(line) for line in lines if line.strip()], rc, wall


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import torch

    load = " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads); "
            f"load average (1/5/15 min) at the end: {load}")


def page(results: list[Result], failures: list[str], quick: bool) -> str:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [PAGE_HEAD, f"Run {when}{' (--quick smoke run: the figures mean nothing)' if quick else ''} on: "
                       f"{machine()}.", "", markdown_table(results), ""]
    if failures:
        body += ["Failed: " + ", ".join(failures), ""]
    return "\n".join(body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", help="script names (without .py)")
    ap.add_argument("--out", type=Path, help="markdown page to write (default docs/benchmarks.md, none with --quick)")
    args = ap.parse_args(argv)
    out = args.out or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    results, failures = [], []
    for path in scripts(args.only):
        print(f"== {path.relative_to(ROOT)}", flush=True)
        recs, rc, wall = run_script(path, args.quick)
        print(f"== {path.stem}: exit {rc}, {wall:.0f} s, {len(recs)} result(s)", flush=True)
        results += recs
        if rc != 0 or not recs:
            failures.append(f"{path.stem} (exit {rc}, {len(recs)} results)")
            results.append(Result(path.stem, f"FAILED (exit {rc})", float("nan")))
    text = page(results, failures, args.quick)
    print("\n" + text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"written to {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
