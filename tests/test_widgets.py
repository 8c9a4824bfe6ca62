"""The widgets without a browser: set the synced traits (as the browser does), check buffers, streaming, cancel, prefetch, cache."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from teachkit import viz
from teachkit.samplers import ddim_sample
from teachkit.schedules import linear_schedule
from teachkit.widgets import GuidanceSweep, ImageTrajectoryExplorer, ScheduleExplorer, TrajectoryExplorer2D, student_sampler
from teachkit.widgets.runner import Cancelled, Job, SampleRunner
from tests.widget_models import SlowModel, toy_2d, toy_2d_data, toy_images


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


Slow = SlowModel


@pytest.fixture(scope="module")
def toy():
    model, schedule = toy_2d()
    data, _ = toy_2d_data(500)
    return model, schedule, data


@pytest.fixture
def explorer(toy):
    model, schedule, data = toy
    e = TrajectoryExplorer2D(model, schedule, data, n=64, steps=10, prefetch=False)
    yield e
    e.close()


def decoded(e) -> np.ndarray:
    """The synced float16 trajectory buffer as the browser reads it."""
    return np.frombuffer(e.xs, dtype="<f2").reshape(e.shape).astype(np.float32)


def partials(e, gen=None) -> list[dict]:
    return [m for m, _ in e.sent if m.get("type") == "partial" and (gen is None or m["gen"] == gen)]


def test_initial_state(explorer):
    e = explorer
    assert e.last_error is None and e.kind == "trajectory2d"
    assert e.shape == [11, 64, 2] and e.frame == 10 and len(e.timesteps) == 10
    assert len(e.xs) == 11 * 64 * 2 * 2 and len(e.x0_hats) == 10 * 64 * 2 * 2  # float16
    assert np.frombuffer(e.labels, np.uint8).tolist() == [k % 4 for k in range(64)]  # 'mixed' cycles the classes
    np.testing.assert_allclose(decoded(e), e.frames.xs, atol=4e-3)
    np.testing.assert_allclose(decoded(e)[0], e.x_T.numpy(), atol=4e-3)
    assert e.title == "DDIM 10 steps, mixed, scale 3, NFE 20"
    assert "done in" in e.status and "mixed classes, scale 3" in e.status
    assert len(np.frombuffer(e.reference, "<f2")) == 500 * 2
    assert e.sampler_options == ["DDPM", "DDIM", "DPM-Solver++(2M)", "Euler", "Heun"] and 10 in e.steps_ladder
    assert not partials(e)  # the first trajectory is computed in the constructor, nothing streamed


def test_steps_resample_and_cache(explorer, toy):
    e, model = explorer, toy[0]
    e.steps = 25
    assert e.wait()
    assert e.shape[0] == 26 and e.frame == 25 and len(e.timesteps) == 25
    assert e.title.startswith("DDIM 25 steps")
    calls, hits = model.calls, e.cache.hits
    e.steps = 10  # cached: served at once, in the kernel thread, no network call
    assert not e.busy and e.cache.hits == hits + 1 and model.calls == calls
    assert e.shape[0] == 11 and "from the cache" in e.status


def test_status_line_names_the_class(explorer):
    explorer.cls = 0
    explorer.scale = 10.0
    assert explorer.wait()
    assert "class 0, scale 10" in explorer.status and explorer.title == "DDIM 10 steps, class 0, scale 10, NFE 20"


def test_streaming_sends_partial_frames_then_the_trajectory(toy):
    model, schedule, data = toy
    slow = Slow(model, 0.01)
    e = TrajectoryExplorer2D(slow, schedule, n=32, steps=20, prefetch=False)
    e.scale = 4.0
    assert e.busy
    assert e.wait()
    sent = partials(e, e.traj_gen)
    assert len(sent) >= 2, sent  # the first step at once, then every ~40 ms of a ~0.2 s re-sample
    steps = [m["i"] for m in sent]
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] < 20
    assert all(n == 2 for m, n in e.sent if m.get("type") == "partial")  # x and x0_hat buffers
    assert e.title.startswith("DDIM 20 steps") and "scale 4" in e.title and not e.busy
    assert e.shape == [21, 32, 2] and e.progress == 1.0
    e.close()


def test_newer_change_cancels_running_resample(toy):
    model, schedule, _ = toy
    slow = Slow(model, 0.02)
    e = TrajectoryExplorer2D(slow, schedule, n=16, steps=50, prefetch=False)
    e.scale = 5.0  # ~1 s of sampling
    time.sleep(0.15)
    first = e._gen
    e.scale = 6.0
    assert e.wait()
    assert e.traj_gen == e._gen > first and "scale 6" in e.title
    key5 = ("DDIM", 50, 0.0, 5.0, "mixed", 0)
    assert key5 not in e.cache  # stopped part-way, never finished
    assert e.runner.completed == 1 and slow.calls < 50 + 50 + 50  # the first re-sample stopped early
    e.close()


def test_cancelled_resample_never_overwrites_a_newer_one(toy):
    """A slow re-sample, then a cached setting: the cached one is shown, and stays shown."""
    model, schedule, _ = toy
    slow = Slow(model, 0.02)
    e = TrajectoryExplorer2D(slow, schedule, n=16, steps=30, prefetch=False)
    e.scale = 9.0  # slow, in the background
    time.sleep(0.1)
    e.scale = 3.0  # the constructor's setting, in the cache: shown now
    assert not e.busy and "scale 3" in e.title
    shown_gen = e.traj_gen
    assert e.wait()
    time.sleep(0.2)
    assert e.traj_gen == shown_gen and "scale 3" in e.title and e.shown[3] == 3.0


def test_cancel_button_stops_and_restores_the_controls(toy):
    model, schedule, _ = toy
    e = TrajectoryExplorer2D(Slow(model, 0.02), schedule, n=16, steps=10, prefetch=False)
    e.steps = 1000  # DDPM-1000-like: long, with progress
    time.sleep(0.2)
    assert e.busy and 0 < e.progress < 1
    e._on_front_end_msg(e, {"type": "cancel"}, [])
    assert e.wait() and not e.busy
    assert e.steps == 10 and e.shape[0] == 11 and e.status.startswith("cancelled: showing DDIM, 10 steps")
    e.close()


def test_prefetch_fills_the_cache_and_serves_the_next_change(toy):
    model, schedule, _ = toy
    e = TrajectoryExplorer2D(model, schedule, n=32, steps=10, prefetch=True)
    assert e.wait(prefetch=True)
    for key in [("DDIM", 10, 0.0, s, "mixed", 0) for s in (2.5, 3.5)] + \
               [("DDIM", s, 0.0, 3.0, "mixed", 0) for s in (8, 12)]:
        assert key in e.cache, key
    assert e.runner.prefetched == 4
    deadline = time.monotonic() + 5
    while e.prefetching and time.monotonic() < deadline:  # the idle flag is set just after the queue runs dry
        time.sleep(0.01)
    assert not e.prefetching
    calls = model.calls
    e.scale = 3.5  # prefetched: shown from the cache, no network call, then its own neighbours are prefetched
    assert "from the cache" in e.status and model.calls == calls and "scale 3.5" in e.title
    e.close()


def test_prefetch_waits_for_a_front_end(toy):
    model, schedule, _ = toy
    e = TrajectoryExplorer2D(model, schedule, n=8, steps=5)  # prefetch=None: only once a browser shows it
    assert e.wait(prefetch=True) and len(e.cache) == 1  # nbval / nbconvert: no background work
    e._on_front_end_msg(e, {"type": "ready"}, [])
    assert e.front_end and e.wait(prefetch=True) and len(e.cache) == 5
    e.close()


def test_explicit_request_never_waits_behind_a_prefetch(toy):
    model, schedule, _ = toy
    slow = Slow(model, 0.02)
    e = TrajectoryExplorer2D(slow, schedule, n=8, steps=40, prefetch=True)
    deadline = time.monotonic() + 5
    while e.runner.prefetching is None and time.monotonic() < deadline:
        time.sleep(0.005)
    running = e.runner.prefetching
    assert running is not None
    e.cls = 1  # explicit: the prefetch is cancelled at its next step, this one runs now
    assert running.cancelled.is_set()
    assert e.wait() and "class 1" in e.title
    assert e.runner.completed == 1
    e.close()


def test_sampler_without_callback_still_streams_and_cancels(toy):
    """A sampler without the protocol's callback (here a plain wrapper) is watched through a forward hook."""
    model, schedule, _ = toy
    slow = Slow(model, 0.01)

    def plain_ddim(model, schedule, x_T, steps=50, *, y=None, guidance_scale=1.0, generator=None, record=True,
                   progress=False):
        return ddim_sample(model, schedule, x_T, steps, y=y, guidance_scale=guidance_scale, generator=generator,
                           record=record)

    e = TrajectoryExplorer2D(slow, schedule, n=8, steps=20, samplers={"plain": plain_ddim}, sampler="plain",
                             prefetch=False)
    e.scale = 4.0
    assert e.wait() and len(partials(e, e.traj_gen)) >= 2 and "scale 4" in e.title
    assert not slow._forward_pre_hooks  # the hook is gone afterwards
    e.scale = 5.0
    time.sleep(0.05)
    e.scale = 6.0
    assert e.wait() and "scale 6" in e.title and ("plain", 20, None, 5.0, "mixed", 0) not in e.cache
    e.close()


