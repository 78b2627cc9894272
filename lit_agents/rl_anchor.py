"""A correctness anchor outside basketball: our double DQN vs d3rlpy's on offline CartPole (issue 19).

One offline dataset of gymnasium's ``CartPole-v1`` collected here: ``n_random`` episodes of a uniformly random
policy, ``n_expert`` episodes of a scripted controller (push toward where the pole falls, with a little
cart-position feedback; return 500) and ``n_naive`` of a naive one (push toward the pole's lean, ignoring its
angular velocity; return ~40), both taking a random action with probability ``eps``. The naive episodes are
the majority, so copying the data (behaviour cloning) copies mostly the naive controller, while the returns
tell which actions keep the pole up. On it we train

* ours: :class:`~lit_agents.methods.dqn.ReLiableDQN` (``action_set: binary``, flat features only, no images)
  through a Lightning ``Trainer``, exactly as ReLiable trains (double-Q targets, hard target copies);
* d3rlpy's ``DoubleDQN`` and ``DiscreteCQL`` and, as the floor, ``DiscreteBC``, all with the same network
  (:func:`d3rlpy_encoder`: two hidden ReLU layers of ``hidden`` units, as our head), batch size, learning rate,
  discount, target schedule, Huber loss and number of updates;

and evaluate each greedy policy by online rollouts in the environment (mean undiscounted return over
``eval_episodes`` episodes with fixed seeds). d3rlpy and gymnasium are the optional extra ``rl-anchor``.

The two implementations agree update for update: from the same weights on the same minibatches they reach the
same parameters (``tests/methods/test_cartpole_anchor.py``). What still differs, by design of each library:
d3rlpy samples minibatches with replacement (ours shuffles per epoch), copies its target after updates
1, N + 1, 2N + 1, ... (ours after N, 2N, ...), drops the last transition of a timed-out episode (it has no next
observation in d3rlpy's format; ours keeps it and bootstraps from the logged next observation), and our model
also trains a behaviour head on detached features (no effect on the Q-network).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

Policy = Callable[[np.ndarray], int]


@dataclass
class AnchorConfig:
    """Sizes of the dataset, the networks and the training runs."""

    n_random: int = 50
    n_expert: int = 5
    n_naive: int = 500
    eps: float = 0.3
    hidden: int = 64
    batch_size: int = 64
    learning_rate: float = 1e-3
    gamma: float = 0.99
    n_updates: int = 5000
    target_update_every: int = 200
    cql_alpha: float = 1.0
    eval_episodes: int = 10
    max_episode_steps: int = 500


def expert_action(s: np.ndarray) -> int:
    """A scripted CartPole controller (return 500 without noise)."""
    x, x_dot, theta, theta_dot = s
    return int(theta + 0.5 * theta_dot + 0.05 * x + 0.2 * x_dot > 0)


def naive_action(s: np.ndarray) -> int:
    """Pushes toward the pole's lean only (return ~40: it ignores the angular velocity and overshoots)."""
    return int(s[2] > 0)


