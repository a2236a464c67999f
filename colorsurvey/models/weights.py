"""Published checkpoints, described by objects rather than loose URLs (in the manner of timm /
torchvision weight enums).

An :class:`OfficialWeights` knows where the authors publish a file, how to check it (the
sha256 prefix in its torch-hub style name, ``name-<hex>.pth``), where this project caches it,
and how to read it safely (``torch.load(..., weights_only=True)``: no code runs from the file).
Offline, :meth:`OfficialWeights.fetch` raises :class:`colorsurvey.data.download.OfflineError`
saying what to download by hand and where to put it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["OfficialWeights", "ECCV16", "SIGGRAPH17", "weights_dir"]


def weights_dir() -> Path:
    """``$COLORSURVEY_CACHE/weights``, default ``~/.cache/colorsurvey/weights``."""
    return Path(os.environ.get("COLORSURVEY_CACHE", "~/.cache/colorsurvey")).expanduser() / "weights"


@dataclass(frozen=True)
class OfficialWeights:
    """One published checkpoint (see module docstring)."""

    title: str
    url: str
    sha256_prefix: str       # the hex in the file name: the file's sha256 must start with it
    source: str              # where the URL is documented
    parameters: int

    @property
    def filename(self) -> str:
        return Path(self.url).name

    def places(self, cache_dir: str | os.PathLike | None = None) -> list[Path]:
        """Where a copy is looked for: ``cache_dir``, else this project's cache and torch.hub's
        checkpoint folder (where the authors' own loader keeps it)."""
        if cache_dir is not None:
            return [Path(cache_dir).expanduser() / self.filename]
        return [weights_dir() / self.filename, Path(torch.hub.get_dir()) / "checkpoints" / self.filename]

    def fetch(self, cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
        """The local file: an existing copy, else downloaded (atomically) into the first place."""
        for p in self.places(cache_dir):
            if p.is_file():
                return p
        from ..data.download import download  # stdlib-only module, imported when needed

        dest = self.places(cache_dir)[0]
        hint = (f"Download {self.url} by hand (e.g. in a browser) and save it as {dest}; a file found "
                f"there is used without downloading (its sha256 must start with {self.sha256_prefix}).")
        download(self.url, dest, sha256=None, progress=progress, manual_hint=hint)
        return dest

    def read_state_dict(self, path: str | os.PathLike) -> dict[str, torch.Tensor]:
        """Check the file against the hash in its name (when it carries one) and load it safely.

        A ``{"state_dict": ...}`` wrapper and ``module.`` prefixes (DataParallel) are removed.
        """
        from ..data.download import sha256_file

        path = Path(path)
        if path.name == self.filename:
            digest = sha256_file(path)
            if not digest.startswith(self.sha256_prefix):
                raise RuntimeError(
                    f"{path}: sha256 {digest[:16]}... does not start with {self.sha256_prefix} as its name "
                    f"says; the file is corrupt or incomplete. Delete it and download {self.url} again.")
        sd = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
            sd = sd["state_dict"]
        if not isinstance(sd, dict):
            raise ValueError(f"{path} holds a {type(sd).__name__}, not a state dict")
        return {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}


ECCV16 = OfficialWeights(
    title="Colorful Image Colorization (Zhang, Isola, Efros, ECCV 2016), PyTorch port",
    url="https://colorizers.s3.us-east-2.amazonaws.com/colorization_release_v2-9b330a0b.pth",
    sha256_prefix="9b330a0b", source="github.com/richzhang/colorization (README, colorizers/eccv16.py)",
    parameters=32_236_011,
)
SIGGRAPH17 = OfficialWeights(
    title="Real-Time User-Guided Image Colorization (Zhang et al., SIGGRAPH 2017), PyTorch port",
    url="https://colorizers.s3.us-east-2.amazonaws.com/siggraph17-df00044c.pth",
    sha256_prefix="df00044c", source="github.com/richzhang/colorization (README, colorizers/siggraph17.py)",
    parameters=34_187_027,
)
