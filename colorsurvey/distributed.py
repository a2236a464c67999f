"""Data-parallel training over several processes: ``torchrun --nproc_per_node N -m colorsurvey train ...``.

What :func:`colorsurvey.train.train` does when ``torch.distributed`` is initialised (by
:func:`init_from_environment`, from the variables torchrun and cluster launchers set —
``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``):

* **its own share of the data**: step *i*'s global batch is the one a single process would draw
  (:meth:`~colorsurvey.data.base.ColorDataset.random_indices`, fixed by (seed, i)); rank *r* of
  *N* takes the *r*-th of *N* equal slices of it, so the ranks see disjoint samples and together
  exactly the one-process batch (``batch_size`` is the global batch; it must divide by *N*);
* **every network the method optimises is synchronised**: the methods own their optimisers and
  call their networks in their own ways (a GAN calls its discriminator twice per step and on
  detached inputs, a two-stage method switches optimisers), which
  :class:`torch.nn.parallel.DistributedDataParallel`'s reducer — one forward through the
  wrapper per backward — cannot follow without rewriting each method. So the all-reduce DDP
  performs is done where every method's update goes through: a pre-hook on each optimiser's
  ``step`` (:meth:`torch.optim.Optimizer.register_step_pre_hook`) averages that optimiser's
  gradients over the ranks with ``torch.distributed.all_reduce`` (one coalesced buffer per
  dtype, as DDP's buckets), before the update. Every optimiser is hooked, those the method
  creates later (lazily, or for a second stage) included; buffers (BatchNorm running statistics)
  are broadcast from rank 0 after each step, as DDP's ``broadcast_buffers`` does;
* parameters and buffers start equal: broadcast from rank 0 after the training statistics and
  any checkpoint are loaded;
* ``sync_bn``: BatchNorm layers become :class:`torch.nn.SyncBatchNorm` (statistics over the
  global batch; PyTorch supports it on CUDA only);
* rank 0 alone writes checkpoints and the run and shows progress; logged losses are averaged
  over the ranks.

With the same global batch, a method without BatchNorm (or with ``sync_bn``) takes the same
steps as one process, up to the order of floating-point sums.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

__all__ = ["world", "is_main", "init_from_environment", "barrier", "shard_indices", "GradientSync",
           "convert_sync_batchnorm", "broadcast_state", "broadcast_training_state", "agree", "average_logs",
           "rank_zero_first"]


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process writes files and shows progress (rank 0, or no process group)."""
    return world()[0] == 0


