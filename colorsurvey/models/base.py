"""The one interface every surveyed method implements (DESIGN.md, "One interface").

A method is a ``torch.nn.Module`` subclass of :class:`ColorizationModel` with

* ``card`` — a :class:`ModelCard`: who, where, which survey section, what it is conditioned
  on, and what this re-implementation scales down or substitutes;
* ``sizes`` — named presets of constructor arguments: ``"paper"`` follows the published
  structure, smaller ones (``"small"``, ``"smoke"``) serve brief training and the CPU smoke run;
* ``colorize(L, **conditions) -> ab`` — inference: L in Lab units (0..100), (B, 1, H, W),
  any H, W; returns ab in Lab units, (B, 2, H, W), at the input size. The base class makes
  every ``colorize`` (and ``explain`` / ``distribution`` where a method has them) an inference
  call — inputs checked, eval mode, no autograd graph, the model's state untouched — without
  the method doing anything (see :meth:`ColorizationModel.__init_subclass__`); training code
  that needs gradients through it calls ``_colorize``;
* ``training_only`` — the names of submodules used only to train (discriminators, critics,
  loss networks), so compute tables count what colourises (:func:`count_parameters`);
* ``training_step(batch) -> dict`` — one optimisation step; the method owns its optimisers
  and losses, so GANs, VAEs and classifiers all train under the same loop
  (:func:`colorsurvey.train.train`). Values are 0-d tensors or floats; the loop reads them
  only every few steps, so a step never forces a host sync.

A *batch* is a dict (see :mod:`colorsurvey.data`) holding at least ``"rgb"`` (B, 3, H, W) in
[0, 1], ``"L"`` (B, 1, H, W) and ``"ab"`` (B, 2, H, W) in Lab units, ``"label"`` (B,), and
whatever auxiliary signals the data source provides (``"mask"``, ``"depth"``, ``"box"``,
``"caption"``, ``"palette"``).
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ModelCard", "ColorizationModel", "count_parameters", "inference_parameters", "check_L",
           "check_conditions", "EVAL_SAMPLES"]

#: N of the best-of-N evaluation for the methods that sample (survey §2.5, PixColor §2.6.3)
EVAL_SAMPLES = 8

TAXONOMY = (
    "baseline", "plain", "user-guided", "domain-specific", "text-based",
    "diverse", "multi-path", "exemplar-based",
)


@dataclass(frozen=True)
class ModelCard:
    """What a method is and how faithfully it is re-implemented here."""

    key: str
    title: str
    authors: str
    venue: str
    year: int | None                 # None: not a published method (the baselines)
    section: str                     # survey section, e.g. "2.1.2"; "—" for what the survey lacks
    taxonomy: str                    # one of TAXONOMY
    conditions: tuple[str, ...] = ()  # extra inputs besides L: "hints", "exemplar", "text", ...
    losses: tuple[str, ...] = ()
    framework: str = ""              # the original implementation's framework
    substitutions: str = ""          # what was scaled down or substituted, in plain words
    notes: str = ""
    survey_recipe: str = ""          # training as the survey states it (iterations, lr, data), with §
    extra: dict = field(default_factory=dict)
    parameters: int | None = None    # parameters of the network that colourises at size "paper"
    parameters_source: str = ""      # "official code" (the released weights) or "this re-implementation"

    def __post_init__(self):
        if self.taxonomy not in TAXONOMY:
            raise ValueError(f"taxonomy {self.taxonomy!r} is not one of {TAXONOMY}")

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        cond = ", ".join(self.conditions) or "none"
        where = f"survey §{self.section}" if self.section != "—" else "not in the survey"
        lines = [
            f"{self.title} ({self.authors}, {self.venue} {self.year or ''}".rstrip() + f") — {where}, {self.taxonomy}",
            f"  key: {self.key}   conditions: {cond}   losses: {', '.join(self.losses) or '-'}",
        ]
        if self.framework:
            lines.append(f"  original framework: {self.framework}")
        if self.parameters:
            lines.append(f"  parameters at size 'paper': {self.parameters:,} ({self.parameters_source or 'unstated'})")
        if self.substitutions:
            lines.append(f"  here: {self.substitutions}")
        return "\n".join(lines)


# ======================================================================================
# Parameters: what colourises and what only trains
# ======================================================================================

PARTS = ("all", "inference", "training_only")


def _training_only_ids(module: nn.Module) -> set[int]:
    """ids of the parameters of ``module.training_only`` submodules (empty for other modules)."""
    ids: set[int] = set()
    for name in getattr(module, "training_only", ()):
        sub = getattr(module, name, None)
        if not isinstance(sub, nn.Module):
            raise AttributeError(f"{type(module).__name__}.training_only names {name!r}, which is not a "
                                 f"submodule of it; list the attribute names of its training-only modules")
        ids.update(id(p) for p in sub.parameters())
    return ids


def inference_parameters(module: nn.Module) -> Iterator[nn.Parameter]:
    """The parameters of ``module`` that ``colorize`` may use: all but those of the submodules
    named in its ``training_only`` (discriminators, critics, loss networks)."""
    skip = _training_only_ids(module)
    return (p for p in module.parameters() if id(p) not in skip)


def count_parameters(module: nn.Module, trainable_only: bool = False, part: str = "all") -> int:
    """Number of parameters (elements) of ``module``.

    ``part``: ``"all"`` (every parameter), ``"inference"`` (what colourises: all but the
    ``training_only`` submodules of a :class:`ColorizationModel`) or ``"training_only"``
    (discriminators, critics, loss networks). ``trainable_only`` counts only parameters with
    ``requires_grad``. Works on the ``meta`` device (nothing is allocated). ValueError for
    another ``part``.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}; got {part!r}")
    skip = _training_only_ids(module) if part != "all" else set()
    keep = (lambda p: id(p) not in skip) if part == "inference" else (lambda p: part == "all" or id(p) in skip)
    return sum(p.numel() for p in module.parameters() if keep(p) and (p.requires_grad or not trainable_only))


