"""Guided sampling against its definitions (PlayBest Algorithm 2 and the released n-step guidance)."""

import pytest
import torch
from diffusers import DDPMScheduler

from lit_agents.nets.temporal_unet import TemporalUNet
from lit_agents.planning.guidance import (
    GuidanceConfig,
    GuidedSampler,
    apply_conditioning,
    paper_step,
    posterior_mean,
    posterior_variance,
    released_guide,
)

H, C, T = 8, 6, 10


def sched(prediction="sample"):
    return DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2", prediction_type=prediction,
                         clip_sample=True)


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    net = TemporalUNet(C, dim=8, dim_mults=(1, 2))
    net.eval()
    return net


TARGET = torch.linspace(-0.5, 0.5, H * C).view(1, H, C)


def quad_value(x, t):
    """Hand-made J(x) = -1/2 ||x - c||^2 (grad = c - x), independent of t."""
    return -0.5 * ((x - TARGET) ** 2).flatten(1).sum(1)


def cond(b=3):
    values = torch.randn(b, H, C)
    mask = torch.zeros(H, C, dtype=torch.bool)
    mask[0, :3] = True
    return values, mask


@pytest.mark.parametrize("prediction", ["sample", "epsilon"])
def test_posterior_matches_diffusers_step(unet, prediction):
    s = sched(prediction)
    s.set_timesteps(T)
    x = torch.randn(2, H, C)
    for t in [T - 1, 5, 1, 0]:
        out = unet(x, torch.full((2,), t))
        assert torch.allclose(posterior_variance(s, t), s._get_variance(t))
        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        ref = s.step(out, t, x, generator=g1).prev_sample
        mu = posterior_mean(s, out, t, x)
        noise = torch.randn(x.shape, generator=g2) if t > 0 else torch.zeros_like(x)
        assert torch.allclose(mu + posterior_variance(s, t) ** 0.5 * noise, ref, atol=1e-6)


def plain_diffusers_loop(unet, s, values, mask, seed):
    """The unguided reference: a textbook diffusers DDPM loop with inpainting."""
    g = torch.Generator().manual_seed(seed)
    s.set_timesteps(T)
    x = apply_conditioning(torch.randn(values.shape, generator=g), values, mask)
    for t in s.timesteps.tolist():
        x = s.step(unet(x, torch.full((len(x),), t)), t, x, generator=g).prev_sample
        x = apply_conditioning(x, values, mask)
    return x


