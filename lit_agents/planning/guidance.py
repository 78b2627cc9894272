"""Value-guided DDPM sampling with inpainting (PlayBest Algorithm 2 and the released code's variant).

Two guidance modes, both on top of a diffusers :class:`~diffusers.DDPMScheduler`:

``paper`` — dissertation Algorithm 2 / eq. (7.3)::

    mu <- mu_theta(tau_i);  tau_{i-1} ~ N(mu + alpha * Sigma_i * grad J(mu), Sigma_i);  tau_{i-1}[s_0] <- s

  the gradient is taken *at the denoised mean* mu (J evaluated at the noise level of tau_{i-1}, i.e. step
  t-1), Sigma_i is the DDPM posterior variance beta~_t (DDPM eq. 7, the scheduler's ``fixed_small``).

``released`` — Janner et al.'s ``n_step_guided_p_sample`` (which the PlayBest code forks)::

    repeat n_guide_steps:  x <- x + alpha * Var_t * grad J(x);  x[s_0] <- s
    then one ordinary denoising step from the guided x

  with Var_t = exp(posterior_log_variance_clipped[t]) (beta~_t, and beta~_1 at t = 0).
  diffusers' ``ValueGuidedRLPipeline`` instead multiplies the gradient by ``exp(0.5 * var)`` — it treats the
  variance returned by ``scheduler._get_variance`` as a log-variance, so its factor is ~1 + var/2 rather than
  var: a known discrepancy; we follow Janner's (and PlayBest's) definition.

In both modes guidance is off for t < ``t_stopgrad`` and when alpha = 0, in which case the chain is exactly
the unguided DDPM chain for a fixed generator (no random numbers are drawn by guidance). Conditioning
(inpainting) overwrites the masked entries with the known values after every update, so the start state —
and in replanning everything executed so far — is exactly preserved.

Batched sweeps: ``scale`` may be one alpha per plan (a tensor ``[B]``) and ``noise_groups`` = G splits the batch
into G equal groups that share every noise draw (the first group's), so an alpha sweep over G scales runs as
one sampler call with the same noise for every alpha, drawing exactly what G separate calls with the same
seed would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from diffusers import DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor
from torch import Tensor

Denoiser = Callable[[Tensor, Tensor], Tensor]  # (x [B, H, C], t [B]) -> eps or x0 prediction [B, H, C]
ValueFn = Callable[[Tensor, Tensor], Tensor]  # (x [B, H, C], t [B]) -> J [B]


@dataclass
class GuidanceConfig:
    """How plans are steered by the value function.

    Args:
        mode: ``released`` (x += alpha*Var_t*grad J(x), n_guide_steps times before each denoising step; the
            authors' code) or ``paper`` (Algorithm 2: gradient at the denoised mean, added to the mean).
        scale: alpha; 0 gives unguided sampling. Released default 0.1; the paper sweeps {0, 0.01, 0.1, 1, 10}.
        n_guide_steps: gradient steps per denoising step (``released`` only; released default 2).
        t_stopgrad: no guidance at diffusion steps t < t_stopgrad (released default 4).
    """

    mode: Literal["released", "paper"] = "released"
    scale: float = 0.1
    n_guide_steps: int = 2
    t_stopgrad: int = 4

    def __post_init__(self) -> None:
        if self.mode not in ("released", "paper"):
            raise ValueError(f"guidance.mode must be 'released' or 'paper', got {self.mode!r}")
        if self.n_guide_steps < 1:
            raise ValueError(f"guidance.n_guide_steps must be >= 1, got {self.n_guide_steps}")


def apply_conditioning(x: Tensor, cond_values: Tensor, cond_mask: Tensor) -> Tensor:
    """Inpainting: entries where ``cond_mask`` is True take ``cond_values`` exactly."""
    return torch.where(cond_mask, cond_values, x)


def posterior_variance(scheduler: DDPMScheduler, t: int) -> Tensor:
    """beta~_t = (1 - abar_{t-1}) / (1 - abar_t) * beta_t (DDPM eq. 7), clamped at 1e-20 like diffusers."""
    prev_t = scheduler.previous_timestep(t)
    a_t = scheduler.alphas_cumprod[t]
    a_prev = scheduler.alphas_cumprod[prev_t] if prev_t >= 0 else scheduler.one
    return torch.clamp((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev), min=1e-20)


def posterior_mean(scheduler: DDPMScheduler, model_output: Tensor, t: int, x: Tensor) -> Tensor:
    """mu_theta(x_t, t): the DDPM posterior mean from an eps- or x0-prediction (DDPM eqs. 7 and 15).

    The same arithmetic as ``DDPMScheduler.step`` before it adds noise (clip to ``clip_sample_range`` included).
    """
    prev_t = scheduler.previous_timestep(t)
    a_t = scheduler.alphas_cumprod[t]
    a_prev = scheduler.alphas_cumprod[prev_t] if prev_t >= 0 else scheduler.one
    beta_prod_t, beta_prod_prev = 1 - a_t, 1 - a_prev
    cur_alpha = a_t / a_prev
    cur_beta = 1 - cur_alpha
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        x0 = (x - beta_prod_t ** 0.5 * model_output) / a_t ** 0.5
    elif kind == "sample":
        x0 = model_output
    else:
        raise ValueError(f"prediction_type {kind!r} is not supported (use 'epsilon' or 'sample')")
    if scheduler.config.clip_sample:
        r = scheduler.config.clip_sample_range
        x0 = x0.clamp(-r, r)
    return (a_prev ** 0.5 * cur_beta) / beta_prod_t * x0 + cur_alpha ** 0.5 * beta_prod_prev / beta_prod_t * x


def value_gradient(value_fn: ValueFn, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """(J(x, t), dJ/dx) with J summed over the batch (each plan's gradient is its own).

    Works inside Lightning's ``inference_mode`` (validate/test/predict): autograd is re-enabled locally and
    the input is cloned out of inference mode."""
    with torch.inference_mode(False), torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        y = value_fn(xg, t.clone())
        (grad,) = torch.autograd.grad(y.sum(), xg)
    return y.detach(), grad


Scale = float | Tensor
"""One alpha, or one per plan (``[B]``)."""


def _is_zero(scale: Scale) -> bool:
    return bool((scale == 0).all()) if torch.is_tensor(scale) else scale == 0


def _per_plan(scale: Scale, x: Tensor) -> Scale:
    """A per-plan scale ``[B]`` as ``[B, 1, 1]`` (broadcast over the plan); a float as is."""
    if not torch.is_tensor(scale):
        return scale
    if scale.shape != (x.shape[0],):
        raise ValueError(f"per-plan guidance scales must be [{x.shape[0]}], got {tuple(scale.shape)}")
    return scale.to(x).view(-1, *([1] * (x.dim() - 1)))


def shared_noise(shape: torch.Size, groups: int, generator: torch.Generator | None, device, dtype) -> Tensor:
    """Gaussian noise of ``shape`` whose ``groups`` equal batch groups repeat the first group's draw."""
    if groups == 1:
        return randn_tensor(shape, generator=generator, device=device, dtype=dtype)
    if shape[0] % groups:
        raise ValueError(f"a batch of {shape[0]} does not split into {groups} noise groups")
    one = randn_tensor((shape[0] // groups, *shape[1:]), generator=generator, device=device, dtype=dtype)
    return one.repeat(groups, *([1] * (len(shape) - 1)))


def released_guide(x: Tensor, t: int, value_fn: ValueFn, scheduler: DDPMScheduler, cfg: GuidanceConfig,
                   cond_values: Tensor, cond_mask: Tensor, scale: Scale) -> Tensor:
    """The released guidance before denoising step t: ``n_guide_steps`` times x += scale*Var_t*grad J(x)."""
    if _is_zero(scale) or t < cfg.t_stopgrad:
        return x
    scale = _per_plan(scale, x)
    var = posterior_variance(scheduler, max(t, 1)).to(x)  # Janner's log-variance is clipped at t = 0
    tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    for _ in range(cfg.n_guide_steps):
        _, grad = value_gradient(value_fn, x, tt)
        x = apply_conditioning(x + scale * var * grad, cond_values, cond_mask)
    return x


def paper_step(x: Tensor, t: int, denoiser: Denoiser, value_fn: ValueFn | None, scheduler: DDPMScheduler,
               cfg: GuidanceConfig, scale: Scale, generator: torch.Generator | None, noise_groups: int = 1) -> Tensor:
    """One step of Algorithm 2: tau_{t-1} ~ N(mu + scale * Sigma_t * grad J(mu), Sigma_t) (before clamping)."""
    tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    mu = posterior_mean(scheduler, denoiser(x, tt), t, x)
    var = posterior_variance(scheduler, t).to(x)
    if not _is_zero(scale) and t >= cfg.t_stopgrad and value_fn is not None:
        t_prev = torch.full_like(tt, max(scheduler.previous_timestep(t), 0))
        _, grad = value_gradient(value_fn, mu, t_prev)
        mu = mu + _per_plan(scale, x) * var * grad
    if t > 0:  # same draw as DDPMScheduler.step, so scale = 0 reproduces the unguided chain
        noise = shared_noise(x.shape, noise_groups, generator, x.device, x.dtype)
        return mu + var ** 0.5 * noise
    return mu


def released_step(x: Tensor, t: int, model_output: Tensor, scheduler: DDPMScheduler,
                  generator: torch.Generator | None, noise_groups: int) -> Tensor:
    """One unguided DDPM step (``DDPMScheduler.step``, ``fixed_small``); with noise groups, the shared draw."""
    if noise_groups == 1:
        return scheduler.step(model_output, t, x, generator=generator).prev_sample
    mu = posterior_mean(scheduler, model_output, t, x)
    if t > 0:
        var = posterior_variance(scheduler, t).to(x)
        return mu + var ** 0.5 * shared_noise(x.shape, noise_groups, generator, x.device, x.dtype)
    return mu


@dataclass
class SampleOutput:
    """Plans in the model's (normalised) space and J at t = 0 (None without a value function)."""

    trajectories: Tensor
    values: Tensor | None


class GuidedSampler:
    """Batched DDPM sampling from start states with inpainting and optional value guidance.

    Args:
        scheduler: a DDPMScheduler; sampling runs every one of its ``num_train_timesteps`` steps.
        guidance: mode, scale, n_guide_steps, t_stopgrad.
    """

    def __init__(self, scheduler: DDPMScheduler, guidance: GuidanceConfig | None = None):
        self.scheduler = scheduler
        self.guidance = guidance or GuidanceConfig()

    @torch.no_grad()
    def sample(self, denoiser: Denoiser, value_fn: ValueFn | None, cond_values: Tensor, cond_mask: Tensor, *,
               scale: Scale | None = None, generator: torch.Generator | None = None,
               noise_groups: int = 1) -> SampleOutput:
        """Sample ``cond_values.shape`` plans; entries under ``cond_mask`` equal ``cond_values`` exactly.

        ``scale``: alpha, or one alpha per plan (``[B]``); ``noise_groups``: equal batch groups sharing noise."""
        cfg = self.guidance
        scale = cfg.scale if scale is None else (scale if torch.is_tensor(scale) else float(scale))
        if not _is_zero(scale) and value_fn is None:
            raise ValueError("guidance scale != 0 needs a value function")
        cond_mask = cond_mask.expand_as(cond_values)
        sched = self.scheduler
        sched.set_timesteps(sched.config.num_train_timesteps, device=cond_values.device)
        x = shared_noise(cond_values.shape, noise_groups, generator, cond_values.device, cond_values.dtype)
        x = apply_conditioning(x, cond_values, cond_mask)
        for t in sched.timesteps.tolist():
            if cfg.mode == "released":
                x = released_guide(x, t, value_fn, sched, cfg, cond_values, cond_mask, scale)
                tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
                x = released_step(x, t, denoiser(x, tt), sched, generator, noise_groups)
            else:
                x = paper_step(x, t, denoiser, value_fn, sched, cfg, scale, generator, noise_groups)
            x = apply_conditioning(x, cond_values, cond_mask)
        values = None
        if value_fn is not None:
            values = value_fn(x, torch.zeros(x.shape[0], device=x.device, dtype=torch.long))
        return SampleOutput(x, values)
