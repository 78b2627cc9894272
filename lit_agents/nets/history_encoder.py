"""ReLiable's state encoder (dissertation §6.5.1, Fig. 6.3): CNN per frame -> Transformer over the window ->
concatenate flat features -> MLP -> one output per action (Q-values, or logits for the supervised baselines).

``sequence`` picks the temporal encoder: "transformer" (the paper), "lstm" / "gru" (the chapter's LSTM ablation
and baselines) or "none" (the MDP ablation: the current frame only). ``use_image=False`` drops the images
(flat features only; with ``mlp_hidden=0`` that is the logistic-regression baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass
class EncoderSpec:
    """Sizes of the history encoder (YAML: ``model.encoder``)."""

    cnn_channels: list[int] = field(default_factory=lambda: [16, 32])
    pool: int = 3                  # adaptive pooling grid after the convolutions
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    sequence: str = "transformer"  # transformer | lstm | gru | none
    mlp_hidden: int = 128          # 0: a linear head
    dropout: float = 0.0
    use_image: bool = True


def frames_channels_last(x: Tensor) -> Tensor:
    """The same frames ``[..., C, H, W]`` stored with the channel fastest in memory (NHWC), the layout oneDNN's
    CPU convolutions run about twice as fast on; :class:`FrameCNN` keeps that layout through ``flatten``."""
    order = list(range(x.dim()))
    to_hwc = order[:-3] + [order[-2], order[-1], order[-3]]
    back = order[:-3] + [x.dim() - 1, x.dim() - 3, x.dim() - 2]
    return x.permute(*to_hwc).contiguous().permute(*back)


class FrameCNN(nn.Module):
    """[N, C, 47, 50] -> [N, d_model]: strided convolutions, adaptive pooling, a linear projection."""

    def __init__(self, in_channels: int, channels: list[int], pool: int, d_model: int):
        super().__init__()
        layers, c = [], in_channels
        for i, c_out in enumerate(channels):
            k = 5 if i == 0 else 3
            layers += [nn.Conv2d(c, c_out, k, stride=2, padding=k // 2), nn.ReLU()]
            c = c_out
        self.conv = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(pool), nn.Flatten())
        self.proj = nn.Linear(c * pool * pool, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.conv(x))


class HistoryEncoder(nn.Module):
    """Q-network / classifier over a window of images and the current flat features.

    forward(image [B, W, C, H, W'], flat [B, F]) -> (out [B, n_out], state representation [B, D])."""

    def __init__(self, in_channels: int, flat_dim: int, n_out: int, window: int, spec: EncoderSpec | None = None):
        super().__init__()
        s = self.spec = spec or EncoderSpec()
        if s.sequence not in ("transformer", "lstm", "gru", "none"):
            raise ValueError(f"encoder.sequence must be transformer|lstm|gru|none, got {s.sequence!r}")
        self.window = window
        rep = flat_dim
        if s.use_image:
            self.cnn = FrameCNN(in_channels, list(s.cnn_channels), s.pool, s.d_model)
            if s.sequence == "transformer":
                self.pos = nn.Parameter(torch.zeros(1, window, s.d_model))
                layer = nn.TransformerEncoderLayer(s.d_model, s.n_heads, 2 * s.d_model, s.dropout, batch_first=True,
                                                   norm_first=True)
                self.seq = nn.TransformerEncoder(layer, s.n_layers, enable_nested_tensor=False)
            elif s.sequence in ("lstm", "gru"):
                self.seq = (nn.LSTM if s.sequence == "lstm" else nn.GRU)(s.d_model, s.d_model, s.n_layers,
                                                                        batch_first=True)
            rep += s.d_model
        self.rep_dim = rep
        self.head = (nn.Sequential(nn.Linear(rep, s.mlp_hidden), nn.ReLU(), nn.Dropout(s.dropout),
                                   nn.Linear(s.mlp_hidden, s.mlp_hidden), nn.ReLU(), nn.Linear(s.mlp_hidden, n_out))
                     if s.mlp_hidden > 0 else nn.Linear(rep, n_out))

    def represent(self, image: Tensor, flat: Tensor) -> Tensor:
        """State representation: the last window position's encoding concatenated with the flat features."""
        if not self.spec.use_image:
            return flat
        self._check_window(image.shape[1])
        if self.spec.sequence == "none":
            return torch.cat([self.cnn(image[:, -1]), flat], dim=-1)
        return self.represent_frames(self.frame_features(image), flat)

    def _check_window(self, w: int) -> None:
        if w != self.window:
            raise ValueError(f"image window {w} != encoder window {self.window} (set model.window = data.window)")

    def frame_features(self, frames: Tensor) -> Tensor:
        """The CNN of every frame, all frames of the batch in one call: ``[B, K, C, H, W'] -> [B, K, d_model]``."""
        B, K = frames.shape[:2]
        return self.cnn(frames.flatten(0, 1)).view(B, K, -1)

    def represent_frames(self, z: Tensor, flat: Tensor) -> Tensor:
        """:meth:`represent` from the window's frame features ``z [B, W, d_model]`` (sequence models only)."""
        self._check_window(z.shape[1])
        if self.spec.sequence == "transformer":
            z = self.seq(z + self.pos)[:, -1]
        else:
            z = self.seq(z)[0][:, -1]
        return torch.cat([z, flat], dim=-1)

    def shares_frames(self) -> bool:
        """Whether a state's representation is built from per-frame features that the next state can reuse."""
        return self.spec.use_image and self.spec.sequence != "none"

    def forward(self, image: Tensor, flat: Tensor) -> tuple[Tensor, Tensor]:
        rep = self.represent(image, flat)
        return self.head(rep), rep
