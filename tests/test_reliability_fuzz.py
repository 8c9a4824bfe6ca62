"""Fuzzers (issue 16), bounded and derandomized: every registry sampler on random schedules, scales and inputs, and
random control changes on the explorers. Each case must end in a finite sample, a clear ValueError/TypeError
before the loop, or (only for a non-finite sample) a RuntimeWarning saying why; never another exception.
The counts of the last recorded run are in tests/README.md."""
from __future__ import annotations

import collections
import warnings

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

from teachkit.training.distill import distillation_grid
from teachkit.flow import FlowPath
from teachkit.models import ToyMLP
from teachkit.models.exact import GaussianMixtureEps
from teachkit.models.exact_flow import GaussianMixtureVelocity
from teachkit.samplers import SAMPLERS
from teachkit.schedules import NoiseSchedule, cosine_schedule, linear_schedule, scaled_linear_schedule

SAMPLER_CASES = 400
WIDGET_SEQUENCES = 30
OUTCOMES: collections.Counter = collections.Counter()


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _schedule(data) -> NoiseSchedule:
    kind = data.draw(st.sampled_from(["linear", "cosine", "scaled_linear", "random"]), label="schedule")
    T = data.draw(st.integers(2, 300), label="T")
    if kind == "linear":
        lo = data.draw(st.floats(1e-6, 0.05), label="beta_start")
        return linear_schedule(T, lo, data.draw(st.floats(lo, 0.999), label="beta_end"))
    if kind == "cosine":
        return cosine_schedule(T, s=data.draw(st.floats(0.0, 0.5), label="s"))
    if kind == "scaled_linear":
        lo = data.draw(st.floats(1e-6, 0.05), label="beta_start")
        return scaled_linear_schedule(T, lo, data.draw(st.floats(lo, 0.999), label="beta_end"))
    # log-uniform betas, sorted: includes schedules whose alpha_bar falls below 1e-20 (the probe's 32 bad runs)
    exps = np.sort(np.array(data.draw(st.lists(st.floats(-6.0, -0.001), min_size=T, max_size=T), label="log10 betas")))
    return NoiseSchedule(torch.from_numpy(10.0 ** exps), name="random")