def test_flow_model_gets_its_own_samplers():
    import teachkit

    model, path, _ = teachkit.load_pretrained("toy-2d-flow")
    e = TrajectoryExplorer2D(model, path, n=32, steps=8, prefetch=False)
    assert e.sampler_options == list(teachkit.samplers.samplers_for(model)) and e.sampler == e.sampler_options[0]
    assert e.last_error is None and e.shape == [9, 32, 2] and e.title.startswith(f"{e.sampler} 8 steps")
    e.close()


def test_old_sampler_name_is_accepted(toy):
    model, schedule, _ = toy
    e = TrajectoryExplorer2D(model, schedule, n=8, steps=5, sampler="DPM-Solver++", prefetch=False)
    assert e.sampler == "DPM-Solver++(2M)" and e.title.startswith("DPM-Solver++(2M) 5 steps")
    e.close()


def test_runner_orders_and_cancels():
    done, order = [], []
    gate = threading.Event()

    def compute(job):
        order.append(job.key)
        for _ in range(200):
            job.check()
            if gate.is_set():
                break
            time.sleep(0.005)
        return job.key

    r = SampleRunner(lambda job, v: done.append(v), lambda job, exc: done.append(exc), lambda key: key in done)
    r.submit(Job("a", compute, gen=1))
    time.sleep(0.05)
    r.submit(Job("b", compute, gen=2))  # cancels a
    gate.set()
    assert r.wait(5) and done == ["b"] and order[0] == "a"
    with pytest.raises(Cancelled):
        j = Job("c", compute)
        j.cancelled.set()
        j.check()
    r.close()


