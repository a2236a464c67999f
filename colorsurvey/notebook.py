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
from .runs import Run, RunStore
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
    run: Run | None = None   # the run store's record (its folder), for scores kept beside it

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
        mrun = MethodRun(key, run.model, run.result, metrics, dt, run)
        self.runs[key] = mrun
        return mrun

    def try_your_photo(self, keys, photo=None, work_size: int | None = None, save: str | None = None, **conditions):
        """"Try it on your own photo": colourise one photo with each trained method of ``keys``
        (trained or loaded through :meth:`fit`), at the photo's full resolution (ab predicted at
        ``work_size``, default twice the profile's resolution; :func:`colorsurvey.photos.colorize_photo`,
        the code behind ``colorsurvey colorize``), and show the gray input beside each result.

        ``photo``: a path to any image file, an uploaded file's bytes, or None — then the
        environment variable ``COLORSURVEY_PHOTO``, else a rendered test image (so the cell runs
        anywhere). Conditions a method needs (hints, a reference, a caption, a seed...) are
        simulated from the photo itself, as in evaluation, unless given as keyword arguments (text-based
        methods read ``caption="a red apple"``; without one, "a photo").
        Returns {label: uint8 (H, W, 3)}. Raises :class:`colorsurvey.data.real.ImageReadError`
        for an unreadable file, naming it.
        """
        import io
        import os

        import matplotlib.pyplot as plt
        import numpy as np
        from PIL import Image

        from .data.real import load_image
        from .photos import colorize_photo, photo_batch, resize, work_shape

        keys = [keys] if isinstance(keys, str) else list(keys)
        photo = photo if photo is not None else os.environ.get("COLORSURVEY_PHOTO") or None
        if photo is None:
            rgb8 = (self.test.batch([0])["rgb"][0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
            source = "a rendered test image (set COLORSURVEY_PHOTO or pass photo=... for your own)"
        elif isinstance(photo, (bytes, bytearray)):
            with Image.open(io.BytesIO(photo)) as im:
                rgb8 = np.asarray(im.convert("RGB"))
            source = "the uploaded photo"
        else:
            rgb8, source = load_image(photo), str(photo)
        work = work_size or 2 * self.profile.resolution
        small = resize(rgb8, work_shape(*rgb8.shape[:2], work))
        gray = np.repeat(np.asarray(Image.fromarray(rgb8).convert("L"))[..., None], 3, axis=2)
        out = {"gray input": gray}
        for key in keys:
            model = (self.runs[key].model if key in self.runs else self.fit(key, evaluate_after=False).model).eval()
            caption = conditions.get("caption") or "a photo"   # text-based methods: describe it with caption="..."
            cond = dict(conditions) or model.conditions_from_batch(photo_batch(small, device=self.device, caption=caption))
            out[key] = colorize_photo(model, rgb8, work_size=work, conditions=cond)
        fig, axes = plt.subplots(1, len(out), figsize=(3.2 * len(out), 3.4), squeeze=False)
        for ax, (label, img) in zip(axes[0], out.items()):
            ax.imshow(img)
            ax.set_title(label, fontsize=9)
            ax.axis("off")
        fig.suptitle(f"{source}: {rgb8.shape[1]}x{rgb8.shape[0]} px, ab predicted at {work} px", fontsize=9)
        fig.tight_layout()
        if save:
            fig.savefig(self.path(save), dpi=110)
        plt.show()
        return out

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
