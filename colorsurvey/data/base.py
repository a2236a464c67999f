"""What every data source provides: a sized, indexable set of images rendered or read in batches.

A *batch* is a dict:

=============  =====================  ==============================================
key            shape / type           meaning
=============  =====================  ==============================================
``rgb``        (B, 3, H, W) float     sRGB in [0, 1]
``L``          (B, 1, H, W) float     CIE L, 0..100 (added by :func:`add_lab`)
``ab``         (B, 2, H, W) float     CIE a, b in Lab units (added by :func:`add_lab`)
``label``      (B,) long              category index into ``dataset.categories``
``mask``       (B, 1, H, W) float     object mask, 1 on the object(s)
``depth``      (B, 1, H, W) float     height field in [0, 1] (rendered data only)
``box``        (B, 4) float           object box x0, y0, x1, y1, normalised to [0, 1]
``caption``    list[str]              e.g. "a ripe yellow banana"
``palette``    (B, 5, 3) float        five dominant colours, sRGB [0, 1]
``index``      (B,) long              the samples' indices in the dataset
=============  =====================  ==============================================

Rendered data carries every key; real images carry all but ``depth``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Iterator, Sequence

import torch

from ..color import split_lab

__all__ = ["ColorDataset", "add_lab"]


def add_lab(batch: dict) -> dict:
    """Add ``L`` and ``ab`` (Lab units) computed from ``rgb``; returns the same dict."""
    L, ab = split_lab(batch["rgb"].float())
    batch["L"], batch["ab"] = L, ab
    return batch


class ColorDataset:
    """Base class: subclasses implement ``__len__`` and ``_load(indices, device)``."""

    categories: list[str] = []
    size: int = 64
    name: str = "dataset"

    def __len__(self) -> int:  # pragma: no cover
        raise NotImplementedError

    def _load(self, indices: torch.Tensor, device: torch.device) -> dict:  # pragma: no cover
        raise NotImplementedError

    # -- public API ----------------------------------------------------------------------
    def batch(self, indices: Sequence[int] | torch.Tensor, device: str | torch.device | None = None) -> dict:
        """The samples at ``indices`` as one batch on ``device`` (default CPU), with L and ab."""
        idx = torch.as_tensor(indices, dtype=torch.long).flatten().cpu()
        if idx.numel() == 0:
            raise ValueError("batch() needs at least one index")
        n = len(self)
        if int(idx.min()) < 0 or int(idx.max()) >= n:
            raise IndexError(f"index out of range for {self.name} of {n} images: {idx.tolist()[:8]}")
        b = self._load(idx, torch.device(device) if device is not None else torch.device("cpu"))
        b["index"] = idx.to(b["rgb"].device)
        return add_lab(b)

    def __getitem__(self, i: int) -> dict:
        """One sample (batch dimension removed)."""
        b = self.batch([i])
        return {k: (v[0] if isinstance(v, (torch.Tensor, list)) else v) for k, v in b.items()}

    def random_indices(self, batch_size: int, step: int = 0, seed: int = 0) -> torch.Tensor:
        """The indices (batch_size,) of :meth:`random_batch` for (seed, step), on the CPU: a
        data-parallel rank takes its share of them (:mod:`colorsurvey.distributed`)."""
        g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) % (2 ** 63))
        return torch.randint(0, len(self), (batch_size,), generator=g)

    def random_batch(self, batch_size: int, step: int = 0, seed: int = 0,
                     device: str | torch.device | None = None) -> dict:
        """A batch of random samples, fixed by (seed, step): training is repeatable and resumable."""
        return self.batch(self.random_indices(batch_size, step, seed), device)

    def iterate(self, batch_size: int, device: str | torch.device | None = None,
                limit: int | None = None) -> Iterator[dict]:
        """All samples (or the first ``limit``) in order, in batches: for evaluation."""
        n = len(self) if limit is None else min(limit, len(self))
        for s in range(0, n, batch_size):
            yield self.batch(torch.arange(s, min(s + batch_size, n)), device)

    def labels(self) -> torch.Tensor:
        """Category index of every sample, without loading images (subclasses may override)."""
        return torch.cat([b["label"].cpu() for b in self.iterate(64)])

    # -- identity (what a trained run or a stored score was computed on) ---------------------
    def identity(self) -> dict:
        """What makes this data set *this* data set, as a JSON-able dict: its class, a hash of
        the source file that defines it (so a changed renderer or reader is a different set) and
        :meth:`identity_params`. Two sets with the same ``name`` but other contents differ here;
        :mod:`colorsurvey.runs` keys trained runs and stored metrics by it."""
        cls = type(self)
        src = getattr(sys.modules.get(cls.__module__), "__file__", None)
        code = hashlib.sha256(Path(src).read_bytes()).hexdigest()[:16] if src else "unknown"
        return {"class": f"{cls.__module__}.{cls.__qualname__}", "code": code, **self.identity_params()}

    def identity_params(self) -> dict:
        """The parameters that fix the contents (subclasses override with cheaper, exact ones).
        Default: name, length, size, categories and a sha256 of four evenly spaced samples' pixels."""
        n = len(self)
        idx = sorted({int(i * (n - 1) / 3) for i in range(4)}) if n else []
        h = hashlib.sha256()
        if idx:
            h.update(self.batch(idx)["rgb"].float().cpu().numpy().tobytes())
        return {"name": self.name, "n": n, "size": int(self.size), "categories": list(self.categories),
                "samples_sha256": h.hexdigest()[:16]}

    def identity_hash(self) -> str:
        """A short hash of :meth:`identity`."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True, default=str).encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, n={len(self)}, size={self.size}, categories={len(self.categories)})"