def collect(cfg: AnchorConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Offline transitions ``{obs, action, reward, next_obs, terminal, timeout, episode}`` of the mixed behaviour."""
    import gymnasium as gym

    env = gym.make("CartPole-v1", max_episode_steps=cfg.max_episode_steps)
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {k: [] for k in ("obs", "action", "reward", "next_obs", "terminal", "timeout", "episode")}
    kinds = ["random"] * cfg.n_random + ["expert"] * cfg.n_expert + ["naive"] * cfg.n_naive
    scripted = {"expert": expert_action, "naive": naive_action}
    for ep, kind in enumerate(kinds):
        s, _ = env.reset(seed=seed * 100003 + ep)
        while True:
            eps = 1.0 if kind == "random" else cfg.eps
            a = int(rng.integers(2)) if rng.random() < eps else scripted[kind](s)
            s2, r, term, trunc, _ = env.step(a)
            for k, v in (("obs", s), ("action", a), ("reward", r), ("next_obs", s2), ("terminal", term),
                         ("timeout", trunc and not term), ("episode", ep)):
                cols[k].append(v)
            s = s2
            if term or trunc:
                break
    env.close()
    dt = {"obs": np.float32, "next_obs": np.float32, "action": np.int64, "reward": np.float32, "terminal": bool,
          "timeout": bool, "episode": np.int64}
    return {k: np.asarray(v, dtype=dt[k]) for k, v in cols.items()}


def evaluate(policy: Policy, cfg: AnchorConfig, seed: int = 10_000) -> float:
    """Mean undiscounted return of ``policy`` (observation -> action) over ``cfg.eval_episodes`` episodes."""
    import gymnasium as gym

    env = gym.make("CartPole-v1", max_episode_steps=cfg.max_episode_steps)
    rets = []
    for ep in range(cfg.eval_episodes):
        s, _ = env.reset(seed=seed + ep)
        total, done = 0.0, False
        while not done:
            s, r, term, trunc, _ = env.step(policy(s))
            total += r
            done = term or trunc
        rets.append(total)
    env.close()
    return float(np.mean(rets))


def behaviour_return(data: dict[str, np.ndarray]) -> float:
    """Mean return of the logged episodes."""
    return float(np.bincount(data["episode"], weights=data["reward"]).mean())


class _Transitions(torch.utils.data.Dataset):
    """The transitions as ReLiable batches; indexed by a list of rows (a whole minibatch, from a ``BatchSampler``)
    so a batch is a few tensor gathers instead of ``batch_size`` dicts to collate."""

    def __init__(self, data: dict[str, np.ndarray]):
        self.d = {k: torch.from_numpy(v) for k, v in data.items()}

    def __len__(self) -> int:
        return len(self.d["action"])

    def __getitem__(self, rows: list[int]) -> dict[str, torch.Tensor]:
        d, i = self.d, torch.as_tensor(rows)
        return {"image": torch.zeros(len(i), 1), "next_image": torch.zeros(len(i), 1), "flat": d["obs"][i],
                "next_flat": d["next_obs"][i], "action": d["action"][i], "reward": d["reward"][i],
                "done": d["terminal"][i].float()}


def transition_loader(data: dict[str, np.ndarray], batch_size: int, shuffle: bool = True):
    """Minibatches of the transitions: the batches of ``DataLoader(shuffle=shuffle, drop_last=True)`` (the same
    ``RandomSampler`` draws), gathered a batch at a time."""
    ds = _Transitions(data)
    sampler = torch.utils.data.RandomSampler(ds) if shuffle else torch.utils.data.SequentialSampler(ds)
    return torch.utils.data.DataLoader(ds, sampler=torch.utils.data.BatchSampler(sampler, batch_size, drop_last=True),
                                       batch_size=None)


def build_ours(cfg: AnchorConfig, seed: int = 0, cql: bool = False):
    """Our double DQN for the anchor, freshly initialised under ``seed``: :class:`ReLiableDQN` on flat features
    (with ``cql`` its CQL penalty at ``cfg.cql_alpha``, the counterpart of d3rlpy's DiscreteCQL)."""
    import lightning as L

    from lit_agents.methods.dqn import ReLiableDQN
    from lit_agents.nets.history_encoder import EncoderSpec

    L.seed_everything(seed, verbose=False)
    return ReLiableDQN(flat_dim=4, window=1, action_set="binary", gamma=cfg.gamma, learning_rate=cfg.learning_rate,
                       loss="huber", target_update="hard", target_update_every=cfg.target_update_every,
                       cql_alpha=cfg.cql_alpha if cql else 0.0,
                       encoder=EncoderSpec(use_image=False, sequence="none", mlp_hidden=cfg.hidden))


def fit_ours(model, data: dict[str, np.ndarray], cfg: AnchorConfig, shuffle: bool = True):
    """Train ``model`` for ``cfg.n_updates`` minibatches of the transitions through a Lightning Trainer, exactly
    as ReLiable trains (``shuffle=False``: the transitions in order, for the update-for-update comparison)."""
    import lightning as L

    loader = transition_loader(data, cfg.batch_size, shuffle)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=cfg.n_updates, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=loader)
    return model.eval()


def train_ours(data: dict[str, np.ndarray], cfg: AnchorConfig, seed: int = 0, cql: bool = False) -> Policy:
    """Our double DQN (:func:`build_ours`) trained by :func:`fit_ours`; its greedy policy."""
    model = fit_ours(build_ours(cfg, seed, cql), data, cfg)

    def act(s: np.ndarray) -> int:
        with torch.no_grad():
            flat = torch.as_tensor(s, dtype=torch.float32)[None]
            return int(model(torch.zeros(1, 1), flat).argmax(-1))
    return act


def d3rlpy_encoder(cfg: AnchorConfig):
    """d3rlpy's encoder for the same network as ours: our Q-network (``HistoryEncoder`` on flat features) is
    ``Linear(4, h) - ReLU - Linear(h, h) - ReLU - Linear(h, 2)``; d3rlpy's Q-function is its encoder followed by
    one ``Linear(last hidden, n_actions)``, so two hidden layers of ``h`` give the identical network.
    (``hidden_units=[h]``, one hidden layer, was this anchor's first setting and the whole of its 4x gap.)"""
    import d3rlpy

    return d3rlpy.models.VectorEncoderFactory(hidden_units=[cfg.hidden, cfg.hidden])


def d3rlpy_dataset(data: dict[str, np.ndarray]):
    """The transitions as d3rlpy's ``MDPDataset``: a row per step, ``terminals`` where the pole fell (no
    bootstrapping), ``timeouts`` where the episode was cut at ``max_episode_steps`` (bootstrapping)."""
    import d3rlpy

    return d3rlpy.dataset.MDPDataset(data["obs"], data["action"][:, None], data["reward"], data["terminal"],
                                     timeouts=data["timeout"], action_space=d3rlpy.ActionSpace.DISCRETE)


def d3rlpy_config(kind: str, cfg: AnchorConfig):
    """d3rlpy's ``DoubleDQNConfig`` / ``DiscreteCQLConfig`` / ``DiscreteBCConfig`` with the anchor's settings."""
    import d3rlpy

    common = dict(batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, encoder_factory=d3rlpy_encoder(cfg))
    if kind == "DoubleDQN":
        return d3rlpy.algos.DoubleDQNConfig(gamma=cfg.gamma, target_update_interval=cfg.target_update_every,
                                            **common)
    if kind == "DiscreteCQL":
        return d3rlpy.algos.DiscreteCQLConfig(gamma=cfg.gamma, target_update_interval=cfg.target_update_every,
                                              alpha=cfg.cql_alpha, **common)
    if kind == "DiscreteBC":
        return d3rlpy.algos.DiscreteBCConfig(**common)
    raise ValueError(f"kind must be DoubleDQN, DiscreteCQL or DiscreteBC, got {kind!r}")


def train_d3rlpy(kind: str, data: dict[str, np.ndarray], cfg: AnchorConfig, seed: int = 0) -> Policy:
    """d3rlpy's ``DoubleDQN`` / ``DiscreteCQL`` / ``DiscreteBC`` on the same transitions; its greedy policy."""
    import d3rlpy

    d3rlpy.seed(seed)
    dataset = d3rlpy_dataset(data)
    algo = d3rlpy_config(kind, cfg).create(device="cpu:0")
    algo.fit(dataset, n_steps=cfg.n_updates, n_steps_per_epoch=cfg.n_updates, show_progress=False,
             save_interval=10 ** 9, experiment_name=f"anchor_{kind}_{seed}", with_timestamp=False,
             logger_adapter=d3rlpy.logging.NoopAdapterFactory())

    def act(s: np.ndarray) -> int:
        return int(algo.predict(np.asarray(s, np.float32)[None])[0])
    return act


def run(cfg: AnchorConfig, seeds: list[int], data_seed: int = 0,
        methods: tuple[str, ...] = ("ours", "DoubleDQN", "ours_cql", "DiscreteCQL", "DiscreteBC")
        ) -> dict[str, list[float]]:
    """Online returns per method and training seed, all on one dataset (``data_seed``); plus the behaviour's.

    ``ours`` / ``ours_cql``: our double DQN without / with the CQL penalty; the rest are d3rlpy's."""
    data = collect(cfg, data_seed)
    out: dict[str, list[float]] = {"behaviour": [behaviour_return(data)]}
    for m in methods:
        out[m] = [evaluate(train_ours(data, cfg, s, cql=m == "ours_cql") if m.startswith("ours")
                           else train_d3rlpy(m, data, cfg, s), cfg) for s in seeds]
    return out
