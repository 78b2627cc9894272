"""ReLiable and PlayBest numbers over seeds, as markdown tables (issue 19; meant to be called by ``make results``).

    python -m lit_agents.results_rl [--seeds 42 0 1] [--what reliable playbest] [--out docs/results_rl.md]
                                    [--root runs/results_rl] [--quick]

For each seed it runs the embedded default exactly as a user would (``lit-agents fit --config ...
--seed_everything S`` then ``test --ckpt_path <root>/checkpoints/last.ckpt``, in-process through the same
CLI), reads the test metrics and writes one row per seed plus the mean over seeds:

* ReLiable (``configs/reliable.yaml``): J(pi) and J(pi_beta) on the held-out test games with 95 % bootstrap
  intervals over possessions, J(pi) - J(pi_beta) with its interval, the ESS of the IS weights, and the planted
  better action: the policy's argmax rate vs pi_beta's argmax, on all planted states and on the states where
  the behaviour passed the better action up.
* PlayBest (``configs/playbest.yaml``): J_phi and the geometric event points of plans per guidance scale alpha
  next to their realism (per-frame speed, first-frame jump, offence spacing, out-of-court share), with the
  ground-truth possessions and the random walk from the same test start states.

``--quick`` cuts every run to a few steps (a smoke run of this script, not numbers to report). Runs are seeded
but not bit-identical across machines (BLAS, thread counts), so the tables say which machine made them.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np

RELIABLE_COLS = [("J_pi", "J_pi_lo", "J_pi_hi"), ("J_behaviour", "J_behaviour_lo", "J_behaviour_hi"),
                 ("J_pi_minus_behaviour", "J_pi_minus_behaviour_lo", "J_pi_minus_behaviour_hi")]
RELIABLE_RATES = ["J_pi_ess", "n_possessions", "better_action_rate", "better_behaviour_argmax_rate",
                  "better_behaviour_action_rate", "better_action_rate_passed_up",
                  "better_behaviour_argmax_rate_passed_up", "q_better_minus_best_other_passed_up", "f1_3pt"]
PLAYBEST_REALISM = ["speed", "first_jump", "offence_spacing", "out_of_court"]

QUICK = {"reliable": ["--trainer.max_steps", "4", "--trainer.check_val_every_n_epoch", "1",
                      "--data.init_args.synthetic.n_games", "6", "--data.init_args.synthetic.max_possessions", "4"],
         "playbest": ["--trainer.max_steps", "4", "--trainer.check_val_every_n_epoch", "1",
                      "--data.init_args.synthetic.n_games", "6", "--data.init_args.synthetic.max_possessions", "4",
                      "--model.init_args.evaluation.n_starts", "2", "--model.init_args.planning.n_samples", "1",
                      "--model.init_args.evaluation.segment_lengths", "[16]"]}


def run_config(config: str, seed: int, root: Path, extra: list[str],
               stage: str = "test") -> dict[str, float]:
    """fit then ``stage`` (``test``, or ``validate`` for choices made on validation data) on ``last.ckpt``, one
    config at one seed; that stage's metrics without their ``test/`` / ``val/`` prefix."""
    from lit_agents.cli import run_cli

    common = ["--config", config, "--seed_everything", str(seed), "--trainer.default_root_dir", str(root),
              "--trainer.enable_progress_bar", "false", *extra]
    run_cli(["fit", *common])
    cli = run_cli([stage, *common, "--ckpt_path", str(root / "checkpoints" / "last.ckpt")])
    prefix = {"test": "test/", "validate": "val/"}[stage]
    return {k.removeprefix(prefix): float(v) for k, v in cli.trainer.callback_metrics.items() if k.startswith(prefix)}