def test_cache_is_bounded(toy):
    model, schedule, data = toy
    e = TrajectoryExplorer2D(model, schedule, n=8, steps=3, cache_size=2, prefetch=False)
    for s in (4, 5, 6):
        e.steps = s
        assert e.wait()
    assert len(e.cache) == 2 and e.cache.misses == 4
    small = TrajectoryExplorer2D(model, schedule, n=8, steps=3, cache_bytes=1, prefetch=True)
    small.steps = 4
    assert small.wait(prefetch=True)
    assert len(small.cache) == 1 and small.cache.nbytes == small.cache.get(small.cache.keys()[0]).nbytes
    bounded = TrajectoryExplorer2D(model, schedule, n=64, steps=20, cache_bytes=3 * 21 * 64 * 2 * 4 * 2, prefetch=True)
    assert bounded.wait(prefetch=True)
    assert bounded.cache.nbytes <= bounded.cache.max_bytes and len(bounded.cache) <= 3


def test_unconditional_model():
    from teachkit.models import ToyMLP

    e = TrajectoryExplorer2D(ToyMLP(hidden=16, layers=2), linear_schedule(50), n=8, steps=5, prefetch=False)
    assert e.last_error is None and e.cls == "unconditional" and e.cls_options == [["unconditional", "unconditional"]]
    assert not e.scale_visible and not e.scale_enabled  # no disabled "scale 3.00" for a model without classes
    assert e.title == "DDIM 5 steps, unconditional, NFE 5" and e.frames.labels is None
    assert set(np.frombuffer(e.labels, np.uint8)) == {255}


