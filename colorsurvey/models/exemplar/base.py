"""What the exemplar-based methods (survey §2.7) share: AdaIN, the U-Net colorization head, the
dense correspondence (in place of Deep Image Analogy), and :class:`ExemplarModel` — the frozen
VGG19, the references, the input sizes.

Conventions as everywhere in :mod:`colorsurvey.models`: ``colorize(L, reference_rgb=...)``
takes L in Lab units (B, 1, H, W), any H, W, and an sRGB reference in [0, 1], (B or 1, 3,
Hr, Wr), any size; it returns ab in Lab units at the input size. ``training_step`` returns
0-d detached tensors. Colour conversions, the correspondence and the losses run in float32
inside a bf16 autocast.
"""

from __future__ import annotations

import contextlib
import math
from typing import Sequence

import torch
import torch.nn.functional as F

from ...color import lab_to_rgb
from ...references import ReferenceBank, draw_references
from ..base import ColorizationModel
from ..baselines import UNetCore
from ..layers import fp32
from ..vgg import LEVELS, VGG19Features, get_vgg19

__all__ = ["adain", "UNetHead", "correspondence", "ExemplarModel"]


def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance normalisation (Huang & Belongie 2017): give each channel of
    ``content`` the mean and standard deviation it has in ``style`` (spatial statistics per
    sample and channel). (B, C, H, W) and (B, C, H', W') -> (B, C, H, W)."""
    c, s = content.float(), style.float()
    cm, cs = c.mean(dim=(2, 3), keepdim=True), c.std(dim=(2, 3), keepdim=True, unbiased=False)
    sm, ss = s.mean(dim=(2, 3), keepdim=True), s.std(dim=(2, 3), keepdim=True, unbiased=False)
    return (c - cm) / (cs + eps) * ss + sm


class UNetHead(UNetCore):
    """The colorization sub-networks of He et al. and Xu et al.: the project's U-Net
    (:class:`~colorsurvey.models.baselines.UNetCore`) from ``in_ch`` input channels to ab."""


# ======================================================================================
# Dense correspondence (in place of Deep Image Analogy)
# ======================================================================================

def _to_grid(f: torch.Tensor, gh: int, gw: int) -> torch.Tensor:
    """Resample a feature map to gh x gw: area-average when finer, bilinear when coarser."""
    if f.shape[-2] >= gh and f.shape[-1] >= gw:
        return F.adaptive_avg_pool2d(f, (gh, gw))
    return F.interpolate(f, size=(gh, gw), mode="bilinear", align_corners=False)


def _grid_size(h: int, w: int, max_positions: int) -> tuple[int, int]:
    """The matching grid: a quarter of the image side, at most ``max_positions`` cells."""
    gh, gw = max(1, h // 4), max(1, w // 4)
    if gh * gw > max_positions:
        s = math.sqrt(max_positions / (gh * gw))
        gh, gw = max(1, int(gh * s)), max(1, int(gw * s))
    return gh, gw


@torch.no_grad()
def correspondence(ft: dict, fr: dict, size: tuple[int, int], ref_ab: torch.Tensor,
                   max_positions: int = 1024, levels: Sequence[str] = LEVELS) -> dict:
    """Dense correspondence from target to reference by cosine similarity of VGG features.

    ``ft``, ``fr``: VGG19 features of the gray target and the gray reference (dicts level ->
    map). For each level l (maps finer than the matching grid are area-pooled to it):

    * ``sim_tr``: max_q cos(F_T(p), F_R(q)) — how well p finds a partner in the reference;
    * ``sim_bi``: cos(F_T(p), F_T(φ_R→T(φ_T→R(p)))) — the bidirectional (cycle) consistency
      of He et al.: does the partner's own best match lead back to something like p?

    The 2 x 5 maps are upsampled to ``size`` (the similarity sub-network's output). The
    warp φ_T→R uses all levels at once (features normalised per level and concatenated on
    the matching grid, i.e. the mean cosine over levels); its cell-to-cell flow is
    upsampled to pixels, each pixel keeping its offset within its cell, and the reference's
    ab is sampled there — a target that is its own reference gets its own ab back exactly.
    Returns dict(warped_ab (B, 2, H, W), sims (B, 10, H, W), confidence (B, 1, H, W) = the
    all-level max cosine, flow (B, gh, gw) reference cell indices).
    """
    H, W = size
    t0 = ft[levels[0]]
    B = t0.shape[0]
    gh, gw = _grid_size(H, W, max_positions)
    rh, rw = _grid_size(ref_ab.shape[-2], ref_ab.shape[-1], max_positions)
    sims, cat_t, cat_r = [], [], []
    for lvl in levels:
        a, b = ft[lvl].float(), fr[lvl].float()
        if a.shape[-2] > gh or a.shape[-1] > gw:
            a = F.adaptive_avg_pool2d(a, (min(gh, a.shape[-2]), min(gw, a.shape[-1])))
        if b.shape[-2] > rh or b.shape[-1] > rw:
            b = F.adaptive_avg_pool2d(b, (min(rh, b.shape[-2]), min(rw, b.shape[-1])))
        h, w = a.shape[-2:]
        A = F.normalize(a.flatten(2), dim=1)                      # (B, C, Nt)
        Bf = F.normalize(b.flatten(2), dim=1)                     # (B, C, Nr)
        S = A.transpose(1, 2) @ Bf                                # (B, Nt, Nr)
        s_tr, i_tr = S.max(dim=2)                                 # T -> R
        i_rt = S.argmax(dim=1)                                    # R -> T
        back = torch.gather(i_rt, 1, i_tr)                        # T -> R -> T
        s_bi = (A * torch.gather(A, 2, back.unsqueeze(1).expand(-1, A.shape[1], -1))).sum(1)
        for m in (s_tr, s_bi):
            sims.append(F.interpolate(m.view(B, 1, h, w), size=(H, W), mode="bilinear", align_corners=False))
        cat_t.append(F.normalize(_to_grid(ft[lvl].float(), gh, gw), dim=1))
        cat_r.append(F.normalize(_to_grid(fr[lvl].float(), rh, rw), dim=1))
    n = len(levels)
    A = torch.cat(cat_t, 1).flatten(2) / math.sqrt(n)
    Bf = torch.cat(cat_r, 1).flatten(2) / math.sqrt(n)
    S = A.transpose(1, 2) @ Bf                                    # mean cosine over levels
    conf, idx = S.max(dim=2)                                      # (B, gh*gw)
    dev = idx.device
    # per-pixel sampling position: matched cell centre + the pixel's offset in its cell
    py = torch.arange(H, device=dev)
    px = torch.arange(W, device=dev)
    cy, cx = (py * gh) // H, (px * gw) // W
    cell = (cy.view(H, 1) * gw + cx.view(1, W)).view(1, H * W).expand(B, -1)
    m = torch.gather(idx, 1, cell).view(B, H, W)
    my, mx = (m // rw).float(), (m % rw).float()
    ty = ((py.float() + 0.5) / H * 2 - 1).view(1, H, 1)
    tx = ((px.float() + 0.5) / W * 2 - 1).view(1, 1, W)
    oy = ty - ((cy.float() + 0.5) / gh * 2 - 1).view(1, H, 1)
    ox = tx - ((cx.float() + 0.5) / gw * 2 - 1).view(1, 1, W)
    sy = (my + 0.5) / rh * 2 - 1 + oy * (gh / rh)
    sx = (mx + 0.5) / rw * 2 - 1 + ox * (gw / rw)
    grid = torch.stack([sx, sy], dim=-1)
    warped = F.grid_sample(ref_ab.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    confidence = F.interpolate(conf.view(B, 1, gh, gw), size=(H, W), mode="nearest")
    return {"warped_ab": warped, "sims": torch.cat(sims, 1), "confidence": confidence,
            "flow": idx.view(B, gh, gw)}


# ======================================================================================
# What the exemplar methods share: the VGG, the references, the input sizes
# ======================================================================================

class ExemplarModel(ColorizationModel):
    """Base of the reference-conditioned methods.

    * ``vgg``: a frozen :class:`~colorsurvey.models.vgg.VGG19Features` (saved with the model).
      ``prepare(dataset)`` fills it: torchvision's ImageNet weights when ``vgg_kind`` allows
      and they are on disk, else a VGG19 trained here on ``dataset`` (cached). The training
      loop's ``fit_statistics`` calls it with the reference dataset (``references=``) or, when
      there is none, with its statistics batches.
    * references: ``references=`` (a dataset or :class:`~colorsurvey.references.ReferenceBank`)
      is where ``conditions_from_batch`` and training draw them from; without one, partners
      within the batch are used, and where the batch has none, a self-reference in training
      and the target's gray image in evaluation (see :meth:`conditions_from_batch`).
      ``reference_mode`` ("matched" | "mismatched" | "self") is what ``predict`` and
      evaluation use; :meth:`using_references` switches it for a block.
    * training: a share ``self_fraction`` of each batch takes self-references (colour
      jitter ``jitter`` + TPS warp ``warp``), the rest matched ones.
    """

    min_side = 32          # smaller inputs are upsampled for the VGG
    multiple = 16          # inputs are padded to a multiple of this

    def __init__(self, vgg_width: float = 0.25, vgg_kind: str = "auto", vgg_steps: int = 300,
                 vgg_cache: str | None = None, references=None, self_fraction: float = 0.5,
                 jitter: float = 0.5, warp: float = 0.08, reference_mode: str = "matched",
                 reference_seed: int = 0):
        super().__init__()
        self.vgg = VGG19Features(vgg_width).requires_grad_(False)
        self.vgg_kind, self.vgg_steps, self.vgg_cache = vgg_kind, int(vgg_steps), vgg_cache
        self.self_fraction, self.jitter, self.warp = float(self_fraction), float(jitter), float(warp)
        self.reference_mode, self.reference_seed = reference_mode, int(reference_seed)
        self._bank: ReferenceBank | None = None
        self.set_references(references)
        self._salt = 0
        self._gen = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 31 - 1, (1,), device="cpu")))

    # -- references -------------------------------------------------------------------
    def set_references(self, references) -> "ExemplarModel":
        """Where references come from: a dataset, a ReferenceBank, or None (the batch)."""
        if references is not None and not isinstance(references, ReferenceBank):
            references = ReferenceBank(references, seed=self.reference_seed)
        object.__setattr__(self, "_bank", references)
        return self

    @property
    def references(self) -> ReferenceBank | None:
        return self._bank

    @contextlib.contextmanager
    def using_references(self, mode: str | None = None, references=None):
        """Temporarily evaluate with another reference mode and/or source."""
        old_mode, old_bank = self.reference_mode, self._bank
        try:
            if mode is not None:
                self.reference_mode = mode
            if references is not None:
                self.set_references(references)
            yield self
        finally:
            self.reference_mode = old_mode
            object.__setattr__(self, "_bank", old_bank)

    def example_conditions(self, L: torch.Tensor) -> dict:
        """A random reference image of L's size (for timing and FLOP counts)."""
        return {"reference_rgb": torch.rand(L.shape[0], 3, *L.shape[-2:], device=L.device)}

    def conditions_from_batch(self, batch: dict) -> dict:
        """A reference per sample: ``reference_mode`` from the bank (or, without one, another
        sample of the batch), drawn deterministically per sample index. A sample for which
        neither holds a reference gets its own gray image (no colour to copy), never its own
        colours, so that evaluation cannot see the answer (``reference_mode="self"`` asks for
        the jittered, warped ground truth on purpose)."""
        idx = batch.get("index")
        key = int(idx.sum()) if isinstance(idx, torch.Tensor) and idx.numel() else 0
        g = torch.Generator().manual_seed(self.reference_seed * 1_000_003 + key)
        ref, _ = draw_references(batch, self._bank, mode=self.reference_mode, self_fraction=0.0,
                                 salt=self.reference_seed, jitter=self.jitter, warp=self.warp, generator=g,
                                 fallback="gray")
        return {"reference_rgb": ref}

    def _training_references(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        self._salt += 1
        return draw_references(batch, self._bank, mode="matched", self_fraction=self.self_fraction,
                               salt=self._salt + 7 * self.reference_seed, jitter=self.jitter,
                               warp=self.warp, generator=self._gen)

    # -- the VGG ------------------------------------------------------------------------
    def prepare(self, source=None, steps: int | None = None, progress: bool = True) -> "ExemplarModel":
        """Give the VGG its weights (see the class doc); a no-op when it has them."""
        if self.vgg.ready:
            return self
        if source is None and self._bank is not None:
            source = self._bank.dataset
        dev = self.vgg.state.device
        got = get_vgg19(self.vgg.width, kind=self.vgg_kind, source=source, steps=steps or self.vgg_steps,
                        cache_dir=self.vgg_cache, device=dev, progress=progress,
                        **({} if source is None or hasattr(source, "random_batch")
                           else {"num_classes": self._num_classes_hint}))
        if got.width != self.vgg.width:
            self.vgg = got.to(dev)
        else:
            self.vgg.load_state_dict(got.state_dict())
            self.vgg.source = got.source
        self.vgg.requires_grad_(False)
        return self

    _num_classes_hint = 20

    def fit_statistics(self, batches) -> None:
        if self.vgg.ready:
            return
        if self._bank is not None:
            self.prepare(self._bank.dataset)
            return
        items = list(batches)
        if items:
            self._num_classes_hint = max(int(b["label"].max()) for b in items) + 1
            self.prepare(items)

    def configure_optimizers(self):
        return {"main": torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.lr)}

    def train(self, mode: bool = True):
        super().train(mode)
        self.vgg.eval()            # frozen: always in eval mode
        return self

    # -- inputs of any size -------------------------------------------------------------
    def _prep(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Upsample so the shorter side is >= min_side, pad to a multiple; return the size
        before padding (after upsampling)."""
        H, W = x.shape[-2:]
        if min(H, W) < self.min_side:
            s = self.min_side / min(H, W)
            x = F.interpolate(x.float(), size=(max(self.min_side, round(H * s)), max(self.min_side, round(W * s))),
                              mode="bilinear", align_corners=False)
        size = tuple(x.shape[-2:])
        x, _ = self.pad_to_multiple(x, self.multiple)
        return x, size

    def _reference(self, L: torch.Tensor, reference_rgb: torch.Tensor | None) -> torch.Tensor:
        if reference_rgb is None:       # no exemplar: the target's gray image stands in
            return VGG19Features.gray(L)
        r = reference_rgb
        if r.dim() == 3:
            r = r.unsqueeze(0)
        if r.dim() != 4 or r.shape[1] != 3:
            raise ValueError(f"reference_rgb must be (B, 3, H, W) sRGB in [0, 1]; got {tuple(r.shape)}")
        r = r.to(L.device).float()
        if r.shape[0] == 1 and L.shape[0] > 1:
            r = r.expand(L.shape[0], -1, -1, -1)
        if r.shape[0] != L.shape[0]:
            raise ValueError(f"{r.shape[0]} references for {L.shape[0]} targets")
        return r.clamp(0, 1)

    def _finish(self, ab: torch.Tensor, size: tuple[int, int], L: torch.Tensor) -> torch.Tensor:
        ab = ab[..., :size[0], :size[1]].float()
        return self.to_input_size(ab, L)

    def _run(self, L: torch.Tensor, reference_rgb: torch.Tensor):
        """The network (``forward``) at its working size: returns ab at L's size, the network's
        second output as it is, and a function that brings any map of it to L's size."""
        x, size = self._prep(L)
        ab, aux = self(x, self._prep(reference_rgb)[0])
        return self._finish(ab, size, L), aux, (lambda t: self._finish(t, size, L))

    @torch.no_grad()
    def colorize(self, L: torch.Tensor, reference_rgb: torch.Tensor | None = None, **_) -> torch.Tensor:
        return self._run(L, self._reference(L, reference_rgb))[0]

    def _perceptual(self, L: torch.Tensor, ab: torch.Tensor, rgb: torch.Tensor, per_sample: bool = False):
        """ℓ2 between VGG19 relu5_1 features of the colorized image and the ground truth,
        relative to the ground truth's mean square (He et al.'s perceptual loss)."""
        with fp32(L.device):
            out = lab_to_rgb(torch.cat([L.float(), ab.float()], 1))
        fo = self.vgg(out, levels=("relu5_1",))["relu5_1"].float()
        with torch.no_grad():
            fg = self.vgg(rgb.float(), levels=("relu5_1",))["relu5_1"].float()
        err = (fo - fg).pow(2).mean(dim=(1, 2, 3)) / (fg.pow(2).mean(dim=(1, 2, 3)) + 1e-6)
        return err if per_sample else err.mean()


def _card_vgg_note() -> str:
    return ("VGG19 (conv1_1..conv5_1): torchvision's ImageNet weights when torchvision imports and they are on "
            "disk (paper width only), otherwise a VGG19 trained here as a category classifier on the data "
            "(mostly gray input), cached; model.vgg.describe() says which ran.")