@settings(max_examples=SAMPLER_CASES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_samplers_fuzz(data):
    schedule = _schedule(data)
    spec = data.draw(st.sampled_from(list(SAMPLERS.values())), label="sampler")
    steps = data.draw(st.integers(1, min(schedule.T, 30)), label="steps")
    dim, B = 2, data.draw(st.integers(1, 6), label="batch")
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    if "velocity" in spec.predictions:
        # a flow model samples on its path, not on the drawn noise schedule
        schedule = FlowPath()
        model = (GaussianMixtureVelocity(torch.randn(3, dim) * 2, std=0.2) if data.draw(st.booleans(), label="exact model")
                 else ToyMLP(dim, hidden=8, layers=1, num_classes=3, prediction="velocity", time_scale=1000.0).eval())
    elif spec.name == "Distilled":
        model = ToyMLP(dim, hidden=8, layers=1, num_classes=3, prediction="v",
                       grid=tuple(distillation_grid(schedule.T, data.draw(st.integers(1, schedule.T), label="intervals"))[0].tolist()))
    elif data.draw(st.booleans(), label="exact model"):
        means = torch.randn(3, dim) * 2
        model = GaussianMixtureEps(schedule, means, std=0.2, labels=torch.arange(3))
    else:
        model = ToyMLP(dim, hidden=8, layers=1, num_classes=3).eval()
    x_T = torch.randn(B, dim) * data.draw(st.sampled_from([1.0, 10.0, 1e3]), label="x_T scale")
    kw = {}
    if data.draw(st.booleans(), label="labelled"):
        kw["y"] = torch.randint(0, 4, (B,))  # 3 = the null label
        if spec.guided:
            kw["guidance_scale"] = data.draw(st.sampled_from([0.0, 1.0, 3.0, 7.5, -2.0, 1e6, 1e30, 1e300]), label="scale")
    if spec.takes_eta:
        kw["eta"] = data.draw(st.floats(0.0, 1.0), label="eta")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sample = spec.fn(model, schedule, x_T, steps=steps, record=False,
                             generator=torch.Generator().manual_seed(0), **kw).sample
        except (ValueError, TypeError) as err:
            assert len(str(err)) > 20  # a sentence, not a bare "math domain error"
            assert "math domain" not in str(err) and "division" not in str(err)
            OUTCOMES["refused with a ValueError/TypeError"] += 1
            return
    finite = bool(torch.isfinite(sample).all())
    warned = any(issubclass(w.category, RuntimeWarning) and "NaN or inf" in str(w.message) for w in caught)
    assert finite or warned, f"{spec.name} returned non-finite samples without a warning"
    if finite:
        OUTCOMES["finite sample"] += 1
    else:
        OUTCOMES[f"non-finite sample, warned (scale {kw.get('guidance_scale', 1.0):g})"] += 1


def test_sampler_fuzz_covered_every_outcome():
    assert sum(OUTCOMES.values()) >= SAMPLER_CASES * 0.9, OUTCOMES
    # only an extreme guidance scale may overflow; every schedule-made overflow is refused up front
    assert all("scale 1e+" in k for k in OUTCOMES if k.startswith("non-finite")), OUTCOMES
    assert OUTCOMES["finite sample"] > 0 and OUTCOMES["refused with a ValueError/TypeError"] > 0, OUTCOMES
    print("\nsampler fuzz outcomes:", dict(OUTCOMES))


WIDGET_CHANGES: collections.Counter = collections.Counter()


def _explorer(which: str):
    from teachkit.widgets import ScheduleExplorer, TrajectoryExplorer2D
    from tests.widget_models import toy_2d

    if which == "schedule":
        return ScheduleExplorer()
    model, schedule = toy_2d()
    return TrajectoryExplorer2D(model, schedule, n=16, steps=5, prefetch=False)


# each control's values, drawn from the widget's own menus and ranges (steps capped at 60: 1,000-step reruns
# would make the fuzzer slower, not stronger); drawn without reading the widget's state, so a sequence replays
CONTROLS = {
    "trajectory": {
        "sampler": lambda w: st.sampled_from(list(w.sampler_options)),
        "steps": lambda w: st.sampled_from([s for s in w.steps_ladder if s <= 60]),
        "eta": lambda w: st.floats(0.0, 1.0),
        "scale": lambda w: st.floats(0.0, 30.0),
        "cls": lambda w: st.sampled_from([o[1] for o in w.cls_options]),
        "frame": lambda w: st.integers(0, 60),
    },
    "schedule": {
        "schedule": lambda w: st.sampled_from(list(w.schedule_names)),
        "t": lambda w: st.integers(0, w.T_max - 1),
    },
}


@settings(max_examples=WIDGET_SEQUENCES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_widget_controls_fuzz(data):
    which = data.draw(st.sampled_from(sorted(CONTROLS)))
    widget = _explorer(which)  # a fresh one per sequence, so a failing sequence replays exactly
    try:
        for _ in range(data.draw(st.integers(1, 8))):
            name = data.draw(st.sampled_from(sorted(CONTROLS[which])))
            value = data.draw(CONTROLS[which][name](widget))
            if name == "frame":
                value = min(value, widget.shape[0] - 1)  # the frame slider ends at the trajectory's last frame
            setattr(widget, name, value)
            if hasattr(widget, "wait"):
                assert widget.wait()
            WIDGET_CHANGES[which] += 1
            assert widget.last_error is None and widget.error == "", f"{name}={value!r}: {widget.error}"
            if which == "trajectory":
                xs = np.frombuffer(widget.xs, dtype="<f2")
                assert xs.size and np.isfinite(xs).all(), f"{name}={value!r}"
    finally:
        widget.close()


def test_widget_fuzz_ran():
    assert sum(WIDGET_CHANGES.values()) >= WIDGET_SEQUENCES, WIDGET_CHANGES
    print("\nwidget control changes:", dict(WIDGET_CHANGES))
