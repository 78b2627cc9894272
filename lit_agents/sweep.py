"""Run one config over a grid (e.g. 5 seeds x 4 shot counts) and report mean ± std per cell.

The few-shot papers report mean ± std over seeds 42..46 for k in {16, 32, 64, 128}. This runs
``lit-agents fit`` once per grid point (then ``lit-agents test`` on the best checkpoint when ``--test``), reads
each run's CSV log (``metrics.csv``), and aggregates the best validation value and the test value of the chosen
metrics into a CSV file and a markdown table, grouped by every grid key except the seed::

    python -m lit_agents.sweep --config configs/gotta.yaml \\
        --grid data.sample_seed=42,43,44,45,46 --grid data.num_examples=16,32,64,128 \\
        --tie data.val_size=data.num_examples --seed-key data.sample_seed --test --out runs/sweep_gotta

``--dry-run`` prints the commands only (with ``--test``, each test command too, its checkpoint named by where it
will be found); extra ``lit-agents`` arguments follow ``--``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import shlex
import subprocess
import sys
from pathlib import Path


def grid_points(grid: dict[str, list[str]], ties: dict[str, str]) -> list[dict[str, str]]:
    """Cartesian product of ``grid``; ``ties`` copies one key's value to another (e.g. val_size = k)."""
    keys = list(grid)
    points = []
    for values in itertools.product(*(grid[k] for k in keys)):
        p = dict(zip(keys, values))
        p.update({dst: p[src] for dst, src in ties.items()})
        points.append(p)
    return points


def run_name(point: dict[str, str]) -> str:
    return "-".join(f"{k.split('.')[-1]}{v}" for k, v in point.items())


def read_metrics(run_root: Path) -> dict[str, list[float]]:
    """All values of every column of every ``metrics.csv`` under ``run_root`` (CSVLogger output)."""
    values: dict[str, list[float]] = {}
    for path in sorted(run_root.rglob("metrics.csv")):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                for k, v in row.items():
                    if v not in ("", None):
                        try:
                            values.setdefault(k, []).append(float(v))
                        except ValueError:
                            continue
    return values


def summarise_run(run_root: Path, metrics: list[str], mode: str = "max") -> dict[str, float]:
    """Best ``val/<m>`` (max or min over validations) and last ``test/<m>`` of one run."""
    vals = read_metrics(run_root)
    out: dict[str, float] = {}
    for m in metrics:
        if vals.get(f"val/{m}"):
            out[f"val/{m}"] = (max if mode == "max" else min)(vals[f"val/{m}"])
        if vals.get(f"test/{m}"):
            out[f"test/{m}"] = vals[f"test/{m}"][-1]
    return out


def mean_std(xs: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value)."""
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
    return mean, math.sqrt(var)


def aggregate(rows: list[dict], group_keys: list[str], value_keys: list[str]) -> list[dict]:
    """Group ``rows`` by ``group_keys`` and give ``mean``/``std``/``n`` of each value key."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in group_keys), []).append(r)
    out = []
    for key, rs in groups.items():
        agg: dict = dict(zip(group_keys, key))
        for v in value_keys:
            xs = [r[v] for r in rs if r.get(v) is not None]
            if xs:
                agg[f"{v} mean"], agg[f"{v} std"] = mean_std(xs)
                agg[f"{v} n"] = len(xs)
        out.append(agg)
    return out


def to_markdown(agg: list[dict], group_keys: list[str], value_keys: list[str]) -> str:
    head = "| " + " | ".join(group_keys + value_keys) + " |"
    lines = [head, "|" + "---|" * (len(group_keys) + len(value_keys))]
    for a in agg:
        cells = [str(a[k]) for k in group_keys]
        cells += [f"{a[f'{v} mean']:.1f} ± {a[f'{v} std']:.1f}" if f"{v} mean" in a else "-" for v in value_keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _best_checkpoint(run_root: Path) -> Path | None:
    ckpts = [p for p in run_root.rglob("*.ckpt") if p.name != "last.ckpt"]
    return max(ckpts, key=lambda p: p.stat().st_mtime) if ckpts else None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, action="append", help="lit-agents config(s), in order")
    ap.add_argument("--grid", action="append", default=[], help="key=v1,v2,... (repeatable)")
    ap.add_argument("--tie", action="append", default=[], help="dst=src: set dst to src's value")
    ap.add_argument("--seed-key", default="data.sample_seed", help="the grid key averaged over")
    ap.add_argument("--metrics", default="f1,em", help="metric names logged as val/<m> and test/<m>")
    ap.add_argument("--mode", default="max", choices=["max", "min"], help="best validation value")
    ap.add_argument("--test", action="store_true", help="run `lit-agents test` on each best checkpoint")
    ap.add_argument("--out", default="runs/sweep")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)
    grid = {k: v.split(",") for k, v in (g.split("=", 1) for g in args.grid)}
    ties = dict(t.split("=", 1) for t in args.tie)
    metrics = args.metrics.split(",")
    out = Path(args.out)
    rows = []
    for point in grid_points(grid, ties):
        root = out / run_name(point)
        base = [sys.executable, "-m", "lit_agents.cli"]
        cfg = [a for c in args.config for a in ("--config", c)]
        sets = [a for k, v in point.items() for a in (f"--{k}", v)]
        seed = ["--seed_everything", point[args.seed_key]] if args.seed_key in point else []
        fit = base + ["fit", *cfg, *sets, *seed, "--trainer.default_root_dir", str(root / "fit"), *extra]
        test_base = base + ["test", *cfg, *sets, *seed, "--trainer.default_root_dir", str(root / "test")]
        print(shlex.join(fit), flush=True)
        if args.dry_run:
            if args.test:  # the checkpoint is known after fit: the newest non-last .ckpt under <run>/fit
                test_cmd = [*test_base, "--ckpt_path", f"<best .ckpt under {root / 'fit'}>", *extra]
                print(shlex.join(test_cmd), flush=True)
        else:
            subprocess.run(fit, check=True)
            ckpt = _best_checkpoint(root / "fit")
            if args.test and ckpt is not None:
                test_cmd = [*test_base, "--ckpt_path", str(ckpt), *extra]
                print(shlex.join(test_cmd), flush=True)
                subprocess.run(test_cmd, check=True)
        rows.append({**point, **summarise_run(root, metrics, args.mode)})
    if args.dry_run:
        return 0
    group_keys = [k for k in grid if k != args.seed_key and k not in ties]
    value_keys = [f"{s}/{m}" for s in ("val", "test") for m in metrics]
    agg = aggregate(rows, group_keys, value_keys)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "runs.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sorted({k for a in agg for k in a}, key=str))
        w.writeheader()
        w.writerows(agg)
    md = to_markdown(agg, group_keys, value_keys)
    (out / "summary.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
