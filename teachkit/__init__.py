"""teachkit: the library behind the diffusion-model lessons (schedules, samplers, guidance, models, widgets)."""
from .checkpoints import available_pretrained, load_pretrained
from .flow import FlowPath
from .guidance import cfg_combine, guided_eps
from .runtime import pick_device, setup
from .samplers import (SAMPLERS, Trajectory, consistency_step, ddim_sample, ddim_step, ddpm_sample, ddpm_step,
                       distilled_sample, dpm_solver_sample, euler_sample, flow_sample, heun_sample)
from .schedules import (NoiseSchedule, cosine_schedule, linear_schedule, rescale_zero_terminal_snr,
                        scaled_linear_schedule, timesteps)

__version__ = "0.1.0"


__all__ = [
    "NoiseSchedule", "linear_schedule", "cosine_schedule", "scaled_linear_schedule", "rescale_zero_terminal_snr",
    "timesteps", "Trajectory", "ddpm_sample", "ddpm_step", "ddim_sample", "ddim_step", "dpm_solver_sample",
    "distilled_sample", "consistency_step", "euler_sample", "heun_sample", "SAMPLERS",
    "flow_sample", "FlowPath",
    "cfg_combine", "guided_eps", "load_pretrained", "available_pretrained", "setup", "pick_device", "evaluate",
]


def __getattr__(name: str):
    # teachkit.evaluate is imported on first use: the metrics behind it load POT, which `import teachkit` need not pay
    if name == "evaluate":
        from .evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'teachkit' has no attribute {name!r}")
