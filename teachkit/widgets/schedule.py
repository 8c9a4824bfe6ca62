"""The schedule / forward-process explorer: schedule curves and q(x_t | x_0) on 2-D data and images, drawn in the browser.

The kernel sends each schedule's curves (beta_t, alpha_bar_t, SNR(t)) and the coefficients of DDPM
Eq. 4 (sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)) once, with x_0 and one fixed noise draw; the browser
combines them per t as NoiseSchedule.q_sample does, so the t slider never waits for the kernel.
"""
from __future__ import annotations

import numpy as np
import torch
import traitlets as T

from .. import viz
from ..schedules import cosine_schedule, linear_schedule, scaled_linear_schedule
from .canvas import CanvasWidget

__all__ = ["ScheduleExplorer", "point_colors"]


def _f32(x) -> bytes:
    return np.ascontiguousarray(viz.as_numpy(x), dtype="<f4").tobytes()


def point_colors(data: np.ndarray, labels=None) -> np.ndarray:
    """RGB per 2-D point: its class colour, or (no labels) a hue from its angle around the data's centre."""
    if labels is not None:
        return viz.CLASS_COLORS[np.asarray(labels, dtype=np.int64) % len(viz.CLASS_COLORS)]
    from matplotlib import colormaps

    centred = data - data.mean(axis=0)
    angle = (np.arctan2(centred[:, 1], centred[:, 0]) + np.pi) / (2 * np.pi)
    return colormaps["hsv"](angle)[:, :3]


