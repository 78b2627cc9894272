"""ReLiable's CQL weight chosen on the validation games only (issue 19 item 4), by a rule fixed before any run.

    python -m lit_agents.reliable_select [--alphas 0.05 0.5] [--seeds 42 0 1] [--out docs/reliable_cql_select.md]
                                         [--root runs/reliable_select] [--quick]

The rule (stated here before the first run): for every ``cql_alpha`` in ``--alphas`` and every seed in ``--seeds``,
fit ``configs/reliable.yaml`` with ``--model.init_args.cql_alpha ALPHA --seed_everything SEED`` exactly as the
ReLiable section of ``python -m lit_agents.results`` does, then ``validate`` its ``last.ckpt`` (the model the
results test) on the validation games (``data.val_fraction``; never the test games). The chosen weight is the one
with the highest mean over seeds of ``val/J_pi_minus_behaviour`` (the bootstrap point estimate of J(π) − J(π_β),
the quantity item 4 asks about); ties go to the larger weight. Nothing here runs ``test``. If the chosen weight is
not the embedded default, the default changes (``configs/reliable.yaml`` and ``ReLiableDQN``) and the test numbers
come from ``python -m lit_agents.results --only reliable`` afterwards.

Grid: 0.5 is the embedded default (its Q(better) − Q(other) at the passed-up states is −4.6 to −6.0 on test:
the penalty drowns the planted reward there); 0.05 is ten times smaller (CQL(H) pushes an action down by about
α / its data frequency, and a shot is ~2 % of the steps). The page lists every validation number, one row per
weight and seed, plus the mean, and says which weight the rule picks and whether every seed has run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lit_agents.results_rl import QUICK, fmt, run_config

VAL_KEYS = ["J_pi_minus_behaviour", "J_pi_minus_behaviour_lo", "J_pi_minus_behaviour_hi", "J_pi", "J_behaviour",
            "J_pi_ess", "n_possessions", "better_action_rate_passed_up", "better_behaviour_argmax_rate_passed_up",
            "q_better_minus_best_other_passed_up"]


def fit_and_validate(alpha: float, seed: int, root: Path, extra: list[str]) -> dict[str, float]:
    """fit ``configs/reliable.yaml`` at ``cql_alpha=alpha`` and ``seed``, validate ``last.ckpt``: the val metrics."""
    return run_config("configs/reliable.yaml", seed, root, ["--model.init_args.cql_alpha", str(alpha), *extra],
                      stage="validate")


def choose(rows: dict[str, dict[str, dict[str, float]]], seeds: list[int]) -> tuple[float | None, dict[str, float]]:
    """The rule: the weight with the highest mean val J(π) − J(π_β) over ``seeds`` (ties: the larger weight), among
    the weights every seed has run for; ``(None, means)`` when none has all seeds."""
    means = {a: float(np.mean([r[str(s)]["J_pi_minus_behaviour"] for s in seeds])) for a, r in rows.items()
             if all(str(s) in r for s in seeds)}
    if not means:
        return None, means
    return max(means, key=lambda a: (means[a], float(a))), means


def page(rows: dict[str, dict[str, dict[str, float]]], seeds: list[int], quick: bool,
         alphas: list[float] | None = None) -> str:
    """The markdown page: every validation row, the means, the choice (or which runs are missing)."""
    f = fmt
    head = ["cql_alpha", "seed", "J(π) − J(π_β) [95 % CI]", "J(π)", "J(π_β)", "ESS / possessions",
            "passed-up: π / π_β argmax", "Q(better) − Q(other), passed-up"]
    out = ["# ReLiable: cql_alpha chosen on the validation games\n",
           "Made by `python -m lit_agents.reliable_select`" + (" --quick (smoke run, not results)" if quick else "")
           + "; the rule is in that module's docstring. Validation games only; no test numbers here.\n",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    for a in sorted(rows, key=float):
        for s, m in rows[a].items():
            g = m.get
            out.append(f"| {a} | {s} | {f(g('J_pi_minus_behaviour'))} [{f(g('J_pi_minus_behaviour_lo'))}, "
                       f"{f(g('J_pi_minus_behaviour_hi'))}] | {f(g('J_pi'))} | {f(g('J_behaviour'))} | "
                       f"{f(g('J_pi_ess'), 1)} / {f(g('n_possessions'), 0)} | {f(g('better_action_rate_passed_up'))} / "
                       f"{f(g('better_behaviour_argmax_rate_passed_up'))} | "
                       f"{f(g('q_better_minus_best_other_passed_up'))} |")
    best, means = choose(rows, seeds)
    out.append("")
    out.append("Mean val J(π) − J(π_β) over seeds " + ", ".join(map(str, seeds)) + ": "
               + (", ".join(f"cql_alpha {a}: {v:.3f}" for a, v in sorted(means.items(), key=lambda t: float(t[0])))
                  or "no weight has run every seed yet") + ".")
    grid = [str(a) for a in alphas] if alphas else list(rows)
    missing = [f"{a}/{s}" for s in seeds for a in grid if str(s) not in rows.get(a, {})]
    out.append(f"**Chosen: cql_alpha {best}.**" if best is not None and not missing
               else "**No choice yet**: runs missing (cql_alpha/seed): " + ", ".join(missing) + ".")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.05, 0.5])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 0, 1])
    ap.add_argument("--out", default="docs/reliable_cql_select.md")
    ap.add_argument("--root", default="runs/reliable_select")
    ap.add_argument("--quick", action="store_true", help="a few steps per run: a smoke test of this script")
    args = ap.parse_args(argv)
    out = Path(args.out)
    raw_path = out.with_suffix(".json")
    raw = json.loads(raw_path.read_text()) if raw_path.is_file() else {}
    for s in args.seeds:                     # seed-major: every weight has a row for a seed before the next seed
        for a in args.alphas:
            rows = raw.setdefault(str(a), {})
            if str(s) in rows:
                continue
            m = fit_and_validate(a, s, Path(args.root) / f"alpha{a}_seed{s}", QUICK["reliable"] if args.quick else [])
            rows[str(s)] = {k: m[k] for k in VAL_KEYS if k in m}
            out.parent.mkdir(parents=True, exist_ok=True)
            raw_path.write_text(json.dumps(raw, indent=1, sort_keys=True))
            out.write_text(page(raw, args.seeds, args.quick, args.alphas))
    out.write_text(page(raw, args.seeds, args.quick, args.alphas))
    print(out.read_text())


if __name__ == "__main__":
    main()
