"""Seconds per GRPO optimiser step: lit-agents' GRPOModule vs TRL's GRPOTrainer, same tiny policy, same work.

Both runs load the same tiny Llama saved to a directory, see the same prompts, sample the same number of
completions per prompt with the same lengths, use the same reward function, β (so both compute reference
log-probs), ε, learning rate and one optimiser step per generation. The first steps (warm-up) are excluded.
Each step is timed in wall-clock seconds and in CPU-seconds of this process (steadier on a shared machine;
with one thread the two coincide on an idle one). The two trainers run alternately, ``--rounds`` times each
(ours, TRL, ours, TRL, ...), and each figure is the mean over its rounds, so a change of load on a shared
machine falls on both sides.

    python benchmarks/grpo_vs_trl.py [--steps 12] [--rounds 2] [--beta 0.04] [--ours-only] [--quick]

Needs ``trl`` (``pip install -e ".[bench]"``; it does not change torch) for the comparison. Prints both times
and ours/TRL; without TRL (or with ``--ours-only``) it prints our time and says the ratio was not measured.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import Result, emit  # noqa: E402

from lit_agents.backbone import BackboneConfig, TinySpec  # noqa: E402
from lit_agents.methods.grpo import GRPOModule  # noqa: E402

PROMPTS = [f"Question {i}: which answer is safer, A or B? Reply with <answer>[[A]]</answer> or [[B]]."
           for i in range(64)]


# GRPOModule takes reward functions by import path. This script runs as ``__main__`` (``python
# benchmarks/grpo_vs_trl.py``, where ``benchmarks.`` is not importable) or as a module: name it by ``__name__``.
REWARD_PATH = f"{__name__}.char_reward"


def char_reward(completions, **_):
    """Cheap, deterministic reward used by both trainers: share of lower-case ASCII letters."""
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [sum("a" <= ch <= "z" for ch in t) / max(1, len(t)) for t in texts]


def save_tiny_policy(path: str) -> None:
    model, tok = BackboneConfig(tiny=TinySpec(d_model=64, n_layers=2, n_heads=4, d_ff=128)).build()
    model.save_pretrained(path)
    tok.save_pretrained(path)


def stamp() -> tuple[float, float]:
    """(wall-clock, process CPU) seconds now."""
    return time.perf_counter(), time.process_time()


class StepTimer(L.Callback):
    def __init__(self):
        self.stamps: list[tuple[float, float]] = []

    def on_train_batch_end(self, trainer, *args):
        self.stamps.append(stamp())


def per_step(stamps: list[tuple[float, float]], warmup: int) -> tuple[float, float]:
    """(wall, CPU) seconds per step after the warm-up steps."""
    s = stamps[warmup:]
    return tuple((s[-1][k] - s[0][k]) / (len(s) - 1) for k in (0, 1))


def run_ours(path: str, a) -> tuple[float, float]:
    L.seed_everything(0)
    module = GRPOModule(BackboneConfig(name_or_path=path), reward_funcs=[REWARD_PATH],
                        num_generations=a.num_generations, max_completion_length=a.max_completion_length,
                        max_prompt_length=256, beta=a.beta, epsilon=0.2, learning_rate=1e-5, loss_type="dapo",
                        apply_chat_template=False, log_completions_every=0, max_grad_norm=1.0)
    data = torch.utils.data.DataLoader([{"prompt": p} for p in PROMPTS], batch_size=a.prompts_per_step,
                                       collate_fn=lambda rs: {"prompt": [r["prompt"] for r in rs]})
    timer = StepTimer()
    trainer = L.Trainer(max_steps=a.steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(module, data)
    return per_step(timer.stamps, a.warmup)


def run_trl(path: str, a) -> tuple[float, float]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    class Timer(TrainerCallback):
        def __init__(self):
            self.stamps: list[tuple[float, float]] = []

        def on_step_end(self, args, state, control, **kw):
            self.stamps.append(stamp())

    cfg = GRPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=a.prompts_per_step * a.num_generations,
                     num_generations=a.num_generations, max_completion_length=a.max_completion_length,
                     beta=a.beta, epsilon=0.2, learning_rate=1e-5, loss_type="dapo", max_steps=a.steps,
                     temperature=1.0, top_p=1.0, max_grad_norm=1.0, use_cpu=True, bf16=False, report_to="none",
                     logging_steps=1000, save_strategy="no", seed=0, dataloader_num_workers=0)
    timer = Timer()
    trainer = GRPOTrainer(model=path, reward_funcs=[char_reward], args=cfg,
                          train_dataset=Dataset.from_dict({"prompt": PROMPTS}), callbacks=[timer])
    trainer.train()
    return per_step(timer.stamps, a.warmup)


def main(argv: list[str] | None = None) -> list[Result]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="alternating runs of each trainer (figures: their mean)")
    p.add_argument("--prompts-per-step", type=int, default=4)
    p.add_argument("--num-generations", type=int, default=8)
    p.add_argument("--max-completion-length", type=int, default=32)
    p.add_argument("--beta", type=float, default=0.04)
    p.add_argument("--ours-only", action="store_true", help="time GRPOModule only (no TRL run)")
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke run (3 steps, 1 prompt, G=2, 8 tokens)")
    a = p.parse_args(argv)
    if a.quick:
        a.steps, a.warmup, a.prompts_per_step, a.num_generations, a.max_completion_length = 3, 1, 1, 2, 8
        a.rounds = 1
    logging.disable(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    has_trl = importlib.util.find_spec("trl") is not None
    with tempfile.TemporaryDirectory() as path:
        save_tiny_policy(path)
        ours_runs, their_runs = [], []
        for _ in range(max(1, a.rounds)):
            ours_runs.append(run_ours(path, a))
            if has_trl and not a.ours_only:
                their_runs.append(run_trl(path, a))
    mean = lambda runs: tuple(sum(r[k] for r in runs) / len(runs) for k in (0, 1))  # noqa: E731
    ours, theirs = mean(ours_runs), (mean(their_runs) if their_runs else None)
    print(f"threads={torch.get_num_threads()} prompts/step={a.prompts_per_step} G={a.num_generations} "
          f"completion={a.max_completion_length} beta={a.beta} rounds={len(ours_runs)}")
    for i, r in enumerate(ours_runs):
        print(f"  round {i + 1}: ours {r[0]:.3f} s ({r[1]:.3f} CPU-s)"
              + (f", TRL {their_runs[i][0]:.3f} s ({their_runs[i][1]:.3f} CPU-s)" if their_runs else ""))
    print(f"lit-agents GRPOModule : {ours[0]:.3f} s/step ({ours[1]:.3f} CPU-s/step)")
    if theirs is None:
        print("trl GRPOTrainer       : not run (" + ("--ours-only" if has_trl else
              'trl not installed: pip install -e ".[bench]"') + "): ratio not measured")
        res = [Result("grpo_vs_trl", "seconds per GRPO step", ours[0], note="TRL not run"),
               Result("grpo_vs_trl", "CPU-seconds per GRPO step", ours[1], note="TRL not run")]
        emit(*res)
        return res
    print(f"trl GRPOTrainer       : {theirs[0]:.3f} s/step ({theirs[1]:.3f} CPU-s/step)")
    print(f"ratio (ours / TRL)    : {ours[0] / theirs[0]:.2f}x wall, {ours[1] / theirs[1]:.2f}x CPU")
    note = f"{torch.get_num_threads()} threads"
    res = [Result("grpo_vs_trl", "seconds per GRPO step", ours[0], theirs[0], "TRL GRPOTrainer",
                  higher_is_better=False, goal=0.5, note=note),
           Result("grpo_vs_trl", "CPU-seconds per GRPO step", ours[1], theirs[1], "TRL GRPOTrainer",
                  higher_is_better=False, goal=0.5, note=note)]
    emit(*res)
    return res


if __name__ == "__main__":
    main()
