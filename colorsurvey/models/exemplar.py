"""Exemplar-based colorization (survey §2.7): colour taken from a reference image.

The survey's last class of networks colorizes a gray *target* after a colour *reference*
(an exemplar) chosen by the user or retrieved from a database, so that the same gray image
can take different colours. Three methods are re-implemented here, top to bottom:

* §2.7.1 :class:`DeepExemplar` — He, Chen, Liao, Sander, Yuan, SIGGRAPH 2018: a similarity
  sub-network (VGG19 features of target and reference at five levels, bidirectional
  similarity maps, dense correspondence that warps the reference's chrominance) and a U-Net
  colorization sub-network; chrominance ℓ2 plus a perceptual loss.
* §2.7.2 :class:`FastDeepExemplar` — Xu, Wang, Fu, Jia, CVPR 2020: a transfer sub-network
  (VGG19 encoder to relu4_1, AdaIN between target and reference features, a symmetric
  decoder) gives coarse ab, which a U-Net colorization sub-network refines.
* §2.7.3 :class:`InstanceAware` — Su, Chu, Huang, CVPR 2020: object crops colorized by an
  instance network, the whole image by a full-image network (13 layers each), and fusion
  modules blending instance features into the full-image features at every layer with
  learned per-pixel weights; trained in three stages.

Shared pieces: :mod:`colorsurvey.models.vgg` (VGG19 features, torchvision's ImageNet weights
when available, else trained here) and :mod:`colorsurvey.references` (matched, mismatched
and self-references).

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
import torch.nn as nn
import torch.nn.functional as F

from ..color import lab_to_rgb, rgb_to_lab
from ..references import ReferenceBank, draw_references
from .base import ColorizationModel, ModelCard
from .baselines import ConvBlock, UNetCore
from .registry import register
from .vgg import LEVELS, VGG19Features, get_vgg19

__all__ = ["DeepExemplar", "FastDeepExemplar", "InstanceAware", "adain", "correspondence",
           "ExemplarModel", "boxes_from_batch", "INSTANCE_WIDTHS", "stage_split"]

#: Su et al.'s 13 layers at the widths the survey lists.
INSTANCE_WIDTHS = (64, 128, 256, 512, 512, 512, 512, 256, 256, 128, 128, 128, 128)


def _fp32(device: torch.device):
    """A region computed in float32 even inside a bf16 autocast."""
    return torch.autocast(device_type=device.type, enabled=False)


def _norm_L(L: torch.Tensor) -> torch.Tensor:
    return (L.float() - 50.0) / 50.0


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
        self._gen = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 31 - 1, (1,))))

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
        with _fp32(L.device):
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


# ======================================================================================
# §2.7.1 Deep Exemplar-based Colorization (He et al. 2018)
# ======================================================================================

@register
class DeepExemplar(ExemplarModel):
    """He et al. 2018: similarity sub-network + colorization sub-network.

    ``correspond(L, reference_rgb)`` runs the similarity sub-network (VGG19 on the gray
    target and the gray reference, :func:`correspondence`); the colorization sub-network, a
    U-Net, takes [L, warped reference ab, 10 similarity maps] and predicts ab. Training
    (He et al.'s two branches in one step): self-referenced samples get the chrominance ℓ2
    loss against the ground truth (their reference holds the right colours, displaced);
    every sample gets the perceptual loss (VGG19 relu5_1), which is all a matched
    reference of another instance can be held to.
    """

    card = ModelCard(
        key="deep-exemplar", title="Deep Exemplar-based Colorization",
        authors="He, Chen, Liao, Sander, Yuan", venue="SIGGRAPH (ACM TOG)", year=2018, section="2.7.1",
        taxonomy="exemplar-based", conditions=("exemplar",),
        losses=("chrominance ℓ2 (self-referenced samples)", "perceptual ℓ2 on VGG19 relu5_1"),
        framework="Caffe (similarity via Deep Image Analogy, CUDA)",
        substitutions=(
            "Dense correspondence by cosine similarity of VGG19 features (argmax over the reference, "
            "all five levels at once on a quarter-resolution grid, cell flow upsampled to pixels) in "
            "place of Deep Image Analogy's PatchMatch; bidirectional similarity maps from the same "
            "features at each level. " + _card_vgg_note() + " References: same category, another "
            "instance, from the data (the paper retrieved them from ImageNet with its own retrieval "
            "network); training mixes these with self-references (colour jitter + thin-plate-spline "
            "warp) standing in for the paper's warped ground truth. U-Net widths 64/16/8 "
            "(paper/small/smoke); trained for minutes instead of days."),
    )
    sizes = {
        "paper": {"width": 64, "depth": 4, "vgg_width": 1.0, "vgg_steps": 3000, "max_positions": 4096},
        "small": {"width": 16, "depth": 3, "vgg_width": 0.25, "vgg_steps": 300, "max_positions": 1024},
        "smoke": {"width": 8, "depth": 2, "vgg_width": 0.0625, "vgg_steps": 40, "max_positions": 256},
    }
    lr = 2e-3

    def __init__(self, width: int = 32, depth: int = 3, max_positions: int = 1024,
                 perceptual_weight: float = 0.1, **kw):
        super().__init__(**kw)
        self.max_positions = int(max_positions)
        self.perceptual_weight = float(perceptual_weight)
        self.colorizer = UNetHead(1 + 2 + 2 * len(LEVELS), width, depth)
        self.multiple = max(16, 2 ** depth)

    def correspond(self, L: torch.Tensor, reference_rgb: torch.Tensor) -> dict:
        """The similarity sub-network on prepared (padded) inputs."""
        with torch.no_grad():
            ft = self.vgg(VGG19Features.gray(L))
            with _fp32(L.device):
                ref_lab = rgb_to_lab(reference_rgb.float())
            fr = self.vgg(VGG19Features.gray(ref_lab[:, :1]))
            with _fp32(L.device):
                return correspondence(ft, fr, tuple(L.shape[-2:]), ref_lab[:, 1:], self.max_positions)

    def forward(self, L: torch.Tensor, reference_rgb: torch.Tensor) -> tuple[torch.Tensor, dict]:
        c = self.correspond(L, reference_rgb)
        x = torch.cat([_norm_L(L), c["warped_ab"] / 110.0, c["sims"]], 1)
        return self.colorizer(x), c

    @torch.no_grad()
    def explain(self, L: torch.Tensor, reference_rgb: torch.Tensor | None = None) -> dict:
        """ab, the warped reference ab and the confidence map, all at the input size."""
        ab, c, finish = self._run(L, self._reference(L, reference_rgb))
        return {"ab": ab, "warped_ab": finish(c["warped_ab"]), "confidence": finish(c["confidence"]),
                "sims": finish(c["sims"])}

    def training_step(self, batch: dict) -> dict:
        ref, is_self = self._training_references(batch)
        L, gt = batch["L"], batch["ab"].float()
        pred = self._run(L, ref)[0]
        w = is_self.float()
        with _fp32(L.device):
            chroma = ((pred - gt) / 110.0).pow(2).mean(dim=(1, 2, 3))
            chroma = (chroma * w).sum() / w.sum().clamp_min(1.0)
        perc = self._perceptual(L, pred, batch["rgb"])
        loss = chroma + self.perceptual_weight * perc
        self.step(loss)
        return {"loss": loss.detach(), "chroma": chroma.detach(), "perceptual": perc.detach()}


# ======================================================================================
# §2.7.2 Fast Deep Exemplar Colorization (Xu et al. 2020)
# ======================================================================================

class TransferDecoder(nn.Module):
    """The transfer sub-network's decoder, symmetric to VGG19 conv1_1..conv4_1: from the
    AdaIN'd relu4_1 features up to full resolution, taking the AdaIN'd relu3_1, relu2_1 and
    relu1_1 features at each scale; ends in coarse ab (110 tanh)."""

    def __init__(self, chans: dict[str, int]):
        super().__init__()
        c1, c2, c3, c4 = (chans[k] for k in LEVELS[:4])
        self.b4 = ConvBlock(c4, c3, n=1)                 # mirror of conv4_1
        self.b3 = ConvBlock(c3 + c3, c2, n=4)            # mirror of conv3_1..conv3_4
        self.b2 = ConvBlock(c2 + c2, c1, n=2)            # mirror of conv2_1..conv2_2
        self.b1 = ConvBlock(c1 + c1, c1, n=2)            # mirror of conv1_1..conv1_2
        self.out = nn.Conv2d(c1, 2, 3, padding=1)

    def forward(self, t: dict[str, torch.Tensor]) -> torch.Tensor:
        up = lambda x, ref: F.interpolate(x, size=ref.shape[-2:], mode="nearest")  # noqa: E731
        x = self.b4(t["relu4_1"])
        x = self.b3(torch.cat([up(x, t["relu3_1"]), t["relu3_1"]], 1))
        x = self.b2(torch.cat([up(x, t["relu2_1"]), t["relu2_1"]], 1))
        x = self.b1(torch.cat([up(x, t["relu1_1"]), t["relu1_1"]], 1))
        return 110.0 * torch.tanh(self.out(x).float())


@register
class FastDeepExemplar(ExemplarModel):
    """Xu et al. 2020: transfer sub-network (VGG19 to relu4_1 on the gray target and the
    colour reference, AdaIN at relu1_1..relu4_1, a symmetric decoder -> coarse ab, ℓ2 loss)
    and a U-Net colorization sub-network refining [L, coarse ab] (Huber loss). No dense
    correspondence: the reference acts through channel statistics, hence the speed."""

    card = ModelCard(
        key="fast-exemplar", title="Fast Deep Exemplar Colorization (stylization-based)",
        authors="Xu, Wang, Fu, Jia", venue="CVPR", year=2020, section="2.7.2",
        taxonomy="exemplar-based", conditions=("exemplar",),
        losses=("ℓ2 on the coarse ab", "Huber (smooth-ℓ1, δ = 11 ab units) on the refined ab"),
        framework="PyTorch (code not released with the paper)",
        substitutions=(
            "AdaIN at four levels with skip connections into a BatchNorm decoder mirroring VGG19 "
            "conv1_1..conv4_1 (the paper's exact transfer layers and weights are not public). "
            + _card_vgg_note() + " Trained on self-references (colour jitter + thin-plate-spline warp of "
            "the target) by default, matched references of another instance as an option "
            "(self_fraction). U-Net widths 64/16/8 (paper/small/smoke); minutes of training."),
    )
    sizes = {
        "paper": {"width": 64, "depth": 4, "vgg_width": 1.0, "vgg_steps": 3000},
        "small": {"width": 16, "depth": 3, "vgg_width": 0.25, "vgg_steps": 300},
        "smoke": {"width": 8, "depth": 2, "vgg_width": 0.0625, "vgg_steps": 40},
    }
    lr = 2e-3

    def __init__(self, width: int = 32, depth: int = 3, coarse_weight: float = 1.0, huber_delta: float = 0.1,
                 self_fraction: float = 1.0, **kw):
        super().__init__(self_fraction=self_fraction, **kw)
        self.transfer = TransferDecoder(self.vgg.channels)
        self.colorizer = UNetHead(3, width, depth)
        self.coarse_weight, self.huber_delta = float(coarse_weight), float(huber_delta)
        self.multiple = max(16, 2 ** depth)

    def transfer_features(self, L: torch.Tensor, reference_rgb: torch.Tensor) -> dict:
        levels = LEVELS[:4]
        with torch.no_grad():
            ft = self.vgg(VGG19Features.gray(L), levels)
            fr = self.vgg(reference_rgb.float(), levels)
        with _fp32(L.device):
            return {k: adain(ft[k], fr[k]) for k in levels}

    def forward(self, L: torch.Tensor, reference_rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        coarse = self.transfer(self.transfer_features(L, reference_rgb))
        ab = self.colorizer(torch.cat([_norm_L(L), coarse / 110.0], 1))
        return ab, coarse

    @torch.no_grad()
    def explain(self, L: torch.Tensor, reference_rgb: torch.Tensor | None = None) -> dict:
        """ab and the coarse ab of the transfer sub-network (no confidence map)."""
        ab, coarse, finish = self._run(L, self._reference(L, reference_rgb))
        return {"ab": ab, "warped_ab": finish(coarse), "confidence": None}

    def training_step(self, batch: dict) -> dict:
        ref, _ = self._training_references(batch)
        gt = batch["ab"].float() / 110.0
        L = batch["L"]
        ab, coarse, finish = self._run(L, ref)
        coarse = finish(coarse)
        with _fp32(gt.device):
            l_coarse = F.mse_loss(coarse / 110.0, gt)
            l_refine = F.huber_loss(ab / 110.0, gt, delta=self.huber_delta) / self.huber_delta
            loss = self.coarse_weight * l_coarse + l_refine
        self.step(loss)
        return {"loss": loss.detach(), "coarse": l_coarse.detach(), "refine": l_refine.detach()}


# ======================================================================================
# §2.7.3 Instance-aware Image Colorization (Su et al. 2020)
# ======================================================================================

def _parse_box(b, H: int, W: int) -> list[float] | None:
    """(x0, y0, x1, y1) normalised from a box or a (label, box) pair; pixels are divided by
    the image size; degenerate boxes give None."""
    if isinstance(b, (tuple, list)) and len(b) == 2 and hasattr(b[1], "__len__"):
        b = b[1]                                   # a (label, box) pair
    v = [float(x) for x in (b.tolist() if isinstance(b, torch.Tensor) else b)]
    if len(v) != 4:
        return None
    if max(v) > 1.5:
        v = [v[0] / W, v[1] / H, v[2] / W, v[3] / H]
    x0, y0, x1, y1 = (min(max(x, 0.0), 1.0) for x in v)
    if x1 - x0 < 1e-3 or y1 - y0 < 1e-3:
        return None
    return [x0, y0, x1, y1]


def boxes_from_batch(batch: dict) -> list[list[list[float]]] | None:
    """Object boxes per image from a batch, in place of Su et al.'s detector: the rendered
    scenes' ``instances`` (label, box) when present, else the ``box`` of the single object
    (real images: the box of the thresholded white-background mask), else the connected
    components of ``mask``; None when the batch has none of these."""
    H, W = batch["L"].shape[-2:]
    if "instances" in batch and batch["instances"] is not None:
        out = []
        for inst in batch["instances"]:
            items = inst.tolist() if isinstance(inst, torch.Tensor) else list(inst)
            out.append([bb for bb in (_parse_box(x, H, W) for x in items) if bb is not None])
        return out
    if "box" in batch and isinstance(batch["box"], torch.Tensor):
        bx = batch["box"].detach().float().cpu()
        bx = bx.view(bx.shape[0], -1, 4)
        return [[bb for bb in (_parse_box(x, H, W) for x in row) if bb is not None] for row in bx]
    if "mask" in batch and isinstance(batch["mask"], torch.Tensor):
        from scipy import ndimage as ndi

        out = []
        for m in batch["mask"].detach().cpu().numpy()[:, 0] > 0.5:
            lab, n = ndi.label(m)
            boxes = []
            for sl in ndi.find_objects(lab):
                if sl is None:
                    continue
                y, x = sl
                if (y.stop - y.start) * (x.stop - x.start) >= 0.01 * m.size:
                    boxes.append([x.start / m.shape[1], y.start / m.shape[0], x.stop / m.shape[1], y.stop / m.shape[0]])
            out.append(boxes)
        return out
    return None


def _normalise_boxes(boxes, B: int, H: int, W: int) -> list[list[list[float]]]:
    if boxes is None:
        return [[] for _ in range(B)]
    if isinstance(boxes, torch.Tensor):
        boxes = boxes.detach().float().cpu().view(B, -1, 4).tolist()
    if len(boxes) != B:
        raise ValueError(f"boxes for {len(boxes)} images, but {B} images")
    return [[bb for bb in (_parse_box(x, H, W) for x in (row.tolist() if isinstance(row, torch.Tensor) else row))
             if bb is not None] for row in boxes]


class Net13(nn.Module):
    """The 13-layer colorization network of Su et al. (their full-image and instance
    networks share this shape, after Zhang et al. 2017): layers 1-4 go down to 1/8 (stride-2
    3x3 convs), 5-6 are dilated, 7 keeps 1/8, 8/10/12 go back up (bilinear x2, conv, plus a
    1x1-projected shortcut from layers 3/2/1), then a 1x1 conv to ab (110 tanh). Every
    layer is 3x3 conv + BatchNorm + ReLU. ``forward(L, fuse)`` lets a fusion module replace
    each layer's output (``fuse(j, x) -> x``) and returns (ab, the 13 feature maps)."""

    STRIDES = (1, 2, 4, 8, 8, 8, 8, 4, 4, 2, 2, 1, 1)
    SKIPS = {7: 2, 9: 1, 11: 0}

    def __init__(self, widths: Sequence[int] = INSTANCE_WIDTHS):
        super().__init__()
        if len(widths) != 13:
            raise ValueError("Net13 needs 13 widths")
        self.widths = tuple(int(w) for w in widths)
        layers, skips = [], {}
        cin = 1
        for j, c in enumerate(self.widths):
            stride = 2 if j in (1, 2, 3) else 1
            dil = 2 if j in (4, 5) else 1
            layers.append(nn.ModuleDict({
                "conv": nn.Conv2d(cin, c, 3, stride=stride, padding=dil, dilation=dil, bias=False),
                "bn": nn.BatchNorm2d(c)}))
            if j in self.SKIPS:
                skips[str(j)] = nn.Conv2d(self.widths[self.SKIPS[j]], c, 1, bias=False)
            cin = c
        self.layers = nn.ModuleList(layers)
        self.skips = nn.ModuleDict(skips)
        self.head = nn.Conv2d(cin, 2, 1)

    def forward(self, L: torch.Tensor, fuse=None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = _norm_L(L)
        feats: list[torch.Tensor] = []
        for j, layer in enumerate(self.layers):
            if j in self.SKIPS:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            y = layer["conv"](x)
            if j in self.SKIPS:
                y = y + self.skips[str(j)](feats[self.SKIPS[j]])
            x = F.relu(layer["bn"](y))
            if fuse is not None:
                x = fuse(j, x)
            feats.append(x)
        return 110.0 * torch.tanh(self.head(x).float()), feats


class FusionModule(nn.Module):
    """Su et al.'s fusion at one layer: a small CNN (3 convs) predicts a per-pixel weight
    logit from the full-image features, another from each instance's features; instance
    features and logits are resized into their boxes (logit -inf outside); a softmax over
    {full image, instances} at every pixel gives the weights of a convex blend."""

    def __init__(self, channels: int, hidden: int = 16):
        super().__init__()
        mk = lambda: nn.Sequential(  # noqa: E731
            nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 3, padding=1))
        self.full, self.instance = mk(), mk()
        for net in (self.full, self.instance):       # start from equal weights
            nn.init.zeros_(net[-1].weight)
            nn.init.zeros_(net[-1].bias)

    def forward(self, full: torch.Tensor, inst: torch.Tensor, grids: torch.Tensor, inside: torch.Tensor,
                slot: torch.Tensor, kmax: int, return_weights: bool = False):
        """full (B, C, h, w); inst (N, C, hc, wc); grids (N, h, w, 2); inside (N, 1, h, w)
        bool; slot (N,) = image * kmax + k. Returns the fused (B, C, h, w)."""
        B, C, h, w = full.shape
        placed = F.grid_sample(inst.float(), grids, mode="bilinear", padding_mode="zeros", align_corners=False)
        li = F.grid_sample(self.instance(inst).float(), grids, mode="bilinear", padding_mode="border",
                           align_corners=False)
        li = li.masked_fill(~inside, float("-inf"))
        lf = self.full(full).float()                                  # (B, 1, h, w)
        logits = torch.full((B * kmax, 1, h, w), float("-inf"), device=full.device)
        logits = logits.index_copy(0, slot, li).view(B, kmax, h, w)
        feats = torch.zeros(B * kmax, C, h, w, device=full.device)
        feats = feats.index_copy(0, slot, placed).view(B, kmax, C, h, w)
        wts = torch.softmax(torch.cat([lf, logits], 1), dim=1)       # (B, 1 + kmax, h, w)
        fused = wts[:, :1] * full.float() + (wts[:, 1:, None] * feats).sum(1)
        fused = fused.to(full.dtype)
        return (fused, wts) if return_weights else fused


@register
class InstanceAware(ColorizationModel):
    """Su et al. 2020: full-image network + instance network + fusion modules.

    Trained in three stages by one ``training_step`` that follows ``stage_steps``: (1) the
    full-image network on whole images; (2) the instance network, initialised from it, on
    object crops (resized to ``crop`` pixels); (3) the fusion modules, with both networks
    frozen. Smooth-ℓ1 loss throughout. ``set_stage(k)`` overrides the schedule.
    ``colorize(L, boxes=...)`` fuses when boxes are given and stage 3 has been trained (or
    ``fusion=True``); without boxes it is the full-image network alone.
    """

    card = ModelCard(
        key="instance-aware", title="Instance-aware Image Colorization",
        authors="Su, Chu, Huang", venue="CVPR", year=2020, section="2.7.3",
        taxonomy="exemplar-based", conditions=("boxes",),
        losses=("smooth-ℓ1 (Huber, δ = 11 ab units), per stage",),
        framework="PyTorch (Detectron2 Mask R-CNN for the boxes)",
        substitutions=(
            "Object boxes come from the data (the renderer's boxes; on real white-background photos, "
            "boxes of the thresholded mask) in place of the off-the-shelf Mask R-CNN detector. "
            "Full-image and instance networks: 13 conv layers each (survey widths 64, 128, 256, 512, 512, "
            "512, 512, 256, 256, 128, 128, 128, 128 at 'paper', x1/4 'small', x1/16 'smoke'), one 3x3 conv "
            "+ BatchNorm + ReLU per layer with Zhang et al. 2017's shortcuts, trained from scratch here "
            "(the paper started from Zhang et al.'s ImageNet weights). Fusion at all 13 layers with "
            "3-conv weight networks; three stages as in the paper, minutes each. Not reference-"
            "conditioned: the survey files it under exemplar-based methods; a reference passed in "
            "is ignored."),
    )
    sizes = {
        "paper": {"width": 1.0, "stage_steps": (10000, 5000, 5000), "crop": 256},
        "small": {"width": 0.25, "stage_steps": (200, 200, 200), "crop": 64},
        "smoke": {"width": 0.0625, "stage_steps": (4, 4, 4), "crop": 32},
    }
    lr = 2e-3

    def __init__(self, width: float = 0.25, stage_steps: Sequence[int] = (200, 200, 200), crop: int = 64,
                 huber_delta: float = 0.1, max_instances: int = 8):
        super().__init__()
        widths = tuple(max(4, int(round(c * width))) for c in INSTANCE_WIDTHS)
        self.widths = widths
        self.full_net = Net13(widths)
        self.instance_net = Net13(widths)
        self.fusion = nn.ModuleList([FusionModule(c) for c in widths])
        self.stage_steps = tuple(int(s) for s in stage_steps)
        if len(self.stage_steps) != 3:
            raise ValueError("stage_steps needs three step counts (full image, instances, fusion)")
        self.crop = max(16, int(crop) // 8 * 8)
        self.huber_delta, self.max_instances = float(huber_delta), int(max_instances)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self.stage_override: int | None = None
        self.use_fusion: bool | None = None
        self._count: int | None = None
        self._initialised_instance = False

    # -- stages ---------------------------------------------------------------------------
    def stage_at(self, step: int) -> int:
        s1, s2, _ = self.stage_steps
        return 1 if step < s1 else (2 if step < s1 + s2 else 3)

    @property
    def stage(self) -> int:
        if self.stage_override is not None:
            return self.stage_override
        if self._count is None:
            self._count = int(self.steps_done)
        return self.stage_at(self._count)

    def set_stage(self, stage: int | None) -> "InstanceAware":
        if stage not in (None, 1, 2, 3):
            raise ValueError("stage must be 1, 2, 3 or None (follow stage_steps)")
        self.stage_override = stage
        return self

    def fusion_trained(self) -> bool:
        return int(self.steps_done) > sum(self.stage_steps[:2]) or self.stage_override == 3

    def configure_optimizers(self):
        return {"full": torch.optim.Adam(self.full_net.parameters(), lr=self.lr),
                "instance": torch.optim.Adam(self.instance_net.parameters(), lr=self.lr),
                "fusion": torch.optim.Adam(self.fusion.parameters(), lr=self.lr)}

    # -- crops and placements --------------------------------------------------------------
    def _layout(self, boxes: list[list[list[float]]], H: int, W: int, Hp: int, Wp: int, device):
        """Flatten per-image boxes: (image index, slot, boxes in padded coordinates)."""
        img, slot, bx = [], [], []
        kmax = 1
        sy, sx = H / Hp, W / Wp
        for i, row in enumerate(boxes):
            row = row[: self.max_instances]
            kmax = max(kmax, len(row))
            for k, (x0, y0, x1, y1) in enumerate(row):
                img.append(i)
                slot.append((i, k))
                bx.append([x0 * sx, y0 * sy, x1 * sx, y1 * sy])
        if not bx:
            return None
        idx = torch.tensor(img, device=device)
        slots = torch.tensor([i * kmax + k for i, k in slot], device=device)
        return idx, slots, kmax, torch.tensor(bx, device=device, dtype=torch.float32)

    def _crops(self, x: torch.Tensor, idx: torch.Tensor, bx: torch.Tensor) -> torch.Tensor:
        """Crop boxes out of x (B, C, H, W) and resize them to crop x crop."""
        x0, y0, x1, y1 = bx.unbind(1)
        theta = torch.zeros(len(bx), 2, 3, device=x.device)
        theta[:, 0, 0], theta[:, 0, 2] = x1 - x0, x0 + x1 - 1
        theta[:, 1, 1], theta[:, 1, 2] = y1 - y0, y0 + y1 - 1
        grid = F.affine_grid(theta, (len(bx), x.shape[1], self.crop, self.crop), align_corners=False)
        return F.grid_sample(x[idx].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)

    @staticmethod
    def _placement(bx: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Where each full-map pixel falls inside each box: grids (N, h, w, 2), inside mask."""
        dev = bx.device
        X = ((torch.arange(w, device=dev).float() + 0.5) / w).view(1, 1, w)
        Y = ((torch.arange(h, device=dev).float() + 0.5) / h).view(1, h, 1)
        x0, y0, x1, y1 = (t.view(-1, 1, 1) for t in bx.unbind(1))
        u = (X - x0) / (x1 - x0) * 2 - 1
        v = (Y - y0) / (y1 - y0) * 2 - 1
        u, v = u.expand(-1, h, w), v.expand(-1, h, w)
        inside = ((u.abs() <= 1) & (v.abs() <= 1)).unsqueeze(1)
        return torch.stack([u, v], -1), inside

    # -- forward passes --------------------------------------------------------------------
    def fused(self, L: torch.Tensor, boxes, return_weights: bool = False):
        """The full network with every layer fused with the instance network's features.
        L is padded to a multiple of 8 already; ``boxes`` per image in [0, 1] of the
        unpadded (H, W) given as ``boxes = (list, H, W)``."""
        rows, H, W = boxes
        Hp, Wp = L.shape[-2:]
        lay = self._layout(rows, H, W, Hp, Wp, L.device)
        if lay is None:
            ab, _ = self.full_net(L)
            return (ab, None) if return_weights else ab
        idx, slots, kmax, bx = lay
        crops = self._crops(L, idx, bx)
        _, inst_feats = self.instance_net(crops)
        weights = {}

        def fuse(j, x):
            h, w = x.shape[-2:]
            grids, inside = self._placement(bx, h, w)
            with _fp32(x.device):
                out = self.fusion[j](x.float(), inst_feats[j].float(), grids, inside, slots, kmax,
                                     return_weights=return_weights)
            if return_weights:
                out, wts = out
                weights[j] = wts
            return out

        ab, _ = self.full_net(L, fuse)
        return (ab, weights) if return_weights else ab

    def _run(self, L: torch.Tensor, boxes, fusion: bool | None, return_weights: bool = False):
        B, _, H, W = L.shape
        x, _ = self.pad_to_multiple(L.float(), 8)
        rows = _normalise_boxes(boxes, B, H, W)
        use = self.use_fusion if fusion is None else fusion
        if use is None:
            use = self.fusion_trained()
        if use and any(rows):
            out = self.fused(x, (rows, H, W), return_weights=return_weights)
        else:
            out = (self.full_net(x)[0], None) if return_weights else self.full_net(x)[0]
        if return_weights:
            ab, wts = out
            return ab[..., :H, :W].float(), wts
        return out[..., :H, :W].float()

    def conditions_from_batch(self, batch: dict) -> dict:
        return {"boxes": boxes_from_batch(batch)}

    def example_conditions(self, L: torch.Tensor, objects: int = 2) -> dict:
        """``objects`` side-by-side boxes per image, fused (for timing and FLOP counts)."""
        boxes = [[0.1 + 0.8 * k / objects, 0.2, 0.1 + 0.8 * (k + 1) / objects, 0.8] for k in range(objects)]
        return {"boxes": [boxes] * L.shape[0], "fusion": True}

    @torch.no_grad()
    def colorize(self, L: torch.Tensor, boxes=None, fusion: bool | None = None, **_) -> torch.Tensor:
        """ab from L; ``boxes``: per image a list of (x0, y0, x1, y1) in [0, 1] (or pixels),
        or a (B, 4) / (B, K, 4) tensor."""
        return self._run(L, boxes, fusion)

    @torch.no_grad()
    def explain(self, L: torch.Tensor, boxes=None, reference_rgb=None, **_) -> dict:
        """ab fused and full-image-only, and the instance share of the last layer's weights."""
        ab, wts = self._run(L, boxes, True, return_weights=True)
        full = self._run(L, None, False)
        conf = None
        if wts:
            w = wts[max(wts)]
            conf = (1 - w[:, :1])[..., :L.shape[-2], :L.shape[-1]]
        return {"ab": ab, "full_ab": full, "warped_ab": None, "confidence": conf}

    # -- training ----------------------------------------------------------------------------
    def _loss(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        with _fp32(gt.device):
            return F.huber_loss(pred.float() / 110.0, gt.float() / 110.0, delta=self.huber_delta) / self.huber_delta

    def training_step(self, batch: dict) -> dict:
        stage = self.stage
        L, gt = batch["L"], batch["ab"].float()
        if stage == 1:
            self.full_net.train()
            loss = self._loss(self.full_net(L)[0], gt)
            self.step(loss, "full")
        elif stage == 2:
            if not self._initialised_instance and self._count == self.stage_steps[0] \
                    and self.stage_override is None:
                self.instance_net.load_state_dict(self.full_net.state_dict())
            self._initialised_instance = True
            self.instance_net.train()
            B, _, H, W = L.shape
            lay = self._layout(_normalise_boxes(boxes_from_batch(batch), B, H, W), H, W, H, W, L.device)
            if lay is None:                      # no boxes: whole images stand in as instances
                lay = (torch.arange(B, device=L.device), None, 1,
                       torch.tensor([[0.0, 0.0, 1.0, 1.0]] * B, device=L.device))
            idx, _, _, bx = lay
            with torch.no_grad():
                lab = self._crops(torch.cat([L.float(), gt], 1), idx, bx)
            loss = self._loss(self.instance_net(lab[:, :1])[0], lab[:, 1:])
            self.step(loss, "instance")
        else:
            self.full_net.eval().requires_grad_(False)
            self.instance_net.eval().requires_grad_(False)
            try:
                B, _, H, W = L.shape
                boxes = boxes_from_batch(batch)
                x, _ = self.pad_to_multiple(L.float(), 8)
                pred = self.fused(x, (_normalise_boxes(boxes, B, H, W), H, W))[..., :H, :W]
                loss = self._loss(pred, gt)
                if loss.requires_grad:           # a batch without boxes has nothing to fuse
                    self.step(loss, "fusion")
            finally:
                self.full_net.requires_grad_(True)
                self.instance_net.requires_grad_(True)
        self.steps_done += 1
        if self._count is not None:
            self._count += 1
        return {"loss": loss.detach()}


# ======================================================================================
# Helpers for the notebook and the benchmark
# ======================================================================================

def stage_split(total_steps: int, fractions: Sequence[float] = (0.4, 0.3, 0.3)) -> tuple[int, int, int]:
    """Split a step budget over Su et al.'s three stages (at least one step each)."""
    total = max(3, int(total_steps))
    a = max(1, round(total * fractions[0]))
    b = max(1, round(total * fractions[1]))
    return a, b, max(1, total - a - b)
