"""§2.2.2 Real-Time User-Guided Image Colorization with Learned Deep Priors (Zhang, Zhu,
Isola, Geng, Lin, Yu, Efros, SIGGRAPH 2017): the local-hint network (at size "paper" the
published network, whose official weights load by name) with its 529-bin distribution head,
and the global-hint network."""

from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from ... import hints as H
from ..base import ModelCard
from ..layers import AB_NORM, fp32
from ..losses import huber_ab
from ..registry import create, register
from ..weights import ZHANG_LICENCE, OfficialWeights, declare
from ...color import gamut_bins
from .base import UserGuidedModel, encode_ab_index, in_gamut, siggraph17_bins

__all__ = ["RealTimeUserGuided", "RealTimeUserGuidedGlobal", "OFFICIAL_SIGGRAPH17_URL", "SIGGRAPH17"]

#: The authors' released local-hint network (richzhang/colorization), loaded by
#: ``create("realtime-ug", size="paper", pretrained=True)``.
SIGGRAPH17 = declare(OfficialWeights(
    name="siggraph17",
    title="Real-Time User-Guided Image Colorization (Zhang et al., SIGGRAPH 2017), PyTorch port",
    url="https://colorizers.s3.us-east-2.amazonaws.com/siggraph17-df00044c.pth",
    # the torch-hub name's prefix only: full digest and size could not be measured (no network)
    sha256="df00044c", bytes=None, licence=ZHANG_LICENCE,
    source="github.com/richzhang/colorization (README, colorizers/siggraph17.py)", parameters=34_187_027,
    method="realtime-ug", size="paper",
    label="Real-Time User-Guided (official SIGGRAPH17 weights, no hints)",
    # the released (Caffe-converted) weights take the hint mask in {0, 1}
    build={"mask_cent": 0.0},
))
OFFICIAL_SIGGRAPH17_URL = SIGGRAPH17.url


