"""The samplers on a GPU: same results as on the CPU, and no host sync inside the sampling loop."""
import pytest
import torch

from teachkit.samplers import ddim_sample, ddpm_sample, dpm_solver_sample

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")]


@pytest.mark.parametrize("sampler", [ddim_sample, dpm_solver_sample])
def test_gpu_matches_cpu(linear, gauss_model, sampler):
    x_T = torch.randn(256, 2)
    cpu = sampler(gauss_model, linear, x_T, 20, y=0, guidance_scale=2.0)
    model = gauss_model.to("cuda")
    gpu = sampler(model, linear, x_T.cuda(), 20, y=0, guidance_scale=2.0)
    assert gpu.sample.device.type == "cuda" and gpu.xs.device.type == "cuda"
    torch.testing.assert_close(gpu.sample.cpu(), cpu.sample, rtol=1e-4, atol=1e-4)


def test_ddpm_on_gpu_with_cuda_generator(linear, gauss_model):
    model = gauss_model.to("cuda")
    x_T = torch.randn(512, 2, device="cuda")
    a = ddpm_sample(model, linear, x_T, y=1, generator=torch.Generator("cuda").manual_seed(0), record=False).sample
    b = ddpm_sample(model, linear, x_T, y=1, generator=torch.Generator("cuda").manual_seed(0), record=False).sample
    assert torch.equal(a, b) and a.isfinite().all()


def test_no_host_sync_inside_the_loop(linear, gauss_model, monkeypatch):
    import teachkit.samplers.core as core

    model = gauss_model.to("cuda")
    x_T = torch.randn(64, 2, device="cuda")
    y = torch.zeros(64, dtype=torch.long, device="cuda")
    ddim_sample(model, linear, x_T, 5, y=y, guidance_scale=2.0)  # warm-up
    torch.cuda.synchronize()
    # the input checks before the loop sync once each by design; switch them off to watch only the loop
    monkeypatch.setattr(core, "_check_inputs", lambda *args: None)
    monkeypatch.setattr(core, "check_labels", lambda model, y, batch, device: y)
    torch.cuda.set_sync_debug_mode("error")
    try:
        with pytest.raises(RuntimeError):
            torch.isfinite(x_T).all().item()  # proof that the debug mode catches a sync
        ddim_sample(model, linear, x_T, 50, y=y, guidance_scale=2.0, record=False)
        ddim_sample(model, linear, x_T, 50, eta=1.0, y=y, generator=torch.Generator("cuda").manual_seed(0))
        ddpm_sample(model, linear, x_T, steps=50, y=y, generator=torch.Generator("cuda").manual_seed(0), record=False)
        dpm_solver_sample(model, linear, x_T, 20, y=y, guidance_scale=2.0, record=False)
    finally:
        torch.cuda.set_sync_debug_mode(0)
