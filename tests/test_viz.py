"""Static plotting helpers: grids, frames, schedule curves, Pareto fronts, animations."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from teachkit import viz
from teachkit.schedules import cosine_schedule, linear_schedule


class _Traj:
    """A hand-made trajectory: 3 steps of 5 points in 2-D."""

    def __init__(self):
        self.xs = torch.arange(4 * 5 * 2, dtype=torch.float32).reshape(4, 5, 2)
        self.x0_hats = -self.xs[:3]
        self.timesteps = torch.tensor([999, 666, 333])


def test_make_grid_layout_and_range():
    x = torch.stack([torch.full((1, 2, 3), v) for v in (-1.0, 0.0, 1.0, 3.0)])
    g = viz.make_grid(x, nrow=2, pad=1)
    assert g.shape == (2 * (2 + 1) + 1, 2 * (3 + 1) + 1)
    assert g[1, 1] == 0.0 and g[1, 5] == 0.5 and g[4, 1] == 1.0 and g[4, 5] == 1.0  # clipped to [0, 1]
    assert g[0, 0] == 1.0  # padding is white
    rgb = viz.make_grid(torch.zeros(3, 3, 4, 4))
    assert rgb.shape == (2 * 5 + 1, 2 * 5 + 1, 3)
    with pytest.raises(ValueError, match=r"\(B, 1 or 3, H, W\)"):
        viz.make_grid(torch.zeros(2, 28, 28))


def test_frame_at():
    traj = _Traj()
    x, x0 = viz.frame_at(traj, 0)
    np.testing.assert_array_equal(x, traj.xs[0].numpy())
    np.testing.assert_array_equal(x0, traj.x0_hats[0].numpy())
    x, x0 = viz.frame_at(traj, 3)  # the last frame is the sample; its "prediction" is itself
    np.testing.assert_array_equal(x0, x)
    np.testing.assert_array_equal(viz.frame_at(traj, -1)[0], x)
    with pytest.raises(ValueError, match="frame=4 out of range"):
        viz.frame_at(traj, 4)


def test_scatter_artists_update_in_place():
    traj = _Traj()
    artists = viz.plot_trajectory_2d(traj, frame=1, data=torch.zeros(7, 2), title="hello")
    particles = artists.particles
    np.testing.assert_array_equal(particles.get_offsets(), traj.xs[1].numpy())
    assert len(artists.paths.get_segments()) == 5 and artists.title.get_text() == "hello"
    assert artists.reference.get_offsets().shape == (7, 2)
    grid = np.linspace(-2, 2, 5)
    X, Y = np.meshgrid(grid, grid)
    with_density = viz.init_scatter(viz.new_figure().subplots(), density=(X, Y, np.exp(-X**2 - Y**2)))
    assert len(with_density.ax.images) == 1 and with_density.ax.images[0].get_extent() == [-2, 2, -2, 2]
    viz.set_scatter_frame(artists, traj, 2, title="two")
    assert artists.particles is particles
    np.testing.assert_array_equal(particles.get_offsets(), traj.xs[2].numpy())
    np.testing.assert_array_equal(artists.x0_hat.get_offsets(), -traj.xs[2].numpy())


def test_plot_schedules():
    axes = viz.plot_schedules({"linear": linear_schedule(), "cosine": cosine_schedule()})
    assert [len(ax.lines) for ax in axes] == [2, 2, 2]
    assert axes[2].get_yscale() == "log"
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(), linear_schedule().alpha_bar.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="at least one schedule"):
        viz.plot_schedules({})


def test_pareto_front():
    nfe = [1000, 50, 20, 4, 50]
    quality = [0.95, 0.94, 0.90, 0.6, 0.5]
    assert viz.pareto_front(nfe, quality).tolist() == [True, True, True, True, False]
    # lower-is-better quality (e.g. a Frechet distance): 50 steps beats 1000 steps at equal cost order
    fid = [5.0, 4.0, 9.0, 30.0, 4.0]
    assert viz.pareto_front(nfe, fid, higher_is_better=False).tolist() == [False, True, True, True, True]
    ax = viz.plot_pareto(nfe, quality, labels=["DDPM", "DDIM", "DPM", "distilled", "DDPM-50"])
    assert len(ax.texts) == 5 and ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="equal length"):
        viz.pareto_front([1, 2], [1.0])


def test_animation_html_and_frames():
    fig = viz.new_figure((2, 2), dpi=40)
    ax = fig.add_subplot()
    line, = ax.plot([], [])
    drawn = []

    def draw(k):
        drawn.append(k)
        line.set_data([0, k], [0, k])

    anim = viz.animate(fig, draw, n_frames=101, max_frames=5)
    html = viz.animation_html(anim)
    assert "<img" in html or "Animation" in html
    assert sorted(set(drawn)) == [0, 25, 50, 75, 100]  # evenly spaced, the last frame included
    with pytest.raises(ValueError, match="unknown animation kind"):
        viz.animation_html(anim, kind="mp4")
    with pytest.raises(ValueError, match="at least one frame"):
        viz.animate(fig, draw, n_frames=0)
