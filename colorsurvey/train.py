"""One small training loop for every method (DESIGN.md "One interface", "Speed").

The method owns its optimisers and losses (``model.training_step(batch)``), so a GAN, a
classifier and a regression network all train here. The loop owns everything else:

* the device (CUDA, then MPS, then CPU), bf16 autocast and channels_last on CUDA;
* a step budget and/or a time budget, a ``tqdm.auto`` bar showing the live loss;
* repeatability: the model is seeded, and batch *i* is fixed by (seed, i) — see
  :meth:`colorsurvey.data.base.ColorDataset.random_batch`;
* no host sync per step: logged values are read every ``log_every`` steps only;
* checkpoints as safetensors (the model) plus a small ``weights_only`` state file
  (optimisers, step, history), written atomically; ``resume=True`` continues from them.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from tqdm.auto import tqdm

from .models.base import ColorizationModel

__all__ = ["pick_device", "seed_everything", "train", "TrainResult", "save_checkpoint", "load_checkpoint",
           "checkpoint_files", "fit_statistics"]


def pick_device(prefer: str | None = None) -> torch.device:
    """The best available device: ``prefer`` if given, else CUDA, then MPS, then CPU."""
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    """What a run leaves behind: the loss history (for plotting) and its speed."""

    history: dict[str, list[float]] = field(default_factory=dict)
    steps: list[int] = field(default_factory=list)
    step: int = 0
    seconds: float = 0.0
    images: int = 0
    device: str = "cpu"

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def as_dict(self) -> dict:
        return {"history": self.history, "steps": self.steps, "step": self.step,
                "seconds": self.seconds, "images": self.images, "device": self.device}


def _to_device(batch: dict, device: torch.device, channels_last: bool) -> dict:
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, non_blocking=True)
            if channels_last and v.dim() == 4 and v.is_floating_point():
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


_FILES = ("model.safetensors", "state.pt")


def save_checkpoint(model: ColorizationModel, path: str | os.PathLike, result: TrainResult | None = None) -> Path:
    """Write ``<path>/model.safetensors`` and ``<path>/state.pt`` so that an interruption at any
    moment leaves a complete, matching pair to read.

    Each file is written to a temporary name and moved into place with ``os.replace``; both carry
    the same random token (safetensors metadata, a state entry). The pair being replaced is first
    moved aside (``*.prev``) and removed only after the new pair is in place, so that
    :func:`load_checkpoint`, which reads the newest pair whose tokens match, always finds one.
    The state also holds the optimisers, the result so far and the random generators' states
    (CPU and the current CUDA device), so a resumed run draws what the uninterrupted one would."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    token = os.urandom(8).hex()
    tmp = {name: path / f"{name}.tmp" for name in _FILES}
    save_model(model, str(tmp["model.safetensors"]), metadata={"checkpoint": token})
    state = {
        "optimizers": {k: o.state_dict() for k, o in (model._optimizers or {}).items()},
        "result": result.as_dict() if result is not None else None,
        "key": model.card.key,
        "size": model.size_name,
        "checkpoint": token,
        "rng": {"cpu": torch.get_rng_state(),
                **({"cuda": torch.cuda.get_rng_state()} if torch.cuda.is_available() and torch.cuda.is_initialized()
                   else {})},
    }
    torch.save(state, tmp["state.pt"])
    for name in _FILES:                      # the old pair aside, then the new pair in
        if (path / name).exists():
            os.replace(path / name, path / f"{name}.prev")
    for name in _FILES:
        os.replace(tmp[name], path / name)
    for name in _FILES:
        (path / f"{name}.prev").unlink(missing_ok=True)
    return path


def _token(f: Path, kind: str):
    """The checkpoint token of a model or state file (None for files written before tokens)."""
    if kind == "model":
        from safetensors import safe_open

        with safe_open(str(f), framework="pt") as fh:
            return (fh.metadata() or {}).get("checkpoint")
    return torch.load(f, map_location="cpu", weights_only=True).get("checkpoint")


