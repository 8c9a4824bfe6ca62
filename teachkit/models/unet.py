"""SmallUNet: a CPU-sized class-conditional eps-predictor for 28x28 images (DDPM's UNet, Ho et al. 2020, App. B; CFG null label, Ho & Salimans 2022)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from teachkit.models.embeddings import LabelEmbedding, TimestepEmbedding, _time_scale, check_y, embed_time
from teachkit.models.outputs import check_output_kind, output_config

__all__ = ["SmallUNet", "ResBlock"]


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, add the (time + class) embedding, GroupNorm -> SiLU -> dropout -> conv, plus a skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int = 8, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(min(groups, c_out), c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        # (B, C, 1, 1) broadcast of the conditioning vector
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SmallUNet(nn.Module):
    """A 3-level UNet (28 -> 14 -> 7) with one residual block per level, sized to train on 2 CPU cores."""

    def __init__(self, in_channels: int = 1, image_size: int = 28, channels: tuple[int, ...] = (32, 64, 64),
                 emb_dim: int = 128, num_classes: int | None = 10, dropout: float = 0.0, groups: int = 8,
                 prediction: str = "eps", grid: tuple[int, ...] | None = None,
                 time_scale: float | None = None):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 1 or any(c % groups for c in channels):
            raise ValueError(f"channels must be a non-empty tuple of multiples of groups={groups}, got {channels}")
        if image_size % (2 ** (len(channels) - 1)):
            raise ValueError(f"image_size={image_size} must be divisible by 2^(levels-1)={2 ** (len(channels) - 1)}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 or None (unconditional), got {num_classes}")
        self.config = dict(in_channels=in_channels, image_size=image_size, channels=list(channels),
                           emb_dim=emb_dim, num_classes=num_classes, dropout=dropout, groups=groups)
        self.prediction, self.grid = check_output_kind(prediction, grid)
        self.config.update(output_config(self.prediction, self.grid))
        self.time_scale = _time_scale(time_scale, self.config, self.prediction)
        self.sample_shape = (in_channels, image_size, image_size)
        self.num_classes = num_classes
        self.null_label = num_classes
        self.time_emb = TimestepEmbedding(emb_dim, emb_dim)
        self.label_emb = LabelEmbedding(num_classes, emb_dim) if num_classes is not None else None
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c_prev = channels[0]
        for i, c in enumerate(channels):
            self.down.append(ResBlock(c_prev, c, emb_dim, groups, dropout))
            last = i == len(channels) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))
            c_prev = c
        self.mid = nn.ModuleList([ResBlock(c_prev, c_prev, emb_dim, groups, dropout) for _ in range(2)])
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, c in reversed(list(enumerate(channels))):
            # input: the running features concatenated with the skip connection of this level
            self.up.append(ResBlock(c_prev + c, c, emb_dim, groups, dropout))
            self.upsample.append(nn.Identity() if i == 0 else nn.Conv2d(c, c, 3, padding=1))
            c_prev = c
        self.norm_out = nn.GroupNorm(min(groups, channels[0]), channels[0])
        self.conv_out = nn.Conv2d(channels[0], in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x_t: torch.Tensor, t, y=None) -> torch.Tensor:
        """Predict the noise eps in x_t (B, C, H, W) at timesteps t (B,) for labels y (B,) or None (null label).

        With time_scale set, t is continuous in [0, 1] (a flow model, prediction='velocity', teachkit.flow).
        """
        if not isinstance(x_t, torch.Tensor) or tuple(x_t.shape[1:]) != self.sample_shape:
            shape = tuple(x_t.shape) if isinstance(x_t, torch.Tensor) else type(x_t).__name__
            raise ValueError(f"SmallUNet expects x_t of shape (B, {', '.join(map(str, self.sample_shape))}), got {shape}")
        t = embed_time(x_t, t, self.time_scale)
        y = check_y(x_t, y, self.num_classes)
        # (B, emb_dim): emb = time_emb(t) + label_emb(y)
        emb = self.time_emb(t)
        if self.label_emb is not None:
            emb = emb + self.label_emb(y)
        h = self.conv_in(x_t)
        skips = []
        for block, down in zip(self.down, self.downsample):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        for block in self.mid:
            h = block(h, emb)
        for block, up in zip(self.up, self.upsample):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if not isinstance(up, nn.Identity):
                # nearest-neighbour 2x upsampling followed by a 3x3 conv
                h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))
