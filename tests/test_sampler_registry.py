"""One suite over every entry of teachkit.SAMPLERS: the contract every sampler keeps (issue 12).

Shape, finiteness, determinism where the sampler is not stochastic, NFE counted equal to the network
calls a counting wrapper sees, guidance at scales 0 and 1, plain-function models, the per-step callback,
and clear errors on bad input. A new registry entry is tested here as soon as it exists; a new model
kind needs one entry in MODELS.
"""
import math

import pytest
import torch

import teachkit
from teachkit.flow import FlowPath
from teachkit.models.exact import GaussianMixtureEps
from teachkit.models.exact_flow import GaussianMixtureVelocity
from teachkit.samplers import SAMPLERS, SamplerSpec, Step, get_sampler, samplers_for
from teachkit.schedules import linear_schedule

torch.set_num_threads(1)

SCHEDULE = linear_schedule()


class HalfV(torch.nn.Module):
    """A fixed stand-in student: v = 0.5 x, on the toy student's 40-point grid."""

    prediction = "v"
    grid = tuple(range(999, -1, -25))

    def __init__(self):
        super().__init__()
        self.num_classes = self.null_label = 3
        self.sample_shape = (2,)

    def forward(self, x, t, y=None):
        return 0.5 * x


# one model per kind a sampler can accept (prediction.model_kind); every spec's first accepted kind is used
MODELS = {
    "eps": lambda: GaussianMixtureEps(SCHEDULE),
    "consistency": HalfV,
    "velocity": GaussianMixtureVelocity,
}
# what each kind samples on: a flow model's schedule is its path
SCHEDULES = {"velocity": FlowPath()}


def model_for(spec: SamplerSpec):
    kind = next((k for k in spec.predictions if k in MODELS), None)
    if kind is None:
        pytest.skip(f"no test model for {spec.name}'s kinds {spec.predictions}: add one to MODELS")
    return MODELS[kind]()


class Counting:
    """A plain callable around a model that counts the rows it is asked for (its own view of the NFE)."""

    def __init__(self, model):
        self.model, self.rows = model, 0
        for attr in ("num_classes", "null_label", "sample_shape", "prediction", "grid"):
            if hasattr(model, attr):
                setattr(self, attr, getattr(model, attr))

    def __call__(self, x, t, y=None):
        self.rows += x.shape[0]
        return self.model(x, t) if y is None else self.model(x, t, y)


def run(spec, model, x_T, steps=None, **kw):
    steps = steps or min(spec.default_steps, 20)
    if spec.stochastic:
        kw.setdefault("generator", torch.Generator().manual_seed(1))
    return spec.fn(model, SCHEDULES.get(spec.predictions[0], SCHEDULE), x_T, steps=steps, **kw)


NAMES = list(SAMPLERS)
X_T = torch.randn(12, 2, generator=torch.Generator().manual_seed(0))
Y = torch.arange(12) % 3


def test_registry_is_the_one_list():
    assert list(SAMPLERS) == [s.name for s in SAMPLERS.values()]
    assert {"DDPM", "DDIM", "DPM-Solver++(2M)", "Euler", "Heun", "Distilled"} <= set(SAMPLERS)
    assert teachkit.SAMPLERS is SAMPLERS and get_sampler("Heun").fn is teachkit.heun_sample
    with pytest.raises(ValueError, match="unknown sampler 'DPM'; choose one of DDPM, DDIM"):
        get_sampler("DPM")
    for spec in SAMPLERS.values():
        with pytest.raises(AttributeError):
            spec.name = "x"  # frozen
        assert spec.order in (1, 2) and spec.default_steps >= 1 and spec.description
    assert list(samplers_for(GaussianMixtureEps(SCHEDULE))) == [n for n in NAMES if "eps" in SAMPLERS[n].predictions]
    assert list(samplers_for(HalfV())) == ["Distilled"]
    assert list(samplers_for(GaussianMixtureVelocity())) == ["Flow (Euler)", "Flow (midpoint)", "Flow (Heun)"]


@pytest.mark.parametrize("name", NAMES)
def test_shapes_finiteness_and_name(name):
    spec = SAMPLERS[name]
    model = model_for(spec)
    tr = run(spec, model, X_T, steps=4, y=Y)
    S = tr.steps
    assert tr.sample.shape == X_T.shape and torch.isfinite(tr.sample).all()
    assert tr.xs.shape == (S + 1, *X_T.shape) and tr.x0_hats.shape == (S, *X_T.shape)
    assert torch.equal(tr.xs[0], X_T) and torch.equal(tr.xs[-1], tr.sample)
    assert tr.timesteps.shape == (S,) and (tr.timesteps.diff() < 0).all() and tr.sampler == name
    cheap = run(spec, model, X_T, steps=4, y=Y, record=False)
    assert cheap.xs is None and cheap.x0_hats is None
    torch.testing.assert_close(cheap.sample, tr.sample)