@pytest.mark.parametrize("sampler", ["DDPM", "DDIM", "DPM-Solver++(2M)", "Euler", "Heun"])
@pytest.mark.parametrize("steps", [1, 1000])
def test_extreme_steps(toy, sampler, steps):
    model, schedule, _ = toy
    e = TrajectoryExplorer2D(model, schedule, n=16, steps=steps, sampler=sampler, prefetch=False)
    assert e.last_error is None, e.error
    S = e.frames.steps  # Heun's Karras grid has fewer distinct timesteps than 1000; the title says so
    assert S == steps or (sampler == "Heun" and f"{S} distinct timesteps" in e.title)
    assert e.frame == S and e.shape == [S + 1, 16, 2] and len(e.timesteps) == S and np.isfinite(decoded(e)).all()
    e.frame = 0
    assert e.png().startswith(b"\x89PNG")


@pytest.mark.parametrize("control, value", [("scale", 0.0), ("scale", 30.0), ("eta", 0.0), ("eta", 1.0),
                                            ("cls", "unconditional"), ("cls", 3), ("sampler", "DDPM"),
                                            ("sampler", "DPM-Solver++(2M)"), ("sampler", "Euler"),
                                            ("sampler", "Heun")])
def test_extreme_controls(explorer, control, value):
    setattr(explorer, control, value)
    assert explorer.wait()
    assert explorer.last_error is None, explorer.error
    assert np.isfinite(decoded(explorer)).all()


def test_control_semantics(explorer):
    e = explorer
    assert e.eta_enabled
    e.sampler = "DDPM"
    assert not e.eta_enabled  # only DDIM takes eta
    e.cls = "unconditional"
    assert not e.scale_enabled and e.scale_visible
    assert e.wait() and e.title == "DDPM 10 steps, unconditional, NFE 10"  # one pass per step without guidance
    e.cls = 2
    assert e.wait() and (e.frames.labels == 2).all() and "class 2" in e.title


def test_error_is_shown_in_widget(toy):
    model, schedule, _ = toy

    def broken(*args, **kwargs):
        raise ValueError("steps=7: this sampler is broken on purpose")

    e = TrajectoryExplorer2D(model, schedule, n=8, steps=5, samplers={"DDIM": ddim_sample, "broken": broken},
                             prefetch=False)
    e.sampler = "broken"
    assert e.wait()
    assert isinstance(e.last_error, ValueError) and "broken on purpose" in e.error and not e.busy
    assert e.title.startswith("DDIM")  # the last good trajectory stays on screen
    e.sampler = "DDIM"
    assert e.last_error is None and e.error == ""


def test_student_sampler_has_its_own_fixed_scale(toy, half_v):
    model, schedule, _ = toy
    student = half_v(num_classes=4)  # labels like the toy_2d teacher's
    e = TrajectoryExplorer2D(model, schedule, n=8, steps=4, scale=3.0, prefetch=False,
                             samplers={"DDIM": ddim_sample, "distilled": student_sampler(student, 1.5)})
    assert e.scale_enabled and e.params()[3] == 3.0
    e.sampler = "distilled"
    assert e.wait() and e.last_error is None
    assert student.calls == 4 and e.frames.nfe == 4 and e.frames.steps == 4  # the student ran, not the teacher
    assert not e.scale_enabled and not e.eta_enabled and e.params()[3] == 1.5  # the baked-in scale
    e.scale = 10.0
    assert not e.busy and student.calls == 4, "moving a disabled slider must not re-sample the student"
    e.sampler = "DDIM"
    assert e.wait() and e.scale_enabled and e.params()[3] == 10.0
    e.close()
    with pytest.raises(TypeError, match="distilled student"):
        student_sampler(model, 1.0)  # an eps-model is not a student
    with pytest.raises(TypeError, match="baked-in scale"):
        student_sampler(student, "3")