# ======================================================================================
# Input checks of the inference calls
# ======================================================================================

#: tolerance of the 0..100 range of L (colour conversions overshoot by rounding)
L_TOLERANCE = 0.01
_L_EXPECTED = "L as a float tensor (B, 1, H, W) of CIE Lab lightness in 0..100"


def _minmax(x: torch.Tensor) -> tuple[float, float]:
    """(min, max) of a float tensor in one host sync; NaN when it holds a NaN."""
    lo, hi = torch.aminmax(x.detach().float())
    return tuple(torch.stack([lo, hi]).tolist())


def check_L(L) -> None:
    """Raise one clear error unless ``L`` is (B, 1, H, W) lightness in 0..100.

    * TypeError: not a tensor (convert numpy with ``torch.from_numpy``), or not a floating
      dtype (an integer or bool L; images read as uint8 are sRGB, not L: convert with
      :func:`colorsurvey.color.rgb_to_lab`);
    * ValueError: another shape — (H, W) or (1, H, W) without the batch axis, 3 channels (an
      RGB image passed as L), an empty axis —, NaN or infinite values, values outside 0..100
      (± ``L_TOLERANCE``), or L scaled to 0..1. The rule for the last: **the brightest pixel is
      at most 1 while some pixel is above 0**. In 0..100 units such an image is darker than
      L = 1 everywhere (sRGB below about 4/255: black on any screen), so it is almost surely
      L / 100; an all-zero (black) L is accepted.
    """
    if not isinstance(L, torch.Tensor):
        raise TypeError(f"expected {_L_EXPECTED}; got {type(L).__name__}. Convert arrays with "
                        "torch.from_numpy(a).float()")
    if not L.is_floating_point():
        raise TypeError(f"expected {_L_EXPECTED}; got dtype {L.dtype}. An 8-bit image is sRGB, not L: convert "
                        "it with colorsurvey.color.rgb_to_lab(rgb.float() / 255)[:, :1]")
    shape = tuple(L.shape)
    if L.dim() == 2 or (L.dim() == 3 and shape[0] == 1):
        fix = "L[None, None]" if L.dim() == 2 else "L[None] (or L.unsqueeze(0))"
        raise ValueError(f"expected {_L_EXPECTED}; got shape {shape} without the batch axis: use {fix}")
    if L.dim() == 4 and shape[1] == 3 or L.dim() == 3 and shape[0] == 3:
        raise ValueError(f"expected {_L_EXPECTED}; got shape {shape}, 3 channels: an RGB image? Pass its "
                         "lightness, colorsurvey.color.rgb_to_lab(rgb)[:, :1] (rgb in [0, 1], (B, 3, H, W))")
    if L.dim() != 4 or shape[1] != 1:
        raise ValueError(f"expected {_L_EXPECTED}; got shape {shape}")
    if 0 in shape:
        raise ValueError(f"expected {_L_EXPECTED}; got an empty tensor of shape {shape}")
    lo, hi = _minmax(L)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"expected {_L_EXPECTED}; L holds NaN or infinite values")
    if lo < -L_TOLERANCE or hi > 100 + L_TOLERANCE:
        raise ValueError(f"expected {_L_EXPECTED}; got values in [{lo:.4g}, {hi:.4g}]. Compute L with "
                         "colorsurvey.color.rgb_to_lab(rgb)[:, :1] from sRGB in [0, 1]")
    if 0 < hi <= 1:
        raise ValueError(f"expected {_L_EXPECTED}; got values in [{lo:.4g}, {hi:.4g}]: L scaled to 0..1? "
                         "Multiply by 100 (an image darker than L = 1 everywhere is taken as scaled)")


