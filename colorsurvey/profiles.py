"""Run profiles: how big, how long, at what resolution (README, "Profiles").

* ``smoke`` — CPU, tiny models, a few steps: the whole notebook suite runs in CI.
* ``cpu``   — for a reader without a GPU: each notebook in minutes, results worth looking at.
* ``brief`` — the GPU default: minutes per method at 128x128.
* ``paper`` — published sizes at 256x256; long.

Notebooks read the profile and the data set from papermill parameters or from the
environment variables ``COLORSURVEY_PROFILE`` and ``COLORSURVEY_DATA`` (so nbval runs can
set them); the default follows the hardware (:func:`default_profile`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

import torch

__all__ = ["Profile", "PROFILES", "get_profile", "default_profile", "from_environment"]


@dataclass(frozen=True)
class Profile:
    name: str
    size: str            # model size preset
    resolution: int      # training / evaluation image side
    steps: int           # training steps per method
    batch_size: int
    eval_images: int     # images of the test split evaluated
    train_images: int    # rendered training set size (ignored for real data)
    seeds: int           # seeds per method in benchmarks
    device: str | None = None  # None: automatic

    def as_dict(self) -> dict:
        return asdict(self)

    def scaled(self, **kw) -> "Profile":
        return replace(self, **kw)


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", size="smoke", resolution=32, steps=12, batch_size=8,
                     eval_images=40, train_images=400, seeds=1, device="cpu"),
    "cpu": Profile("cpu", size="small", resolution=64, steps=400, batch_size=8,
                   eval_images=200, train_images=4000, seeds=1),
    "brief": Profile("brief", size="small", resolution=128, steps=3000, batch_size=64,
                     eval_images=400, train_images=20000, seeds=3),
    "paper": Profile("paper", size="paper", resolution=256, steps=20000, batch_size=32,
                     eval_images=1000, train_images=100000, seeds=3),
}


def get_profile(name: str | Profile) -> Profile:
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


def default_profile() -> str:
    """``brief`` on a CUDA GPU, ``cpu`` otherwise."""
    return "brief" if torch.cuda.is_available() else "cpu"


def from_environment(profile: str | None = None, data: str | None = None) -> tuple[Profile, str]:
    """Resolve a notebook's parameters: explicit value, else environment variable, else default."""
    name = profile or os.environ.get("COLORSURVEY_PROFILE") or default_profile()
    data = data or os.environ.get("COLORSURVEY_DATA") or "synthetic"
    return get_profile(name), data
