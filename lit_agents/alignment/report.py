"""What an IterAlign run leaves for people to read: ``constitutions.jsonl``, ``evaluation.jsonl``, ``summary.md``,
``iteralign_progress.png``.

Files are rewritten in full from the loop state each time (the state lives in the checkpoint), so a resumed
run's directory shows every iteration, including those run before the restart. Each file is replaced
atomically (a temporary file beside it, then ``os.replace``): a run killed while writing leaves the previous
complete version, never a torn one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lit_agents.fileio import atomic_path, atomic_write_text


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def summary_markdown(history: list[dict], evals: list[dict]) -> str:
    """A readable report of every iteration: pass rates, accepted revisions, SFT loss, constitutions, scores."""
    lines = ["# IterAlign run summary", "",
             "Attack success rate (ASR) = share of judged answers the judge marked bad; *after* counts a bad answer",
             "as fixed when its constitution-guided revision was judged good. Accepted revisions enter SFT.", "",
             "| iter | prompts | judged | bad | ASR before | ASR after | revisions accepted | judge errors | "
             "unparseable | SFT steps | SFT loss (first → last) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for h in history:
        loss = (f"{h['sft_loss_first']:.3f} → {h['sft_loss_last']:.3f}" if h.get("sft_steps") else "no SFT")
        lines.append(f"| {h['iteration']} | {h['prompts'][0]}–{h['prompts'][1] - 1} | {h['judged']} | {h['bad']} | "
                     f"{_fmt(h['asr_before'])} | {_fmt(h['asr_after'])} | {h['accepted']}/{h['revised']} | "
                     f"{h['judge_errors']} | {h['judge_unparseable']} | {h['sft_steps']} | {loss} |")
    lines += ["", "## Constitutions", ""]
    for h in history:
        lines.append(f"### Iteration {h['iteration']}")
        if h["constitutions"]:
            lines += [f"{k}. {c}" for k, c in enumerate(h["constitutions"], start=1)]
        else:
            lines.append("_none proposed_ (" + ("no bad answers" if not h["bad"] else
                                                 "proposer gave no constitution: " + "; ".join(h["proposer_errors"]))
                         + ")")
        lines.append("")
    if evals:
        keys = sorted({k for e in evals for k in e["metrics"]})
        lines += ["## Evaluation (likelihood-ranked accuracy)", "",
                  "| after iteration | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for e in evals:
            lines.append(f"| {e['iteration']} | " + " | ".join(_fmt(e["metrics"].get(k)) for k in keys) + " |")
        lines.append("")
    return "\n".join(lines)


def write_outputs(directory: str | Path, history: list[dict], evals: list[dict]) -> Path:
    """Rewrite ``constitutions.jsonl``, ``evaluation.jsonl``, ``summary.md`` and ``iteralign_progress.png`` in
    ``directory``; returns the summary path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(d / "constitutions.jsonl", "".join(json.dumps(h, ensure_ascii=False) + "\n" for h in history))
    atomic_write_text(d / "evaluation.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in evals))
    path = d / "summary.md"
    atomic_write_text(path, summary_markdown(history, evals))
    plot_progress(history, evals, d / "iteralign_progress.png")
    return path


def log_wandb_tables(trainer, history: list[dict], cases: list[dict]) -> None:
    """The constitutions so far and this iteration's cases as W&B tables (when a WandbLogger is attached)."""
    from lightning.pytorch.loggers import WandbLogger

    if trainer is None or not trainer.is_global_zero:
        return
    for lg in trainer.loggers or []:
        if not isinstance(lg, WandbLogger):
            continue
        rows = [[h["iteration"], k, c] for h in history for k, c in enumerate(h["constitutions"], start=1)]
        lg.log_table(key="iteralign/constitutions", columns=["iteration", "rank", "constitution"], data=rows)
        cols = ["iteration", "prompt", "response", "verdict", "revision", "revision_verdict", "in_sft"]
        lg.log_table(key="iteralign/cases", columns=cols, data=[[str(c.get(k)) for k in cols] for c in cases])


def plot_progress(history: list[dict], evals: list[dict], path: str | Path) -> Path | None:
    """``iteralign_progress.png``: ASR before/after reflection and SFT loss per iteration, evaluation scores."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    its = [h["iteration"] for h in history]
    for key, label in (("asr_before", "before reflection"), ("asr_after", "after reflection")):
        axes[0].plot(its, [h[key] if h[key] is not None else float("nan") for h in history], marker="o", label=label)
    axes[0].set(title="attack success rate", xlabel="iteration", ylim=(-0.05, 1.05))
    axes[0].legend()
    axes[1].plot(its, [h["sft_loss_mean"] if h["sft_loss_mean"] is not None else float("nan") for h in history],
                 marker="o")
    axes[1].set(title="SFT loss (mean per iteration)", xlabel="iteration")
    for key in sorted({k for e in evals for k in e["metrics"]}):
        pts = [(e["iteration"], e["metrics"][key]) for e in evals if key in e["metrics"] and e["stage"] == "val"]
        if pts:
            axes[2].plot(*zip(*pts), marker="o", label=key)
    axes[2].set(title="likelihood-ranked accuracy", xlabel="after iteration", ylim=(-0.05, 1.05))
    if evals:
        axes[2].legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return out