class ScheduleExplorer(CanvasWidget):
    """Pick a schedule and a timestep t; see beta (log axis), alpha_bar, SNR (log) at t and x_t ~ q(x_t | x_0) (DDPM Eq. 4).

    `data` (N, 2) points are coloured by `labels` (their class) or, without labels, by where they start,
    so each point can be followed as t grows; `images` (B, 1, H, W) in [-1, 1] are noised alongside.
    """

    t = T.Int(0).tag(sync=True)
    T_max = T.Int(1000).tag(sync=True)
    schedule = T.Unicode("").tag(sync=True)
    schedule_names = T.List(T.Unicode()).tag(sync=True)
    curves = T.Bytes(b"").tag(sync=True)  # float32 (n_schedules, 5, T): beta, alpha_bar, snr, sqrt_ab, sqrt_1m_ab
    points = T.Bytes(b"").tag(sync=True)  # float32 (N, 2) x_0
    points_noise = T.Bytes(b"").tag(sync=True)
    point_rgb = T.Bytes(b"").tag(sync=True)  # uint8 (N, 3)
    lim = T.Float(3.5).tag(sync=True)
    image_shape = T.List(T.Int()).tag(sync=True)  # (B, H, W)
    images = T.Bytes(b"").tag(sync=True)
    images_noise = T.Bytes(b"").tag(sync=True)

    def __init__(self, schedules: dict | None = None, data=None, images=None, *, labels=None, t: int = 0,
                 seed: int = 0, live=None) -> None:
        self.schedules = schedules or {"linear": linear_schedule(), "cosine": cosine_schedule(),
                                       "scaled_linear": scaled_linear_schedule()}
        lengths = {s.T for s in self.schedules.values()}
        if len(lengths) != 1:
            raise ValueError(f"all schedules must share T for one t slider, got T values {sorted(lengths)}")
        T_len = lengths.pop()
        if not 0 <= t < T_len:
            raise ValueError(f"t={t}: the t slider runs from 0 to T - 1 = {T_len - 1}")
        gen = torch.Generator().manual_seed(seed)
        self.data = None if data is None else torch.as_tensor(viz.as_numpy(data))
        if self.data is not None and (self.data.ndim != 2 or self.data.shape[1] != 2):
            raise ValueError(f"data must have shape (N, 2), got {tuple(self.data.shape)}")
        self.images_x0 = None if images is None else torch.as_tensor(viz.as_numpy(images))
        if self.images_x0 is not None and (self.images_x0.ndim != 4 or self.images_x0.shape[1] != 1):
            raise ValueError(f"images must have shape (B, 1, H, W), got {tuple(self.images_x0.shape)}")
        # one fixed noise draw per input, so moving t shows a continuous path of each point
        self.noise_2d = None if data is None else torch.randn(self.data.shape, generator=gen)
        self.noise_img = None if images is None else torch.randn(self.images_x0.shape, generator=gen)
        self.point_labels = None if labels is None else np.asarray(viz.as_numpy(labels), dtype=np.int64)
        curves = []
        for s in self.schedules.values():
            ab = viz.as_numpy(s.alpha_bar)
            curves.append(np.stack([viz.as_numpy(s.betas), ab, viz.as_numpy(s.snr()), np.sqrt(ab), np.sqrt(1.0 - ab)]))
        traits = dict(kind="schedule", t=int(t), T_max=T_len, schedule=next(iter(self.schedules)),
                      schedule_names=list(self.schedules), curves=_f32(np.stack(curves)))
        if self.data is not None:
            rgb = np.rint(255 * point_colors(self.data.numpy(), self.point_labels)).astype(np.uint8)
            traits.update(points=_f32(self.data), points_noise=_f32(self.noise_2d), point_rgb=rgb.tobytes(),
                          lim=max(3.5, 1.25 * float(self.data.abs().max())))
        if self.images_x0 is not None:
            b, _, hh, ww = self.images_x0.shape
            traits.update(image_shape=[b, hh, ww], images=_f32(self.images_x0), images_noise=_f32(self.noise_img))
        super().__init__(**traits)
        self.status = self.describe()

    def describe(self) -> str:
        """The schedule's values at t, in words (the widget's title)."""
        s = self.schedules[self.schedule]
        t = int(self.t)
        return (f"{self.schedule}: t={t}  beta_t={float(s.betas[t]):.2e}  alpha_bar_t={s.alpha_bar_at(t):.4f}"
                f"  SNR={float(s.snr(t)):.3g}")

    @T.observe("t", "schedule")
    def _on_change(self, change) -> None:
        if self.schedule not in self.schedules:
            self.show_error(ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(self.schedules)}"))
            return
        if not 0 <= self.t < self.T_max:
            self.show_error(ValueError(f"t={self.t}: the t slider runs from 0 to {self.T_max - 1}"))
            return
        self.clear_error()
        self.status = self.describe()

    def x_t(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The 2-D points and images at the current t, from NoiseSchedule.q_sample (what the browser shows)."""
        s, t = self.schedules[self.schedule], int(self.t)
        pts = None if self.data is None else s.q_sample(self.data, t, self.noise_2d)
        imgs = None if self.images_x0 is None else s.q_sample(self.images_x0, t, self.noise_img)
        return pts, imgs

    def figure(self):
        """The explorer at the current schedule and t as a matplotlib figure (the static fallback)."""
        bottom = [k for k, v in (("x2d", self.data), ("img", self.images_x0)) if v is not None]
        fig = viz.new_figure((10.0, 6.0 if bottom else 3.0), dpi=72)
        rows = [["beta", "alpha_bar", "snr"]]
        if bottom:
            rows.append((bottom * 3)[:3] if len(bottom) == 1 else [bottom[0], bottom[1], bottom[1]])
        axes = fig.subplot_mosaic(rows)
        viz.plot_schedules(self.schedules, [axes[k] for k in ("beta", "alpha_bar", "snr")])
        axes["beta"].set_yscale("log")  # linear and scaled-linear would sit flat at 0 on a linear axis
        s, t = self.schedules[self.schedule], int(self.t)
        for k, v in (("beta", float(s.betas[t])), ("alpha_bar", s.alpha_bar_at(t)), ("snr", float(s.snr(t)))):
            axes[k].axvline(t, color="k", lw=0.8)
            axes[k].plot([t], [v], "o", color="k", ms=4)
        pts, imgs = self.x_t()
        if pts is not None:
            axes["x2d"].scatter(self.data[:, 0], self.data[:, 1], s=3, c="0.85", linewidths=0)
            axes["x2d"].scatter(pts[:, 0], pts[:, 1], s=3, linewidths=0,
                                c=point_colors(self.data.numpy(), self.point_labels))
            axes["x2d"].set(xlim=(-self.lim, self.lim), ylim=(-self.lim, self.lim), aspect="equal")
        if imgs is not None:
            viz.show_grid(imgs, axes["img"])
        fig.suptitle(self.describe(), fontsize="small")
        return fig
