"""The explorers without a browser: set controls (observers fire synchronously), check artists, cache, errors."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from teachkit import viz
from teachkit.samplers import ddim_sample
from teachkit.schedules import linear_schedule
from teachkit.widgets import GuidanceSweep, ImageTrajectoryExplorer, ScheduleExplorer, TrajectoryExplorer2D, student_sampler
from tests.widget_models import toy_2d, toy_2d_data, toy_images


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on 2 shared cores, 2 threads next to another busy process are ~30x slower here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy():
    model, schedule = toy_2d()
    data, _ = toy_2d_data(500)
    return model, schedule, data


@pytest.fixture
def explorer(toy):
    model, schedule, data = toy
    e = TrajectoryExplorer2D(model, schedule, data, n=64, steps=10, live=False)
    yield e
    e.close()


@pytest.fixture
def ipympl_backend():
    import matplotlib.pyplot as plt

    old = matplotlib.get_backend()
    plt.switch_backend("module://ipympl.backend_nbagg")
    yield
    plt.close("all")
    plt.switch_backend(old)


def test_initial_state(explorer):
    assert explorer.bar.last_error is None
    assert explorer.frame.max == explorer.frame.value == 10
    assert explorer.frames.xs.shape == (11, 64, 2)
    offsets = explorer.view.particles.get_offsets()
    assert offsets.shape == (64, 2)
    np.testing.assert_allclose(offsets, explorer.frames.xs[-1])
    title = explorer.view.title.get_text()
    assert "DDIM 10 steps" in title and "scale 3" in title and "NFE 20" in title and "frame 10/10" in title
    assert len(explorer.view.paths.get_segments()) == 64
    assert "done" in explorer.bar.status.value


def test_frame_scrub_only_indexes(explorer, toy):
    model = toy[0]
    calls, misses = model.calls, explorer.cache.misses
    explorer.frame.value = 0
    np.testing.assert_allclose(explorer.view.particles.get_offsets(), explorer.x_T.numpy())
    assert "frame 0/10 (t=999)" in explorer.view.title.get_text()
    np.testing.assert_allclose(explorer.view.x0_hat.get_offsets(), explorer.frames.x0_hats[0])
    explorer.frame.value = 5
    np.testing.assert_allclose(explorer.view.particles.get_offsets(), explorer.frames.xs[5])
    assert model.calls == calls and explorer.cache.misses == misses


def test_steps_resample_and_cache(explorer, toy):
    model = toy[0]
    explorer.steps.value = 25
    assert explorer.frame.max == 25 and explorer.frames.xs.shape[0] == 26
    assert explorer.play.max == 25
    assert "DDIM 25 steps" in explorer.view.title.get_text()
    calls, hits = model.calls, explorer.cache.hits
    explorer.steps.value = 10
    assert explorer.cache.hits == hits + 1 and model.calls == calls  # reused, no network call
    assert explorer.frame.max == 10


def test_cache_is_bounded(toy):
    model, schedule, data = toy
    e = TrajectoryExplorer2D(model, schedule, n=8, steps=3, cache_size=2, live=False)
    for s in (4, 5, 6):
        e.steps.value = s
    assert len(e.cache) == 2 and e.cache.misses == 4
    small = TrajectoryExplorer2D(model, schedule, n=8, steps=3, cache_bytes=1, live=False)
    small.steps.value = 4
    assert len(small.cache) == 1 and small.cache.nbytes == small.frames.nbytes  # the newest is always kept


def test_unconditional_model():
    from teachkit.models import ToyMLP

    e = TrajectoryExplorer2D(ToyMLP(hidden=16, layers=2), linear_schedule(50), n=8, steps=5, live=False)
    assert e.bar.last_error is None and e.cls.value == "unconditional" and e.scale.disabled
    assert "NFE 5" in e.view.title.get_text() and e.frames.labels is None


@pytest.mark.parametrize("sampler", ["DDPM", "DDIM", "DPM-Solver++"])
@pytest.mark.parametrize("steps", [1, 1000])
def test_extreme_steps(toy, sampler, steps):
    model, schedule, _ = toy
    e = TrajectoryExplorer2D(model, schedule, n=16, steps=steps, sampler=sampler, live=False)
    assert e.bar.last_error is None, e.bar.error.value
    assert e.frame.max == steps and e.frames.xs.shape == (steps + 1, 16, 2)
    assert np.isfinite(e.view.particles.get_offsets()).all()
    e.frame.value = 0
    e.frame.value = steps // 2
    assert e.bar.last_error is None


@pytest.mark.parametrize("control, value", [("scale", 0.0), ("scale", 30.0), ("eta", 0.0), ("eta", 1.0),
                                            ("cls", "unconditional"), ("cls", 3), ("sampler", "DDPM")])
def test_extreme_controls(explorer, control, value):
    getattr(explorer, control).value = value
    assert explorer.bar.last_error is None, explorer.bar.error.value
    assert np.isfinite(explorer.view.particles.get_offsets()).all()


def test_control_semantics(explorer):
    assert not explorer.eta.disabled
    explorer.sampler.value = "DDPM"
    assert explorer.eta.disabled  # only DDIM takes eta
    explorer.cls.value = "unconditional"
    assert explorer.scale.disabled and "unconditional" in explorer.view.title.get_text()
    assert "NFE 10" in explorer.view.title.get_text()  # one pass per step without guidance
    explorer.cls.value = 2
    assert (explorer.frames.labels == 2).all()


def test_expensive_controls_do_not_flood(explorer):
    for control in (explorer.steps, explorer.eta, explorer.scale):
        assert control.continuous_update is False
    assert explorer.frame.continuous_update is True
    assert explorer.link.source == (explorer.play, "value") and explorer.link.target == (explorer.frame, "value")


def test_error_is_shown_in_widget(toy):
    model, schedule, _ = toy

    def broken(*args, **kwargs):
        raise ValueError("steps=7: this sampler is broken on purpose")

    e = TrajectoryExplorer2D(model, schedule, n=8, steps=5, live=False,
                             samplers={"DDIM": ddim_sample, "broken": broken})
    e.sampler.value = "broken"
    assert isinstance(e.bar.last_error, ValueError)
    assert "broken on purpose" in e.bar.error.value and e.bar.error.layout.display == "block"
    e.sampler.value = "DDIM"
    assert e.bar.last_error is None and e.bar.error.layout.display == "none"


def test_student_sampler_has_its_own_fixed_scale(toy, half_v):
    model, schedule, _ = toy
    student = half_v(num_classes=4)  # labels like the toy_2d teacher's
    e = TrajectoryExplorer2D(model, schedule, n=8, steps=4, scale=3.0, live=False,
                             samplers={"DDIM": ddim_sample, "distilled": student_sampler(student, 1.5)})
    assert not e.scale.disabled and e.params()[3] == 3.0
    e.sampler.value = "distilled"
    assert e.bar.last_error is None
    assert student.calls == 4 and e.frames.nfe == 4 and e.frames.steps == 4  # the student ran, not the teacher
    assert e.scale.disabled and e.eta.disabled and e.params()[3] == 1.5  # the baked-in scale, whatever the slider says
    e.scale.value = 10.0
    assert student.calls == 4, "moving a disabled slider must not re-sample the student"
    e.sampler.value = "DDIM"
    assert not e.scale.disabled and e.params()[3] == 10.0
    e.close()
    with pytest.raises(TypeError, match="distilled student"):
        student_sampler(model, 1.0)  # an eps-model is not a student
    with pytest.raises(TypeError, match="baked-in scale"):
        student_sampler(student, "3")


def test_static_fallback_updates_png(explorer):
    assert not explorer.host.live
    before = bytes(explorer.host.widget.value)
    assert before.startswith(b"\x89PNG")
    explorer.frame.value = 0
    assert bytes(explorer.host.widget.value) != before
    bundle = explorer._repr_mimebundle_()
    assert "image/png" in bundle and "application/vnd.jupyter.widget-view+json" in bundle


def test_ipympl_updates_in_place(ipympl_backend, toy):
    from ipympl.backend_nbagg import Canvas

    model, schedule, data = toy
    e = TrajectoryExplorer2D(model, schedule, data, n=32, steps=8)
    assert e.host.live and isinstance(e.host.widget, Canvas)
    fig, particles, renders = e.host.fig, e.view.particles, e.host.renders
    e.frame.value = 3
    e.scale.value = 7.0
    assert e.host.fig is fig and e.view.particles is particles  # never rebuilt
    assert e.host.renders == renders + 2
    np.testing.assert_allclose(particles.get_offsets(), e.frames.xs[-1])


def test_to_animation(explorer, tmp_path):
    view = explorer.view
    html = explorer.to_animation(max_frames=4)
    assert "<img" in html.data or "animation" in html.data.lower()
    assert explorer.view is view  # the live view is restored
    path = explorer.to_animation(str(tmp_path / "traj.gif"), max_frames=3)
    assert open(path, "rb").read(4) == b"GIF8"


def test_bad_input(toy):
    model, schedule, data = toy
    with pytest.raises(ValueError, match="at least one sample"):
        TrajectoryExplorer2D(model, schedule, n=0, live=False)
    with pytest.raises(ValueError, match="unknown sampler"):
        TrajectoryExplorer2D(model, schedule, n=4, sampler="Euler", live=False)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        TrajectoryExplorer2D(model, schedule, data[:, :1], n=4, live=False)
    image_model, image_schedule = toy_images()
    with pytest.raises(ValueError, match="2-D model"):
        TrajectoryExplorer2D(image_model, image_schedule, n=4, live=False)
    with pytest.raises(ValueError, match="sample_shape"):
        ImageTrajectoryExplorer(model, schedule, n=4, live=False)
    for bad, match in ((dict(steps=0), "steps=0"), (dict(steps=1001), "steps=1001"), (dict(eta=1.5), "eta=1.5"),
                       (dict(scale=-1.0), "scale=-1.0")):
        with pytest.raises(ValueError, match=match):
            TrajectoryExplorer2D(model, schedule, n=4, live=False, **bad)
    with pytest.raises(ValueError, match="classes="):
        TrajectoryExplorer2D(model, schedule, n=4, classes=(0, 9), live=False)


def test_image_explorer():
    model, schedule = toy_images()
    e = ImageTrajectoryExplorer(model, schedule, n=4, steps=6, classes=(3, 7), live=False)
    assert e.frames.labels.tolist() == [3, 7, 3, 7]
    assert e.bar.last_error is None and e.frame.max == 6
    final = e.view.x_t.get_array().copy()
    np.testing.assert_allclose(final, viz.make_grid(e.frames.xs[-1]))
    e.frame.value = 0
    assert not np.allclose(e.view.x_t.get_array(), final)
    np.testing.assert_allclose(e.view.x0_hat.get_array(), viz.make_grid(e.frames.x0_hats[0]))
    e.steps.value = 1
    e.scale.value = 30.0
    assert e.bar.last_error is None and e.frame.max == 1


def test_schedule_explorer(toy):
    data = toy[2]
    images = toy_images()[0].means.reshape(10, 1, 8, 8)[:4]
    e = ScheduleExplorer(data=data, images=images, live=False)
    e.t.value = 600
    s = e.schedules["linear"]
    np.testing.assert_allclose(e.points.get_offsets(), s.q_sample(e.data, 600, e.noise_2d).numpy(), rtol=1e-5)
    assert list(e.vlines[1].get_xdata()) == [600, 600]
    assert "t=600" in e.title.get_text()
    e.schedule.value = "cosine"
    assert e.bar.last_error is None and "cosine" in e.title.get_text()
    e.t.value = 999
    assert e.bar.last_error is None
    with pytest.raises(ValueError, match="share T"):
        ScheduleExplorer({"a": linear_schedule(10), "b": linear_schedule(20)}, live=False)


def test_guidance_sweep(toy):
    model, schedule, _ = toy
    seen = []

    def spread(x, y):
        seen.append(len(x))
        return {"spread": float(x.std()), "n": len(x)}

    g = GuidanceSweep(model, schedule, n_per_class=4, steps=5, metric=spread, live=False)
    assert g.bar.last_error is None and seen == [16]
    before = g.view.get_offsets().copy()
    g.scale.value = 30.0
    assert not np.allclose(g.view.get_offsets(), before)
    assert "spread" in g.readout.value and "<td>16</td>" in g.readout.value and "scale 30" in g.title.get_text()
    g.scale.value = 3.0
    assert seen == [16, 16] and g.cache.hits == 1  # scale 3 came from the cache
    g.scale.value = 0.0
    assert g.bar.last_error is None
    # sample() shares the slider's cache: a lesson's sweep fills it, and the slider then re-uses it
    x0, nfe, scores = g.sample(30)
    assert len(seen) == 3 and nfe == 10 and scores["n"] == 16
    g.sample(7.0)
    g.scale.value = 7.0
    assert len(seen) == 4 and "scale 7" in g.title.get_text()
    np.testing.assert_allclose(g.view.get_offsets(), g.sample(7.0)[0].numpy())


def test_guidance_sweep_images_and_errors():
    model, schedule = toy_images()
    g = GuidanceSweep(model, schedule, n_per_class=2, steps=3, live=False,
                      metric=lambda x, y: 1 / 0)
    assert isinstance(g.bar.last_error, ZeroDivisionError)
    assert g.view.get_array().shape == viz.make_grid(torch.zeros(20, 1, 8, 8), 2).shape
    with pytest.raises(ValueError, match="class-conditional"):
        GuidanceSweep(torch.nn.Identity(), schedule, live=False)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["inline", "widget"])
def test_notebook_outputs_keep_a_static_figure(backend, tmp_path, monkeypatch):
    """Run the browser fixture notebook headless (as nbval does): the explorer's output carries an image/png."""
    import os
    from pathlib import Path

    import nbclient
    import nbformat

    repo = Path(__file__).resolve().parents[1]
    nb = nbformat.read(repo / "tests" / "browser" / "explorer_2d.ipynb", as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("%matplotlib widget", f"%matplotlib {backend}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"], outputs
    bundle = outputs[-1]["data"]
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["image/png"].startswith("iVBOR")
