"""§2.7.3 Instance-aware Image Colorization (Su, Chu, Huang, CVPR 2020): object crops colorized
by an instance network, the whole image by a full-image network (13 layers each), and fusion
modules blending instance features into the full-image features at every layer with learned
per-pixel weights; trained in three stages."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import ColorizationModel, ModelCard
from ..layers import AB_NORM, fp32, norm_L
from ..registry import register

__all__ = ["InstanceAware", "Net13", "FusionModule", "boxes_from_batch", "INSTANCE_WIDTHS"]

#: Su et al.'s 13 layers at the widths the survey lists.
INSTANCE_WIDTHS = (64, 128, 256, 512, 512, 512, 512, 256, 256, 128, 128, 128, 128)


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
        x = norm_L(L)
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
        return AB_NORM * torch.tanh(self.head(x).float()), feats


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
        parameters=23_540_094, parameters_source="this re-implementation",
        survey_recipe="§2.7.3: three stages (full-image network, instance network, fusion with both frozen), smooth-l1; ImageNet, COCO-Stuff and Places205 at 256x256; no iterations or learning rate given",
        notes="The survey's reference [85] gives Lee et al.'s sketch-colorization title ([46]) for this paper and prints the authors given-name first (S. Jheng-Wei, C. Hung-Kuo, H. Jia-Bin); the paper is 'Instance-aware Image Colorization', Jheng-Wei Su, Hung-Kuo Chu, Jia-Bin Huang, CVPR 2020, pp. 7968-7977.",
        authors="Jheng-Wei Su, Hung-Kuo Chu, Jia-Bin Huang", venue="CVPR", year=2020, section="2.7.3",
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
            with fp32(x.device):
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
        with fp32(gt.device):
            return F.huber_loss(pred.float() / AB_NORM, gt.float() / AB_NORM, delta=self.huber_delta) / self.huber_delta

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

