"""Part of a data set: any images of it (:class:`Subset`), or a few images of one category
(:class:`CategorySubset`: the few-shot setting of MemoPainter, Yoo et al., CVPR 2019; survey
§2.5.6, where a colorizer is trained on ~10 images of a class)."""

from __future__ import annotations

import torch

from .base import ColorDataset

__all__ = ["Subset", "CategorySubset"]


class Subset(ColorDataset):
    """The images ``indices`` of ``dataset``, in that order. Categories, labels, masks and every
    other field are the parent's. ``indices``: a sequence or 1-D tensor of valid indices of
    ``dataset`` (IndexError when a batch reaches an invalid one)."""

    def __init__(self, dataset: ColorDataset, indices):
        self.parent, self.indices = dataset, torch.as_tensor(indices, dtype=torch.long).flatten()
        self.categories, self.size = list(dataset.categories), dataset.size
        self.name = f"{dataset.name}[{self.indices.numel()} of {len(dataset)}]"

    def __len__(self) -> int:
        return int(self.indices.numel())

    def _load(self, indices: torch.Tensor, device: torch.device) -> dict:
        b = self.parent.batch(self.indices[indices], device)
        return {k: v for k, v in b.items() if k not in ("L", "ab", "index")}

    def labels(self) -> torch.Tensor:
        return self.parent.labels()[self.indices]

    def identity_params(self) -> dict:
        return {"parent": self.parent.identity(), "indices": self.indices.tolist()}


class CategorySubset(Subset):
    """The first ``n`` images (in index order, after ``skip``) of ``category`` in ``dataset``.

    ``category``: a name of ``dataset.categories`` or its index. Labels, masks and every other
    field are the parent's. ValueError for an unknown category or one with no image beyond
    ``skip``; fewer than ``n`` images are kept when the category has fewer.
    """

    def __init__(self, dataset: ColorDataset, category, n: int = 10, skip: int = 0):
        cats = list(dataset.categories)
        if isinstance(category, str):
            if category not in cats:
                raise ValueError(f"category {category!r} is not one of {dataset.name}'s: {', '.join(cats)}")
            k = cats.index(category)
        else:
            k = int(category)
            if not 0 <= k < len(cats):
                raise ValueError(f"category index {k} is outside 0..{len(cats) - 1}")
        idx = torch.nonzero(dataset.labels() == k).flatten()[int(skip):int(skip) + int(n)]
        if idx.numel() == 0:
            raise ValueError(f"{dataset.name} has no image of {cats[k]!r} after the first {skip}")
        super().__init__(dataset, idx)
        self.label = k
        self.name = f"{dataset.name}[{cats[k]}:{skip}+{idx.numel()}]"

    def labels(self) -> torch.Tensor:
        return torch.full((len(self),), self.label, dtype=torch.long)
