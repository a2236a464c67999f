"""``colorsurvey train``: train one method and keep it as a run (resumable, data-parallel under torchrun).

    colorsurvey train --method unet --data PATH --profile cpu [--steps N] [--size small] [--seed 0]
    torchrun --nproc_per_node 2 -m colorsurvey train --method colorful --data ncd --profile brief
"""

from __future__ import annotations

import time
from pathlib import Path

HELP = "train one method on synthetic, ncd or a folder; keep it as a run (resumable; torchrun for many GPUs)"


def add_parser(sub) -> None:
    s = sub.add_parser("train", help=HELP, description=__doc__,
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    s.add_argument("--method", required=True, help="a method key (colorsurvey list)")
    s.add_argument("--data", default="synthetic",
                   help="synthetic (rendered), ncd (its train split) or a folder of images (all of it)")
    s.add_argument("--profile", default=None, help="smoke, cpu, brief or paper (default: by hardware)")
    s.add_argument("--steps", type=int, default=None, help="training steps (default: the profile's)")
    s.add_argument("--size", default=None, help="the model's size preset: smoke, small, paper (default: the profile's)")
    s.add_argument("--resolution", type=int, default=None, help="training image side in px (default: the profile's)")
    s.add_argument("--batch-size", type=int, default=None,
                   help="the global batch (split over the processes under torchrun; default: the profile's)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default=None, help="the run's folder (default: its name in the run store)")
    s.add_argument("--runs", default=None, help="the run store (default: $COLORSURVEY_RUNS or output/runs)")
    s.add_argument("--checkpoint-every", type=int, default=100, metavar="N",
                   help="save a checkpoint every N steps (atomically; default 100)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue an interrupted training from its last checkpoint")
    g.add_argument("--restart", action="store_true", help="discard an interrupted training and start again")
    s.add_argument("--retrain", action="store_true", help="train afresh even if the run is already finished")
    s.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across the processes (torchrun, CUDA)")
    s.add_argument("--device", default=None)
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(fn=run)


def open_training_data(data: str, resolution: int, profile, progress: bool | None = None):
    """The training set ``data`` names: the rendered set's train split (the profile's number of
    images), NCD's train split, or every image of a folder."""
    from ..data import open_dataset

    low = str(data).lower()
    if low == "synthetic":
        return open_dataset("synthetic", split="train", size=resolution, n=profile.train_images)
    if low == "ncd":
        return open_dataset("ncd", split="train", size=resolution)
    if not Path(data).expanduser().exists():
        raise FileNotFoundError(f"no such data folder: {data}. Give synthetic, ncd or an existing folder of images")
    return open_dataset(data, split="all", size=resolution, progress=progress)


def _checkpoint_step(partial: Path) -> int | None:
    import torch

    from ..train import checkpoint_files

    found = checkpoint_files(partial) if partial.is_dir() else None
    if found is None or found[1] is None:
        return None
    state = torch.load(found[1], map_location="cpu", weights_only=True)
    return int((state.get("result") or {}).get("step", 0))


def run(args) -> int:
    from .. import distributed as D
    from .. import models
    from ..profiles import get_profile
    from ..runs import RunStore

    if args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be a positive number of steps, got {args.checkpoint_every}")
    models.get_class(args.method)                     # an unknown key: one line listing the known ones
    P = get_profile(args.profile)
    dev = D.init_from_environment(args.device)
    device = dev if dev is not None else args.device
    rank, n_proc = D.world()
    say = print if rank == 0 else (lambda *a, **k: None)
    resolution = args.resolution or P.resolution
    steps, batch_size = args.steps or P.steps, args.batch_size or P.batch_size
    if steps < 1 or batch_size < 1:
        raise ValueError("--steps and --batch-size must be positive")
    if batch_size % n_proc:
        raise ValueError(f"--batch-size {batch_size} does not divide among {n_proc} processes: give a multiple of "
                         f"{n_proc} (it is the global batch)")
    with D.rank_zero_first():                         # rank 0 reads (verifies, caches) the folder first
        train_set = open_training_data(args.data, resolution, P, progress=None if not args.quiet else False)
    store = RunStore(args.runs, retrain={args.method} if args.retrain else False, verbose=rank == 0)
    size = args.size or P.size
    refs = train_set if models.accepts(args.method, "references") else None
    spec = store.spec(args.method, train_set, profile=P, size=size, seed=args.seed, steps=steps,
                      batch_size=batch_size, references=refs)
    path = Path(args.out).expanduser().absolute() if args.out else store.path(spec)
    partial = store.partial_path(path)
    done = (store.find(spec) if not args.out else store._find_at(path, spec)) is not None and not args.retrain
    if not done:
        at = _checkpoint_step(partial)
        if partial.exists() and not (args.resume or args.restart):
            where = f" (last checkpoint: step {at} of {steps})" if at is not None else ""
            raise RuntimeError(f"an interrupted training of this run is in {partial}{where}: add --resume to continue "
                               "it, or --restart to discard it and start again")
        if args.resume:
            say(f"resuming from step {at} of {steps}, checkpoint in {partial}" if at is not None
                else f"nothing to resume in {partial}: training from the start", flush=True)
    t0 = time.perf_counter()
    r = store.fit(args.method, train_set, profile=P, size=size, steps=steps, batch_size=batch_size,
                  seed=args.seed, device=device, progress=not args.quiet, references=refs, out=args.out,
                  checkpoint_every=args.checkpoint_every, resume=not args.restart, sync_bn=args.sync_bn,
                  source=str(Path(args.data).expanduser().absolute()) if Path(args.data).expanduser().exists()
                  else args.data)
    if r.trained:
        procs = f" on {n_proc} processes" if n_proc > 1 else ""
        say(f"trained {args.method} ({size}, {resolution}x{resolution}) for {r.result.step} steps of {batch_size}"
            f"{procs} in {time.perf_counter() - t0:.0f} s ({r.result.images_per_second:.1f} images/s)")
    say(f"run: {r.path}\n  load it with colorsurvey.load({str(r.path)!r}); score it with "
        f"colorsurvey evaluate --run {r.path} --data PATH")
    return 0
