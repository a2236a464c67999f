"""A registry of methods, in the manner of timm/torchvision: ``create(key, size=...)``.

Each method module registers its classes with :func:`register`; importing
:mod:`colorsurvey.models` imports every method module, so the registry is complete.
"""

from __future__ import annotations

import os

import torch

from .base import ColorizationModel, ModelCard

_REGISTRY: dict[str, type[ColorizationModel]] = {}

__all__ = ["register", "create", "accepts", "list_models", "get_class", "cards"]


def register(cls: type[ColorizationModel]) -> type[ColorizationModel]:
    """Class decorator: make ``cls`` buildable by ``create(cls.card.key)``."""
    key = cls.card.key
    if key in _REGISTRY and _REGISTRY[key] is not cls:
        raise ValueError(f"two methods registered under the key {key!r}")
    if "paper" not in cls.sizes:
        raise ValueError(f"{cls.__name__} must define a 'paper' size preset")
    _REGISTRY[key] = cls
    return cls


def get_class(key: str) -> type[ColorizationModel]:
    try:
        return _REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown method {key!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def create(key: str, size: str = "small", seed: int | None = None, *, references=None,
           n_categories: int | None = None, pretrained: bool | str | os.PathLike = False,
           weights_cache: str | os.PathLike | None = None, progress: bool = True,
           **overrides) -> ColorizationModel:
    """Build a method by key and size preset; ``overrides`` replace preset arguments.

    ``seed`` seeds torch before the weights are initialised, so a run is repeatable from
    construction on (the training loop seeds its own steps). ``references``: a data set the
    method may draw reference images from (exemplar-based methods); passed on only to methods
    that take it (:func:`accepts`), so callers need not ask which kind a method is.
    ``n_categories``: the number of categories of the data, for methods with a category input
    (those whose constructor takes ``num_classes``; e.g. Deep Colorization's semantic one-hot),
    unless ``num_classes`` is given explicitly.

    ``pretrained=True`` loads the weights the authors published for this method and size
    (declared beside the method, :mod:`colorsurvey.models.weights`): from ``weights_cache``
    or the default cache when present, else downloaded (``progress``: a progress bar) and
    the model is returned in eval mode. A path instead of True loads that local file (in the
    published layout). A method or size without published weights raises a KeyError that
    says which sizes have them; offline, :class:`colorsurvey.data.download.OfflineError`
    names the file to download by hand and where to save it.

    Asking for a preset the method lacks is an error naming the available ones.
    """
    cls = get_class(key)
    if size not in cls.sizes:
        raise KeyError(f"{key!r} has no size {size!r}; available: {', '.join(cls.sizes)}")
    weights = None
    if pretrained is not False and pretrained is not None:
        from .weights import published_for

        weights = published_for(key, size)
        overrides = {**weights.build, **overrides}
    kwargs = {**cls.sizes[size], **overrides}
    if references is not None and accepts(key, "references"):
        kwargs["references"] = references
    if n_categories is not None and "num_classes" not in overrides and accepts(key, "num_classes"):
        kwargs["num_classes"] = int(n_categories)
    if seed is not None:
        torch.manual_seed(seed)
    model = cls(**kwargs)
    model.size_name = size
    if weights is not None:
        path = None if pretrained is True else pretrained
        weights.load_into(model, path, cache_dir=weights_cache, progress=progress)
        model.eval()
    return model


def accepts(key: str, argument: str) -> bool:
    """Whether method ``key``'s constructor takes ``argument`` (e.g. ``references``)."""
    import inspect

    for c in get_class(key).__mro__:  # follow **kwargs up to the base classes that name it
        if "__init__" not in vars(c):
            continue
        params = inspect.signature(c.__init__).parameters
        if argument in params:
            return True
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return False
    return False


def list_models(taxonomy: str | None = None) -> list[str]:
    """Registered keys, optionally of one taxonomy class, in registration order."""
    return [k for k, c in _REGISTRY.items() if taxonomy is None or c.card.taxonomy == taxonomy]


def cards() -> list[ModelCard]:
    return [c.card for c in _REGISTRY.values()]