def _check_float(x, name: str, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected {what}; got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected {what}; got dtype {x.dtype}")
    return x


def _check_finite(x: torch.Tensor, name: str, what: str) -> tuple[float, float]:
    if x.numel() == 0:
        raise ValueError(f"{name}: expected {what}; got an empty tensor of shape {tuple(x.shape)}")
    lo, hi = _minmax(x)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name}: expected {what}; it holds NaN or infinite values")
    return lo, hi


def _check_reference(r, L: torch.Tensor, name: str) -> None:
    what = "a float sRGB image in [0, 1], (3, H, W) or (B, 3, H, W) with B = 1 or L's batch size"
    if isinstance(r, torch.Tensor) and not r.is_floating_point():
        raise TypeError(f"{name}: expected {what}; got dtype {r.dtype}. An 8-bit image (as the image "
                        f"readers return it) must be scaled: {name}=img.float() / 255")
    r = _check_float(r, name, what)
    if r.dim() == 4 and r.shape[1] == 3 and r.shape[0] not in (1, L.shape[0]):
        raise ValueError(f"{name}: {r.shape[0]} references for {L.shape[0]} targets (L's batch); pass one "
                         "reference per target, or one for all")
    if r.dim() not in (3, 4) or r.shape[-3] != 3:
        raise ValueError(f"{name}: expected {what}; got shape {tuple(r.shape)}"
                         + (". Images are channels-first: use .permute(2, 0, 1)" if r.dim() == 3 and r.shape[-1] == 3
                            else ""))
    lo, hi = _check_finite(r, name, what)
    if hi > 1 + 1e-3 or lo < -1e-3:
        raise ValueError(f"{name}: expected {what}; got values in [{lo:.4g}, {hi:.4g}]"
                         + (f": scaled to 0..255? Divide by 255 ({name}=img / 255)" if hi > 1.5 else ""))


def _check_map(x, L: torch.Tensor, name: str, channels: int, what: str, same_size: bool = True,
               lo_hi: tuple[float, float] | None = None) -> None:
    x = _check_float(x, name, what)
    B = L.shape[0]
    ok = x.dim() == 4 and x.shape[1] == channels and x.shape[0] == B and (not same_size or x.shape[-2:] == L.shape[-2:])
    if not ok:
        raise ValueError(f"{name}: expected {what}; got shape {tuple(x.shape)} for L of shape {tuple(L.shape)}")
    lo, hi = _check_finite(x, name, what)
    if lo_hi is not None and (lo < lo_hi[0] - 1e-3 or hi > lo_hi[1] + 1e-3):
        raise ValueError(f"{name}: expected {what}; got values in [{lo:.4g}, {hi:.4g}]")


def check_conditions(L: torch.Tensor, conditions: dict) -> None:
    """Check the conditioning inputs whose names the methods share (None means "not given"):

    * ``reference_rgb`` (exemplar-based methods): float sRGB in [0, 1], (3, H', W') or
      (B or 1, 3, H', W'), any size — TypeError for an integer image (divide by 255), ValueError
      for values beyond [0, 1] (beyond 1.5: "divide by 255");
    * ``hints`` (user-guided): float ab in Lab units (B, 2, H, W) at L's size, finite;
    * ``mask``: float (B, 1, H, W) at L's size in [0, 1];
    * ``depth``: float (B, 1, H', W'), finite;
    * any other floating tensor: finite.

    Shapes and dtypes raise TypeError / ValueError naming what was expected.
    """
    for name, v in conditions.items():
        if v is None:
            continue
        if name == "reference_rgb":
            _check_reference(v, L, name)
        elif name == "hints":
            _check_map(v, L, name, 2, "float ab hints in Lab units, (B, 2, H, W) at L's size", lo_hi=(-128, 128))
        elif name == "mask":
            _check_map(v, L, name, 1, "a float hint mask in [0, 1], (B, 1, H, W) at L's size", lo_hi=(0, 1))
        elif name == "depth":
            _check_map(v, L, name, 1, "a float depth map (B, 1, H, W)", same_size=False)
        elif isinstance(v, torch.Tensor) and v.is_floating_point():
            _check_finite(v, name, "finite values")


