"""PlayBest's DiffusionPlanner: losses, normalisation stored in the checkpoint, EMA, planning, DDP CLI."""

import csv

import lightning as L
import numpy as np
import pytest
import torch

from data_modules.basketball.sources import SyntheticGames
from data_modules.basketball.trajectories import MinMaxNormalizer, position_channels, to_features
from data_modules.basketball.trajectory_data import PlayBestDataModule
from lit_agents.methods.diffusion_planner import DiffusionPlanner, EvalConfig, UNetConfig
from lit_agents.planning.ema import EMAConfig
from lit_agents.planning.rollout import PlanningConfig, event_points
from lit_agents.planning.space import TrajectorySpace
from tests.helpers import run_cli

H = 16



def test_conditioning_clamps_everything_executed():
    known = torch.randn(2, 3, 11, 3)
    norm = MinMaxNormalizer(torch.full((66,), -3.0), torch.full((66,), 3.0))
    values, mask = TrajectorySpace(norm, "features").condition(known, 8)
    assert mask[:2].all() and not mask[3:].any()
    assert mask[2].nonzero().flatten().tolist() == position_channels()   # last executed frame: positions only
    feats = norm.normalize(to_features(known))
    assert torch.allclose(values[:, :3][..., position_channels()], feats[..., position_channels()])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planner")
    dm = PlayBestDataModule(synthetic=SyntheticGames(n_games=3, frames_per_second=5, max_possessions=6,
                                                     max_possession_s=6.0),
                            cache_dir=str(tmp / "cache"), horizon=H, test_fraction=0.34, batch_size=8)
    model = DiffusionPlanner(horizon=H, net=UNetConfig(dim=8, dim_mults=[1, 2]),
                             ema=EMAConfig(decay=0.5, start_step=2, update_every=1),
                             evaluation=EvalConfig(alphas=[0.0, 10.0], n_starts=3, plot=False),
                             planning=PlanningConfig(replan_every=4, defence="zone", seconds_per_step=0.2))
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=4, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=1)
    trainer.fit(model, datamodule=dm)
    ckpt = tmp / "planner.ckpt"
    trainer.save_checkpoint(ckpt)
    return model, dm, ckpt


def test_normalisation_fitted_on_train_split_and_stored(trained):
    model, dm, ckpt = trained
    train = torch.from_numpy(dm.splits["train"]["traj"])
    assert torch.equal(model.norm_mins, train.reshape(-1, 66).min(0).values)
    assert torch.equal(model.norm_maxs, train.reshape(-1, 66).max(0).values)
    assert dm.splits["train"]["traj"].max() > 1.0          # batches stay in feet: normalised once, by the model
    state = torch.load(ckpt, map_location="cpu", weights_only=True)  # a safe load of the whole checkpoint
    sd = state["state_dict"]
    assert torch.equal(sd["norm_mins"], model.norm_mins) and bool(sd["norm_fitted"])
    hp = state["hyper_parameters"]                                    # self.hparams, plain values only
    assert hp["net"] == {"dim": 8, "dim_mults": [1, 2], "kernel_size": 5} and hp["diffusion"]["space"] == "velocities"
    assert model.net_cfg == UNetConfig(**hp["net"]) and model.eval_cfg.alphas == [0.0, 10.0]
    assert any(k.startswith("ema.model.unet.") for k in sd) and any(k.startswith("ema.model.value.") for k in sd)
    # EMA: decay 0.5 from step 2, so the average differs from the live weights after 4 steps
    live, avg = (sd["nets.unet.unet.out_block.final_conv1d_2.weight"],
                 sd["ema.model.unet.unet.out_block.final_conv1d_2.weight"])
    assert not torch.equal(live, avg)
    # a fresh module initialised from the checkpoint (the frozen-planner value stage) has the statistics
    stage2 = DiffusionPlanner(horizon=H, net=UNetConfig(dim=8, dim_mults=[1, 2]), stage="value", init_from=str(ckpt))
    assert bool(stage2.norm_fitted) and torch.equal(stage2.norm_maxs, model.norm_maxs)
    assert not any(p.requires_grad for p in stage2.nets["unet"].parameters())
    assert torch.equal(stage2.nets["unet"].unet.out_block.final_conv1d_2.weight, avg)   # frozen at the EMA weights
    assert all(p.requires_grad for p in stage2.nets["value"].parameters())