def init_from_environment(device: str | None = None) -> torch.device | None:
    """Join the process group that torchrun (or a scheduler) describes in the environment.

    Returns the device this rank trains on (``cuda:LOCAL_RANK`` with the NCCL backend when CUDA
    is available and ``device`` does not ask for the CPU, else the CPU with gloo), or None when
    the environment describes a single process (no ``WORLD_SIZE`` above 1). Raises
    RuntimeError naming the missing variable when the description is incomplete."""
    n = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if n <= 1:
        return None
    for var in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise RuntimeError(f"WORLD_SIZE={n} but {var} is not set: start the processes with torchrun "
                               "(torchrun --nproc_per_node N -m colorsurvey train ...), which sets it")
    local = int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if use_cuda:
        dev = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    else:
        dev = torch.device(device or "cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return dev


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def shard_indices(indices: torch.Tensor) -> torch.Tensor:
    """This rank's slice of a global batch's indices (rank r of N: the r-th of N equal slices)."""
    rank, n = world()
    if n == 1:
        return indices
    if len(indices) % n:
        raise ValueError(f"the batch size {len(indices)} does not divide among {n} processes: use a multiple "
                         f"of {n} (the batch size is the global batch, split over the processes)")
    per = len(indices) // n
    return indices[rank * per:(rank + 1) * per]


def _tensors_by_kind(tensors):
    groups: dict[tuple, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    return groups.values()


def _all_reduce_mean(tensors: list[torch.Tensor]) -> None:
    """Average ``tensors`` over the ranks in place, one coalesced all-reduce per (device, dtype)."""
    n = world()[1]
    for group in _tensors_by_kind(tensors):
        flat = _flatten_dense_tensors(group)
        dist.all_reduce(flat)
        flat.div_(n)
        for t, r in zip(group, _unflatten_dense_tensors(flat, group)):
            t.copy_(r)


def broadcast_state(model: torch.nn.Module, buffers_only: bool = False) -> None:
    """Copy rank 0's parameters (unless ``buffers_only``) and floating/integer buffers to every rank."""
    if world()[1] == 1:
        return
    tensors = [] if buffers_only else [p.data for p in model.parameters()]
    tensors += [b for b in model.buffers()]
    for group in _tensors_by_kind(tensors):
        flat = _flatten_dense_tensors(group)
        dist.broadcast(flat, 0)
        for t, r in zip(group, _unflatten_dense_tensors(flat, group)):
            t.copy_(r)


class GradientSync:
    """Average every optimiser's gradients over the ranks before it steps (see the module docstring).

    ``attach()`` hooks the model's optimisers that exist and those its ``configure_optimizers``
    creates later; ``check()`` (after each step) hooks any optimiser made another way and then
    re-broadcasts rank 0's weights, so the ranks never drift apart; ``detach()`` undoes it all."""

    def __init__(self, model):
        self.model = model
        self.handles = []
        self.hooked: set[int] = set()

    def _hook(self, opt: torch.optim.Optimizer) -> bool:
        if id(opt) in self.hooked:
            return False
        self.hooked.add(id(opt))
        self.handles.append(opt.register_step_pre_hook(self._before_step))
        return True

    @staticmethod
    def _before_step(opt, args, kwargs) -> None:
        params = [p for g in opt.param_groups for p in g["params"] if p.requires_grad]
        if not params:
            return
        dev = params[0].device
        has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=dev)
        dist.all_reduce(has)            # a rank without a gradient for p takes part with zeros
        grads = []
        for p, h in zip(params, has.tolist()):
            if h == 0:
                continue
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        if grads:
            _all_reduce_mean(grads)

    def attach(self) -> "GradientSync":
        model = self.model
        for opt in (model._optimizers or {}).values():
            self._hook(opt)
        original = model.configure_optimizers

        def configure_optimizers():
            opts = original()
            for o in opts.values():
                self._hook(o)
            return opts

        model.configure_optimizers = configure_optimizers        # on the instance: detach() removes it
        return self

    def check(self) -> None:
        """After a step: hook optimisers made outside ``configure_optimizers`` (their first step
        was not averaged: rank 0's weights are broadcast), and broadcast the buffers."""
        new = [self._hook(o) for o in (self.model._optimizers or {}).values()]
        broadcast_state(self.model, buffers_only=not any(new))

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()
        self.hooked.clear()
        self.model.__dict__.pop("configure_optimizers", None)


def convert_sync_batchnorm(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Turn the model's BatchNorm layers into :class:`torch.nn.SyncBatchNorm` in place (weights and
    running statistics kept). SyncBatchNorm computes its statistics on CUDA devices only, so a
    CPU ``device`` is a ValueError saying so."""
    if device.type != "cuda":
        raise ValueError("--sync-bn needs CUDA devices (PyTorch's SyncBatchNorm computes its statistics on GPUs "
                         "only); drop it to train on CPUs, each process then normalises over its own share")
    for name, child in list(model.named_children()):
        setattr(model, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return model


def broadcast_training_state(model, result: dict) -> dict:
    """Rank 0's training state to every rank: its optimisers' states are loaded into this rank's
    (so a run resumed from rank 0's checkpoint goes on alike everywhere, shared folder or not)
    and its result (step, history, ...) is returned."""
    if world()[1] == 1:
        return result
    obj = [None]
    if is_main():
        opts = {k: _to_cpu(o.state_dict()) for k, o in (model._optimizers or {}).items()}
        obj = [{"result": result, "optimizers": opts}]
    dist.broadcast_object_list(obj, src=0, device=_comm_device())
    if not is_main():
        for name, sd in obj[0]["optimizers"].items():
            model.optimizers[name].load_state_dict(sd)
    return obj[0]["result"]


def agree(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (e.g. "the time budget is spent": all stop at the same step)."""
    if world()[1] == 1:
        return flag
    t = torch.tensor([float(flag)], device=_comm_device())
    dist.broadcast(t, 0)
    return bool(t.item())


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def average_logs(values: dict[str, float]) -> dict[str, float]:
    """The logged values averaged over the ranks (every rank must log the same keys)."""
    if world()[1] == 1 or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    t /= world()[1]
    return dict(zip(keys, t.cpu().tolist()))


@contextmanager
def rank_zero_first():
    """Rank 0 runs the block first (e.g. creating a cache), the others after it."""
    rank, n = world()
    if n > 1 and rank != 0:
        dist.barrier()
    try:
        yield
    finally:
        if n > 1 and rank == 0:
            dist.barrier()