def fmt(x: float | None, nd: int = 2) -> str:
    """A table cell: ``x`` to ``nd`` decimals, ``–`` when missing or not finite."""
    return "–" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def reliable_table(rows: dict[int, dict[str, float]]) -> str:
    head = ["seed", "J(π) [95 % CI]", "J(π_β) [95 % CI]", "J(π) − J(π_β) [95 % CI]", "ESS / possessions",
            "better action: π / π_β argmax / logged (all planted)", "passed-up states: π / π_β argmax",
            "Q(better) − Q(other), passed-up", "F1-3pt"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def line(name: str, m: dict[str, float]) -> str:
        cis = [f"{fmt(m.get(a))} [{fmt(m.get(lo))}, {fmt(m.get(hi))}]" for a, lo, hi in RELIABLE_COLS]
        g = m.get
        return (f"| {name} | " + " | ".join(cis) + f" | {fmt(g('J_pi_ess'), 1)} / {fmt(g('n_possessions'), 0)} | "
                f"{fmt(g('better_action_rate'))} / {fmt(g('better_behaviour_argmax_rate'))} / "
                f"{fmt(g('better_behaviour_action_rate'))} | {fmt(g('better_action_rate_passed_up'))} / "
                f"{fmt(g('better_behaviour_argmax_rate_passed_up'))} | "
                f"{fmt(g('q_better_minus_best_other_passed_up'))} | {fmt(g('f1_3pt'))} |")
    for s, m in rows.items():
        out.append(line(str(s), m))
    keys = set().union(*rows.values()) if rows else set()
    out.append(line("**mean**", {k: float(np.mean([m[k] for m in rows.values() if k in m])) for k in keys}))
    return "\n".join(out)


def playbest_table(rows: dict[int, dict[str, float]]) -> str:
    alphas = sorted({k.split("J_alpha_")[1] for m in rows.values() for k in m if k.startswith("J_alpha_")}, key=float)
    head = ["seed", "plays", "J_φ", "event points", *PLAYBEST_REALISM]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = [("ground truth", "ground_truth", "J_ground_truth", "return_ground_truth"),
             ("random walk", "random_walk", "J_random_walk", "points_random_walk")]
    names += [(f"α = {a}", f"alpha_{a}", f"J_alpha_{a}", f"points_alpha_{a}") for a in alphas]
    keys = set().union(*rows.values()) if rows else set()
    mean = {k: float(np.mean([m[k] for m in rows.values() if k in m])) for k in keys}
    for s, m in [*rows.items(), ("**mean**", mean)]:
        for label, suffix, j, pts in names:
            real = [fmt(m.get(f"{r}_{suffix}")) for r in PLAYBEST_REALISM]
            out.append(f"| {s} | {label} | {fmt(m.get(j))} | {fmt(m.get(pts))} | " + " | ".join(real) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[42, 0, 1], help="none: only re-render the tables")
    ap.add_argument("--what", nargs="+", default=["reliable", "playbest"], choices=["reliable", "playbest"])
    ap.add_argument("--out", default="docs/results_rl.md")
    ap.add_argument("--root", default="runs/results_rl")
    ap.add_argument("--quick", action="store_true", help="a few steps per run: a smoke test of this script")
    args = ap.parse_args(argv)
    out = Path(args.out)
    raw_path = out.with_suffix(".json")
    raw = json.loads(raw_path.read_text()) if raw_path.is_file() else {}
    for what in args.what:
        rows = raw.setdefault(what, {})
        for s in args.seeds:
            root = Path(args.root) / f"{what}_seed{s}"
            rows[str(s)] = run_config(f"configs/{what}.yaml", s, root, QUICK[what] if args.quick else [])
            raw_path.parent.mkdir(parents=True, exist_ok=True)
            raw_path.write_text(json.dumps(raw, indent=1, sort_keys=True))
    md = [f"# ReLiable and PlayBest results\n\nMade by `python -m lit_agents.results_rl` on {platform.machine()} "
          f"({platform.system()}, CPU, torch fp32){' with --quick (smoke run, not results)' if args.quick else ''}. "
          "Seeded, but not bit-identical across machines. The **mean** rows average each column over the seeds "
          "(interval bounds included: not a pooled interval). Seeds: "
          + ", ".join(f"{w} {sorted(map(int, raw[w]))}" for w in ("reliable", "playbest") if raw.get(w)) + ".\n"]
    if raw.get("reliable"):
        md += ["## ReLiable (configs/reliable.yaml, held-out test games)\n",
               reliable_table({int(k): v for k, v in raw["reliable"].items()}), ""]
    if raw.get("playbest"):
        md += ["## PlayBest (configs/playbest.yaml, test start states; vs scripted man-to-man, replanning every 16)\n",
               "Event points of the ground truth: its real play-by-play return. Realism: mean player ft/frame, "
               "frame 0 -> 1 jump (ft), mean pairwise offence distance (ft), share of positions off the floor.\n",
               playbest_table({int(k): v for k, v in raw["playbest"].items()}), ""]
    out.write_text("\n".join(md) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
