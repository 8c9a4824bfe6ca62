"""The schedule / forward-process explorer: schedule curves and q(x_t | x_0) on 2-D data and images."""
from __future__ import annotations

import ipywidgets as W
import torch

from .. import viz
from ..schedules import cosine_schedule, linear_schedule, scaled_linear_schedule
from ._base import FigureHost, StatusBar, guarded, png_bundle

__all__ = ["ScheduleExplorer"]


class ScheduleExplorer(W.VBox):
    """Pick a schedule and a timestep t; see beta, alpha_bar, SNR at t and x_t ~ q(x_t | x_0) (DDPM Eq. 4)."""

    def __init__(self, schedules: dict | None = None, data=None, images=None, *, t: int = 0, seed: int = 0,
                 live: bool | None = None) -> None:
        super().__init__()
        self.schedules = schedules or {"linear": linear_schedule(), "cosine": cosine_schedule(),
                                       "scaled_linear": scaled_linear_schedule()}
        lengths = {s.T for s in self.schedules.values()}
        if len(lengths) != 1:
            raise ValueError(f"all schedules must share T for one t slider, got T values {sorted(lengths)}")
        T = lengths.pop()
        gen = torch.Generator().manual_seed(seed)
        self.data = None if data is None else torch.as_tensor(viz.as_numpy(data))
        self.images = None if images is None else torch.as_tensor(viz.as_numpy(images))
        # one fixed noise draw per input, so moving t shows a continuous path of each point
        self.noise_2d = None if data is None else torch.randn(self.data.shape, generator=gen)
        self.noise_img = None if images is None else torch.randn(self.images.shape, generator=gen)
        self.bar = StatusBar()
        self.host = FigureHost((10.0, 6.0 if (data is not None or images is not None) else 3.0), live=live)
        self.schedule = W.Dropdown(options=list(self.schedules), description="schedule")
        self.t = W.IntSlider(value=t, min=0, max=T - 1, description="t", continuous_update=True,
                             layout=W.Layout(width="500px"))
        self.schedule.observe(self._update, names="value")
        self.t.observe(self._update, names="value")
        self._build()
        viz.freeze_layout(self.host.fig)
        self.children = [W.HBox([self.schedule, self.t]), self.host.widget, self.bar.widget]
        self._update()

    def _build(self) -> None:
        fig = self.host.fig
        rows = [["beta", "alpha_bar", "snr"]]
        bottom = [k for k, v in (("x2d", self.data), ("img", self.images)) if v is not None]
        if bottom:
            rows.append((bottom * 3)[:3] if len(bottom) == 1 else [bottom[0], bottom[1], bottom[1]])
        self.axes = fig.subplot_mosaic(rows)
        viz.plot_schedules(self.schedules, [self.axes[k] for k in ("beta", "alpha_bar", "snr")])
        self.vlines = [self.axes[k].axvline(0, color="k", lw=0.8) for k in ("beta", "alpha_bar", "snr")]
        self.marks = [self.axes[k].plot([], [], "o", color="k", ms=4)[0] for k in ("beta", "alpha_bar", "snr")]
        if self.data is not None:
            self.axes["x2d"].scatter(self.data[:, 0], self.data[:, 1], s=3, c="0.85", linewidths=0)
            self.points = self.axes["x2d"].scatter(self.data[:, 0], self.data[:, 1], s=3, linewidths=0)
            lim = max(3.5, 1.25 * float(self.data.abs().max()))
            self.axes["x2d"].set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
        if self.images is not None:
            self.image = viz.show_grid(self.images, self.axes["img"])
        self.title = fig.suptitle(" ", fontsize="small")

    @guarded
    def _update(self, change=None) -> None:
        name, t = self.schedule.value, int(self.t.value)
        s = self.schedules[name]
        values = (float(s.betas[t]), s.alpha_bar_at(t), float(s.snr(t)))
        for line, mark, v in zip(self.vlines, self.marks, values):
            line.set_xdata([t, t])
            mark.set_data([t], [v])
        if self.data is not None:
            self.points.set_offsets(s.q_sample(self.data, t, self.noise_2d).numpy())
        if self.images is not None:
            self.image.set_data(viz.make_grid(s.q_sample(self.images, t, self.noise_img)))
        self.title.set_text(f"{name}: t={t}  beta_t={values[0]:.2e}  alpha_bar_t={values[1]:.4f}  SNR={values[2]:.3g}")
        self.host.refresh()

    def _repr_mimebundle_(self, **kwargs):
        return png_bundle(super()._repr_mimebundle_(**kwargs), self.host.png())
