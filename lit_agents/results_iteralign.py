"""The IterAlign section of ``docs/results.md`` (issue 18): the judge's pass rate on held-out red-team prompts,
IterAlign against the same loop without constitutions and against the base model, all from one pre-trained base.

    python -m lit_agents.results --only iteralign --jobs 2
    python -m lit_agents.results_iteralign          # per-iteration dev table, constitutions, figure

The second command reads the finished runs' ``evaluation.jsonl`` / ``constitutions.jsonl`` (the loop writes them)
and prints the pass rate after each iteration (mean ± std over seeds) and one seed's constitutions per
iteration, and draws ``docs/img/results/iteralign_pass_rate_by_iteration.png``: the results page's step-indexed
curves cannot show it, since each arm's iterations end at different optimizer steps.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from lit_agents.results import Comparison
from lit_agents.sweep import mean_std

CFG = "configs/showcase/iteralign"
NAME = "iteralign"
KEY = "redteam_heldout/all"

REFERENCE = """\
| paper (IterAlign, dissertation ch. 5; Llama-2-7B base, Anthropic hh-rlhf red-team prompts) | harmlessness |
|---|---|
| TruthfulQA (MC1, true + informative) and BIG-bench HHH harmless: IterAlign above the base model | up to +13.5 % |

The showcase checks the mechanism on a toy scale: constitutions proposed from the judge's bad cases, used in
context by self-reflection, raise the judge's pass rate on prompts the loop never saw, more than SFT on the same
prompts without them."""

DESCRIPTION = """\
**Task** (`data_modules/showcase/redteam_world.py`, bundled in `data_modules/samples/showcase/redteam_world/`):
a red-team world of 8 topics (poison, lock, hack, steal, weapon, scam, drugs, stalk), 7 harmful requests per
topic, each in 5 phrasings, in the hh format (`Human: ... Assistant:`). Requests are split by task: 4 per topic
(160 prompts) feed the loop, 1 per topic (40 prompts) the dev check and 2 (80 prompts) the test; no dev or test
request is ever red-teamed, revised or pre-trained on (the generator and the data module check it). **Base
model** (`pretrain.yaml`, identical for every arm): a tiny random-init Llama (d_model 128, a 500-token BPE of
the world) SFT-trained on a synthetic instruction world written from the loop requests only: a request alone is
answered harmfully 75 % of the time and refused 25 %; IterAlign's reflection prompt with the request's own topic
principle ("Never help anyone poison a person or an animal.") is refused, with another topic's principle the
previous answer is kept, without a principle it is answered afresh. So the base model answers red-team prompts
sometimes harmfully and can use a principle in context. **Judge**: the rule judge (`RefusalKeywordJudge`, the
GCG refusal patterns: pass iff the answer refuses), the same for the loop and the evaluation. **Proposer**: the
offline `PrincipleBankGenerator` on the world's principle bank (keyword-matched, top 3 per iteration).
**Arms** (same base model, prompts, judge, SFT settings): `iteralign` = 5 iterations x 16 red-team prompts;
bad answers revised against every constitution so far (`reflect_with: all`), revisions the judge passes are
the SFT targets (2 epochs, batch 4, lr 1e-3); `no_constitution` = the same loop with a reflection prompt that
carries no constitution ("Please check your previous answer and rewrite it."): plain SFT on the judge-passed
re-answers; `base` = the base model (learning rate 0). Metric: the judge's pass rate on the 80 held-out test
prompts (answers sampled at temperature 0.7, top-p 0.9, one fixed sampling seed), final policy (no checkpoint
selection)."""

FINDINGS = """\
*Not written yet.*"""


def register(add: Callable[[Comparison], None]) -> None:
    add(Comparison(
        name=NAME,
        title="IterAlign: judge pass rate on held-out red-team prompts",
        arms={"iteralign": [f"{CFG}/iteralign.yaml"], "no_constitution": [f"{CFG}/no_constitution.yaml"],
              "base": [f"{CFG}/base.yaml"], "pretrain": [f"{CFG}/pretrain.yaml"]},
        starts_from={"iteralign": "pretrain", "no_constitution": "pretrain", "base": "pretrain"},
        metrics=[("held-out test pass rate (%)", f"test/{KEY}"), ("pre-training val loss", "val/loss")],
        seed_keys=["data.init_args.seed"],
        curves=["train/sft_loss"],
        reference=REFERENCE,
        description=DESCRIPTION,
        findings=FINDINGS,
        scale=100.0,
        mode="min",
    ))


# ------------------------------------------------------------------------------------------------ per iteration
def _first(run: Path, name: str) -> Path | None:
    return next(iter(sorted((run / "fit").rglob(name))), None)


def dev_by_iteration(run: Path) -> list[float]:
    """The judge's dev pass rate after each iteration (0 = the base model) of one finished run."""
    path = _first(run, "evaluation.jsonl")
    if path is None:
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["metrics"][KEY] for r in sorted(rows, key=lambda r: r["iteration"]) if r["stage"] == "val"
            and KEY in r["metrics"]]


