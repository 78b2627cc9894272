"""PlayBest's losses (dissertation ch. 7): the denoiser's ``||target - f_theta(tau_t, t)||^2`` with target eps
(eq. 7.2) or tau_0 (x0-prediction), and the value net's ``(J_phi(tau_t, t) - R)^2``."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def diffusion_loss(pred: Tensor, x0: Tensor, noise: Tensor, prediction: str) -> Tensor:
    """MSE of the denoiser output against eps (``epsilon``) or the clean trajectory (``sample``)."""
    target = noise if prediction == "epsilon" else x0
    return F.mse_loss(pred, target)


def value_loss(pred: Tensor, returns: Tensor) -> Tensor:
    """MSE between J_phi(tau_t, t) and the possession returns."""
    return F.mse_loss(pred, returns)
