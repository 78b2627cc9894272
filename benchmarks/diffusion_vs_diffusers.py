"""PlayBest planning and training speed against the loops a user would otherwise write. Prints ratios
(ours / theirs; > 1 means we are faster).

    python benchmarks/diffusion_vs_diffusers.py [--batch 64] [--horizon 32] [--steps 20] [--dim 16] [--quick]

1. Plans per second for a batch of ``--batch`` start states (one batched GuidedSampler call, released guidance
   x += 0.1 * Var_t * grad J(x), 2 guide steps) vs ``--batch`` separate calls of a straightforward per-plan loop
   (the same diffusers UNet1DModel, DDPMScheduler and value net, one start state at a time).
2. The same batched call vs diffusers' ``ValueGuidedRLPipeline`` (driven without gym by a small object with the
   attributes it reads), which plans ``--batch`` samples for one state with the same networks and guidance
   (it scales the gradient by exp(0.5 * var) instead of var: the arithmetic cost is the same).
3. Training steps per second: ``DiffusionPlanner`` under a Lightning Trainer vs a plain PyTorch loop with the
   same model, losses and optimiser.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import Result, emit  # noqa: E402

from data_modules.basketball.trajectories import MinMaxNormalizer, position_channels  # noqa: E402
from data_modules.basketball.trajectory_data import TensorDictDataset  # noqa: E402
from lit_agents.methods.diffusion_planner import DiffusionConfig, DiffusionPlanner, EvalConfig, UNetConfig  # noqa: E402
from lit_agents.planning.guidance import GuidanceConfig, GuidedSampler, apply_conditioning  # noqa: E402

C = 66


def timed(fn, repeats: int = 1) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def per_plan_loop(unet, value, sched, cond, mask, scale=0.1, n_guide=2, t_stopgrad=4):
    """The straightforward loop: one start state, Janner's n-step guided p_sample, written out."""
    sched.set_timesteps(sched.config.num_train_timesteps)
    x = apply_conditioning(torch.randn_like(cond), cond, mask)
    for t in sched.timesteps.tolist():
        tt = torch.full((1,), t)
        if t >= t_stopgrad:
            for _ in range(n_guide):
                with torch.enable_grad():
                    xg = x.detach().requires_grad_(True)
                    grad = torch.autograd.grad(value(xg, tt).sum(), xg)[0]
                x = apply_conditioning(x + scale * sched._get_variance(max(t, 1)) * grad, cond, mask)
        with torch.no_grad():
            x = sched.step(unet(x, tt), t, x).prev_sample
        x = apply_conditioning(x, cond, mask)
    return x


