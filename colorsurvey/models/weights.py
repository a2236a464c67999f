"""Published weights as data, and the one loader that serves them all.

A method (or a component such as the VGG19 feature network) declares the checkpoint its
authors publish once, beside its code, as an :class:`OfficialWeights` record: file name,
URL, sha256 (the full digest where it is known, else the prefix that a torch-hub style name
``name-<hex>.pth`` carries), size in bytes, licence, where the URL is documented, the
constructor arguments the file needs, and how its state-dict keys map onto ours. Then

* ``colorsurvey.models.create(key, size="paper", pretrained=True)`` builds the method and
  loads the declared file (downloaded once through :func:`colorsurvey.data.download.download`
  - pooch: hash-checked, cached, atomic, with progress; a file already in the cache or in
  torch.hub's checkpoint folder is used without downloading);
* ``colorsurvey list`` marks the methods that have published weights;
* the benchmark's official rows (:mod:`colorsurvey.benchmark`) are the declared weights.

Offline, the download raises :class:`colorsurvey.data.download.OfflineError` naming the file
to download by hand and the path to save it under. Files are read with
``torch.load(..., weights_only=True)``: no code runs from them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

__all__ = ["OfficialWeights", "ECCV16", "SIGGRAPH17", "weights_dir", "declare", "published",
           "published_for", "find", "ZHANG_LICENCE"]


def weights_dir() -> Path:
    """``$COLORSURVEY_CACHE/weights``, default ``~/.cache/colorsurvey/weights``."""
    return Path(os.environ.get("COLORSURVEY_CACHE", "~/.cache/colorsurvey")).expanduser() / "weights"


@dataclass(frozen=True)
class OfficialWeights:
    """One published checkpoint (see the module docstring).

    ``name``: a short id (``colorsurvey download weights NAME``). ``method``/``size``: the
    registered method key and size preset the file fits (None for a component that is not a
    method). ``sha256``: 64 hex digits, or a prefix where only that is published (then the
    check is on the prefix; :attr:`sha256_is_full` says which). ``bytes``: the file size, None
    where unknown. ``build``: constructor arguments beyond the size preset that the file
    needs. ``keep``/``rename``: the state-dict remapping (keys matching the ``keep`` regex
    are kept, then each ``(pattern, replacement)`` of ``rename`` is applied with
    :func:`re.sub`). ``label``: how tables name results obtained with these weights.
    """

    name: str
    title: str
    url: str
    sha256: str
    bytes: int | None
    licence: str
    source: str
    parameters: int
    method: str | None = None
    size: str = "paper"
    label: str = ""
    build: Mapping[str, Any] = field(default_factory=dict)
    keep: str | None = None
    rename: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if not re.fullmatch(r"[0-9a-f]{8,64}", self.sha256):
            raise ValueError(f"{self.name}: sha256 must be 8 to 64 lower-case hex digits, got {self.sha256!r}")

    @property
    def filename(self) -> str:
        return Path(self.url).name

    @property
    def sha256_is_full(self) -> bool:
        return len(self.sha256) == 64

    @property
    def sha256_prefix(self) -> str:
        """The first eight hex digits (what a torch-hub style file name carries)."""
        return self.sha256[:8]

    def places(self, cache_dir: str | os.PathLike | None = None) -> list[Path]:
        """Where a copy is looked for: ``cache_dir``, else this project's cache and torch.hub's
        checkpoint folder (where the authors' own loaders keep it)."""
        if cache_dir is not None:
            return [Path(cache_dir).expanduser() / self.filename]
        return [weights_dir() / self.filename, Path(torch.hub.get_dir()) / "checkpoints" / self.filename]

    def find(self, cache_dir: str | os.PathLike | None = None) -> Path | None:
        """The first existing copy in :meth:`places`, else None (nothing is downloaded)."""
        return next((p for p in self.places(cache_dir) if p.is_file()), None)

    def manual_hint(self, dest: Path) -> str:
        check = f"sha256 {self.sha256}" if self.sha256_is_full else f"its sha256 must start with {self.sha256}"
        return (f"Download {self.url} by hand (e.g. in a browser) and save it as {dest}; a file found "
                f"there is used without downloading ({check}).")

    def fetch(self, cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
        """The local file: an existing copy, else downloaded (pooch: atomic, hash-checked) into
        the first of :meth:`places`. Offline: :class:`~colorsurvey.data.download.OfflineError`
        naming the URL and the destination."""
        found = self.find(cache_dir)
        if found is not None:
            return found
        from ..data import download as dl   # looked up at call time (tests cut the network there)

        dest = self.places(cache_dir)[0]
        return dl.download(self.url, dest, sha256=self.sha256, size=self.bytes, progress=progress,
                           manual_hint=self.manual_hint(dest))

    def remap(self, sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Apply ``keep`` and ``rename`` to a state dict's keys."""
        out = {}
        for k, v in sd.items():
            if self.keep is not None and not re.search(self.keep, k):
                continue
            for pattern, repl in self.rename:
                k = re.sub(pattern, repl, k)
            out[k] = v
        return out

    def read_state_dict(self, path: str | os.PathLike) -> dict[str, torch.Tensor]:
        """Check the file against the declared hash (when it has the declared name) and load it
        safely, remapped. A ``{"state_dict": ...}`` wrapper and ``module.`` prefixes
        (DataParallel) are removed. A file under another name (e.g. one trained here in the
        same layout) is read without the hash check.

        Raises :class:`RuntimeError` when the hash does not match (the file is damaged or
        incomplete: delete it and download again), :class:`ValueError` when the file holds no
        state dict.
        """
        from ..data.download import sha256_file

        path = Path(path)
        if path.name == self.filename:
            digest = sha256_file(path)
            if not digest.startswith(self.sha256):
                raise RuntimeError(
                    f"{path}: sha256 {digest[:16]}... does not start with {self.sha256[:16]} as declared "
                    f"for {self.name}; the file is corrupt (damaged or incomplete). Delete it and download "
                    f"{self.url} again.")
        sd = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
            sd = sd["state_dict"]
        if not isinstance(sd, dict):
            raise ValueError(f"{path} holds a {type(sd).__name__}, not a state dict")
        return self.remap({k[7:] if k.startswith("module.") else k: v for k, v in sd.items()})

    def load_into(self, module: torch.nn.Module, path: str | os.PathLike | None = None, *,
                  cache_dir: str | os.PathLike | None = None, progress: bool = True) -> torch.nn.Module:
        """Load the weights (``path``, else :meth:`fetch`) into ``module`` strictly.

        Raises :class:`ValueError` naming the missing and unexpected keys when the file does
        not fit the module. Returns ``module``.
        """
        path = Path(path) if path is not None else self.fetch(cache_dir, progress)
        sd = self.read_state_dict(path)
        missing, unexpected = _mismatch(module, sd)
        if missing or unexpected:
            raise ValueError(
                f"{path} does not hold the {self.name} weights of {self.title}: "
                f"{len(missing)} keys missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
                f"(e.g. {unexpected[:3]}). Delete it and download {self.url} again.")
        try:
            module.load_state_dict(sd, strict=True)
        except RuntimeError as e:    # same keys, other shapes
            raise ValueError(f"{path} does not fit {self.title}: {str(e).splitlines()[-1].strip()}") from None
        return module


def _mismatch(module: torch.nn.Module, sd: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    want = set(module.state_dict())
    return sorted(want - set(sd)), sorted(set(sd) - want)


# --------------------------------------------------------------------------------------
# The declarations
# --------------------------------------------------------------------------------------

_DECLARED: dict[str, OfficialWeights] = {}


def declare(w: OfficialWeights) -> OfficialWeights:
    """Register a declaration (beside the method it belongs to); returns it unchanged."""
    old = _DECLARED.get(w.name)
    if old is not None and old != w:
        raise ValueError(f"two different weights declared under the name {w.name!r}")
    if w.method is not None:
        for o in _DECLARED.values():
            if o.name != w.name and (o.method, o.size) == (w.method, w.size):
                raise ValueError(f"{w.method!r} size {w.size!r} already has weights {o.name!r}")
    _DECLARED[w.name] = w
    return w


def published(method: str | None = None) -> list[OfficialWeights]:
    """Every declaration (importing :mod:`colorsurvey.models` declares them all), or those of
    one method key, in declaration order."""
    import colorsurvey.models  # noqa: F401  (every declaration is made on import)

    return [w for w in _DECLARED.values() if method is None or w.method == method]


def find(name: str) -> OfficialWeights:
    """The declaration called ``name`` (e.g. ``"eccv16"``); KeyError listing the names."""
    import colorsurvey.models  # noqa: F401  (every declaration is made on import)

    try:
        return _DECLARED[name]
    except KeyError:
        raise KeyError(f"no published weights called {name!r}; known: {', '.join(sorted(_DECLARED))}") from None


def published_for(key: str, size: str) -> OfficialWeights:
    """The weights published for method ``key`` at ``size``; a clear KeyError otherwise."""
    mine = published(key)
    for w in mine:
        if w.size == size:
            return w
    if not mine:
        raise KeyError(f"{key!r} has no published weights; pretrained=True needs a method whose authors "
                       "published a checkpoint (colorsurvey list marks them)")
    sizes = ", ".join(repr(w.size) for w in mine)
    raise KeyError(f"{key!r} has published weights only for size {sizes}, not {size!r}; "
                   f"use create({key!r}, size={mine[0].size!r}, pretrained=True)")


#: the licence of Zhang et al.'s released weights (ECCV16 in plain.py, SIGGRAPH17 in
#: user_guided/realtime.py)
ZHANG_LICENCE = ("BSD-2-Clause (the licence of github.com/richzhang/colorization; the weight files "
                 "carry no separate licence)")


def __getattr__(name: str):
    """``ECCV16`` and ``SIGGRAPH17`` are declared beside their methods; these names stay
    importable from here."""
    if name == "ECCV16":
        from .plain import ECCV16
        return ECCV16
    if name == "SIGGRAPH17":
        from .user_guided.realtime import SIGGRAPH17
        return SIGGRAPH17
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
