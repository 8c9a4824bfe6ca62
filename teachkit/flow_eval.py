"""The measured quality of the shipped flow models (`python -m teachkit evaluate toy-2d-flow | mnist-flow`).

The same metrics as the eps-models' recipes (teachkit.recipes): distances to fresh moons data and
class adherence for the toy; for MNIST, our classifier's accuracy on the requested digit, the digits
that appear, and a classifier-FID to the 500 held-out digits (teachkit.metrics).
"""
from __future__ import annotations

import time

import torch
from torch import nn

from teachkit.datasets import mnist_tensors, toy
from teachkit.flow import FlowPath
from teachkit.runtime import pick_device
from teachkit.samplers.flow import flow_sample

__all__ = ["evaluate_flow_toy", "evaluate_flow_mnist", "MNIST_FLOW_SETTINGS"]

# (method, steps, guidance scale): each at most 20 network evaluations per sample (a guided step costs 2 per call)
MNIST_FLOW_SETTINGS = (("euler", 10, 2.0), ("euler", 10, 3.0), ("midpoint", 5, 3.0), ("heun", 5, 3.0),
                       ("euler", 20, 0.0), ("euler", 20, 1.0))


@torch.no_grad()
def evaluate_flow_toy(model: nn.Module, path: FlowPath, *, n: int = 2000, steps: int = 50,
                      scales: tuple[float, ...] = (1.0, 3.0), seed: int = 0, device=None) -> dict:
    """Euler-`steps` samples vs fresh moons: sliced W2, energy, mean log-likelihood, and class adherence per guidance scale (as evaluate_toy)."""
    from teachkit.datasets import toy_class_log_prob
    from teachkit.metrics import class_adherence
    from teachkit.recipes import TOY_NAME, _toy_scores

    device = pick_device(device)
    model = model.to(device).eval()
    x_ref, y_ref = toy(TOY_NAME, n, seed=seed + 12345)
    x_T = torch.randn((n, *model.sample_shape), device=device, generator=torch.Generator(device=device).manual_seed(seed))
    out = {"toy": TOY_NAME, "sampler": f"Flow (Euler), {steps} steps", "samples": n, "seed": seed,
           "data_vs_data": _toy_scores(toy(TOY_NAME, n, seed=seed + 999)[0], x_ref)}
    out["unconditional"] = _toy_scores(flow_sample(model, path, x_T, steps, record=False).sample.cpu(), x_ref)
    for scale in scales:
        x0 = flow_sample(model, path, x_T, steps, y=y_ref.to(device), guidance_scale=scale, record=False).sample.cpu()
        adherence = class_adherence(x0, y_ref, lambda p: toy_class_log_prob(TOY_NAME, p))
        out[f"scale_{scale:g}"] = {**_toy_scores(x0, x_ref), "class_adherence": round(adherence, 4)}
    return out


@torch.no_grad()
def evaluate_flow_mnist(model: nn.Module, path: FlowPath, classifier: nn.Module, *, per_class: int = 20,
                        settings=MNIST_FLOW_SETTINGS, seed: int = 0, device=None) -> dict:
    """Per (method, steps, scale): the classifier's accuracy on the requested digit, digits present, classifier-FID, NFE."""
    from teachkit.metrics import classifier_fid, classifier_outputs

    device = pick_device(device)
    model, classifier = model.to(device).eval(), classifier.to(device).eval()
    y = torch.arange(model.num_classes, device=device).repeat_interleave(per_class)
    x_T = torch.randn((y.numel(), *model.sample_shape), device=device,
                      generator=torch.Generator(device=device).manual_seed(seed))
    feats_ref = classifier_outputs(classifier, mnist_tensors("test")[0].to(device))[0]
    out = {"samples": int(y.numel()), "seed": seed, "classifier": "mnist-classifier",
           "fid_reference": "the 500 held-out test digits", "settings": {}}
    for method, steps, scale in settings:
        t0 = time.perf_counter()
        tr = flow_sample(model, path, x_T, steps, method=method, y=y, guidance_scale=scale, record=False)
        seconds = time.perf_counter() - t0
        feats, logits = classifier_outputs(classifier, tr.sample.clamp(-1, 1))
        pred = logits.argmax(1).cpu()
        counts = torch.bincount(pred, minlength=model.num_classes)
        out["settings"][f"{method}-{steps} scale {scale:g}"] = {
            "method": method, "steps": steps, "guidance_scale": scale, "nfe": tr.nfe,
            "accuracy": round(float((pred == y.cpu()).float().mean()), 4),
            "per_digit_accuracy": [round((pred[y.cpu() == d] == d).float().mean().item(), 3)
                                   for d in range(model.num_classes)],
            "predicted_counts": counts.tolist(), "digits_present": int((counts > 0).sum()),
            "classifier_fid": round(classifier_fid(feats, feats_ref), 2), "seconds": round(seconds, 1)}
    return out
