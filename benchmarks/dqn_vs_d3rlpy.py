"""Gradient updates per second: ReLiable's double DQN vs d3rlpy's DoubleDQN on the same replay data, the same
encoder (CNN per frame -> Transformer -> concat flat -> MLP; the chapter's sizes) and the same batch size.
Prints the ratio (ours / d3rlpy; > 1 means we are faster).

    python benchmarks/dqn_vs_d3rlpy.py [--steps 30] [--rounds 3] [--batch-size 32] [--n 256] [--quick]

Both sides sample random minibatches from in-memory replay data and do one double-Q update (online argmax on
s', target value, TD loss, Adam step, hard target update every 50 updates). Ours also trains the small
behaviour-policy head (it is part of the method). The replay is a sequence of frames: state i is the window of
frames i..i+W-1 and s' the window moved on by one frame (the last frame repeated at a possession's end), as
``ReLiableDataModule`` yields them. Ours keeps the frames channels last (NHWC in memory, the layout
``ReLiableDataModule`` yields and oneDNN's convolutions run fastest on) and reuses the online CNN's features of
the W-1 frames s' shares with s; d3rlpy keeps each state as a flat vector (its MDPDataset) and its encoder
reshapes it into the same images (NCHW) and runs the same network.
The two sides alternate for ``--rounds`` rounds and the best round of each counts, per wall second and per
CPU second of this process (the stable figure on a shared machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import Result, emit  # noqa: E402

from lit_agents.methods.dqn import ReLiableDQN  # noqa: E402
from lit_agents.nets.history_encoder import EncoderSpec, HistoryEncoder  # noqa: E402

C, H, W_ = 17, 47, 50
SPEC = dict(cnn_channels=[8, 16], d_model=32, n_heads=2, n_layers=1, mlp_hidden=64)  # configs/reliable.yaml


def replay(n: int, window: int, flat: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` transitions over ``n + window`` sparse random frames; episodes of 16 steps (the update cost does
    not depend on the values)."""
    rng = np.random.default_rng(seed)
    frames = (rng.random((n + window, C, H, W_), dtype=np.float32) < 0.02).astype(np.float32)
    return {"frames": frames, "flat": rng.random((n + 1, flat), dtype=np.float32), "action": rng.integers(0, 3, n),
            "reward": rng.random(n, dtype=np.float32), "done": (np.arange(n) % 16 == 15)}


class OursSide:
    """ReLiableDQN driven step by step on batches sampled from the frame replay."""

    def __init__(self, data: dict, spec: EncoderSpec, window: int, batch: int):
        self.m = ReLiableDQN(flat_dim=data["flat"].shape[1], window=window, encoder=spec, target_update_every=50,
                             learning_rate=1e-3)
        self.m.log = lambda *a, **k: None            # no Trainer attached: logging is a no-op here
        self.m.log_dict = lambda *a, **k: None
        self.opt = self.m.configure_optimizers()
        # frames stored channels last [N, H, W', C], as ReLiableDataModule yields them (frames_channels_last)
        self.frames = torch.from_numpy(data["frames"]).permute(0, 2, 3, 1).contiguous()
        self.flat = torch.from_numpy(data["flat"])
        self.action, self.reward = torch.from_numpy(data["action"]), torch.from_numpy(data["reward"])
        self.done = torch.from_numpy(data["done"])
        self.window, self.batch, self.i = window, batch, 0
        self.g = torch.Generator().manual_seed(0)

    def sample(self) -> dict[str, torch.Tensor]:
        W = self.window
        idx = torch.randint(0, len(self.action), (self.batch,), generator=self.g)
        done = self.done[idx]
        win = idx[:, None] + torch.arange(W)
        nxt = win + 1
        nxt[:, -1] = torch.where(done, nxt[:, -2], nxt[:, -1])                  # terminal: repeat the last frame
        image, next_image = (self.frames[i].permute(0, 1, 4, 2, 3) for i in (win, nxt))  # [B, W, C, H, W']
        return {"image": image, "next_image": next_image,
                "flat": self.flat[idx], "next_flat": self.flat[torch.where(done, idx, idx + 1)],
                "action": self.action[idx], "three": torch.zeros(self.batch, dtype=torch.long),
                "reward": self.reward[idx], "done": done.float()}

    def update(self) -> None:
        loss = self.m.training_step(self.sample(), self.i)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.m.after_update()
        self.i += 1


