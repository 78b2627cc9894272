"""PlayBest: value-guided diffusion planning of multi-player basketball trajectories (dissertation ch. 7).

One LightningModule holds the temporal U-Net denoiser, the value network J_phi, their EMA copies, a diffusers
DDPMScheduler and the min-max statistics of the training split (buffers, so they live in the checkpoint).

Losses (pure functions in ``lit_agents/losses/diffusion.py``, unit-tested):
- diffusion: ``||target - f_theta(tau_t, t)||^2`` with target eps (dissertation eq. 7.2) or tau_0
  (x0-prediction, the released code's best setting), tau_t the noised trajectory with the start state clamped;
- value: ``(J_phi(tau_t, t) - R)^2`` on trajectories noised at a random step t, R the possession return.

``stage`` picks what is trained: ``joint`` (both losses, one module), ``diffusion`` (planner only) or
``value`` (value net only, planner frozen; load the trained planner with ``init_from``).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from diffusers import DDPMScheduler
from torch import Tensor, nn

from data_modules.basketball.trajectories import TRANSITION_DIM, MinMaxNormalizer
from lit_agents.checkpoint_io import safe_torch_load
from lit_agents.losses.diffusion import diffusion_loss, value_loss
from lit_agents.nets.temporal_unet import TemporalUNet, ValueNet, check_horizon
from lit_agents.planning.ema import EMAConfig, EMAWeights
from lit_agents.planning.guidance import GuidanceConfig, GuidedSampler, apply_conditioning
from lit_agents.planning.rollout import PlanningConfig, event_points, plan_possessions, plan_sweep
from lit_agents.planning.space import SpaceKind, TrajectorySpace
from lit_agents.training.clipping import GradientClippingMixin

log = logging.getLogger(__name__)


@dataclass
class UNetConfig:
    """Temporal U-Net and value net size: channels ``dim * mult`` per level (Janner/PlayBest: 32, (1,2,4,8), 5)."""

    dim: int = 32
    dim_mults: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    kernel_size: int = 5


@dataclass
class DiffusionConfig:
    """Args: n_steps: diffusion steps T (paper 20, released best 100); beta_schedule: diffusers name
    (``squaredcos_cap_v2`` = the cosine schedule of Nichol & Dhariwal, as Janner's); prediction: ``sample``
    (x0, released) or ``epsilon`` (eq. 7.2); clip_denoised: clip predicted x0 to [-1, 1]; space: what the
    denoiser sees (``planning.space``): ``velocities`` (ours: per-frame deltas with the start state on every
    frame, positions = start + cumulated deltas, so plans start where the possession starts and move at data
    speeds), ``features`` (the released code's min-max features, start inpainted into frame 0 only) or
    ``offsets`` (displacement from the start); delta_scale: factor on the min-max scaled deltas of
    ``velocities`` (``planning.space``; 1 = none; 4 brings the training deltas' std from ~0.22 to ~0.9, the scale
    the noise schedule assumes, chosen on the validation games: README, PlayBest), the x0 clip range grows with
    it; the other spaces ignore it."""

    n_steps: int = 20
    beta_schedule: Literal["squaredcos_cap_v2", "linear", "scaled_linear", "sigmoid"] = "squaredcos_cap_v2"
    prediction: Literal["sample", "epsilon"] = "sample"
    clip_denoised: bool = True
    space: SpaceKind = "velocities"
    delta_scale: float = 4.0

    def scheduler(self) -> DDPMScheduler:
        return DDPMScheduler(num_train_timesteps=self.n_steps, beta_schedule=self.beta_schedule,
                             prediction_type=self.prediction, clip_sample=self.clip_denoised,
                             clip_sample_range=self.code_range, variance_type="fixed_small")

    @property
    def code_range(self) -> float:
        """The x0 clip range: min-max codes lie in [-1, 1], the scaled deltas of ``velocities`` in ±delta_scale."""
        return max(1.0, self.delta_scale) if self.space == "velocities" else 1.0


@dataclass
class EvalConfig:
    """Validation-time evaluation. Args: alphas: guidance scales of the alpha sweep (J of plans from the
    validation start states, against ground truth and a random walk); n_starts: start states per rank;
    fit_alphas, fit_n_starts: the smaller sweep run by validation *during fit* (seconds, not minutes; None =
    the smallest and largest of ``alphas``) -- ``validate`` and ``test`` run the full ``alphas`` x
    ``n_starts``; every_n_epochs: how often; plot: write (and log to W&B) a half-court PNG of one planned play;
    segment_lengths: replanning intervals m of the scripted-defence table (``test``; the chapter: 25-100)."""

    alphas: list[float] = field(default_factory=lambda: [0.0, 0.1, 1.0])
    n_starts: int = 8
    fit_alphas: list[float] | None = None
    fit_n_starts: int = 2
    segment_lengths: list[int] = field(default_factory=lambda: [25, 50, 75, 100])
    every_n_epochs: int = 1
    plot: bool = True


def _as_config(cls, value, name: str):
    """A dataclass group from None (defaults), an instance or a plain dict (hparams of a checkpoint)."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(**value)
    raise TypeError(f"model.init_args.{name} must be a {cls.__name__} or a dict, got {type(value).__name__}")


def _GROUPS(net, diffusion, guidance, planning, ema, evaluation):  # noqa: N802 - a fixed table
    return [("net", UNetConfig, net), ("diffusion", DiffusionConfig, diffusion), ("guidance", GuidanceConfig, guidance),
            ("planning", PlanningConfig, planning), ("ema", EMAConfig, ema), ("evaluation", EvalConfig, evaluation)]


class DiffusionPlanner(GradientClippingMixin, L.LightningModule):
    """PlayBest's planner. Batches are dicts with ``traj`` [B, H, 66] (feet) and ``returns`` [B].

    Args:
        horizon: planning horizon H (rows); a multiple of 2**(len(dim_mults)-1).
        net: U-Net / value-net sizes.
        diffusion: scheduler settings.
        guidance: value guidance (mode, scale alpha, n_guide_steps, t_stopgrad).
        planning: replanning, scripted defence and samples per start state for ``predict``/``test``.
        ema: EMA of the denoiser and value net.
        evaluation: the validation-time alpha sweep and plot.
        stage: ``joint`` | ``diffusion`` | ``value`` (value net only, planner frozen).
        init_from: checkpoint whose weights are loaded first (``torch.load(weights_only=True)``).
        learning_rate: Adam learning rate of the denoiser (paper 2e-5).
        value_learning_rate: of the value net (default: ``learning_rate``).
        value_loss_weight: weight of the value loss in ``joint``.
        seed: seed of the sampling noise in evaluation and prediction.
    """

    def __init__(self, horizon: int = 32, net: UNetConfig | None = None, diffusion: DiffusionConfig | None = None,
                 guidance: GuidanceConfig | None = None, planning: PlanningConfig | None = None,
                 ema: EMAConfig | None = None, evaluation: EvalConfig | None = None,
                 stage: Literal["joint", "diffusion", "value"] = "joint", init_from: str | None = None,
                 learning_rate: float = 2e-4, value_learning_rate: float | None = None,
                 value_loss_weight: float = 1.0, seed: int = 0):
        super().__init__()
        if stage not in ("joint", "diffusion", "value"):
            raise ValueError(f"stage must be joint, diffusion or value, got {stage!r}")
        # One place for the hyperparameters: self.hparams, with every dataclass group stored as a plain dict
        # (the checkpoint stays torch.load(weights_only=True)-loadable); the properties below rebuild the groups.
        self.save_hyperparameters()
        for name, cls, given in _GROUPS(net, diffusion, guidance, planning, ema, evaluation):
            self.hparams[name] = asdict(_as_config(cls, given, name))
        self._hparams_initial = copy.deepcopy(self._hparams)   # what loggers record: the same plain values
        check_horizon(horizon, self.net_cfg.dim_mults, key="model.init_args.horizon")
        c = self.net_cfg
        self.nets = nn.ModuleDict({
            "unet": TemporalUNet(TRANSITION_DIM, c.dim, c.dim_mults, c.kernel_size),
            "value": ValueNet(TRANSITION_DIM, horizon, c.dim, c.dim_mults, c.kernel_size)})
        self.ema = EMAWeights(self.nets, self.ema_cfg)
        self.noise_scheduler = self.diff_cfg.scheduler()
        self.register_buffer("norm_mins", torch.zeros(TRANSITION_DIM))
        self.register_buffer("norm_maxs", torch.ones(TRANSITION_DIM))
        self.register_buffer("norm_fitted", torch.tensor(False))
        if init_from:
            self.load_weights(init_from)
        if stage == "value":  # the planner is frozen at its averaged (sampling) weights
            if init_from:
                self.nets["unet"].load_state_dict(self.ema.model["unet"].state_dict())
            self.nets["unet"].requires_grad_(False)
        self._eval_batch: dict[str, Tensor] | None = None

    # ---- hyperparameters (read from self.hparams) ----
    net_cfg = property(lambda self: UNetConfig(**self.hparams.net), doc="U-Net / value-net sizes.")
    diff_cfg = property(lambda self: DiffusionConfig(**self.hparams.diffusion), doc="Scheduler settings.")
    guidance = property(lambda self: GuidanceConfig(**self.hparams.guidance), doc="Value guidance.")
    planning = property(lambda self: PlanningConfig(**self.hparams.planning), doc="Replanning and defence.")
    ema_cfg = property(lambda self: EMAConfig(**self.hparams.ema), doc="EMA of the weights.")
    eval_cfg = property(lambda self: EvalConfig(**self.hparams.evaluation), doc="Validation-time sweep.")
    horizon = property(lambda self: self.hparams.horizon, doc="Planning horizon H.")
    stage = property(lambda self: self.hparams.stage, doc="What is trained.")
    seed = property(lambda self: self.hparams.seed, doc="Seed of the sampling noise.")
    learning_rate = property(lambda self: self.hparams.learning_rate, doc="Denoiser learning rate.")
    value_loss_weight = property(lambda self: self.hparams.value_loss_weight, doc="Value-loss weight (joint).")

    @property
    def value_learning_rate(self) -> float:
        lr = self.hparams.value_learning_rate
        return self.hparams.learning_rate if lr is None else lr

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """A checkpoint saved before ``diffusion.delta_scale`` existed was trained without it (scale 1)."""
        saved = checkpoint.get("hyper_parameters", {}).get("diffusion")
        if isinstance(saved, dict) and "delta_scale" not in saved:
            self.hparams.diffusion["delta_scale"] = 1.0

    # ---- normalisation (fitted once on the training split, stored in the checkpoint) ----
    def set_normalizer(self, normalizer: MinMaxNormalizer) -> None:
        self.norm_mins.copy_(normalizer.mins)
        self.norm_maxs.copy_(normalizer.maxs)
        self.norm_fitted.fill_(True)

    @property
    def normalizer(self) -> MinMaxNormalizer:
        if not bool(self.norm_fitted):
            raise RuntimeError("normalisation statistics are not set: train with a DataModule that has "
                               "`normalizer()` or load a checkpoint of a trained planner")
        return MinMaxNormalizer(self.norm_mins, self.norm_maxs)

    @property
    def space(self) -> TrajectorySpace:
        """Feet trajectories <-> the denoiser's space (``diffusion.space``), scaled by the stored statistics."""
        return TrajectorySpace(self.normalizer, self.diff_cfg.space, self.diff_cfg.delta_scale)

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        dm_horizon = getattr(dm, "horizon", self.horizon)
        if dm_horizon != self.horizon:
            raise ValueError(f"data.init_args.horizon={dm_horizon} differs from model.init_args.horizon={self.horizon}")
        if not bool(self.norm_fitted) and dm is not None and hasattr(dm, "normalizer"):
            self.set_normalizer(dm.normalizer())

    def load_weights(self, path: str) -> None:
        """Load a Lightning checkpoint's (or a plain) state dict safely (``weights_only=True``)."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"init_from: no checkpoint at {path}")
        state = safe_torch_load(path, map_location="cpu")  # weights_only=True, a clear error for anything else
        state = state.get("state_dict", state)
        missing, unexpected = self.load_state_dict(state, strict=False)
        if unexpected or [m for m in missing if not m.startswith("nets.value") and not m.startswith("ema.model.value")]:
            raise ValueError(f"init_from {path}: missing {missing}, unexpected {unexpected}")

    # ---- training ----
    def _noised(self, x0: Tensor, known: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        t = torch.randint(0, self.diff_cfg.n_steps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        xt = self.noise_scheduler.add_noise(x0, noise, t)
        return apply_conditioning(xt, x0, known), noise, t

    def _losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        space = self.space
        x0 = space.encode(batch["traj"].float())
        known = space.known_mask(1, self.horizon, x0.device)   # the start state
        out: dict[str, Tensor] = {}
        if self.stage in ("joint", "diffusion"):
            xt, noise, t = self._noised(x0, known)
            pred = self.nets["unet"](xt, t)
            if self.diff_cfg.prediction == "sample":  # Janner: the known start is not the model's to predict
                pred = apply_conditioning(pred, x0, known)
            out["diffusion_loss"] = diffusion_loss(pred, x0, noise, self.diff_cfg.prediction)
        if self.stage in ("joint", "value"):
            xt, _, t = self._noised(x0, known)
            out["value_loss"] = value_loss(self.nets["value"](xt, t), batch["returns"].float())
        out["loss"] = out.get("diffusion_loss", 0.0) + self.value_loss_weight * out.get("value_loss", 0.0)
        return out

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        losses = self._losses(batch)
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=True, batch_size=len(batch["traj"]))
        return losses["loss"]

    def fsdp_wrap_modules(self) -> list[nn.Module]:
        """FSDP units (``BackboneFSDPStrategy``): each network that is called (so its forward gathers it), live
        and averaged; a live net and its EMA copy have the same parameters in the same order, so they shard
        alike and ``EMAWeights.update`` pairs each rank's local shards element by element."""
        return [self.nets["unet"], self.nets["value"], self.ema.model["unet"], self.ema.model["value"]]

    def optimizer_step(self, *args, **kwargs) -> None:
        # The EMA update belongs to the optimiser step (not to on_train_batch_end, which runs after the
        # checkpoint callbacks: a checkpoint would then hold the EMA of the step before and a resumed run drift).
        super().optimizer_step(*args, **kwargs)
        self.ema.update(self.nets, self.global_step + 1)  # global_step counts this step only after the hook

    def configure_optimizers(self):
        groups = []
        if self.stage in ("joint", "diffusion"):
            groups.append({"params": self.nets["unet"].parameters(), "lr": self.learning_rate})
        if self.stage in ("joint", "value"):
            groups.append({"params": self.nets["value"].parameters(), "lr": self.value_learning_rate})
        return torch.optim.Adam(groups)  # Janner/PlayBest: Adam, constant rate

    # ---- planning ----
    def sampling_nets(self) -> nn.ModuleDict:
        return self.ema.model if self.ema_cfg.use_for_sampling else self.nets

    def sampler(self) -> GuidedSampler:
        return GuidedSampler(self.diff_cfg.scheduler(), self.guidance)

    def generator(self, offset: int = 0) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(self.seed + 1000 * self.global_rank + offset)
        return g

    def plan(self, start: Tensor, *, scale: float | None = None, planning: PlanningConfig | None = None,
             defence: str | None = None, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Plan possessions from start frames ``start`` [B, 11, 3] (feet); see ``rollout.plan_possessions``."""
        from lit_agents.strategies import unsharded

        nets = self.sampling_nets()
        with unsharded(nets["value"]) as value:  # guidance differentiates J w.r.t. the plan (FSDP: no hooks)
            return plan_possessions(self.sampler(), nets["unet"], value, self.space, start.float(),
                                    self.horizon, planning or self.planning, scale=scale, defence=defence,
                                    generator=generator or self.generator())

    def plan_alphas(self, start: Tensor, alphas: list[float], *, planning: PlanningConfig | None = None,
                    generator: torch.Generator | None = None) -> list[dict[str, Tensor]]:
        """``plan`` for every alpha in one batched rollout, the same noise for every alpha (``plan_sweep``)."""
        from lit_agents.strategies import unsharded

        nets = self.sampling_nets()
        with unsharded(nets["value"]) as value:
            return plan_sweep(self.sampler(), nets["unet"], value, self.space, start.float(), self.horizon,
                              planning or self.planning, list(alphas), generator=generator or self.generator())

    def value_of(self, traj_feet: Tensor) -> Tensor:
        """J_phi at t = 0 of trajectories in feet [B, H, 66]."""
        t0 = torch.zeros(traj_feet.shape[0], dtype=torch.long, device=traj_feet.device)
        return self.sampling_nets()["value"](self.space.encode(traj_feet.float()), t0)

    # ---- validation: losses, alpha sweep vs ground truth and random walk, a picture ----
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        losses = self._losses(batch)
        self.log_dict({f"val/{k}": v for k, v in losses.items()}, sync_dist=True, batch_size=len(batch["traj"]))
        if batch_idx == 0:
            n = self.eval_cfg.fit_n_starts if self._fitting() else self.eval_cfg.n_starts
            self._eval_batch = {k: v[:n] for k, v in batch.items() if torch.is_tensor(v)}

    def _fitting(self) -> bool:
        return self._trainer is not None and self.trainer.state.fn == "fit"

    def sweep_alphas(self) -> list[float]:
        """The guidance scales validation evaluates now: the small fit-time sweep, or the full one."""
        cfg = self.eval_cfg
        if not self._fitting():
            return list(cfg.alphas)
        return list(cfg.fit_alphas) if cfg.fit_alphas is not None else sorted({min(cfg.alphas), max(cfg.alphas)})

    def on_validation_epoch_end(self) -> None:
        batch, self._eval_batch = self._eval_batch, None
        if batch is None or self.trainer.sanity_checking or self.eval_cfg.every_n_epochs <= 0 \
                or (self.current_epoch + 1) % self.eval_cfg.every_n_epochs:
            return
        from lit_agents.planning.evaluation import alpha_sweep
        alphas = self.sweep_alphas()
        metrics, plans = alpha_sweep(self, batch, alphas)
        self.log_dict(metrics, sync_dist=True)
        if self.eval_cfg.plot and self.trainer.is_global_zero:
            from lit_agents.logging_utils import log_image, run_dir
            from data_modules.basketball.plot import plot_possession
            alpha = max(alphas)
            path = run_dir(self.trainer) / "plots" / f"plan_epoch{self.current_epoch}.png"
            plot_possession(plans[alpha]["positions"][0].cpu().numpy(), path,
                            title=f"planned play, alpha={alpha}, J={float(plans[alpha]['values'][0]):.3f}")
            log_image(self.trainer, "plans/planned_play", path)

    # ---- test: the tables of the chapter on the test split ----
    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        from lit_agents.planning.evaluation import alpha_sweep, defence_table
        metrics, _ = alpha_sweep(self, batch, self.eval_cfg.alphas)
        metrics.update(defence_table(self, batch))
        self.log_dict({k.replace("eval/", "test/"): v for k, v in metrics.items()}, sync_dist=True,
                      batch_size=len(batch["traj"]))

    # ---- predict: plans from given start states ----
    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        out = self.plan(batch["start"], generator=self.generator(offset=batch_idx))
        out["event_points"] = event_points(out["positions"])
        out["index"] = batch["index"]
        return {k: v.detach().cpu() for k, v in out.items()}