def test_planning_keeps_start_and_alpha_zero_is_unguided(trained):
    model, dm, _ = trained
    start = torch.from_numpy(dm.splits["test"]["traj"][:3, 0]).view(3, 11, 6)[..., :3].contiguous()
    out = model.plan(start, generator=model.generator())
    assert out["positions"].shape == (3, H, 11, 3)
    assert torch.equal(out["positions"][:, 0], start)                  # the start state, exactly
    assert out["values"].shape == (3,) and torch.isfinite(out["values"]).all()
    one_shot = PlanningConfig(replan_every=0, defence="none")
    a = model.plan(start, scale=0.0, planning=one_shot, generator=model.generator())
    b = model.plan(start, scale=0.0, planning=one_shot, generator=model.generator())
    assert torch.equal(a["trajectories"], b["trajectories"])          # fixed seed -> same plan
    assert event_points(out["positions"]).shape == (3,)


def test_briefly_trained_planner_starts_where_the_possession_starts(tmp_path):
    """Issue 19 item 5: an unguided plan (no defence, no replanning) from a tiny planner trained for seconds on
    the bundled synthetic games moves from its start frame like the data do; with the released ``features``
    space the same training leaves the start far behind (the denoiser ignores the inpainted frame 0)."""
    from lit_agents.methods.diffusion_planner import DiffusionConfig
    from lit_agents.planning.realism import realism

    dm = PlayBestDataModule(synthetic=SyntheticGames(n_games=6, frames_per_second=5, max_possessions=8,
                                                     max_possession_s=8.0),
                            cache_dir=str(tmp_path / "cache"), horizon=H, test_fraction=0.34, val_fraction=0.0,
                            batch_size=16)
    jumps = {}
    for space in ("velocities", "features"):
        L.seed_everything(0)
        model = DiffusionPlanner(horizon=H, net=UNetConfig(dim=8, dim_mults=[1, 2]), learning_rate=3e-3,
                                 diffusion=DiffusionConfig(space=space), ema=EMAConfig(start_step=10**6),
                                 evaluation=EvalConfig(every_n_epochs=0, plot=False))
        L.Trainer(accelerator="cpu", max_steps=150, logger=False, enable_checkpointing=False, limit_val_batches=0,
                  enable_progress_bar=False, enable_model_summary=False).fit(model, datamodule=dm)
        traj = torch.from_numpy(dm.splits["test"]["traj"])
        start = traj[:, 0].view(-1, 11, 6)[..., :3].contiguous()
        plan = model.plan(start, scale=0.0, planning=PlanningConfig(replan_every=0, defence="none"),
                          generator=model.generator())
        jumps[space] = float(realism(plan["positions"])["first_jump"])
    data = float(realism(traj.view(*traj.shape[:2], 11, 6)[..., :3])["first_jump"])
    assert jumps["velocities"] < 1.5 * data + 1.0, (jumps, data)
    assert jumps["features"] > jumps["velocities"], (jumps, data)


def test_horizon_mismatch_names_both_keys(tmp_path):
    dm = PlayBestDataModule(synthetic=SyntheticGames(n_games=3), cache_dir=str(tmp_path), horizon=8)
    model = DiffusionPlanner(horizon=H, net=UNetConfig(dim=8, dim_mults=[1, 2]))
    trainer = L.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ValueError, match=r"data.init_args.horizon=8 differs from model.init_args.horizon=16"):
        trainer.fit(model, datamodule=dm)