class _ValueAsUNetOutput(torch.nn.Module):
    """ValueGuidedRLPipeline calls ``value_function(x [B, C, H], t).sample`` -> [B, 1]."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x, t):
        return SimpleNamespace(sample=self.value(x.transpose(1, 2), t)[:, None])


class PipelineEnv:
    """The attributes ValueGuidedRLPipeline reads from a gym env (dataset statistics and space shapes)."""

    def __init__(self, data: np.ndarray):
        self.data = data
        self.observation_space = SimpleNamespace(shape=(C,))
        self.action_space = SimpleNamespace(shape=(0,))

    def get_dataset(self) -> dict[str, np.ndarray]:
        return {"observations": self.data, "actions": self.data[:, :0]}


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--horizon", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20, help="diffusion steps T")
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="a seconds-long smoke run (4 plans, horizon 16, T=3)")
    args = ap.parse_args(argv)
    if args.quick:
        args.batch, args.horizon, args.steps, args.dim, args.train_steps = 4, 16, 3, 8, 2
    torch.manual_seed(0)
    h, b = args.horizon, args.batch
    model = DiffusionPlanner(horizon=h, net=UNetConfig(dim=args.dim, dim_mults=[1, 2, 4]),
                             diffusion=DiffusionConfig(n_steps=args.steps),
                             evaluation=EvalConfig(every_n_epochs=0, plot=False))
    model.eval()
    unet, value = model.nets["unet"], model.nets["value"]
    sched = model.diff_cfg.scheduler()
    mask = torch.zeros(h, C, dtype=torch.bool)
    mask[0, position_channels()] = True
    cond = torch.rand(b, h, C) * 2 - 1
    sampler = GuidedSampler(sched, GuidanceConfig(mode="released", scale=0.1, n_guide_steps=2, t_stopgrad=4))
    ours = timed(lambda: sampler.sample(unet, value, cond, mask))
    loop = timed(lambda: [per_plan_loop(unet, value, model.diff_cfg.scheduler(), cond[i:i + 1], mask)
                          for i in range(b)])
    res = {"plans_per_s_ours": b / ours, "plans_per_s_per_plan_loop": b / loop}
    res["ratio_batched_vs_per_plan"] = loop / ours
    try:
        from diffusers.experimental import ValueGuidedRLPipeline

        data = (torch.rand(256, C) * 2 - 1).numpy()
        pipe = ValueGuidedRLPipeline(value_function=_ValueAsUNetOutput(value), unet=unet.unet,
                                     scheduler=model.diff_cfg.scheduler(), env=PipelineEnv(data))
        pipe.set_progress_bar_config(disable=True)
        # one state, `b` samples: the same amount of network work as our batch of `b` plans
        pipe.scheduler.set_timesteps(args.steps)
        obs = data[0]
        theirs = timed(lambda: pipe(obs, batch_size=b, planning_horizon=h, n_guide_steps=2, scale=0.1))
        res["plans_per_s_diffusers_pipeline"] = b / theirs
        res["ratio_vs_diffusers_pipeline"] = theirs / ours
    except Exception as e:  # noqa: BLE001 - report why the peer could not be driven, keep the other numbers
        print(f"ValueGuidedRLPipeline could not be driven: {type(e).__name__}: {e}")
    # ---- training: Lightning vs plain PyTorch, same model/losses/optimiser ----
    traj = torch.rand(512, h, C) * 40
    ds = TensorDictDataset(traj=traj, returns=torch.randn(512))
    norm = MinMaxNormalizer.fit(traj)

    def lightning_run():
        m = DiffusionPlanner(horizon=h, net=UNetConfig(dim=args.dim, dim_mults=[1, 2, 4]),
                             diffusion=DiffusionConfig(n_steps=args.steps), evaluation=EvalConfig(every_n_epochs=0))
        m.set_normalizer(norm)
        tr = L.Trainer(max_steps=args.train_steps, accelerator="cpu", devices=1, logger=False,
                       enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                       limit_val_batches=0)
        tr.fit(m, DataLoader(ds, batch_size=32, shuffle=True))

    def plain_run():
        m = DiffusionPlanner(horizon=h, net=UNetConfig(dim=args.dim, dim_mults=[1, 2, 4]),
                             diffusion=DiffusionConfig(n_steps=args.steps), evaluation=EvalConfig(every_n_epochs=0))
        m.set_normalizer(norm)
        opt = m.configure_optimizers()
        step = 0
        while step < args.train_steps:
            for batch in DataLoader(ds, batch_size=32, shuffle=True):
                loss = m._losses(batch)["loss"]
                opt.zero_grad()
                loss.backward()
                opt.step()
                m.ema.update(m.nets, step)
                step += 1
                if step >= args.train_steps:
                    break

    t_l, t_p = timed(lightning_run), timed(plain_run)
    res["train_steps_per_s_lightning"] = args.train_steps / t_l
    res["train_steps_per_s_plain"] = args.train_steps / t_p
    res["ratio_train_lightning_vs_plain"] = t_p / t_l
    for k, v in res.items():
        print(f"{k:36s} {v:10.3f}")
    name = "diffusion_vs_diffusers"
    emit(Result(name, f"guided plans per s, {b} start states", res["plans_per_s_ours"],
                res["plans_per_s_per_plan_loop"], f"{b} per-plan loops", goal=5.0),
         Result(name, f"guided plans per s, {b} samples", res["plans_per_s_ours"],
                res.get("plans_per_s_diffusers_pipeline"), "diffusers ValueGuidedRLPipeline"),
         Result(name, "training steps per s", res["train_steps_per_s_lightning"], res["train_steps_per_s_plain"],
                "plain PyTorch loop"))
    return res


if __name__ == "__main__":
    main()