def test_static_fallback_png(explorer):
    bundle, _ = explorer._repr_mimebundle_()
    assert "image/png" in bundle and "application/vnd.jupyter.widget-view+json" in bundle
    final = explorer.png()
    explorer.frame = 0
    assert explorer.png() != final and final.startswith(b"\x89PNG")


def test_to_animation(explorer, tmp_path):
    html = explorer.to_animation(max_frames=4)
    assert "<img" in html.data or "animation" in html.data.lower()
    path = explorer.to_animation(str(tmp_path / "traj.gif"), max_frames=3)
    assert open(path, "rb").read(4) == b"GIF8"


def test_bad_input(toy):
    model, schedule, data = toy
    with pytest.raises(ValueError, match="at least one sample"):
        TrajectoryExplorer2D(model, schedule, n=0)
    with pytest.raises(ValueError, match="unknown sampler"):
        TrajectoryExplorer2D(model, schedule, n=4, sampler="Euler-Maruyama")
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        TrajectoryExplorer2D(model, schedule, data[:, :1], n=4)
    image_model, image_schedule = toy_images()
    with pytest.raises(ValueError, match="2-D model"):
        TrajectoryExplorer2D(image_model, image_schedule, n=4)
    with pytest.raises(ValueError, match="sample_shape"):
        ImageTrajectoryExplorer(model, schedule, n=4)
    for bad, match in ((dict(steps=0), "steps=0"), (dict(steps=1001), "steps=1001"), (dict(eta=1.5), "eta=1.5"),
                       (dict(scale=-1.0), "scale=-1.0"), (dict(cls=7), "cls=7")):
        with pytest.raises(ValueError, match=match):
            TrajectoryExplorer2D(model, schedule, n=4, **bad)
    with pytest.raises(ValueError, match="classes="):
        TrajectoryExplorer2D(model, schedule, n=4, classes=(0, 9))


def test_image_explorer():
    model, schedule = toy_images()
    e = ImageTrajectoryExplorer(model, schedule, n=4, steps=6, classes=(3, 7), prefetch=False)
    assert e.kind == "images" and e.frames.labels.tolist() == [3, 7, 3, 7]
    assert e.last_error is None and e.shape == [7, 4, 8, 8] and e.nrow == 2
    frames = np.frombuffer(e.xs, np.uint8).reshape(7, 4, 8, 8)
    expected = np.rint(np.clip((e.frames.xs[:, :, 0] + 1) / 2, 0, 1) * 255)
    np.testing.assert_array_equal(frames, expected)
    assert len(e.x0_hats) == 6 * 4 * 8 * 8
    e.steps = 1
    e.scale = 30.0
    assert e.wait() and e.last_error is None and e.shape[0] == 2


