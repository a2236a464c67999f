"""Speed measurements that print numbers (``colorsurvey speed ...``; not to be confused with
``colorsurvey benchmark``, the survey's quality table in :mod:`colorsurvey.benchmark`).

Speed targets live here, not in unit tests: the data renderer must outrun training by at
least 10x (README, "Measured here"), and the interactive widgets need millisecond inference.
"""

from __future__ import annotations

import time

import torch

from .train import pick_device

__all__ = ["speed_data", "speed_train", "speed_compute"]


def speed_data(size: int = 128, batch: int | None = 64, seconds: float = 3.0, device=None) -> dict:
    """Rendering throughput of the embedded NCD-like set, images per second."""
    from .data.synthetic import render_throughput

    return render_throughput(size=size, batch=batch or 64, seconds=seconds, device=device)


def speed_train(method: str = "unet", size: str = "small", resolution: int = 64, batch: int | None = 16,
                steps: int = 20, device=None, warmup: int = 3) -> dict:
    """Training throughput of one method on rendered data (images per second, steady state)."""
    from . import models
    from .data.synthetic import SyntheticNCD
    from .train import _to_device

    device = pick_device(device)
    batch = batch or 16
    data = SyntheticNCD("train", size=resolution, n=max(batch * 4, 64))
    model = models.create(method, size=size).to(device)
    model.fit_statistics(data.random_batch(batch, step=-1 - i, device=device) for i in range(2))
    model.train()
    batches = [_to_device(data.random_batch(batch, step=i), device, False) for i in range(4)]
    for i in range(warmup):
        model.training_step(batches[i % 4])
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(steps):
        logs = model.training_step(batches[i % 4])
    for v in logs.values():
        float(v)
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    return {"method": method, "size": size, "resolution": resolution, "batch": batch, "steps": steps,
            "device": str(device), "seconds": dt, "images_per_s": steps * batch / dt,
            "s_per_step": dt / steps, "threads": torch.get_num_threads()}


def speed_compute(methods=None, size: str = "small", resolution: int = 256, device=None) -> list[dict]:
    """Parameters, GFLOPs and inference time per method at ``resolution``."""
    from . import models
    from .evaluate import compute_row

    rows = []
    for key in methods or models.list_models():
        model = models.create(key, size=size)
        rows.append(compute_row(model, size=resolution, device=device))
    return rows
