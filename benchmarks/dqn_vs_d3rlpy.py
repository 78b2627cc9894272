"""Gradient updates per second: ReLiable's double DQN vs d3rlpy's DoubleDQN on the same replay data, the same
encoder (CNN per frame -> Transformer -> concat flat -> MLP) and the same batch size. Prints the ratio
(ours / d3rlpy; > 1 means we are faster).

    python benchmarks/dqn_vs_d3rlpy.py [--steps 30] [--batch-size 32] [--n 256]

Both sides sample random minibatches from in-memory replay data and do one double-Q update (online argmax on
s', target value, Huber TD loss, Adam step, hard target update every 50 updates). Ours also trains the small
behaviour-policy head (it is part of the method). d3rlpy keeps states as flat vectors; its encoder reshapes them
into the same images and runs the same network.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from lit_agents.methods.dqn import ReLiableDQN
from lit_agents.nets.history_encoder import EncoderSpec, HistoryEncoder

C, H, W_ = 17, 47, 50


def replay(n: int, window: int, flat: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Episodes of 16 steps of random-but-fixed states (the update cost does not depend on the values)."""
    rng = np.random.default_rng(seed)
    img = (rng.random((n, window, C, H, W_), dtype=np.float32) < 0.02).astype(np.float32)
    return {"image": img, "flat": rng.random((n, flat), dtype=np.float32), "action": rng.integers(0, 3, n),
            "reward": rng.random(n, dtype=np.float32), "done": (np.arange(n) % 16 == 15)}


def bench_ours(data: dict, spec: EncoderSpec, window: int, batch: int, steps: int) -> float:
    m = ReLiableDQN(flat_dim=data["flat"].shape[1], window=window, encoder=spec, target_update_every=50,
                    learning_rate=1e-3)
    m.log = lambda *a, **k: None            # no Trainer attached: logging is a no-op here
    m.log_dict = lambda *a, **k: None
    opt = m.configure_optimizers()
    img, flat = torch.from_numpy(data["image"]), torch.from_numpy(data["flat"])
    n = img.shape[0]
    g = torch.Generator().manual_seed(0)

    def step(i: int) -> None:
        idx = torch.randint(0, n - 1, (batch,), generator=g)
        nxt = torch.where(torch.from_numpy(data["done"])[idx], idx, idx + 1)
        b = {"image": img[idx], "next_image": img[nxt], "flat": flat[idx], "next_flat": flat[nxt],
             "action": torch.from_numpy(data["action"])[idx], "three": torch.zeros(batch, dtype=torch.long),
             "reward": torch.from_numpy(data["reward"])[idx], "done": torch.from_numpy(data["done"])[idx].float()}
        loss = m.training_step(b, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        m.on_train_batch_end(None, None, i)

    for i in range(3):
        step(i)
    t = time.perf_counter()
    for i in range(steps):
        step(i)
    return steps / (time.perf_counter() - t)


def bench_d3rlpy(data: dict, spec: EncoderSpec, window: int, batch: int, steps: int) -> float:
    import d3rlpy
    from torch import nn

    flat_dim = data["flat"].shape[1]

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

    obs = np.concatenate([data["image"].reshape(len(data["flat"]), -1), data["flat"]], axis=1)
    ds = d3rlpy.dataset.MDPDataset(observations=obs, actions=data["action"][:, None],
                                   rewards=data["reward"][:, None], terminals=data["done"].astype(np.float32),
                                   action_space=d3rlpy.constants.ActionSpace.DISCRETE, action_size=3)
    algo = d3rlpy.algos.DoubleDQNConfig(batch_size=batch, learning_rate=1e-3, gamma=0.95, target_update_interval=50,
                                        encoder_factory=EncFactory()).create(device="cpu:0")
    algo.build_with_dataset(ds)
    for _ in range(3):
        algo.update(ds.sample_transition_batch(batch))
    t = time.perf_counter()
    for _ in range(steps):
        algo.update(ds.sample_transition_batch(batch))
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--window", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    spec = EncoderSpec(cnn_channels=[8, 16], d_model=32, n_heads=2, n_layers=1, mlp_hidden=64)
    data = replay(args.n, args.window, 37)
    ours = bench_ours(data, spec, args.window, args.batch_size, args.steps)
    print(f"lit-agents ReLiableDQN : {ours:7.2f} updates/s (batch {args.batch_size}, window {args.window})")
    try:
        import d3rlpy  # noqa: F401
    except ImportError:
        print("d3rlpy not installed (pip install d3rlpy==2.8.1): ratio not measured")
        return
    theirs = bench_d3rlpy(data, spec, args.window, args.batch_size, args.steps)
    print(f"d3rlpy DoubleDQN       : {theirs:7.2f} updates/s")
    print(f"ratio ours/d3rlpy      : {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
