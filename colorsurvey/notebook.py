"""What every notebook chapter does first and often: resolve its parameters, pick the device,
open the data, and train + evaluate a method under the profile's budget.

>>> ch = setup(name="01_plain_networks")            # doctest: +SKIP
>>> run = ch.fit("unet")                             # doctest: +SKIP
>>> run.metrics.psnr.mean()                          # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from . import models
from .profiles import Profile, from_environment
from .runs import RunStore
from .train import TrainResult, pick_device

__all__ = ["Chapter", "MethodRun", "setup", "describe"]

REPO = Path(__file__).resolve().parent.parent


@dataclass
class MethodRun:
    """A trained method with its loss history and its per-image test metrics."""

    key: str
    model: models.ColorizationModel
    result: TrainResult
    metrics: pd.DataFrame
    eval_seconds: float = 0.0

    def summary(self) -> dict:
        m = self.metrics.mean(numeric_only=True)
        return {"method": self.key, "size": self.model.size_name,
                "parameters": models.count_parameters(self.model),
                "steps": self.result.step, "train s": round(self.result.seconds, 1),
                "train img/s": round(self.result.images_per_second, 1),
                **{k: round(float(m[k]), 4) for k in ("psnr", "ssim", "chroma_psnr") if k in m}}


@dataclass
class Chapter:
    """A notebook's resolved settings, data and output folder."""

    name: str
    profile: Profile
    data: str
    device: torch.device
    out: Path
    train: object
    test: object
    seed: int = 0
    runs: dict[str, MethodRun] = field(default_factory=dict)
    store: RunStore = field(default_factory=RunStore)

    def path(self, filename: str) -> Path:
        """A file in this chapter's output folder (figures, tables)."""
        p = self.out / filename
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def fit(self, key: str, size: str | None = None, steps: int | None = None, batch_size: int | None = None,
            seed: int | None = None, evaluate_after: bool = True, train_set=None, test_set=None,
            **overrides) -> MethodRun:
        """Build ``key`` at the profile's size, train it under the profile's budget, evaluate it —
        or load the run and its scores from the run store (``self.store``, shared with the other
        chapters, notebook 08 and ``colorsurvey benchmark``) when the same method, size,
        profile, seed, overrides, data and code were trained before.

        Exemplar-based methods get the training split as their pool of reference images, methods
        with a category input its number of categories. ``train_set``/``test_set`` replace the
        chapter's splits for this run (e.g. multi-object scenes)."""
        seed = self.seed if seed is None else seed
        train_set = self.train if train_set is None else train_set
        test_set = self.test if test_set is None else test_set
        references = overrides.pop("references", train_set)   # exemplar methods draw references from the data
        run = self.store.fit(key, train_set, profile=self.profile, size=size, steps=steps, batch_size=batch_size,
                             seed=seed, device=self.device, references=references, **overrides)
        metrics = pd.DataFrame()
        dt = 0.0
        if evaluate_after:
            t = time.perf_counter()
            metrics = self.store.scores(run, test_set, limit=self.profile.eval_images, label="chapter",
                                        device=self.device)
            dt = time.perf_counter() - t
        mrun = MethodRun(key, run.model, run.result, metrics, dt)
        self.runs[key] = mrun
        return mrun

    def test_batch(self, n: int = 8, start: int = 0) -> dict:
        """``n`` test images spread over the categories (index i, i + step, ...)."""
        step = max(1, len(self.test) // n)
        idx = [(start + i * step) % len(self.test) for i in range(n)]
        return self.test.batch(idx, device=self.device)


def setup(profile: str | None = None, data: str | None = None, output_dir: str | None = None,
          name: str = "notebook", seed: int = 0, verbose: bool = True, runs: str | None = None,
          retrain: bool | None = None) -> Chapter:
    """Resolve a notebook's parameters (argument, else environment, else hardware default),
    open the train and test splits at the profile's resolution, and make the output folder.
    ``runs``: the run store's folder (default ``$COLORSURVEY_RUNS`` or ``output/runs``);
    ``retrain``: train afresh instead of loading stored runs (default ``$COLORSURVEY_RETRAIN``)."""
    from .data import open_dataset

    P, data = from_environment(profile, data)
    device = pick_device(P.device)
    out = Path(output_dir) if output_dir else REPO / "output" / "interactive" / name
    out.mkdir(parents=True, exist_ok=True)
    kw = {"n": P.train_images} if data == "synthetic" else {}
    train_set = open_dataset(data, split="train", size=P.resolution, **kw)
    kw = {"n": P.eval_images} if data == "synthetic" else {}
    test_set = open_dataset(data, split="test", size=P.resolution, **kw)
    torch.manual_seed(seed)
    store = RunStore(runs, retrain=retrain, verbose=verbose)
    if verbose:
        threads = torch.get_num_threads()
        print(f"profile {P.name}: model size {P.size!r}, {P.resolution}x{P.resolution}, {P.steps} steps "
              f"of {P.batch_size}; data {data!r}: {len(train_set)} train / {len(test_set)} test images; "
              f"device {device} ({threads} CPU threads); output {out}")
        print(f"trained runs are kept in {store.root} and reused; set COLORSURVEY_RETRAIN=1 to train afresh")
    return Chapter(name, P, data, device, out, train_set, test_set, seed, store=store)



def describe(model: models.ColorizationModel, size: int = 256) -> pd.DataFrame:
    """Architecture summary: parameters per top-level block (and whether they train: "yes",
    "frozen", or how many do; "training only" marks the blocks ``colorize`` never uses, such as a
    discriminator), and the total with GFLOPs at ``size`` x ``size`` (counted on the CPU by
    :func:`colorsurvey.evaluate.count_gflops`)."""
    from .evaluate import count_gflops

    def row(name, mod):
        n, t = models.count_parameters(mod), models.count_parameters(mod, trainable_only=True)
        return {"block": name, "type": type(mod).__name__, "parameters": n,
                "trainable": "frozen" if n and not t else ("yes" if t == n else f"{t:,}")}

    only = set(getattr(model, "training_only", ()))
    rows = [{**row(name, mod), "training only": "yes" if name in only else ""}
            for name, mod in model.named_children()]
    n_only = models.count_parameters(model, part="training_only")
    rows.append({**row("total", model), "training only": f"{n_only:,}" if n_only else "",
                 f"GFLOPs@{size}": round(count_gflops(model, size), 3)})
    return pd.DataFrame(rows).set_index("block")