def checkpoint_files(path: str | os.PathLike) -> tuple[Path, Path | None] | None:
    """The newest complete (model, state) pair under ``path``: the current files when their tokens
    match, else the previous pair (a save interrupted between its renames); None when there is
    no model file. The state is None for a model saved without one."""
    path = Path(path)
    models_ = [f for f in (path / "model.safetensors", path / "model.safetensors.prev") if f.exists()]
    states = [f for f in (path / "state.pt", path / "state.pt.prev") if f.exists()]
    if not models_:
        return None
    if not states:
        return models_[0], None
    tokens = {}
    for m in models_:
        for s in states:
            tm = tokens.setdefault(m, _token(m, "model"))
            ts = tokens.setdefault(s, _token(s, "state"))
            if tm == ts:
                return m, s
    raise ValueError(f"the checkpoint at {path} is inconsistent (its model and state files belong to different "
                     "saves): delete the folder to train afresh")


def load_checkpoint(model: ColorizationModel, path: str | os.PathLike, device: torch.device | str = "cpu",
                    restore_rng: bool = False) -> TrainResult | None:
    """Load weights (and optimiser state, if saved) into ``model`` from the newest complete pair
    (:func:`checkpoint_files`); returns the saved result. ``restore_rng``: also restore the random
    generators' states saved with it (resuming a training)."""
    path = Path(path)
    found = checkpoint_files(path)
    if found is None:
        raise FileNotFoundError(f"no checkpoint at {path} (expected model.safetensors there)")
    model_file, state_file = found
    load_model(model, str(model_file), device=str(device))
    if state_file is None:
        return None
    state = torch.load(state_file, map_location=device, weights_only=True)
    if state.get("key") not in (None, model.card.key):
        raise ValueError(f"checkpoint at {path} is for {state['key']!r}, not {model.card.key!r}")
    for name, sd in state.get("optimizers", {}).items():
        if name in model.optimizers:
            model.optimizers[name].load_state_dict(sd)
    rng = state.get("rng") or {}
    if restore_rng and "cpu" in rng:
        torch.set_rng_state(rng["cpu"].cpu())
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"].cpu())
    r = state.get("result")
    return TrainResult(**r) if r else None