def test_schedule_explorer(toy):
    data = toy[2]
    images = toy_images()[0].means.reshape(10, 1, 8, 8)[:4]
    labels = torch.arange(len(data)) % 3
    e = ScheduleExplorer(data=data, images=images, labels=labels)
    names = e.schedule_names
    curves = np.frombuffer(e.curves, "<f4").reshape(len(names), 5, e.T_max)
    # the browser's x_t: curves[3] * x_0 + curves[4] * noise must be what NoiseSchedule.q_sample gives
    x0 = np.frombuffer(e.points, "<f4").reshape(-1, 2)
    noise = np.frombuffer(e.points_noise, "<f4").reshape(-1, 2)
    for name in names:
        e.schedule = name
        for t in (0, 300, 999):
            e.t = t
            pts, imgs = e.x_t()
            c = curves[names.index(name)]
            np.testing.assert_allclose(c[3, t] * x0 + c[4, t] * noise, pts.numpy(), rtol=1e-4, atol=1e-5)
            s = e.schedules[name]
            assert c[0, t] == pytest.approx(float(s.betas[t]), rel=1e-5)
            assert f"t={t}" in e.status and name in e.status
    rgb = np.frombuffer(e.point_rgb, np.uint8).reshape(-1, 3)
    assert len({tuple(c) for c in rgb}) == 3  # one colour per class, not one colour for all
    fig = e.figure()
    assert fig.axes[0].get_yscale() == "log"  # beta on a log axis: linear and scaled_linear are not flat at 0
    e.t = 5000
    assert isinstance(e.last_error, ValueError)
    with pytest.raises(ValueError, match="share T"):
        ScheduleExplorer({"a": linear_schedule(10), "b": linear_schedule(20)})
    plain = ScheduleExplorer(data=data)
    assert len({tuple(c) for c in np.frombuffer(plain.point_rgb, np.uint8).reshape(-1, 3)}) > 3  # hue by position


def test_guidance_sweep(toy):
    model, schedule, _ = toy
    seen = []

    def spread(x, y):
        seen.append(len(x))
        return {"spread": float(x.std()), "n": len(x)}

    g = GuidanceSweep(model, schedule, n_per_class=4, steps=5, metric=spread, prefetch=False)
    assert g.last_error is None and seen == [16] and g.shape == [16, 2]
    before = g.samples
    g.scale = 30.0
    assert g.wait()
    assert g.samples != before and "spread" in g.readout and "<td>16</td>" in g.readout and "scale 30" in g.title
    g.scale = 3.0
    assert seen == [16, 16] and g.cache.hits == 1  # scale 3 came from the cache
    g.scale = 0.0
    assert g.wait() and g.last_error is None
    # sample() shares the slider's cache: a lesson's sweep fills it, and the slider then re-uses it
    x0, nfe, scores = g.sample(30)
    assert len(seen) == 3 and nfe == 10 and scores["n"] == 16
    g.sample(7.0)
    g.scale = 7.0
    assert len(seen) == 4 and "scale 7" in g.title
    np.testing.assert_allclose(np.frombuffer(g.samples, "<f2").reshape(16, 2), g.sample(7.0)[0].numpy(), atol=4e-3)
    assert g.labels.tolist() == [k // 4 for k in range(16)]
    g.close()


def test_guidance_sweep_prefetch(toy):
    model, schedule, _ = toy
    g = GuidanceSweep(model, schedule, n_per_class=4, steps=5, prefetch=True)
    assert g.wait(prefetch=True) and 2.5 in g.cache and 3.5 in g.cache
    g.scale = 3.5
    assert "from the cache" in g.status
    g.close()


def test_guidance_sweep_images_and_errors():
    model, schedule = toy_images()
    g = GuidanceSweep(model, schedule, n_per_class=2, steps=3, metric=lambda x, y: 1 / 0, prefetch=False)
    assert isinstance(g.last_error, ZeroDivisionError) and "ZeroDivisionError" in g.error
    g2 = GuidanceSweep(model, schedule, n_per_class=2, steps=3, prefetch=False)
    assert g2.shape == [20, 8, 8] and len(g2.samples) == 20 * 64 and g2.png().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="class-conditional"):
        GuidanceSweep(torch.nn.Identity(), schedule)


@pytest.mark.slow
def test_notebook_outputs_keep_a_static_figure(tmp_path, monkeypatch):
    """Run the browser fixture notebook headless (as nbval does): the explorer's output carries an image/png."""
    import os
    from pathlib import Path

    import nbclient
    import nbformat

    repo = Path(__file__).resolve().parents[1]
    nb = nbformat.read(repo / "tests" / "browser" / "explorer_2d.ipynb", as_version=4)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"], outputs
    bundle = outputs[-1]["data"]
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["image/png"].startswith("iVBOR")
