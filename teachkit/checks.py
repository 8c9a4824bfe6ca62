"""The exercises' import path for their feedback (`from teachkit import checks`): a re-export, nothing else.

The checks live in teachkit.coursework.checks, with the rest of the coursework (assign, grade). This
module hands out the same objects: every public name and the per-topic submodules whose REFERENCES
the exercises' hidden tests refuse (``checks.ddim.REFERENCES["ddim_step"]``).
"""
from teachkit.coursework.checks import (GaussianMixtureEps, GaussianMixtureVelocity, Recorder, __all__,
                                        check_alpha_bar, check_cfg_combine, check_ddim_loop, check_ddim_step,
                                        check_ddpm_step, check_dpmpp_step, check_drop_labels, check_flow_euler,
                                        check_flow_pair, check_frechet_distance, check_frechet_from_features,
                                        check_guided_sampler, check_posterior_mean, check_q_sample, ddim, ddpm,
                                        evaluation, flow, forward, guidance, reference_copy, refusing, solvers,
                                        substituted)