def train(
    model: ColorizationModel,
    data,
    *,
    steps: int | None = 200,
    seconds: float | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    seed: int = 0,
    log_every: int = 10,
    amp: bool | None = None,
    channels_last: bool | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 500,
    resume: bool = True,
    progress: bool = True,
    statistics_batches: int = 8,
    compile: bool = False,
    lr_schedule: str | None = "cosine",
    sync_bn: bool = False,
) -> TrainResult:
    """Train ``model`` on ``data`` (a :class:`~colorsurvey.data.base.ColorDataset`).

    Stops after ``steps`` steps or ``seconds`` seconds, whichever comes first (at least one
    must be given). Returns a :class:`TrainResult` with the loss history and throughput.

    ``lr_schedule="cosine"`` (with a step budget) decays every optimiser's learning rate from
    its initial value to 5 % of it along a half cosine: short budgets end better converged.

    ``checkpoint``: a folder; every ``checkpoint_every`` steps and at the end the model, the
    optimisers, the result and the random generators are saved there (:func:`save_checkpoint`:
    an interruption never leaves a half-written checkpoint to read); ``resume`` continues from
    what is there, exactly as the uninterrupted run would have gone on.

    Under ``torch.distributed`` (torchrun; :mod:`colorsurvey.distributed`) each process trains on
    its share of every global batch of ``batch_size``, the gradients of every optimiser are
    averaged over the processes, rank 0 alone writes checkpoints and shows progress;
    ``sync_bn`` turns BatchNorm into SyncBatchNorm (CUDA only).
    """
    from . import distributed as D

    if lr_schedule not in (None, "cosine"):
        raise ValueError(f"lr_schedule must be 'cosine' or None, not {lr_schedule!r}")
    if steps is None and seconds is None:
        raise ValueError("give a step budget (steps=...) or a time budget (seconds=...)")
    device = pick_device(str(device) if device is not None else None)
    on_cuda = device.type == "cuda"
    amp = on_cuda if amp is None else amp
    channels_last = on_cuda if channels_last is None else channels_last
    rank, n_proc = D.world()
    seed_everything(seed)
    model.to(device)
    if sync_bn and n_proc > 1:
        D.convert_sync_batchnorm(model, device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()

    result = TrainResult(device=str(device))
    if statistics_batches:
        # before any checkpoint is loaded: saved statistics then overwrite these, and statistics a
        # method keeps out of its state dict (to match official weights) are measured afresh
        fit_statistics(model, data, batch_size, seed, device, statistics_batches)
    if checkpoint is not None and resume and checkpoint_files(checkpoint) is not None:
        result = load_checkpoint(model, checkpoint, device, restore_rng=True) or result
        result.device = str(device)
    sync = None
    if n_proc > 1:
        D.broadcast_state(model)                 # every rank starts from rank 0's weights and state
        result = TrainResult(**D.broadcast_training_state(model, result.as_dict()))
        torch.manual_seed(seed * 1_000_003 + 7_919 * rank + result.step)   # ranks draw apart (dropout, hints)
        sync = D.GradientSync(model).attach()
    progress = progress and rank == 0
    writes = checkpoint is not None and rank == 0

    if not model.needs_fit():
        if sync is not None:
            sync.detach()
        return result
    step_fn = torch.compile(model.training_step) if compile else model.training_step
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16) if amp
                else contextlib.nullcontext())

    total = steps if steps is not None else None
    bar = tqdm(total=total, initial=result.step, desc=f"train {model.card.key}", disable=not progress,
               dynamic_ncols=True, leave=True)
    pending: list[dict] = []
    t0 = time.perf_counter()
    start_step = result.step
    step = result.step
    try:
        while True:
            if steps is not None and step >= steps:
                break
            if seconds is not None and D.agree(time.perf_counter() - t0 >= seconds):
                break
            idx = D.shard_indices(data.random_indices(batch_size, step=step, seed=seed))
            batch = _to_device(data.batch(idx), device, channels_last)
            if lr_schedule == "cosine" and steps:
                _set_lr_factor(model, 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
            with autocast:
                logs = step_fn(batch)
            if sync is not None:
                sync.check()
            pending.append(logs)
            step += 1
            result.images += batch_size
            if step % log_every == 0 or (steps is not None and step == steps):
                _flush(pending, result, step)
                pending = []
                if result.history:
                    bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in result.history.items()}, refresh=False)
            bar.update(1)
            if writes and step % checkpoint_every == 0:
                result.step = step
                save_checkpoint(model, checkpoint, result)
    finally:
        bar.close()
        if sync is not None:
            sync.detach()
    if pending:
        _flush(pending, result, step)
    if on_cuda:
        torch.cuda.synchronize()
    result.seconds += time.perf_counter() - t0
    result.step = step
    if writes and step > start_step:
        save_checkpoint(model, checkpoint, result)
    D.barrier()
    model.eval()
    return result


def fit_statistics(model: ColorizationModel, data, batch_size: int, seed: int, device, batches: int = 8) -> None:
    """``model.fit_statistics`` on ``batches`` training batches fixed by ``seed`` (steps -1, -2, ...,
    never drawn by training), as :func:`train` does before it loads a checkpoint."""
    model.fit_statistics(data.random_batch(batch_size, step=-1 - i, seed=seed, device=device)
                         for i in range(batches))


def _set_lr_factor(model: ColorizationModel, factor: float) -> None:
    """Scale every optimiser's learning rate to ``factor`` x its initial value (once they exist:
    methods create their optimisers lazily, on the first step)."""
    for opt in (model._optimizers or {}).values():
        for g in opt.param_groups:
            g.setdefault("initial_lr", g["lr"])
            g["lr"] = g["initial_lr"] * factor


def _flush(pending: list[dict], result: TrainResult, step: int) -> None:
    """Average the logged values of the last few steps (this is where the host syncs)."""
    from .distributed import average_logs

    keys = {k for logs in pending for k in logs}
    if not keys:
        return
    result.steps.append(step)
    means = {k: sum(v) / len(v) for k in keys for v in [[float(logs[k]) for logs in pending if k in logs]]}
    for k, v in sorted(average_logs(means).items()):
        if v != v:  # NaN
            raise FloatingPointError(f"loss {k!r} became NaN at step {step}")
        result.history.setdefault(k, []).append(v)
