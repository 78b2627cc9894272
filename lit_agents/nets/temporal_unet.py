"""Temporal U-Net (Janner et al.'s Diffuser, as in PlayBest) and its value network.

The denoiser is diffusers' :class:`~diffusers.UNet1DModel` in the configuration diffusers uses for its port of
Janner's Diffuser (``DownResnetBlock1D``/``UpResnetBlock1D``, ``MidResTemporalBlock1D``, ``OutConv1DBlock``,
positional timestep embedding with an MLP, Mish, GroupNorm(8)). diffusers' block factory hard-codes the
temporal kernel at 5 (Janner's and PlayBest's value); for another ``kernel_size`` the residual blocks are
rebuilt with diffusers' own :class:`ResidualTemporalBlock1D`, which takes the kernel as an argument.

The value network J_phi is "exactly the first half of the U-Net followed by a linear layer" (dissertation
§7.4.3): the same down path (one ``DownResnetBlock1D`` per multiplier), a mid residual block, then a linear
head on the flattened features concatenated with the timestep embedding (J_phi sees noised trajectories at
diffusion step t, like Janner's ``ValueFunction``).

Tensors are ``[batch, horizon, transition_dim]`` at this module's boundary (time-major, like the data); the
networks work on ``[batch, channels, horizon]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers import UNet1DModel
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.resnet import ResidualTemporalBlock1D
from diffusers.models.unets.unet_1d_blocks import DownResnetBlock1D, MidResTemporalBlock1D
from torch import Tensor, nn


def check_horizon(horizon: int, dim_mults: Sequence[int], *, key: str = "horizon") -> None:
    """Raise a ValueError naming ``key`` unless ``horizon`` survives the U-Net's down/up sampling.

    Each block but the last halves the time axis (stride-2 conv) and the up path doubles it (transposed
    conv), so the horizon must be a multiple of ``2 ** (len(dim_mults) - 1)``.
    """
    factor = 2 ** (len(dim_mults) - 1)
    if horizon <= 0 or horizon % factor:
        raise ValueError(
            f"{key}={horizon} must be a positive multiple of {factor} = 2**(len(dim_mults)-1) "
            f"for dim_mults={list(dim_mults)}; e.g. {max(factor, (horizon // factor) * factor)}")


def _set_kernel(module: nn.Module, kernel_size: int) -> None:
    """Rebuild every ResidualTemporalBlock1D inside ``module`` with ``kernel_size`` (diffusers fixes 5)."""
    for name, child in module.named_children():
        if isinstance(child, ResidualTemporalBlock1D):
            conv = child.conv_in.conv1d
            setattr(module, name, ResidualTemporalBlock1D(
                conv.in_channels, conv.out_channels, embed_dim=child.time_emb.in_features,
                kernel_size=kernel_size))
        else:
            _set_kernel(child, kernel_size)


def build_temporal_unet(transition_dim: int, dim: int = 32, dim_mults: Sequence[int] = (1, 2, 4, 8),
                        kernel_size: int = 5) -> UNet1DModel:
    """diffusers UNet1DModel laid out as Janner's TemporalUnet (channels ``dim * mult``)."""
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size} must be odd (same-length temporal convolutions)")
    channels = tuple(dim * m for m in dim_mults)
    n = len(channels)
    unet = UNet1DModel(
        in_channels=transition_dim, out_channels=transition_dim, extra_in_channels=0,
        block_out_channels=channels, layers_per_block=1,
        down_block_types=("DownResnetBlock1D",) * n, up_block_types=("UpResnetBlock1D",) * (n - 1),
        mid_block_type="MidResTemporalBlock1D", out_block_type="OutConv1DBlock",
        # Janner: SinusoidalPosEmb(dim) -> Linear(dim, 4 dim) -> Mish -> Linear(4 dim, dim)
        time_embedding_type="positional", use_timestep_embedding=True, flip_sin_to_cos=False, freq_shift=1,
        act_fn="mish", norm_num_groups=8, downsample_each_block=False)
    if kernel_size != 5:
        _set_kernel(unet, kernel_size)
    return unet


class TemporalUNet(nn.Module):
    """Denoiser eps_theta / x0_theta over trajectories ``[B, H, C]`` at diffusion steps ``t`` ``[B]``."""

    def __init__(self, transition_dim: int, dim: int = 32, dim_mults: Sequence[int] = (1, 2, 4, 8),
                 kernel_size: int = 5):
        super().__init__()
        self.dim_mults = tuple(dim_mults)
        self.unet = build_temporal_unet(transition_dim, dim, dim_mults, kernel_size)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        check_horizon(x.shape[1], self.dim_mults)
        return self.unet(x.transpose(1, 2), t).sample.transpose(1, 2)


class ValueNet(nn.Module):
    """J_phi(tau_t, t): the U-Net's down path + mid block, then a linear head to one scalar per trajectory."""

    def __init__(self, transition_dim: int, horizon: int, dim: int = 32, dim_mults: Sequence[int] = (1, 2, 4, 8),
                 kernel_size: int = 5):
        super().__init__()
        check_horizon(horizon, dim_mults)
        self.horizon = horizon
        channels = [dim * m for m in dim_mults]
        self.time_proj = Timesteps(dim, flip_sin_to_cos=False, downscale_freq_shift=1)
        self.time_mlp = TimestepEmbedding(in_channels=dim, time_embed_dim=4 * dim, act_fn="mish", out_dim=dim)
        downs, c_in = [], transition_dim
        for i, c_out in enumerate(channels):
            downs.append(DownResnetBlock1D(c_in, c_out, temb_channels=dim,
                                           add_downsample=i < len(channels) - 1))
            c_in = c_out
        self.downs = nn.ModuleList(downs)
        self.mid = MidResTemporalBlock1D(c_in, c_in, embed_dim=dim)
        if kernel_size != 5:
            _set_kernel(self, kernel_size)
        steps = horizon // 2 ** (len(channels) - 1)
        self.head = nn.Linear(c_in * steps + dim, 1)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """``x`` [B, H, C], ``t`` [B] (or scalar) -> values [B]."""
        if x.shape[1] != self.horizon:
            raise ValueError(f"value net built for horizon={self.horizon}, got trajectories of length {x.shape[1]}")
        if not torch.is_tensor(t) or t.dim() == 0:
            t = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
        temb = self.time_mlp(self.time_proj(t).to(x.dtype))
        h = x.transpose(1, 2)
        for down in self.downs:
            h, _ = down(h, temb)
        h = self.mid(h, temb)
        return self.head(torch.cat([h.flatten(1), temb], dim=-1)).squeeze(-1)