@pytest.mark.parametrize("name", NAMES)
def test_determinism(name):
    spec = SAMPLERS[name]
    model = model_for(spec)
    a = run(spec, model, X_T, y=Y, generator=torch.Generator().manual_seed(5)).sample
    b = run(spec, model, X_T, y=Y, generator=torch.Generator().manual_seed(5)).sample
    c = run(spec, model, X_T, y=Y, generator=torch.Generator().manual_seed(6)).sample
    assert torch.equal(a, b)
    # a deterministic sampler ignores the generator; a stochastic one does not
    assert torch.equal(a, c) != spec.stochastic


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scale", [0.0, 1.0, 3.0])
def test_nfe_is_counted(name, scale):
    spec = SAMPLERS[name]
    counting = Counting(model_for(spec))
    kw = {"guidance_scale": scale} if spec.guided else {}
    if not spec.guided and scale != 1.0:
        pytest.skip(f"{name} has its guidance baked in")
    tr = run(spec, counting, X_T, steps=6, y=Y, **kw)
    assert tr.nfe == counting.rows // X_T.shape[0]
    per_call = 2 if scale not in (0.0, 1.0) else 1
    if name == "Heun":
        assert tr.nfe == per_call * (2 * tr.steps - 1)  # EDM Alg. 1: the last step is Euler
    elif spec.evals_per_step == "2":
        assert tr.nfe == per_call * 2 * tr.steps
    else:
        assert tr.nfe == per_call * tr.steps


