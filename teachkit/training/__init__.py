"""Training: one loop for every model, its config, and each objective in its own module.

- loop.py           fit(model, ema, loss_fn, x, y, config), the one loop; train(), the eps-model objective (DDPM Eq. 14)
- config.py         TrainConfig, the frozen settings of a run, validated once and stored whole in the checkpoint
- state.py          the training state written every checkpoint_every steps, for a bit-identical resume
- distill.py        consistency distillation of a guided teacher into a few-step student
- flow_matching.py  conditional flow matching on a teachkit.flow path
- classifier.py     the metric classifier's loss (cross-entropy on jittered digits)
- recipes.py        the shipped models: a builder + a TrainConfig each (`python -m teachkit train NAME`)
- cli.py            `python -m teachkit train`

`from teachkit.training import train, fit, TrainConfig` is the documented entry; the objectives are imported
from their modules (teachkit.training.distill.distill, ...).
"""
from teachkit.training.loop import TrainConfig, TrainResult, ddpm_loss, drop_labels, ema_update, fit, lr_at, train

__all__ = ["train", "fit", "TrainResult", "TrainConfig", "ddpm_loss", "drop_labels", "lr_at", "ema_update"]
