"""teachkit: the library behind the diffusion-model lessons (schedules, samplers, guidance, models, widgets)."""
__version__ = "0.1.0"
