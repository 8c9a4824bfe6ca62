"""Feedback for the exercises: run a student's function on cases with known answers and explain the first difference.

Each ``check_*`` raises an AssertionError that names the case, the expected and the received numbers
and the likely mistake ("expected x_prev=1.7433, got 1.7315; did you re-noise with
sqrt(1 - alpha_bar_prev)?"), and prints one ``ok`` line when everything matches. Hidden tests and
grading (otter-grader, see teachkit.coursework) call the same functions. While the student's
function runs, teachkit's own implementation of the asked-for function is refused (see _core).
"""
from ...models.exact import GaussianMixtureEps
from ._core import Recorder, reference_copy, refusing, substituted
from .ddim import check_ddim_loop, check_ddim_step
from .ddpm import check_ddpm_step, check_posterior_mean
from .evaluation import check_frechet_distance, check_frechet_from_features
from .flow import GaussianMixtureVelocity, check_flow_euler, check_flow_pair
from .forward import check_alpha_bar, check_q_sample
from .guidance import check_cfg_combine, check_drop_labels, check_guided_sampler
from .solvers import check_dpmpp_step

__all__ = ["GaussianMixtureEps", "Recorder", "refusing", "substituted", "reference_copy",
           "check_alpha_bar", "check_q_sample", "check_ddim_step", "check_ddim_loop",
           "check_cfg_combine", "check_guided_sampler", "check_drop_labels", "check_posterior_mean", "check_ddpm_step",
           "check_dpmpp_step", "GaussianMixtureVelocity", "check_flow_pair", "check_flow_euler",
           "check_frechet_distance", "check_frechet_from_features"]