@pytest.mark.slow
def test_ddp_fit_then_predict_cli(tmp_path):
    common = ["--config", "configs/playbest.yaml",
              "--data.init_args.synthetic.n_games", "3", "--data.init_args.synthetic.max_possessions", "6",
              "--data.init_args.horizon", str(H), "--model.init_args.horizon", str(H),
              "--data.init_args.cache_dir", str(tmp_path / "cache"), "--data.init_args.batch_size", "4",
              "--model.init_args.net.dim", "8", "--model.init_args.net.dim_mults", "[1, 2]",
              "--model.init_args.evaluation.n_starts", "2", "--model.init_args.evaluation.alphas", "[0.0, 1.0]",
              "--model.init_args.planning.replan_every", "8", "--model.init_args.planning.n_samples", "1"]
    run_cli(["fit", *common, "--trainer.max_steps", "2", "--trainer.log_every_n_steps", "1",
             "--trainer.check_val_every_n_epoch", "1",
             "--trainer.limit_val_batches", "1", "--trainer.strategy", "ddp", "--trainer.devices", "2",
             "--trainer.accelerator", "cpu", "--trainer.default_root_dir", str(tmp_path / "fit")], tmp_path,
            timeout=240)
    ckpt = next((tmp_path / "fit").rglob("last.ckpt"))
    metrics = next((tmp_path / "fit").rglob("metrics.csv"))
    logged = {k for row in csv.DictReader(open(metrics)) for k, v in row.items() if v}
    assert {"train/diffusion_loss", "train/value_loss", "eval/J_alpha_0", "eval/J_alpha_1",
            "eval/J_random_walk", "eval/J_ground_truth"} <= logged
    assert list((tmp_path / "fit").rglob("plan_epoch*.png"))
    starts = tmp_path / "starts.npz"
    start = np.random.default_rng(0).uniform(5, 40, (3, 11, 3)).astype(np.float32)
    start[:, 1:, 2] = 0
    np.savez(starts, positions=start)
    # `lit-agents predict` in-process (the same CLI entry point, without a second interpreter start-up)
    from lit_agents.cli import run_cli as cli_in_process
    cli_in_process(["predict", *common, "--ckpt_path", str(ckpt), "--data.init_args.predict_starts", str(starts),
                    "--trainer.default_root_dir", str(tmp_path / "pred"), "--trainer.enable_progress_bar", "false"])
    npz = next((tmp_path / "pred").rglob("plans_rank0_batch0.npz"))
    with np.load(npz) as z:
        assert z["positions"].shape == (3, H, 11, 3) and z["trajectories"].shape == (3, H, 66)
        assert np.array_equal(z["positions"][:, 0], start)
        assert z["values"].shape == (3,) and z["index"].tolist() == [0, 1, 2]
    assert len(list((tmp_path / "pred").rglob("plan_*.png"))) == 2


def test_fit_validates_a_small_sweep_with_progress_and_predict_says_where(tmp_path, caplog):
    """issue 14 item 15: validation during fit runs the small sweep (fit_n_starts, smallest + largest alpha)
    and logs its alphas, values and seconds (visible on a non-terminal); `validate` runs the full sweep, all
    alphas in one batched rollout; predict names the directory the plans went to."""
    import logging

    from lit_agents.planning.writer import PlanWriter

    dm = PlayBestDataModule(synthetic=SyntheticGames(n_games=3, frames_per_second=5, max_possessions=6,
                                                     max_possession_s=6.0),
                            cache_dir=str(tmp_path / "cache"), horizon=H, test_fraction=0.34, batch_size=8,
                            n_predict=2)
    model = DiffusionPlanner(horizon=H, net=UNetConfig(dim=8, dim_mults=[1, 2]),
                             evaluation=EvalConfig(alphas=[0.0, 1.0, 10.0], n_starts=3, fit_n_starts=1, plot=False),
                             planning=PlanningConfig(replan_every=8, n_samples=1, seconds_per_step=0.2))
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=1, check_val_every_n_epoch=1, default_root_dir=tmp_path,
                        callbacks=[PlanWriter(output_dir=str(tmp_path / "plans"), n_plots=0)])
    with caplog.at_level(logging.INFO, logger="lit_agents"):
        trainer.fit(model, datamodule=dm)
    fit_lines = [r.getMessage() for r in caplog.records if "alpha sweep" in r.getMessage()]
    assert fit_lines and all("over 1 start states" in m for m in fit_lines)
    assert all(m.startswith("alpha sweep: alphas 0/10, J ") for m in fit_lines)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lit_agents"):
        trainer.validate(model, datamodule=dm, verbose=False)
    full = [r.getMessage() for r in caplog.records if "alpha sweep" in r.getMessage()]
    assert len(full) == 1 and full[0].startswith("alpha sweep: alphas 0/1/10, J ")
    assert all("over 3 start states" in m for m in full)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lit_agents"):
        trainer.predict(model, datamodule=dm)
    said = [r.getMessage() for r in caplog.records if "plans written to" in r.getMessage()]
    assert said and str((tmp_path / "plans").resolve()) in said[0]


def test_delta_scale_reaches_the_space_and_the_clip_range_and_old_hparams_keep_none():
    from lit_agents.methods.diffusion_planner import DiffusionConfig
    model = DiffusionPlanner(horizon=H, net=UNetConfig(dim=8, dim_mults=[1, 2]))
    assert model.diff_cfg.delta_scale == 4.0 and model.diff_cfg.scheduler().config.clip_sample_range == 4.0
    assert DiffusionConfig(space="features").scheduler().config.clip_sample_range == 1.0  # min-max codes only
    # a checkpoint saved before delta_scale existed: that model was trained without it
    old = {k: v for k, v in model.hparams["diffusion"].items() if k != "delta_scale"}
    model.on_load_checkpoint({"hyper_parameters": {"diffusion": old}})
    assert model.diff_cfg.delta_scale == 1.0 and model.diff_cfg.scheduler().config.clip_sample_range == 1.0
