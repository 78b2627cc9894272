"""PlayBest end to end with a plain Lightning Trainer: synthetic games driven by real play-by-play ->
diffusion planner + value function -> the alpha sweep against ground truth and a random walk, the
scripted-defence table, and a half-court PNG of a guided plan.

    python examples/playbest.py            # the embedded default (a few minutes on CPU)
    python examples/playbest.py --tiny     # seconds: 3 games, a few steps (used by the tests)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning as L
import torch

from data_modules.basketball.sources import SyntheticGames
from data_modules.basketball.trajectories import to_positions
from data_modules.basketball.trajectory_data import PlayBestDataModule
from lit_agents.methods.diffusion_planner import DiffusionPlanner, EvalConfig, UNetConfig
from lit_agents.planning import offline_baselines
from lit_agents.planning.ema import EMAConfig
from data_modules.basketball.plot import plot_possession
from lit_agents.planning.rollout import PlanningConfig


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tiny", "--fast", dest="tiny", action="store_true", help="a few steps (what the tests run)")
    ap.add_argument("--root", default="runs/playbest_example")
    ap.add_argument("--cache", default=".cache/playbest")
    args = ap.parse_args(argv)
    L.seed_everything(0)
    horizon = 16 if args.tiny else 56
    games = SyntheticGames(n_games=3 if args.tiny else 24, frames_per_second=5,
                           max_possessions=6 if args.tiny else 12, max_possession_s=10.0)
    dm = PlayBestDataModule(synthetic=games, cache_dir=args.cache, horizon=horizon, test_fraction=0.25,
                            batch_size=8 if args.tiny else 32)
    model = DiffusionPlanner(
        horizon=horizon, net=UNetConfig(dim=8 if args.tiny else 16, dim_mults=[1, 2] if args.tiny else [1, 2, 4]),
        ema=EMAConfig(decay=0.99, start_step=200, update_every=1), learning_rate=1e-3,
        planning=PlanningConfig(replan_every=8 if args.tiny else 16, defence="man", n_samples=2, seconds_per_step=0.2),
        evaluation=EvalConfig(alphas=[0.0, 10.0] if args.tiny else [0.0, 1.0, 10.0, 100.0],
                              n_starts=4 if args.tiny else 16,
                              segment_lengths=[8] if args.tiny else [8, 16, 32], plot=False))
    trainer = L.Trainer(max_steps=4 if args.tiny else 600, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, default_root_dir=args.root, num_sanity_val_steps=0,
                        check_val_every_n_epoch=10**6, enable_progress_bar=not args.tiny,
                        limit_test_batches=1)
    trainer.fit(model, datamodule=dm)
    result = trainer.test(model, datamodule=dm, verbose=not args.tiny)[0]
    start = to_positions(dm.val_dataloader().dataset[0]["traj"][0])[None]
    plan = model.plan(start, scale=max(model.eval_cfg.alphas))
    png = plot_possession(plan["positions"][0].numpy(), Path(args.root) / "planned_play.png",
                          title=f"guided plan (alpha={max(model.eval_cfg.alphas):g}), J={float(plan['values'][0]):.3f}")
    result["png"] = str(png)
    if not args.tiny and offline_baselines.available():   # Table 7.3's BCQ / CQL / IQL (d3rlpy), same starts
        starts = to_positions(torch.from_numpy(dm.splits["test"]["traj"][: model.eval_cfg.n_starts, 0]))
        for name, r in offline_baselines.evaluate_baselines(model, dm.splits["train"], starts, n_steps=300).items():
            result[f"test/J_{name}"], result[f"test/points_{name}"] = r["J"], r["points"]
    print({k: (round(float(v), 4) if k != "png" else v) for k, v in result.items()})
    return result


if __name__ == "__main__":
    main()