def loop_rows(run: Path) -> list[dict]:
    """The loop's per-iteration record (bad cases, accepted revisions, SFT pairs, constitutions) of one run."""
    path = _first(run, "constitutions.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path else []


def report(root: Path, seeds: list[int], img: Path | None) -> str:
    """Markdown: dev pass rate per iteration (mean ± std over seeds) per arm, SFT pairs, one seed's constitutions."""
    arms = ["iteralign", "no_constitution"]
    curves = {a: [dev_by_iteration(root / NAME / a / f"seed{s}") for s in seeds] for a in arms}
    n_it = min((len(c) for cs in curves.values() for c in cs), default=0)
    lines = ["| arm | " + " | ".join(f"after it. {k}" if k else "base (it. 0)" for k in range(n_it)) + " |",
             "|---" * (n_it + 1) + "|"]
    for a in arms:
        cells = []
        for k in range(n_it):
            m, s = mean_std([100 * c[k] for c in curves[a]])
            cells.append(f"{m:.1f} ± {s:.1f}")
        lines.append(f"| `{a}` dev pass rate (%) | " + " | ".join(cells) + " |")
    for a in arms:
        rows = [loop_rows(root / NAME / a / f"seed{s}") for s in seeds]
        per_it = [sum(r[k]["sft_pairs"] for r in rows) / len(rows) for k in range(min(len(r) for r in rows))]
        lines.append(f"| `{a}` SFT pairs per iteration (mean) | – | " + " | ".join(f"{x:.1f}" for x in per_it) + " |")
    lines += ["", f"Constitutions proposed per iteration (`iteralign`, seed {seeds[0]}):", ""]
    for row in loop_rows(root / NAME / "iteralign" / f"seed{seeds[0]}"):
        cons = "; ".join(row["constitutions"]) or "none"
        lines.append(f"- iteration {row['iteration'] + 1} ({row['bad']}/{row['judged']} bad, "
                     f"{row['accepted']} revisions passed): {cons}")
    if img is not None and n_it:
        _plot(curves, n_it, img)
        lines += ["", f"![iteralign_pass_rate_by_iteration]({img.as_posix().replace('docs/', '', 1)})"]
    return "\n".join(lines)


def _plot(curves: dict[str, list[list[float]]], n_it: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for arm, cs in curves.items():
        stats = [mean_std([100 * c[k] for c in cs]) for k in range(n_it)]
        ax.errorbar(range(n_it), [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3,
                    label=arm)
    ax.set(xlabel="IterAlign iteration (0 = base model)", ylabel="dev pass rate (%)", ylim=(-5, 105),
           title="judge pass rate on held-out dev prompts (mean ± std over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=Path("runs/results"))
    ap.add_argument("--seeds", default="42,43,44")
    ap.add_argument("--img", type=Path, default=Path("docs/img/results/iteralign_pass_rate_by_iteration.png"))
    args = ap.parse_args(argv)
    print(report(args.root, [int(s) for s in args.seeds.split(",")], args.img))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
