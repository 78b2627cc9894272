"""GRPO learns like TRL: mean-reward curves of lit-agents' GRPOModule and TRL's GRPOTrainer, same everything.

A simple verifiable task: each prompt asks for a reply in one character class (``Reply with digits only.`` /
``... lowercase letters only.`` / ``... upper-case letters only.``); the reward of a completion is the share of
its characters in the asked class (0 when empty), a programmatic check. Per seed, one tiny Llama (byte
tokenizer, random init from that seed) is saved to a directory and both trainers load it; they see the same
prompts, use the same reward function, group size G, learning rate (constant, no warm-up), β (k3 KL to the
initial policy), ε, DAPO loss, group-scaled advantages, completion length, temperature 1 (no top-k/top-p), one
optimiser step per generation (ρ ≡ 1), gradient clipping 1.0 and number of steps. Prints both mean-reward
curves (mean ± std over seeds, per step), whether they agree within their spread, and saves a PNG.

    python benchmarks/grpo_curves_vs_trl.py [--seeds 0,1,2] [--steps 100] [--png docs/img/grpo_curves_vs_trl.png]
    python benchmarks/grpo_curves_vs_trl.py --quick     # seconds: 1 seed, 3 steps, 2 prompts, G=4, 8 tokens, no PNG

Needs ``trl`` (``pip install -e ".[bench]"``). Not in CI (tests/test_benchmarks.py runs ``--quick`` only).
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import Result, emit  # noqa: E402

from lit_agents.backbone import BackboneConfig, TinySpec  # noqa: E402
from lit_agents.methods.grpo import GRPOModule  # noqa: E402

CLASSES = {"digits": str.isdigit, "lowercase letters": lambda c: "a" <= c <= "z",
           "upper-case letters": lambda c: "A" <= c <= "Z"}
PROMPTS = [{"prompt": f"Task {i}: reply with {kind} only.\n", "kind": kind}
           for i in range(48) for kind in [list(CLASSES)[i % len(CLASSES)]]]
# GRPOModule takes reward functions by import path; this script runs as __main__ or as a module
REWARD_PATH = f"{__name__}.class_share_reward"


def class_share_reward(completions, kind, **_):
    """Share of the completion's characters in the asked class (``kind`` is the batch column)."""
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [sum(CLASSES[k](ch) for ch in t) / len(t) if t else 0.0 for t, k in zip(texts, kind, strict=True)]


def save_policy(path: str, seed: int) -> None:
    torch.manual_seed(seed)
    model, tok = BackboneConfig(tiny=TinySpec(d_model=64, n_layers=2, n_heads=4, d_ff=128)).build()
    model.save_pretrained(path)
    tok.save_pretrained(path)


class RewardCurve(L.Callback):
    def __init__(self):
        self.rewards: list[float] = []

    def on_train_batch_end(self, trainer, *args):
        self.rewards.append(float(trainer.callback_metrics["train/reward"]))


def run_ours(path: str, seed: int, a) -> list[float]:
    L.seed_everything(seed, verbose=False)
    module = GRPOModule(BackboneConfig(name_or_path=path), reward_funcs=[REWARD_PATH],
                        num_generations=a.num_generations, max_completion_length=a.max_completion_length,
                        max_prompt_length=256, temperature=1.0, beta=a.beta, epsilon=0.2, learning_rate=a.lr,
                        loss_type="dapo", scale_rewards="group", scheduler="constant", apply_chat_template=False,
                        log_completions_every=0, max_grad_norm=1.0)
    data = torch.utils.data.DataLoader(PROMPTS, batch_size=a.prompts_per_step, shuffle=True,
                                       collate_fn=lambda rs: {k: [r[k] for r in rs] for k in rs[0]})
    curve = RewardCurve()
    trainer = L.Trainer(max_steps=a.steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[curve])
    trainer.fit(module, data)
    return curve.rewards