# ======================================================================================
# Inference calls: checked, eval mode, no graph, state untouched
# ======================================================================================

#: the methods of a ColorizationModel subclass that are made inference calls
INFERENCE_METHODS = ("colorize", "explain", "distribution")


@contextlib.contextmanager
def _keep_rng(device: torch.device):
    """Restore the global CPU generator (and L's CUDA device's) afterwards."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, device)


def _inference(fn):
    """Wrap a method ``fn(self, L, *args, **conditions)`` into an inference call (see
    :meth:`ColorizationModel.__init_subclass__`); ``__wrapped__`` is ``fn``."""

    @functools.wraps(fn)
    def call(self, L, *args, **conditions):
        if self.__dict__.get("_in_inference", False):    # nested (a method calling another): done already
            return fn(self, L, *args, **conditions)
        L = self.check_inputs(L, conditions)
        modes = [(m, m.training) for m in self.modules()]
        self.__dict__["_in_inference"] = True
        try:
            self.eval()
            with torch.no_grad(), _keep_rng(L.device):
                out = fn(self, L, *args, **conditions)
        finally:
            self.__dict__["_in_inference"] = False
            for m, mode in modes:                    # each module's own flag, as it was
                m.training = mode
        return out

    call._inference = True
    return call


class ColorizationModel(nn.Module):
    """Base class of every method. Subclasses set ``card`` and ``sizes`` and implement
    ``colorize`` and ``training_step``."""

    card: ClassVar[ModelCard]
    sizes: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}}
    #: attribute names of submodules used only in training (discriminators, critics, loss
    #: networks): :func:`count_parameters` with ``part="inference"`` leaves them out
    training_only: ClassVar[tuple[str, ...]] = ()
    #: whether ``colorize(L, seed=k)`` draws another plausible colouring per seed (noise- or
    #: latent-driven methods), and N of their best-of-N evaluation (0: not evaluated that way;
    #: :func:`colorsurvey.evaluate.evaluate` reads it)
    stochastic: ClassVar[bool] = False
    eval_samples: ClassVar[int] = 0
    lr: float = 1e-3

    def __init__(self):
        super().__init__()
        self.size_name: str | None = None
        self._optimizers: dict[str, torch.optim.Optimizer] | None = None

    def __init_subclass__(cls, **kwargs):
        """Make the subclass's ``colorize`` (and ``explain``, ``distribution``) inference calls.

        Each such method, as the subclass defines it, is wrapped so that a call

        1. checks its inputs (:meth:`check_inputs`: L with :func:`check_L`, the shared
           conditions with :func:`check_conditions`) and raises one TypeError / ValueError
           naming what was expected and the fix;
        2. runs in eval mode under ``torch.no_grad()``: the result carries no autograd graph,
           whatever mode the model was left in and whether the inputs require grad;
        3. changes nothing: every submodule's train/eval flag is restored as it was (so
           BatchNorm statistics never move), and so is the global random generator (CPU, and
           L's CUDA device): a method that draws random numbers while colorizing gives the same
           result for the same inputs; vary it through its own arguments.

        Calls nested inside one (a method's ``colorize`` calling its ``explain``) run unwrapped.
        Training code that needs gradients through ``colorize`` calls :meth:`_colorize`.
        """
        super().__init_subclass__(**kwargs)
        for name in INFERENCE_METHODS:
            fn = cls.__dict__.get(name)
            if callable(fn) and not getattr(fn, "_inference", False):
                setattr(cls, name, _inference(fn))

    # -- inference -----------------------------------------------------------------------
    def colorize(self, L: torch.Tensor, **conditions) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _colorize(self, L: torch.Tensor, **conditions) -> torch.Tensor:
        """``colorize`` as the method wrote it, without the inference wrapper: no input checks,
        gradients enabled, the current train/eval mode — for a ``training_step`` that trains
        through ``colorize``."""
        fn = type(self).colorize
        return getattr(fn, "__wrapped__", fn)(self, L, **conditions)

    def check_inputs(self, L, conditions: dict) -> torch.Tensor:
        """Check L and the conditions (:func:`check_L`, :func:`check_conditions`) and return L
        ready for the network: a floating L of another precision is converted to the dtype of
        the model's floating parameters (float64 input to a float32 network, say). A model on
        another device than L is a ValueError saying which to move. Methods with inputs of their
        own may extend this (call ``super().check_inputs``)."""
        check_L(L)
        check_conditions(L, conditions)
        p = next((t for t in self.parameters() if t.is_floating_point()), None)
        if p is not None and p.device.type != "meta":
            if p.device != L.device:
                raise ValueError(f"L is on {L.device} but the model on {p.device}: move one of them "
                                 f"(L.to('{p.device}') or model.to('{L.device}'))")
            if L.dtype != p.dtype:
                L = L.to(p.dtype)
        return L

    def conditions_from_batch(self, batch: dict) -> dict:
        """The keyword arguments ``colorize`` takes, drawn from a data batch.

        Automatic methods need nothing; conditional ones override this (hints simulated
        from the ground truth, an exemplar, a caption...).
        """
        return {}

    @contextlib.contextmanager
    def hint_budget(self, k: int | None, give_global: bool | None = None):
        """Evaluate with exactly ``k`` simulated user hints. Methods without user input have
        nothing to limit: a no-op here, so callers need not ask which kind a model is
        (user-guided methods override it)."""
        yield self

    def sample(self, L: torch.Tensor, n: int = EVAL_SAMPLES, seed: int = 0, **conditions) -> torch.Tensor:
        """``n`` colourings of each image: ``colorize(L, seed=seed + j)`` for j < n, stacked to
        (B, n, 2, H, W) ab in Lab units. Same (L, n, seed): the same samples (``colorize`` restores
        the global random generator; a stochastic method draws its noise from ``seed``). A method
        that does not sample is called once and its colouring repeated n times. ValueError for
        n < 1."""
        if int(n) < 1:
            raise ValueError(f"n: the number of samples must be at least 1; got {n}")
        if not self.stochastic:
            return self.colorize(L, **conditions)[:, None].expand(-1, int(n), -1, -1, -1).clone()
        return torch.stack([self.colorize(L, seed=int(seed) + j, **conditions) for j in range(int(n))], 1)

    def example_conditions(self, L: torch.Tensor) -> dict:
        """Stand-in conditioning inputs at L's size, for timing and FLOP counts
        (:func:`colorsurvey.evaluate.inference_ms`): a reference image, boxes, a depth map...
        Automatic methods need none."""
        return {}

    def predict(self, batch: dict) -> torch.Tensor:
        """ab (B, 2, H, W) float32 for a batch, at the batch's size (``colorize`` with the
        conditions of :meth:`conditions_from_batch`: eval mode, no graph)."""
        return self.colorize(batch["L"], **self.conditions_from_batch(batch)).float()

    # -- training ------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimisers by name; the default is one Adam over all parameters."""
        return {"main": torch.optim.Adam(self.parameters(), lr=self.lr)}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        if self._optimizers is None:
            self._optimizers = self.configure_optimizers()
        return self._optimizers

    def step(self, loss: torch.Tensor, name: str = "main") -> None:
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def training_step(self, batch: dict) -> dict[str, torch.Tensor | float]:  # pragma: no cover
        raise NotImplementedError

    def needs_fit(self) -> bool:
        """Whether the method has parameters to train (baselines may only need statistics)."""
        return any(p.requires_grad for p in self.parameters())

    def fit_statistics(self, batches) -> None:
        """Hook for methods that measure something on the training data before training
        (a mean colour, a colour prior). ``batches`` is an iterable of batches."""

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def to_input_size(ab: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
        """Resize predicted ab to L's spatial size (bilinear), as every method must return."""
        if ab.shape[-2:] != L.shape[-2:]:
            ab = F.interpolate(ab.float(), size=L.shape[-2:], mode="bilinear", align_corners=False)
        return ab

    @staticmethod
    def pad_to_multiple(x: torch.Tensor, m: int) -> tuple[torch.Tensor, tuple[int, int]]:
        """Replicate-pad (B, C, H, W) so H and W are multiples of ``m``; returns the pad."""
        H, W = x.shape[-2:]
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return x, (ph, pw)

    def extra_repr(self) -> str:
        return f"size={self.size_name!r}, params={count_parameters(self):,}"