@register
class RealTimeUserGuided(UserGuidedModel):
    """The local-hint network of Zhang et al. (SIGGRAPH 2017), with its distribution head.

    Input: L, a sparse ab map of user points and their mask (4 channels: (L - 50)/100, ab/110,
    mask - mask_cent). Ten blocks of 3x3 conv + ReLU, each closed by BatchNorm: blocks 1-4 halve
    the resolution between them (by taking every second pixel, as the official code does) to 1/8
    with widths 64-128-256-512, blocks 5-6 are dilated by 2, block 7 plain, blocks 8-10 double it
    back with 4x4 transposed convolutions (widths 256-128-128), each added to a 3x3 conv of the
    encoder's block 3, 2 and 1 ("symmetric shortcuts"); block 10 ends in LeakyReLU(0.2); a 1x1
    conv and Tanh give ab / 110. A 1x1 conv on block 8 (1/4 resolution) gives logits over the
    529 ab bins of a 23 x 23 grid: the *distribution head* that suggests colours for a point.
    Loss: Huber on ab (delta = 1 Lab unit) plus cross-entropy of the distribution head, which
    sees block 8's features detached so it cannot disturb the regression.

    At size "paper" the module names and shapes are exactly those of the official PyTorch
    weights (34,187,027 parameters); :meth:`from_official` downloads and loads them.
    """

    card = ModelCard(
        key="realtime-ug", title="Real-Time User-Guided Image Colorization with Learned Deep Priors",
        parameters=SIGGRAPH17.parameters, parameters_source="official code (richzhang/colorization, colorizers/siggraph17.py)",
        survey_recipe="§2.2.2: Huber and regression losses; the survey gives no iterations, learning rate or data",
        authors="Richard Zhang, Jun-Yan Zhu, Phillip Isola, Xinyang Geng, Angela S. Lin, Tianhe Yu, Alexei A. Efros",
        venue="ACM Transactions on Graphics (SIGGRAPH)", year=2017, section="2.2.2", taxonomy="user-guided",
        conditions=("hints",),
        losses=("Huber (smooth L1) on ab, delta = 1 Lab unit", "cross-entropy of the 529-bin distribution head"),
        framework="Caffe (original); official PyTorch port of the weights in richzhang/colorization",
        substitutions=(
            "'paper' is the published local-hint network with the official module names and shapes "
            "(34,187,027 parameters): from_official() loads the released weights (they expect a hint "
            "mask in {0, 1}, mask_cent = 0; networks trained here centre it to {-0.5, 0.5} as the "
            "authors' training code does). 'small' is x1/4 wide with one or two convs per block, "
            "'smoke' x1/8 wide with one conv per block. Hints are simulated as in the authors' code "
            "(geometric count p = 1/8, patches of side 1-9 centred around the image centre with spread "
            "(H - P + 1)/4, each the patch's mean ab). The authors train the distribution head first "
            "and the regression second on ImageNet; here both train together on the dataset, the head "
            "on detached features. The distribution head offers the suggested colours; the paper's "
            "tool also shows them as a gamut palette (see the hint painter)."),
    )
    sizes = {
        "paper": dict(width=1.0, convs=(2, 2, 3, 3, 3, 3, 3, 2)),
        "small": dict(width=0.25, convs=(1, 1, 2, 2, 2, 2, 2, 1)),
        "smoke": dict(width=0.125, convs=(1, 1, 1, 1, 1, 1, 1, 1)),
    }
    L_CENT, L_NORM = 50.0, 100.0
    NUM_BINS = 529

    def __init__(self, width: float = 1.0, convs=(2, 2, 3, 3, 3, 3, 3, 2), mask_cent: float = 0.5,
                 ce_weight: float = 1.0, lr: float = 1e-3, classes: int = 529):
        super().__init__()
        self.mask_cent, self.ce_weight, self.lr = mask_cent, ce_weight, lr
        c = [max(1, round(v * width)) for v in (64, 128, 256, 512, 512, 512, 512, 256, 128, 128)]
        self.widths = c

        def block(cin, cout, n, dilation=1):
            """n x (3x3 conv + ReLU), then BatchNorm: the official layout (conv at 0, 2, ...)."""
            layers: list[nn.Module] = []
            for i in range(n):
                layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=dilation, dilation=dilation,
                                     bias=True), nn.ReLU(True)]
            return nn.Sequential(*layers, nn.BatchNorm2d(cout))

        self.model1 = block(4, c[0], convs[0])
        self.model2 = block(c[0], c[1], convs[1])
        self.model3 = block(c[1], c[2], convs[2])
        self.model4 = block(c[2], c[3], convs[3])
        self.model5 = block(c[3], c[4], convs[4], dilation=2)
        self.model6 = block(c[4], c[5], convs[5], dilation=2)
        self.model7 = block(c[5], c[6], convs[6])
        self.model8up = nn.Sequential(nn.ConvTranspose2d(c[6], c[7], 4, stride=2, padding=1, bias=True))
        m8: list[nn.Module] = [nn.ReLU(True)]
        for _ in range(convs[7]):
            m8 += [nn.Conv2d(c[7], c[7], 3, padding=1, bias=True), nn.ReLU(True)]
        self.model8 = nn.Sequential(*m8, nn.BatchNorm2d(c[7]))
        self.model9up = nn.Sequential(nn.ConvTranspose2d(c[7], c[8], 4, stride=2, padding=1, bias=True))
        self.model9 = nn.Sequential(nn.ReLU(True), nn.Conv2d(c[8], c[8], 3, padding=1, bias=True), nn.ReLU(True),
                                    nn.BatchNorm2d(c[8]))
        self.model10up = nn.Sequential(nn.ConvTranspose2d(c[8], c[9], 4, stride=2, padding=1, bias=True))
        self.model10 = nn.Sequential(nn.ReLU(True), nn.Conv2d(c[9], c[9], 3, padding=1, bias=True),
                                     nn.LeakyReLU(negative_slope=0.2))
        self.model3short8 = nn.Sequential(nn.Conv2d(c[2], c[7], 3, padding=1, bias=True))
        self.model2short9 = nn.Sequential(nn.Conv2d(c[1], c[8], 3, padding=1, bias=True))
        self.model1short10 = nn.Sequential(nn.Conv2d(c[0], c[9], 3, padding=1, bias=True))
        self.model_class = nn.Sequential(nn.Conv2d(c[7], classes, 1, bias=True))
        self.model_out = nn.Sequential(nn.Conv2d(c[9], 2, 1, bias=True), nn.Tanh())
        self.register_buffer("bins", siggraph17_bins(), persistent=False)

    # -- network -------------------------------------------------------------------------
    def global_features(self, **conditions):   # the global-hint subclass adds to block 4
        return None

    def forward(self, L: torch.Tensor, hints: torch.Tensor, mask: torch.Tensor, **conditions):
        """(ab in Lab units, class logits at 1/4) for inputs whose H, W are multiples of 8."""
        x = torch.cat([(L - self.L_CENT) / self.L_NORM, hints / AB_NORM, mask - self.mask_cent], 1)
        conv1_2 = self.model1(x)
        conv2_2 = self.model2(conv1_2[:, :, ::2, ::2])
        conv3_3 = self.model3(conv2_2[:, :, ::2, ::2])
        conv4_3 = self.model4(conv3_3[:, :, ::2, ::2])
        g = self.global_features(**conditions)
        if g is not None:
            conv4_3 = conv4_3 + g.to(conv4_3.dtype)
        conv7_3 = self.model7(self.model6(self.model5(conv4_3)))
        conv8_3 = self.model8(self.model8up(conv7_3) + self.model3short8(conv3_3))
        logits = self.model_class(conv8_3.detach())
        conv9_3 = self.model9(self.model9up(conv8_3) + self.model2short9(conv2_2))
        conv10_2 = self.model10(self.model10up(conv9_3) + self.model1short10(conv1_2))
        return self.model_out(conv10_2).float() * AB_NORM, logits

    def _run(self, L, hints=None, mask=None, **conditions):
        hints, mask = self._hint_inputs(L, hints, mask)
        Hh, Ww = L.shape[-2:]
        ab, logits = self(self._pad(L, 8), self._pad(hints, 8, "zeros"), self._pad(mask, 8, "zeros"), **conditions)
        return ab[..., :Hh, :Ww], logits

    def colorize(self, L, hints=None, mask=None, **conditions):
        return self._run(L, hints, mask, **conditions)[0]

    @torch.no_grad()
    def distribution(self, L, hints=None, mask=None, **conditions) -> torch.Tensor:
        """Per-pixel probabilities over the 529 bins (:attr:`bins`), (B, 529, H, W)."""
        _, logits = self._run(L, hints, mask, **conditions)
        p = torch.softmax(logits.float(), 1)
        p = F.interpolate(p, scale_factor=4, mode="bilinear", align_corners=False)
        return p[..., :L.shape[-2], :L.shape[-1]]

    @torch.no_grad()
    def suggest_colors(self, L, x, y, hints=None, mask=None, k: int = 6, **conditions):
        """The ``k`` most probable in-gamut ab bins at pixel (x, y) under the distribution head,
        as (a, b, probability), most probable first (the authors' suggested-colour palette)."""
        was = self.training
        self.eval()
        try:
            _, logits = self._run(L, hints, mask, **conditions)
        finally:
            self.train(was)
        yy = min(int(y) // 4, logits.shape[-2] - 1)
        xx = min(int(x) // 4, logits.shape[-1] - 1)
        p = torch.softmax(logits[0, :, yy, xx].float(), 0).cpu()
        ok = in_gamut(float(L[0, 0, int(y), int(x)]), self.bins.cpu())
        p = torch.where(ok, p, torch.zeros_like(p))
        top = p.argsort(descending=True)[:k]
        return [(float(self.bins[q, 0]), float(self.bins[q, 1]), float(p[q])) for q in top.tolist() if p[q] > 0]

    # -- training ------------------------------------------------------------------------
    def training_step(self, batch: dict) -> dict:
        cond = self.training_conditions(batch)
        L, ab = batch["L"], batch["ab"]
        extra = {k: v for k, v in cond.items() if k not in ("hints", "mask")}
        pred, logits = self._run(L, cond["hints"], cond["mask"], **extra)
        with fp32(L.device):
            loss = huber_ab(pred, ab)
            target = encode_ab_index(self._pad(ab, 8)[:, :, ::4, ::4])      # as the authors: subsampled
            ce = F.cross_entropy(logits.float(), target)
        self.step(loss + self.ce_weight * ce)
        return {"loss": loss.detach(), "ce": ce.detach()}

    # -- the official weights ------------------------------------------------------------
    @classmethod
    def load_official_state_dict(cls, path: str | os.PathLike) -> "RealTimeUserGuided":
        """The 'paper' local-hint network with a state dict in the official layout, from a local
        file (= ``create("realtime-ug", size="paper", pretrained=path)``). A file named as the
        release (``siggraph17-df00044c.pth``) must have a sha256 starting with df00044c. The
        hint mask is then taken in {0, 1} (``mask_cent = 0``), as the released
        (Caffe-converted) weights expect. A file that does not fit raises ValueError naming the
        missing and unexpected keys."""
        return create("realtime-ug", size="paper", pretrained=path)

    @classmethod
    def from_official(cls, cache_dir: str | os.PathLike | None = None, progress: bool = True) -> "RealTimeUserGuided":
        """The published local-hint network with its released weights
        (= ``create("realtime-ug", size="paper", pretrained=True)``, declared in :data:`SIGGRAPH17`).

        Looks for ``siggraph17-df00044c.pth`` in ``cache_dir`` (default
        ``$COLORSURVEY_CACHE/weights`` or ``~/.cache/colorsurvey/weights``, then torch.hub's
        checkpoint folder, where richzhang/colorization's own loader keeps it) and otherwise
        downloads it from the authors' URL; the sha256 must start with ``df00044c``. Offline:
        :class:`colorsurvey.data.download.OfflineError` saying where to put the file by hand.
        """
        return create("realtime-ug", size="paper", pretrained=True, weights_cache=cache_dir, progress=progress)


@register
class RealTimeUserGuidedGlobal(RealTimeUserGuided):
    """The global-hint network of Zhang et al. 2017: the local-hint network plus global inputs.

    A global ab histogram (here over the sRGB-gamut bins at grid 10) and the mean saturation,
    each with a flag saying whether it is given, pass through four 1x1 conv + ReLU layers
    (512 wide at 'paper') and are added to block 4's features. Simulated from the ground truth:
    the histogram at 1/4 resolution and the mean HSV saturation, each given with probability
    1/2 in training, both at evaluation (``eval_global``).
    """

    card = ModelCard(
        key="realtime-ug-global", title="Real-Time User-Guided Image Colorization — global hints network",
        parameters=35_110_675, parameters_source="this re-implementation",
        survey_recipe="§2.2.2: as the local-hint network (the survey gives no numbers)",
        authors=RealTimeUserGuided.card.authors, venue=RealTimeUserGuided.card.venue, year=2017,
        section="2.2.2", taxonomy="user-guided", conditions=("hints", "histogram", "saturation"),
        losses=RealTimeUserGuided.card.losses, framework="Caffe (original)",
        substitutions=(
            "The global histogram is over the 262 sRGB-gamut ab bins computed here (grid 10) instead "
            "of the paper's 313; each global input is given with probability 1/2 during training "
            "(our choice); the network is trained from scratch jointly with its local-hint trunk "
            "(the authors fine-tune from the local-hint network). No official weights are released "
            "for it. Sizes as for realtime-ug."),
    )
    sizes = RealTimeUserGuided.sizes

    def __init__(self, width: float = 1.0, convs=(2, 2, 3, 3, 3, 3, 3, 2), p_global: float = 0.5, **kw):
        super().__init__(width=width, convs=convs, **kw)
        self.p_global = p_global
        self.register_buffer("hist_bins", gamut_bins(10.0), persistent=False)
        Q = self.hist_bins.shape[0]
        g = max(1, round(512 * width))
        layers: list[nn.Module] = []
        cin = Q + 3
        for _ in range(3):
            layers += [nn.Conv2d(cin, g, 1), nn.ReLU(True)]
            cin = g
        layers += [nn.Conv2d(g, self.widths[3], 1)]     # the fourth conv maps to block 4's width
        self.global_net = nn.Sequential(*layers)

    def simulate(self, batch, num_points=None, seeds=None, seed=None, give_global=None) -> dict:
        out = super().simulate(batch, num_points=num_points, seeds=seeds, seed=seed)
        hist, sat = H.global_hints(batch["ab"], self.hist_bins, batch.get("rgb"))
        B = hist.shape[0]
        if sat is None:
            sat = torch.zeros(B, device=hist.device)
        if give_global is None:   # training: each given with probability p_global
            g = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,)).item()) if seed is None else int(seed))
            use = (torch.rand(B, 2, generator=g) < self.p_global).float().to(hist.device)
        else:
            use = torch.full((B, 2), float(bool(give_global)), device=hist.device)
        out.update(histogram=hist * use[:, :1], histogram_given=use[:, 0],
                   saturation=sat * use[:, 1], saturation_given=use[:, 1])
        return out

    def global_features(self, histogram=None, histogram_given=None, saturation=None, saturation_given=None, **_):
        dev = self.hist_bins.device
        if histogram is None and saturation is None:
            return None
        B = (histogram if histogram is not None else saturation).shape[0]
        Q = self.hist_bins.shape[0]
        hist = histogram if histogram is not None else torch.zeros(B, Q, device=dev)
        hg = histogram_given if histogram_given is not None else torch.full((B,), float(histogram is not None), device=dev)
        sat = saturation if saturation is not None else torch.zeros(B, device=dev)
        sg = saturation_given if saturation_given is not None else torch.full((B,), float(saturation is not None), device=dev)
        v = torch.cat([hist.float(), hg.float().view(B, 1), sat.float().view(B, 1), sg.float().view(B, 1)], 1)
        return self.global_net(v.view(B, -1, 1, 1))