def run_trl(path: str, seed: int, a) -> list[float]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    class Curve(TrainerCallback):
        def __init__(self):
            self.rewards: list[float] = []

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "reward" in logs:
                self.rewards.append(float(logs["reward"]))

    cfg = GRPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=a.prompts_per_step * a.num_generations,
                     num_generations=a.num_generations, max_completion_length=a.max_completion_length,
                     beta=a.beta, epsilon=0.2, learning_rate=a.lr, lr_scheduler_type="constant", warmup_steps=0,
                     loss_type="dapo", scale_rewards="group", max_steps=a.steps, temperature=1.0, top_p=1.0,
                     top_k=0, max_grad_norm=1.0, weight_decay=0.0, use_cpu=True, bf16=False, report_to="none",
                     logging_steps=1, save_strategy="no", seed=seed, dataloader_num_workers=0,
                     disable_tqdm=True)
    curve = Curve()
    trainer = GRPOTrainer(model=path, reward_funcs=[class_share_reward], args=cfg,
                          train_dataset=Dataset.from_list(PROMPTS), callbacks=[curve])
    trainer.train()
    return curve.rewards


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def plot(curves: dict[str, list[list[float]]], png: Path, a) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, runs in curves.items():
        steps = range(1, min(len(r) for r in runs) + 1)
        ms = [_mean_std([r[s - 1] for r in runs]) for s in steps]
        m = [x for x, _ in ms]
        sd = [y for _, y in ms]
        ax.plot(list(steps), m, label=f"{name} (mean of {len(runs)} seeds)")
        ax.fill_between(list(steps), [x - y for x, y in zip(m, sd)], [x + y for x, y in zip(m, sd)], alpha=0.2)
    ax.set_xlabel("optimiser step (one generation each)")
    ax.set_ylabel("mean reward")
    ax.set_title(f"GRPO, same init/prompts/reward: G={a.num_generations}, lr={a.lr:g}, β={a.beta:g}, "
                 f"{a.max_completion_length} tokens", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[Result]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--prompts-per-step", type=int, default=4)
    p.add_argument("--num-generations", type=int, default=8)
    p.add_argument("--max-completion-length", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--beta", type=float, default=0.04)
    p.add_argument("--last", type=int, default=10, help="steps averaged for the final-reward figure")
    p.add_argument("--png", type=Path, default=Path("docs/img/grpo_curves_vs_trl.png"))
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long smoke run (1 seed, 3 steps, 2 prompts, G=4, 8 tokens)")
    a = p.parse_args(argv)
    if a.quick:
        a.seeds, a.steps, a.prompts_per_step, a.num_generations, a.max_completion_length, a.last = "0", 3, 2, 4, 8, 2
    seeds = [int(s) for s in a.seeds.split(",")]
    logging.disable(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    curves: dict[str, list[list[float]]] = {"lit-agents GRPOModule": [], "TRL GRPOTrainer": []}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as path:
            save_policy(path, seed)
            curves["lit-agents GRPOModule"].append(run_ours(path, seed, a))
            curves["TRL GRPOTrainer"].append(run_trl(path, seed, a))
    print(f"seeds={seeds} steps={a.steps} prompts/step={a.prompts_per_step} G={a.num_generations} "
          f"completion={a.max_completion_length} lr={a.lr} beta={a.beta} threads={torch.get_num_threads()}")
    n = min(len(r) for runs in curves.values() for r in runs)
    print("step | " + " | ".join(f"{k}: mean ± std" for k in curves))
    for s in range(n):
        print(f"{s + 1:4d} | " + " | ".join("{:.3f} ± {:.3f}".format(*_mean_std([r[s] for r in runs]))
                                              for runs in curves.values()))
    finals = {k: [statistics.fmean(r[n - min(a.last, n):n]) for r in runs] for k, runs in curves.items()}
    (ours_m, ours_s), (trl_m, trl_s) = (_mean_std(v) for v in finals.values())
    first = {k: statistics.fmean(r[0] for r in runs) for k, runs in curves.items()}
    print(f"first step: ours {first['lit-agents GRPOModule']:.3f}, TRL {first['TRL GRPOTrainer']:.3f}")
    print(f"mean reward over the last {min(a.last, n)} steps: ours {ours_m:.3f} ± {ours_s:.3f}, "
          f"TRL {trl_m:.3f} ± {trl_s:.3f} (over seeds)")
    agree = abs(ours_m - trl_m) <= max(ours_s, trl_s, 1e-9) * 2
    print(f"agree within 2 x the larger seed std: {'yes' if agree else 'NO'}")
    if not a.quick:
        plot(curves, a.png, a)
        print(f"wrote {a.png}")
    res = [Result("grpo_curves_vs_trl", f"mean reward, last {min(a.last, n)} steps", ours_m, trl_m,
                  "TRL GRPOTrainer",
                  note=f"{len(seeds)} seeds, {a.steps} steps; std ours {ours_s:.3f} TRL {trl_s:.3f}")]
    emit(*res)
    return res


if __name__ == "__main__":
    main()