@pytest.mark.parametrize("mode", ["released", "paper"])
def test_alpha_zero_is_unguided_sampling(unet, mode):
    values, mask = cond()
    ref = plain_diffusers_loop(unet, sched(), values, mask, seed=5)
    out = GuidedSampler(sched(), GuidanceConfig(mode=mode, scale=0.0, t_stopgrad=0)).sample(
        unet, quad_value, values, mask, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(out.trajectories, ref, atol=1e-5)


@pytest.mark.parametrize("mode", ["released", "paper"])
def test_start_state_exactly_preserved(unet, mode):
    values, mask = cond(4)
    out = GuidedSampler(sched(), GuidanceConfig(mode=mode, scale=5.0, t_stopgrad=0)).sample(
        unet, quad_value, values, mask, generator=torch.Generator().manual_seed(1))
    m = mask.expand_as(values)
    assert torch.equal(out.trajectories[m], values[m])
    assert not torch.equal(out.trajectories[~m], values[~m])


def test_released_guidance_definition():
    s = sched()
    s.set_timesteps(T)
    values, mask = cond(2)
    x = torch.randn(2, H, C)
    cfg = GuidanceConfig(mode="released", scale=0.3, n_guide_steps=2, t_stopgrad=4)
    t = 6
    var = s._get_variance(t)
    # x <- x + alpha * Var_t * grad J(x), twice, clamping after each step; grad J(x) = c - x
    want = x
    for _ in range(2):
        want = apply_conditioning(want + 0.3 * var * (TARGET - want), values, mask)
    got = released_guide(x, t, quad_value, s, cfg, values, mask, scale=0.3)
    assert torch.allclose(got, want, atol=1e-6)
    # below t_stopgrad, and with alpha = 0: untouched
    assert torch.equal(released_guide(x, 3, quad_value, s, cfg, values, mask, scale=0.3), x)
    assert torch.equal(released_guide(x, t, quad_value, s, cfg, values, mask, scale=0.0), x)


def test_released_guidance_scales_by_the_posterior_variance_not_diffusers_exp():
    """Our released guidance moves x by exactly n_guide_steps * alpha * beta~_t * grad J for a linear J, with
    beta~_t the scheduler's own fixed_small variance; diffusers' ValueGuidedRLPipeline would use
    exp(0.5 * beta~_t) >= 1 + beta~_t / 2 instead (it treats the variance as a log-variance): a larger step."""
    s = sched()
    s.set_timesteps(T)
    w = torch.linspace(-1.0, 1.0, H * C).view(1, H, C)
    values, mask = cond(2)
    x = torch.randn(2, H, C)
    cfg = GuidanceConfig(mode="released", scale=0.3, n_guide_steps=3, t_stopgrad=1)
    for t in (1, 5, T - 1):
        moved = released_guide(x, t, lambda z, tt: (z * w).flatten(1).sum(1), s, cfg, values, mask, scale=0.3)
        step = (moved - x)[:, 1:]                                   # row 0 holds the clamped start entries
        var = posterior_variance(s, t)
        assert torch.allclose(var, s._get_variance(t))
        assert torch.allclose(step, (3 * 0.3 * var * w).expand_as(x)[:, 1:], atol=1e-6)
        diffusers_step = 3 * 0.3 * torch.exp(0.5 * var) * w
        assert (step.abs() < diffusers_step.abs().expand_as(x)[:, 1:] - 1e-3 * w.abs().expand_as(x)[:, 1:]).all()


def test_paper_step_definition(unet):
    s = sched()
    s.set_timesteps(T)
    x = torch.randn(2, H, C)
    cfg = GuidanceConfig(mode="paper", scale=0.7, t_stopgrad=2)
    t = 5
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    got = paper_step(x, t, unet, quad_value, s, cfg, 0.7, g1)
    mu = posterior_mean(s, unet(x, torch.full((2,), t)), t, x)
    var = s._get_variance(t)
    # tau_{t-1} ~ N(mu + alpha * Sigma * grad J(mu), Sigma): gradient at the denoised mean, not at x
    want = mu + 0.7 * var * (TARGET - mu) + var ** 0.5 * torch.randn(x.shape, generator=g2)
    assert torch.allclose(got, want, atol=1e-6)
    # no guidance below t_stopgrad: the unguided step
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    got = paper_step(x, 1, unet, quad_value, s, cfg, 0.7, g1)
    mu = posterior_mean(s, unet(x, torch.full((2,), 1)), 1, x)
    assert torch.allclose(got, mu + s._get_variance(1) ** 0.5 * torch.randn(x.shape, generator=g2), atol=1e-6)


def linear_value(x, t):
    """Hand-made J: the sum of channel 0 over the plan."""
    return x[..., 0].sum(1)


def identity_denoiser(x, t):
    """Hand-made x0-predictor that keeps what it is given (so the final plan still shows the guidance)."""
    return x


@pytest.mark.parametrize("mode", ["released", "paper"])
def test_guidance_raises_value(mode):
    values, mask = cond(6)
    j = {}
    for alpha in (0.0, 5.0):
        out = GuidedSampler(sched(), GuidanceConfig(mode=mode, scale=alpha, t_stopgrad=1)).sample(
            identity_denoiser, linear_value, values, mask, generator=torch.Generator().manual_seed(2))
        j[alpha] = out.values
    assert (j[5.0] > j[0.0] + 0.5).all()


@pytest.mark.parametrize("mode", ["released", "paper"])
def test_batched_alpha_sweep_equals_one_call_per_alpha(mode, unet):
    """Issue 20 item 3: per-plan scales with shared noise groups reproduce separate calls per alpha (same seed)."""
    values, mask = cond(3)
    alphas = [0.0, 0.5, 5.0]
    sampler = GuidedSampler(sched(), GuidanceConfig(mode=mode, t_stopgrad=1))
    alone = [sampler.sample(unet, quad_value, values, mask, scale=a, generator=torch.Generator().manual_seed(4))
             for a in alphas]
    scale = torch.tensor(alphas).repeat_interleave(3)
    batched = sampler.sample(unet, quad_value, values.repeat(3, 1, 1), mask, scale=scale, noise_groups=3,
                             generator=torch.Generator().manual_seed(4))
    for i, one in enumerate(alone):
        assert torch.allclose(batched.trajectories[3 * i:3 * i + 3], one.trajectories, atol=1e-3)  # float order
    assert (alone[0].trajectories - alone[2].trajectories).abs().max() > 0.05          # guidance did act