@pytest.mark.parametrize("name", [n for n in NAMES if SAMPLERS[n].guided])
def test_guidance_scale_0_is_the_null_label_and_1_the_conditional_model(name):
    spec = SAMPLERS[name]
    model = model_for(spec)
    gen = lambda: torch.Generator().manual_seed(3)
    null = torch.full_like(Y, model.null_label)
    at0 = run(spec, model, X_T, y=Y, guidance_scale=0.0, generator=gen()).sample
    torch.testing.assert_close(at0, run(spec, model, X_T, y=null, generator=gen()).sample)
    at1 = run(spec, model, X_T, y=Y, guidance_scale=1.0, generator=gen()).sample
    plain = lambda x, t, y=None: model(x, t, Y.repeat(x.shape[0] // Y.shape[0]))
    plain.prediction = getattr(model, "prediction", "eps")  # a function declares its kind like a model
    torch.testing.assert_close(at1, run(spec, plain, X_T, generator=gen()).sample)


@pytest.mark.parametrize("name", [n for n in NAMES if "eps" in SAMPLERS[n].predictions])
def test_plain_function_models(name):
    # the contract says any callable: a function (no .training, no .eval()) works, here the exact mixture score
    spec = SAMPLERS[name]
    model = GaussianMixtureEps(SCHEDULE)
    tr = run(spec, lambda x, t, y=None: model(x, t), X_T)
    torch.testing.assert_close(tr.sample, run(spec, model, X_T).sample)


@pytest.mark.parametrize("name", NAMES)
def test_callback_sees_every_step_and_can_stop_the_run(name):
    spec = SAMPLERS[name]
    model = model_for(spec)
    seen = []
    tr = run(spec, model, X_T, steps=5, y=Y, callback=seen.append)
    assert [s.i for s in seen] == list(range(tr.steps)) and all(isinstance(s, Step) for s in seen)
    assert [s.t for s in seen] == tr.timesteps.tolist() and seen[-1].steps == tr.steps
    for k, s in enumerate(seen):
        assert torch.equal(s.x, tr.xs[k + 1]) and torch.equal(s.x0_hat, tr.x0_hats[k])

    class Stop(Exception):
        pass

    def stop_after_two(step):
        if step.i == 1:
            raise Stop

    with pytest.raises(Stop):
        run(spec, model, X_T, steps=5, y=Y, callback=stop_after_two)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_explained(name):
    spec = SAMPLERS[name]
    model = model_for(spec)
    with pytest.raises(ValueError, match="NaN or inf"):
        run(spec, model, torch.full((4, 2), math.nan))
    with pytest.raises(ValueError, match="sample shape"):
        run(spec, model, torch.randn(4, 3))
    schedule = SCHEDULES.get(spec.predictions[0], SCHEDULE)
    with pytest.raises(ValueError, match="at least one step|1 to"):
        spec.fn(model, schedule, X_T, steps=0)
    with pytest.raises(TypeError, match="steps must be an int"):
        spec.fn(model, schedule, X_T, steps=2.5)
    with pytest.raises(TypeError, match="NoiseSchedule|FlowPath"):
        spec.fn(model, "linear", X_T, steps=4)
    with pytest.raises(ValueError, match="labels must lie"):
        run(spec, model, X_T, y=torch.full((12,), 7))
    with pytest.raises(TypeError, match="callback must be callable"):
        run(spec, model, X_T, callback=3)
    # a model of a kind this sampler cannot read: a clear TypeError naming the right sampler
    other = HalfV() if "consistency" not in spec.predictions else GaussianMixtureEps(SCHEDULE)
    with pytest.raises(TypeError, match="cannot use|distilled student"):
        spec.fn(other, schedule, X_T, steps=4)


def test_an_eps_sampler_refuses_a_student_instead_of_returning_garbage():
    # the finding: ddim_sample on toy-2d-distilled read v as eps and returned |x| up to 229
    student, schedule, _ = teachkit.load_pretrained("toy-2d-distilled")
    for spec in samplers_for(GaussianMixtureEps(SCHEDULE)).values():
        with pytest.raises(TypeError, match="distilled student: sample it with distilled_sample"):
            spec.fn(student, schedule, torch.randn(8, 2), steps=4)


def test_unknown_prediction_is_refused():
    class Odd(torch.nn.Module):
        prediction = "x0"

        def forward(self, x, t, y=None):
            return x

    with pytest.raises(ValueError, match="prediction='x0' is unknown"):
        teachkit.ddim_sample(Odd(), SCHEDULE, X_T, 4)


def test_a_v_model_samples_like_the_eps_model_it_rewrites():
    # v = alpha eps - sigma x0_hat (Salimans & Ho 2022, Sec. 4): the same model written as a v-predictor gives the same samples
    eps_model = GaussianMixtureEps(SCHEDULE)
    ab = SCHEDULE.alpha_bar.float()

    class AsV(torch.nn.Module):
        prediction = "v"

        def forward(self, x, t, y=None):
            a = ab[t].sqrt().reshape(-1, 1)
            s = (1 - ab[t]).sqrt().reshape(-1, 1)
            eps = eps_model(x, t, y)
            return a * eps - s * (x - s * eps) / a

    for name in ("DDIM", "DPM-Solver++(2M)", "Heun"):
        spec = SAMPLERS[name]
        torch.testing.assert_close(run(spec, AsV(), X_T).sample, run(spec, eps_model, X_T).sample, rtol=1e-4, atol=1e-4)


def test_bind_ties_an_entry_to_its_own_network():
    # the explorers' student: the Distilled entry bound to it, with its baked-in scale as a field (no attribute on a closure)
    student = HalfV()
    bound = SAMPLERS["Distilled"].bind(student, 3)
    assert bound.name == "Distilled" and bound.model is student and bound.fixed_scale == 3.0 and not bound.guided
    teacher = GaussianMixtureEps(SCHEDULE)
    gen = lambda: torch.Generator().manual_seed(2)
    # called with the teacher (as an explorer does) and a guidance_scale, it runs the student and drops the scale
    a = bound.fn(teacher, SCHEDULE, X_T, steps=4, y=Y, guidance_scale=7.0, generator=gen()).sample
    b = teachkit.distilled_sample(student, SCHEDULE, X_T, 4, y=Y, generator=gen()).sample
    assert torch.equal(a, b) and SAMPLERS["Distilled"].model is None


def test_spec_of():
    from teachkit.samplers import spec_of

    assert spec_of(teachkit.ddim_sample) is SAMPLERS["DDIM"] and spec_of(SAMPLERS["Heun"]) is SAMPLERS["Heun"]
    mine = spec_of(lambda model, schedule, x_T, steps=3, eta=0.0: None, "mine")
    assert mine.name == "mine" and mine.takes_eta and not mine.takes_callback
    with pytest.raises(TypeError, match="a sampler is a teachkit.SAMPLERS entry or a callable"):
        spec_of(3)


def test_zero_terminal_snr_refuses_eps_and_takes_v():
    # the error's advice ("use a v-prediction model") is now true: a v-model samples from alpha_bar_T = 0
    from teachkit.schedules import rescale_zero_terminal_snr

    zero_snr = rescale_zero_terminal_snr(linear_schedule())

    class ZeroV(torch.nn.Module):
        prediction = "v"

        def forward(self, x, t, y=None):
            return torch.zeros_like(x)

    with pytest.raises(ValueError, match="use a v-prediction model"):
        teachkit.ddim_sample(GaussianMixtureEps(zero_snr), zero_snr, X_T, 10)
    tr = teachkit.ddim_sample(ZeroV(), zero_snr, X_T, 10)
    assert torch.isfinite(tr.sample).all() and tr.timesteps[0] == 999
