"""GRPO with your own reward function, composed in plain Python (no YAML).

A reward is any callable ``(completions, **batch_columns) -> list[float | None]``; here the policy learns to
write short, lower-case answers that end with a period. Run ``python examples/grpo_custom_reward.py --fast``.
"""
from __future__ import annotations

import argparse

import lightning as L
import torch

from data_modules.io import collate_records
from lit_agents.backbone import BackboneConfig, TinySpec
from lit_agents.methods.grpo import GRPOModule


def lowercase_period_reward(completions, topic, **_):
    """Share of lower-case letters, +0.5 if the answer ends with '.', None (abstain) for the 'skip' topic."""
    out = []
    for text, t in zip(completions, topic):
        if t == "skip":
            out.append(None)
            continue
        letters = sum("a" <= ch <= "z" for ch in text) / max(1, len(text))
        out.append(letters + (0.5 if text.rstrip().endswith(".") else 0.0))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--fast", "--tiny", action="store_true", help="a few steps, for tests")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--root", default="runs/grpo_custom_reward", help="where the sample table is written")
    a = p.parse_args()
    steps = 6 if a.fast else a.steps
    L.seed_everything(0)
    records = [{"prompt": f"Describe {t} in one line.", "topic": t} for t in ("rain", "cats", "tea", "skip")] * 8
    loader = torch.utils.data.DataLoader(records, batch_size=4, shuffle=True, collate_fn=collate_records)
    module = GRPOModule(
        BackboneConfig(tiny=TinySpec(arch="llama", d_model=32, n_layers=2, n_heads=4, d_ff=64)),
        # a reward can live anywhere importable; this file is run as a script, hence __main__
        reward_funcs=[f"{__name__}.lowercase_period_reward"], num_generations=8, max_completion_length=16,
        learning_rate=5e-3, beta=0.0, loss_type="dr_grpo", scale_rewards="none", log_completions_every=5)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        default_root_dir=a.root,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, loader)
    print(f"final mean reward: {float(trainer.callback_metrics['train/reward']):.3f}")


if __name__ == "__main__":
    main()