class D3rlpySide:
    """d3rlpy's DoubleDQN with the same network as an encoder factory, on the same transitions."""

    def __init__(self, data: dict, spec: EncoderSpec, window: int, batch: int):
        import d3rlpy
        from torch import nn

        flat_dim, n = data["flat"].shape[1], len(data["action"])

        class Enc(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = HistoryEncoder(C, flat_dim, 3, window, spec)
                self.mlp = self.net.head[:-1]          # the same MLP; d3rlpy adds the final Q layer itself

            def forward(self, x):
                img = x[:, : window * C * H * W_].view(-1, window, C, H, W_)
                return self.mlp(self.net.represent(img, x[:, window * C * H * W_:]))

        @dataclasses.dataclass()
        class EncFactory(d3rlpy.models.EncoderFactory):
            def create(self, observation_shape):
                return Enc()

            @staticmethod
            def get_type() -> str:
                return "reliable_history"

        fr = data["frames"]
        obs = np.concatenate([np.stack([fr[i:i + window] for i in range(n)]).reshape(n, -1), data["flat"][:n]], 1)
        self.ds = d3rlpy.dataset.MDPDataset(observations=obs, actions=data["action"][:, None],
                                            rewards=data["reward"][:, None], terminals=data["done"].astype(np.float32),
                                            action_space=d3rlpy.constants.ActionSpace.DISCRETE, action_size=3)
        self.algo = d3rlpy.algos.DoubleDQNConfig(batch_size=batch, learning_rate=1e-3, gamma=0.95,
                                                 target_update_interval=50,
                                                 encoder_factory=EncFactory()).create(device="cpu:0")
        self.algo.build_with_dataset(self.ds)
        self.batch = batch

    def update(self) -> None:
        self.algo.update(self.ds.sample_transition_batch(self.batch))


def timed(side, steps: int) -> tuple[float, float]:
    """(updates per wall second, updates per CPU second) over ``steps`` updates."""
    w, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        side.update()
    return steps / (time.perf_counter() - w), steps / (time.process_time() - c)


def main(argv: list[str] | None = None) -> list[Result]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--window", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a seconds-long smoke run (3 steps, 1 round, batch 8)")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.rounds, args.batch_size, args.n = 3, 1, 8, 48
    torch.set_num_threads(1)
    torch.manual_seed(0)
    spec, data = EncoderSpec(**SPEC), replay(args.n, args.window, 37)
    sides = {"ours": OursSide(data, spec, args.window, args.batch_size)}
    try:
        sides["d3rlpy"] = D3rlpySide(data, spec, args.window, args.batch_size)
    except ImportError:
        print("d3rlpy not installed (pip install d3rlpy): ratio not measured")
    for side in sides.values():  # warm-up
        for _ in range(3):
            side.update()
    best = {k: (0.0, 0.0) for k in sides}
    for _ in range(args.rounds):
        for k, side in sides.items():
            wall, cpu = timed(side, args.steps)
            best[k] = (max(best[k][0], wall), max(best[k][1], cpu))
    print(f"double DQN, batch {args.batch_size}, window {args.window}, {args.steps} updates x {args.rounds} rounds")
    print(f"  {'':24s} {'updates/s (wall)':>17s} {'updates/CPU-s':>14s}")
    for k, (w, c) in best.items():
        print(f"  {'lit-agents ReLiableDQN' if k == 'ours' else 'd3rlpy DoubleDQN':24s} {w:17.2f} {c:14.2f}")
    peer = best.get("d3rlpy")
    res = [Result("dqn_vs_d3rlpy", "updates per CPU-s", best["ours"][1], peer and peer[1], "d3rlpy DoubleDQN",
                  goal=2.0),
           Result("dqn_vs_d3rlpy", "updates per wall-s", best["ours"][0], peer and peer[0], "d3rlpy DoubleDQN")]
    if peer:
        print(f"  {'ratio ours/d3rlpy':24s} {res[1].ratio:17.2f} {res[0].ratio:14.2f}")
    emit(*res)
    return res


if __name__ == "__main__":
    main()
