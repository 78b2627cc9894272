"""``python -m lit_agents.results`` (``make results``): run every showcase comparison and write ``docs/results.md``.

A *comparison* is a method against its baselines on one showcase task: each arm is a list of configs (same
model, steps and data), run through ``lit-agents fit`` (then ``lit-agents test`` on the best checkpoint) once
per seed. Per arm the page gives mean ± std over seeds of the held-out metrics, each seed's value, the paper's
reference row beside them, the training curves (mean over seeds) as PNGs, the exact commands, the machine and
the elapsed time.

Resumable: a run that finished leaves ``done.json`` in its directory and is skipped next time; an unfinished one
is started again from scratch. The page is always rebuilt from every registered comparison's finished runs, so
``--only gotta`` updates one section and keeps the others; a section with no finished run under ``--root`` (its
runs were made in another checkout) is kept as the existing page has it.

Add a section by registering a :class:`Comparison` in :data:`COMPARISONS` (see :mod:`lit_agents.results_showcase`);
a module listed in :data:`SECTION_MODULES` that defines ``register(add)`` is imported and asked for its own
(e.g. ``lit_agents.results_rl``)::

    python -m lit_agents.results                     # everything (resumes)
    python -m lit_agents.results --only gotta --seeds 42,43,44
    python -m lit_agents.results --report-only       # rebuild the page from finished runs
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import importlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lit_agents.sweep import _best_checkpoint, mean_std, read_metrics

SECTION_MODULES = ["lit_agents.results_showcase", "lit_agents.results_rm_r1", "lit_agents.results_rl",
                   "lit_agents.results_tinyllm", "lit_agents.results_iteralign", "lit_agents.results_toolrl"]


@dataclass
class Comparison:
    """One results section: arms (name -> configs) x seeds, the held-out metrics, the paper's reference.

    Args:
        name: short key (``--only``) and directory name under the runs root.
        title: the section heading.
        arms: arm name -> config files (in order); the first arm is the method, the others its baselines.
        metrics: columns of the table, ``(label, key)`` with key a logged metric (``test/f1``; ``val/*`` keys
            take the best value over validations, others the last).
        seed_keys: CLI keys set to the seed besides ``--seed_everything`` (e.g. ``data.sample_seed``).
        curves: logged keys plotted against the step (mean over seeds per arm).
        test: run ``lit-agents test`` on the best checkpoint after ``fit``.
        reference: markdown of the paper's numbers (from ``../shared/METHODS.md``) shown beside the table.
        description: what the task is and why it shows the method's mechanism.
        args: extra CLI arguments for every run.
        mode: ``max`` or ``min`` for the best validation value.
        findings: what the measured table shows, written after the runs (kept apart from ``description``, which
            was fixed before them).
        starts_from: arm -> the arm whose trained policy it starts from, at the same seed (a second training
            stage): the base arm's runs export their policy to ``<run>/policy`` (``--<export_key>``), this arm's
            runs load it (``--<init_key>``), and the base run is finished first.
        export_key: the CLI key a base arm's run exports its policy with.
        init_key: the CLI key a later stage loads the exported policy with.
        scale: the table shows metric values times this (100: fractions as percentages); losses stay as logged.
        checkpoint: which checkpoint of ``fit`` is tested: ``best`` (the best-by-validation file) or ``last``
            (``last.ckpt``, the final model).
        table: renders the section's table from ``{seed: {metric: value}}`` of the method's arm instead of the
            mean ± std table (for tables with per-seed intervals, e.g. :mod:`lit_agents.results_rl`); the runs
            then keep every logged ``test/*`` metric, not only ``metrics``.
    """

    name: str
    title: str
    arms: dict[str, list[str]]
    metrics: list[tuple[str, str]]
    seed_keys: list[str] = field(default_factory=list)
    curves: list[str] = field(default_factory=lambda: ["train/loss"])
    test: bool = True
    reference: str = ""
    description: str = ""
    args: list[str] = field(default_factory=list)
    mode: str = "max"
    findings: str = ""
    starts_from: dict[str, str] = field(default_factory=dict)
    export_key: str = "model.init_args.export_dir"
    init_key: str = "model.init_args.backbone.name_or_path"
    scale: float = 1.0
    checkpoint: str = "best"
    table: Callable[[dict[int, dict[str, float]]], str] | None = None

    def __post_init__(self) -> None:
        if self.checkpoint not in ("best", "last"):
            raise ValueError(f"Comparison {self.name!r}: checkpoint must be 'best' or 'last', got {self.checkpoint!r}")


COMPARISONS: dict[str, Comparison] = {}
PENDING: list[str] = []  # methods without a comparison yet (a section module's ``PENDING`` list), named on the page


def add(comparison: Comparison) -> None:
    """Register a comparison (a later one with the same name replaces the earlier)."""
    COMPARISONS[comparison.name] = comparison


def load_sections() -> None:
    for mod in SECTION_MODULES:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise
            continue
        if hasattr(m, "register"):
            m.register(add)
        PENDING.extend(p for p in getattr(m, "PENDING", []) if p not in PENDING)


# ------------------------------------------------------------------------------------------------ running
def commands(comp: Comparison, arm: str, seed: int, run: Path) -> list[list[str]]:
    """The ``fit`` (and ``test``) command lines of one run; the test's ``--ckpt_path`` is filled in later."""
    base = [sys.executable, "-m", "lit_agents.cli"]
    cfg = [a for c in comp.arms[arm] for a in ("--config", c)]
    seeds = ["--seed_everything", str(seed)] + [a for k in comp.seed_keys for a in (f"--{k}", str(seed))]
    stage = []  # a second training stage loads its base arm's policy; a base arm exports its own
    if arm in comp.starts_from:
        stage += [f"--{comp.init_key}", str(run.parent.parent / comp.starts_from[arm] / run.name / "policy")]
    if arm in comp.starts_from.values():
        stage += [f"--{comp.export_key}", str(run / "policy")]
    fit = base + ["fit", *cfg, *seeds, *comp.args, *stage, "--trainer.default_root_dir", str(run / "fit")]
    cmds = [fit]
    if comp.test:
        cmds.append(base + ["test", *cfg, *seeds, *comp.args, *stage, "--trainer.default_root_dir",
                            str(run / "test"), "--ckpt_path", "<best checkpoint of fit>"])
    return cmds


def shown(cmd: list[str]) -> str:
    """A command line as a user types it (``python -m ...`` instead of this interpreter's path)."""
    return shlex.join(["python" if i == 0 and c == sys.executable else c for i, c in enumerate(cmd)])


def summarise(run: Path, comp: Comparison) -> dict[str, float]:
    vals = read_metrics(run)
    out: dict[str, float] = {}
    if comp.table is not None:  # a custom table reads any test metric (the last value, i.e. the test run's)
        out.update({k: xs[-1] for k, xs in vals.items() if k.startswith("test/") and xs})
    for _, key in comp.metrics:
        xs = vals.get(key)
        if xs:
            out[key] = (max if comp.mode == "max" else min)(xs) if key.startswith("val/") else xs[-1]
    return out


def run_one(comp: Comparison, arm: str, seed: int, root: Path, *, dry_run: bool = False) -> dict | None:
    """Run (or skip, when finished) one arm x seed; returns its ``done.json`` record."""
    run = root / comp.name / arm / f"seed{seed}"
    if arm in comp.starts_from:  # its base stage first (same seed)
        run_one(comp, comp.starts_from[arm], seed, root, dry_run=dry_run)
    with _RUN_LOCKS.setdefault(str(run), threading.Lock()):  # --jobs > 1: a base run is asked for twice
        return _run_locked(comp, arm, seed, run, dry_run)


_RUN_LOCKS: dict[str, threading.Lock] = {}


def _last_checkpoint(fit_root: Path) -> Path | None:
    """The ``last.ckpt`` (the final model) a fit wrote under ``fit_root``; the newest if there are several."""
    ckpts = list(fit_root.rglob("last.ckpt"))
    return max(ckpts, key=lambda p: p.stat().st_mtime) if ckpts else None


def _run_locked(comp: Comparison, arm: str, seed: int, run: Path, dry_run: bool) -> dict | None:
    done = run / "done.json"
    if done.is_file():
        return json.loads(done.read_text())
    cmds = commands(comp, arm, seed, run)
    if dry_run:
        for c in cmds:
            print(shlex.join(c))
        return None
    if run.exists():  # an interrupted run: start it again
        shutil.rmtree(run)
    run.mkdir(parents=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.time()
    with open(run / "log.txt", "w") as log:
        print(shlex.join(cmds[0]), flush=True)
        subprocess.run(cmds[0], check=True, stdout=log, stderr=subprocess.STDOUT, env=env)
        if comp.test:
            ckpt = _best_checkpoint(run / "fit") if comp.checkpoint == "best" else _last_checkpoint(run / "fit")
            if ckpt is None:
                raise RuntimeError(f"{run}: fit wrote no checkpoint")
            cmds[1][-1] = str(ckpt)
            print(shlex.join(cmds[1]), flush=True)
            subprocess.run(cmds[1], check=True, stdout=log, stderr=subprocess.STDOUT, env=env)
    record = {"comparison": comp.name, "arm": arm, "seed": seed, "elapsed_s": round(time.time() - t0, 1),
              "metrics": summarise(run, comp), "commands": [shown(c) for c in cmds],
              "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    done.write_text(json.dumps(record, indent=1) + "\n")
    return record


# ------------------------------------------------------------------------------------------------ report
def curves_of(run: Path, key: str) -> list[tuple[float, float]]:
    """``(step, value)`` pairs of one logged key from the fit's ``metrics.csv`` files."""
    pts = []
    for path in sorted((run / "fit").rglob("metrics.csv")):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row.get(key) not in ("", None) and row.get("step") not in ("", None):
                    pts.append((float(row["step"]), float(row[key])))
    return pts


def plot_curves(comp: Comparison, root: Path, seeds_by_arm: dict[str, list[int]], out_dir: Path) -> list[Path]:
    """One PNG per curve key: mean over seeds per arm (points at the steps every seed logged)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for key in comp.curves:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        drawn = False
        for arm, seeds in seeds_by_arm.items():
            per_seed = [dict(curves_of(root / comp.name / arm / f"seed{s}", key)) for s in seeds]
            steps = sorted(set.intersection(*(set(c) for c in per_seed))) if per_seed else []
            if not steps:
                continue
            ys = [sum(c[s] for c in per_seed) / len(per_seed) for s in steps]
            ax.plot(steps, ys, label=arm, marker="." if len(steps) < 20 else None)
            drawn = True
        if not drawn:
            plt.close(fig)
            continue
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.set_title(f"{comp.name}: {key} (mean over seeds)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{comp.name}_{key.replace('/', '_')}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} logical CPUs (shared), "
            f"Python {platform.python_version()}, torch {torch.__version__}, no GPU")


def _mean_std_table(comp: Comparison, records: dict[str, list[dict]]) -> list[str]:
    """The default table: one row per arm, mean ± std over seeds of every metric, the first metric per seed."""
    head = ["arm", "seeds"] + [label for label, _ in comp.metrics] + ["per seed (" + comp.metrics[0][0] + ")"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm, recs in records.items():
        cells = [f"`{arm}`", ",".join(str(r["seed"]) for r in recs) or "-"]
        for _, key in comp.metrics:
            scale = 1.0 if "loss" in key else comp.scale  # a loss is shown as it is
            xs = [r["metrics"][key] * scale for r in recs if key in r["metrics"]]
            if xs:
                m, s = mean_std(xs)
                cells.append(f"{m:.2f} ± {s:.2f}" if abs(m) < 10 and "loss" in key else f"{m:.1f} ± {s:.1f}")
            else:
                cells.append("-")
        first = comp.metrics[0][1]
        cells.append(", ".join(f"{r['metrics'][first] * comp.scale:.1f}" for r in recs if first in r["metrics"])
                     or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def section(comp: Comparison, root: Path, seeds: list[int], img_dir: Path, md_dir: Path,
            previous: dict[str, str] | None = None) -> str:
    records = {arm: [r for s in seeds if (r := _done(root, comp, arm, s))] for arm in comp.arms}
    lines = [f"## {comp.title}", "", comp.description.strip(), ""]
    if not any(records.values()) and comp.title in (previous or {}):
        return previous[comp.title]  # measured elsewhere (its runs are not under this root): kept as it was
    if not any(records.values()):
        return "\n".join(lines + ["*Not run yet* (`python -m lit_agents.results --only " + comp.name + "`).", ""])
    if comp.table is not None:
        method = next(iter(comp.arms))
        lines += [comp.table({r["seed"]: r["metrics"] for r in records[method]}), ""]
    else:
        lines += _mean_std_table(comp, records)
    if comp.reference:
        lines += ["Paper reference (not comparable in scale; the direction is what the showcase checks):", "",
                  comp.reference.strip(), ""]
    pngs = plot_curves(comp, root, {a: [r["seed"] for r in rs] for a, rs in records.items() if rs}, img_dir)
    for p in pngs:
        lines.append(f"![{p.stem}]({os.path.relpath(p, md_dir)})")
    if pngs:
        lines.append("")
    elapsed = sum(r["elapsed_s"] for rs in records.values() for r in rs)
    n = sum(len(rs) for rs in records.values())
    if comp.findings:
        lines += ["**What it shows.** " + comp.findings.strip(), ""]
    lines += [f"{n} runs; their wall times add up to {elapsed / 60:.1f} minutes (fit + test, on the shared machine).",
              "",
              "Commands (one per arm, shown for its first seed; the others differ only in the seed):", "", "```"]
    for recs in records.values():
        if recs:
            lines += recs[0]["commands"]
    lines += ["```", ""]
    return "\n".join(lines)


def _done(root: Path, comp: Comparison, arm: str, seed: int) -> dict | None:
    path = root / comp.name / arm / f"seed{seed}" / "done.json"
    return json.loads(path.read_text()) if path.is_file() else None


def write_report(comps: list[Comparison], root: Path, seeds: list[int], out: Path) -> str:
    img_dir = out.parent / "img" / "results"
    parts = ["# Results: every method against its baselines on a showcase task a tiny model can learn", "",
             "Generated by `make results` (`python -m lit_agents.results`); do not edit by hand. Each arm of a",
             "comparison has the same model, optimizer steps and data; the numbers are mean ± sample std over the",
             "seeds listed, measured on held-out data the runs never trained on (checkpoint chosen on dev, number",
             "from test). Each task's design and hyperparameters were fixed before its test numbers were seen.", "",
             f"Machine: {machine()}.", "",
             f"Page written {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.", "",
             "Sections: " + ", ".join(f"[{c.title}](#{_anchor(c.title)})" for c in comps), ""]
    if PENDING:
        parts += ["Not included yet:", ""] + [f"- {p}" for p in PENDING] + [""]
    previous = _sections(out.read_text()) if out.is_file() else {}
    for comp in comps:
        parts.append(section(comp, root, seeds, img_dir, out.parent, previous))
    text = "\n".join(parts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def _sections(page: str) -> dict[str, str]:
    """``{title: section text}`` of a page this module wrote, for the measured sections (not "Not run yet")."""
    out = {}
    for chunk in page.split("\n## ")[1:]:
        title = chunk.split("\n", 1)[0].strip()
        if "*Not run yet*" not in chunk:
            out[title] = "## " + chunk.rstrip("\n") + "\n"
    return out


def _anchor(title: str) -> str:
    keep = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -")
    return keep.replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", default=[], help="comparison name (repeatable); default all")
    ap.add_argument("--seeds", default="42,43,44", help="comma-separated seeds")
    ap.add_argument("--root", type=Path, default=Path("runs/results"), help="where the runs go")
    ap.add_argument("--out", type=Path, default=Path("docs/results.md"))
    ap.add_argument("--dry-run", action="store_true", help="print the commands of the unfinished runs only")
    ap.add_argument("--report-only", action="store_true", help="rebuild the page from finished runs")
    ap.add_argument("--list", action="store_true", help="list the registered comparisons")
    ap.add_argument("--arms", default="", help="comma-separated arms to run (default all; the page shows all)")
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time (each run uses one process)")
    args = ap.parse_args(argv)
    load_sections()
    if args.list:
        for c in COMPARISONS.values():
            print(f"{c.name}: {c.title} ({', '.join(c.arms)})")
        return 0
    unknown = [n for n in args.only if n not in COMPARISONS]
    if unknown:
        ap.error(f"unknown comparison(s) {unknown}; registered: {sorted(COMPARISONS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    chosen = [COMPARISONS[n] for n in args.only] if args.only else list(COMPARISONS.values())
    if not args.report_only:
        # seed-major: an interrupted page still has every arm at the first seeds
        only_arms = set(filter(None, args.arms.split(",")))
        todo = [(comp, arm, seed) for comp in chosen for seed in seeds for arm in comp.arms
                if not only_arms or arm in only_arms]
        with ThreadPoolExecutor(max_workers=1 if args.dry_run else args.jobs) as pool:
            for fut in [pool.submit(run_one, c, a, s, args.root, dry_run=args.dry_run) for c, a, s in todo]:
                fut.result()
    if args.dry_run:
        return 0
    write_report(list(COMPARISONS.values()), args.root, seeds, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
