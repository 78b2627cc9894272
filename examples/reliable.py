"""ReLiable end to end with a plain Lightning Trainer: synthetic games driven by real play-by-play ->
offline double DQN -> action-copy F1, known-better-action rate and importance-sampling J(pi).

    python examples/reliable.py            # the embedded default (a couple of minutes on CPU)
    python examples/reliable.py --tiny     # seconds: 3 games, a few steps (used by the tests)
"""

from __future__ import annotations

import argparse

import lightning as L

from data_modules.basketball.transition_data import ReLiableDataModule, SyntheticGames
from lit_agents.methods.dqn import ReLiableDQN
from lit_agents.nets.history_encoder import EncoderSpec


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tiny", "--fast", dest="tiny", action="store_true", help="a few steps (what the tests run)")
    ap.add_argument("--root", default="runs/reliable_example")
    ap.add_argument("--cache", default=".cache/reliable")
    args = ap.parse_args(argv)
    L.seed_everything(0)
    games = SyntheticGames(n_games=3 if args.tiny else 9, max_possessions=6 if args.tiny else 16)
    dm = ReLiableDataModule(synthetic=games, cache_dir=args.cache, window=2 if args.tiny else 3,
                            batch_size=16 if args.tiny else 32)
    enc = EncoderSpec(cnn_channels=[8, 16], d_model=32, n_heads=2, n_layers=1, mlp_hidden=64)
    # the settings of configs/reliable.yaml: the defaults (double DQN, Huber, CQL 0.5, gamma 0.95 per 0.2 s step,
    # terminal steps oversampled 10x) with the short run's learning rate and target schedule
    model = ReLiableDQN(flat_dim=dm.flat_dim, window=dm.window, encoder=enc, learning_rate=1e-3,
                        target_update_every=10)
    trainer = L.Trainer(max_steps=4 if args.tiny else 500, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, default_root_dir=args.root,
                        limit_val_batches=2 if args.tiny else None,
                        val_check_interval=None, check_val_every_n_epoch=10**6 if args.tiny else 1,
                        enable_progress_bar=not args.tiny)
    trainer.fit(model, datamodule=dm)
    result = trainer.test(model, datamodule=dm, verbose=not args.tiny)[0]
    print({k: round(float(v), 4) for k, v in result.items()})
    return result


if __name__ == "__main__":
    main()
