"""MemoPainter's few-shot experiment in miniature (Yoo et al., CVPR 2019; survey §2.5.6): train
on ~10 images of one category and compare with the ``unet`` baseline trained on the same 10,
both scored on other images of that category."""

from __future__ import annotations

import pandas as pd

from ..data.subset import CategorySubset

__all__ = ["few_shot"]


def few_shot(ch, category=None, n: int = 10, methods=("memopainter", "unet"), test_n: int = 20,
             steps: int | None = None) -> dict:
    """Train each of ``methods`` through ``ch.fit`` (the run store) on the first ``n`` training
    images of ``category`` (None: the training split's most frequent category) and score them on
    up to ``test_n`` test images of that category. ``steps``: training steps per method (default
    a quarter of the profile's, at least one: ten images are seen many times over in that
    budget, e.g. 100 steps of 8 in ``cpu`` are 80 passes). Returns ``{"category", "train", "test",
    "runs": {key: MethodRun}, "table": DataFrame}`` (mean PSNR, SSIM, ab-PSNR, colourfulness and,
    for methods that sample, best-of-N PSNR and diversity)."""
    if category is None:
        category = int(ch.train.labels().bincount().argmax())
    train = CategorySubset(ch.train, category, n)
    test = CategorySubset(ch.test, category, test_n)
    steps = max(1, ch.profile.steps // 4) if steps is None else int(steps)
    runs = {k: ch.fit(k, train_set=train, test_set=test, steps=steps) for k in methods}
    cols = ["psnr", "ssim", "chroma_psnr", "colorfulness", "best_psnr", "diversity"]
    table = pd.DataFrame({k: r.metrics.mean(numeric_only=True).reindex(cols) for k, r in runs.items()}).T
    table.insert(0, "train images", len(train))
    return {"category": train.categories[train.label], "train": train, "test": test, "runs": runs, "table": table,
            "steps": steps}
