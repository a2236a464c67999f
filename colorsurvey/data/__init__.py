"""Data: the embedded rendered NCD-like set, real image folders (NCD and any other), and the
auxiliary signals methods need. Every source is a :class:`ColorDataset` yielding batch dicts
(see :mod:`colorsurvey.data.base` for the keys).

>>> from colorsurvey.data import open_dataset
>>> train = open_dataset("synthetic", split="train", size=64)   # or "ncd", or a folder path
"""

from .base import ColorDataset, add_lab
from .real import (NCD, ImageFolder, ImageReadError, caption_for, kmeans_palette, load_image,
                   mask_to_box, open_dataset, white_background_mask)
from .synthetic import CATEGORIES, SyntheticNCD

__all__ = ["ColorDataset", "add_lab", "SyntheticNCD", "CATEGORIES", "NCD", "ImageFolder", "ImageReadError",
           "load_image", "open_dataset", "white_background_mask", "mask_to_box", "kmeans_palette", "caption_for"]
