"""What a network's output means: its prediction type, and for a distilled student the timestep grid it was trained on.

Kept in the model (constructor argument, `config`, checkpoint JSON), never patched on at load;
`teachkit.samplers.prediction` reads it for the samplers.
"""
from __future__ import annotations

__all__ = ["PREDICTIONS", "check_output_kind", "output_config"]

# "eps": the noise (DDPM Eq. 11); "v": alpha_t eps - sigma_t x_0 (Salimans & Ho 2022, Sec. 4); "velocity": a flow
PREDICTIONS = ("eps", "v", "velocity")


def check_output_kind(prediction: str, grid) -> tuple[str, tuple[int, ...] | None]:
    """Validate (prediction, grid) for a model's constructor; grid is a descending tuple of timesteps or None."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction={prediction!r}: a model predicts one of {', '.join(map(repr, PREDICTIONS))}")
    if grid is None:
        return prediction, None
    grid = tuple(int(t) for t in grid)
    if not grid or any(a <= b for a, b in zip(grid, grid[1:])) or grid[-1] < 0:
        raise ValueError(f"grid={grid!r}: a student's distillation grid is a non-empty, strictly descending tuple "
                         "of timesteps >= 0")
    if prediction != "v":
        raise ValueError(f"a distilled student (grid given) reads its output as v, got prediction={prediction!r}")
    return prediction, grid


def output_config(prediction: str, grid: tuple[int, ...] | None) -> dict:
    """The config entries that record (prediction, grid), only where they differ from an eps-model's defaults."""
    config = {} if prediction == "eps" else {"prediction": prediction}
    if grid is not None:
        config["grid"] = list(grid)
    return config
