"""The exemplar picker: colorize one gray image after references you choose (survey §2.7).

A gray target and a gallery of candidate references — thumbnails from the dataset (several
instances of the target's own category, as different in colour as the data offers, and a few
of other categories) or an image you upload. Picking one shows the colorized result, the
reference colours as the method transferred them (Deep Exemplar: the reference's ab warped by
the dense correspondence; Fast Deep Exemplar: the coarse ab of the AdaIN transfer network)
and, where the method has one, the similarity (confidence) map. Picking a red and then a
green apple shows the same gray apple taking either colour — the point of this class.

:class:`ExemplarPicker` is a state class in the manner of the other explorers: ``set_target``,
``pick``, ``upload``, ``set_method`` return a message and never raise; ``render()`` returns
the picture strip and scores (tests drive it headlessly); ``.widget`` builds the ipywidgets
UI: a gallery of thumbnails with one button each (description = the reference's name, e.g.
``"Apple #40"``, tooltip ``"use Apple #40 as the reference"``; CSS classes
``exemplar-pick`` and ``exemplar-pick-<i>``), a file upload, the result image (class
``exemplar-result``; its value changes with every pick), the strip (``exemplar-strip``) and a
message line (``exemplar-message``).
"""

from __future__ import annotations

import io
import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import metrics as M
from ..color import gray_rgb_from_L, lab_to_rgb, merge_lab
from .explorers import _hstack, _upscale, png_bytes
from ._common import last_upload

__all__ = ["ExemplarPicker", "decode_upload", "MIN_UPLOAD_SIDE"]

MIN_UPLOAD_SIDE = 8
MAX_UPLOAD_BYTES = 40 * 2 ** 20
_ERR = "<span style='color:#b00'>{}</span>"


def decode_upload(content, size: int) -> tuple[torch.Tensor | None, str]:
    """Bytes of an uploaded file -> ((3, size, size) sRGB tensor, "") or (None, message).

    Any PIL-readable image is accepted: palette, gray, CMYK, 16-bit and alpha images are
    converted to sRGB as :func:`colorsurvey.data.load_image` does (alpha onto white); it is
    center-cropped to a square and resized. Refused, with a message: empty or huge files,
    files that are not images, images whose shorter side is under ``MIN_UPLOAD_SIDE``.
    """
    from PIL import Image

    from ..data.real import ImageReadError, _open, _resize_square

    try:
        data = bytes(content)
    except Exception:
        return None, "the upload could not be read as bytes"
    if not data:
        return None, "the uploaded file is empty"
    if len(data) > MAX_UPLOAD_BYTES:
        return None, f"the uploaded file is too large ({len(data) / 2 ** 20:.0f} MB; at most {MAX_UPLOAD_BYTES // 2 ** 20} MB)"
    try:
        arr, _ = _open(io.BytesIO(data), label="the upload")      # the data module's reader: any mode -> sRGB
    except ImageReadError as e:
        if isinstance(e.__cause__, Image.DecompressionBombError):
            return None, "the image has too many pixels to open safely"
        return None, f"not an image PIL can read ({type(e.__cause__).__name__})"
    h, w = arr.shape[:2]
    if min(w, h) < MIN_UPLOAD_SIDE:
        return None, f"the image is too small ({w}x{h} px); a reference needs at least {MIN_UPLOAD_SIDE} px a side"
    return torch.from_numpy(np.array(_resize_square(arr, size))).permute(2, 0, 1).float() / 255.0, ""


def _ab_picture(ab: torch.Tensor, L: torch.Tensor) -> np.ndarray:
    """ab (2, H, W) on the target's lightness L (1, H, W): the transferred colours alone."""
    lab = torch.cat([L.float(), ab.float()], 0)
    return lab_to_rgb(lab).permute(1, 2, 0).numpy()


def _heat(m: torch.Tensor) -> np.ndarray:
    """A map (H, W) as a viridis picture, stretched from its minimum to its maximum."""
    import matplotlib

    v = m.float()
    v = (v - v.min()) / (v.max() - v.min()).clamp_min(1e-6)
    return matplotlib.colormaps["viridis"](v.numpy())[..., :3].astype(np.float32)


class ExemplarPicker:
    """Pick a reference for a gray target and see how an exemplar-based method colours it.

    Parameters: ``models`` (one model or a dict name -> model with ``colorize(L,
    reference_rgb=...)``, optionally ``explain``), ``targets`` (a dataset), ``references``
    (a dataset for the gallery; default ``targets``), ``index`` (the target), ``n_same`` and
    ``n_other`` (gallery thumbnails of the target's category and of others), ``zoom``.
    """

    def __init__(self, models, targets, references=None, index: int = 0, n_same: int = 4,
                 n_other: int = 3, zoom: int = 3, device=None):
        self.models = dict(models) if isinstance(models, dict) else {getattr(models, "card").key: models}
        if not self.models:
            raise ValueError("ExemplarPicker needs at least one model")
        self.method = next(iter(self.models))
        self.targets = targets
        self.references = references if references is not None else targets
        self.n_same, self.n_other, self.zoom = int(n_same), int(n_other), int(zoom)
        self.device = torch.device(device) if device is not None else None
        self.index = 0
        self.gallery: list[dict] = []
        self.selected = 0
        self.message = ""
        self.last_seconds = 0.0
        self._ref_labels = self.references.labels().cpu()
        self._cache: tuple | None = None
        self.set_target(index)

    # -- state -----------------------------------------------------------------------------
    @property
    def model(self):
        return self.models[self.method]

    @property
    def size(self) -> int:
        return int(self.target["L"].shape[-1])

    def set_target(self, index: int) -> str:
        """Show target ``index`` and rebuild the gallery around its category."""
        self.message = ""
        try:
            i = int(index)
        except (TypeError, ValueError):
            self.message = f"the target index must be a whole number; got {index!r}"
            return self.message
        if not 0 <= i < len(self.targets):
            self.message = f"target {i} is outside 0..{len(self.targets) - 1}; kept {self.index}"
            return self.message
        self.index = i
        self.target = self.targets.batch([i])
        uploads = [g for g in self.gallery if g["index"] is None]
        self.gallery = self._candidates(int(self.target["label"][0])) + uploads
        self.selected = 0
        self._cache = None
        return self.message

    def _candidates(self, label: int) -> list[dict]:
        """Instances of ``label`` spread over its colours (farthest-point sampling on their
        mean object ab), then the first instances of other categories."""
        cats = list(getattr(self.references, "categories", []))
        same = torch.nonzero(self._ref_labels == label).flatten()
        same = same[same != self.index] if (self.references is self.targets and same.numel() > 1) else same
        same = same[:64]
        picks: list[int] = []
        if same.numel():
            b = self.references.batch(same)
            w = (b["ab"].norm(dim=1, keepdim=True) > 8).float()
            mean_ab = (b["ab"] * w).sum((2, 3)) / w.sum((2, 3)).clamp_min(1.0)
            chosen = [0]
            d = (mean_ab - mean_ab[0]).norm(dim=1)
            while len(chosen) < min(self.n_same, len(same)):
                j = int(d.argmax())
                chosen.append(j)
                d = torch.minimum(d, (mean_ab - mean_ab[j]).norm(dim=1))
            picks = [int(same[j]) for j in chosen]
        others = []
        for c in range(len(cats) if cats else int(self._ref_labels.max()) + 1):
            if c == label or len(others) >= self.n_other:
                continue
            idx = torch.nonzero(self._ref_labels == c).flatten()
            if idx.numel():
                others.append(int(idx[0]))
        items = []
        if picks or others:
            b = self.references.batch(picks + others)
            for k, i in enumerate(picks + others):
                lab = int(b["label"][k])
                cat = cats[lab] if lab < len(cats) else str(lab)
                items.append({"name": f"{cat} #{i}", "rgb": b["rgb"][k].float().cpu(), "index": i,
                              "same": k < len(picks)})
        return items

    def pick(self, i: int) -> str:
        """Use gallery item ``i`` as the reference."""
        self.message = ""
        try:
            i = int(i)
        except (TypeError, ValueError):
            self.message = f"pick a gallery item by number; got {i!r}"
            return self.message
        if not 0 <= i < len(self.gallery):
            self.message = f"there is no gallery item {i} (0..{len(self.gallery) - 1})"
            return self.message
        self.selected = i
        self._cache = None
        return self.message

    def upload(self, content, name: str = "upload") -> str:
        """Add an uploaded image to the gallery and pick it; bad files get a message."""
        self.message = ""
        rgb, msg = decode_upload(content, self.size)
        if rgb is None:
            self.message = f"{name}: {msg}"
            return self.message
        self.gallery.append({"name": f"upload: {name}"[:40], "rgb": rgb, "index": None, "same": False})
        return self.pick(len(self.gallery) - 1)

    def set_method(self, name: str) -> str:
        self.message = ""
        if name not in self.models:
            self.message = f"unknown method {name!r}; choose {', '.join(self.models)}"
        else:
            self.method = name
            self._cache = None
        return self.message

    # -- computing and drawing ---------------------------------------------------------------
    @torch.no_grad()
    def compute(self) -> dict:
        """Run the method: dict(ab, warped_ab or None, confidence or None), cached."""
        key = (self.method, self.index, self.selected, id(self.gallery[self.selected]["rgb"]) if self.gallery else None)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        m = self.model
        dev = self.device or next(iter(m.parameters()), torch.empty(0)).device
        was = m.training
        m.eval()
        try:
            L = self.target["L"].float().to(dev)
            ref = self.gallery[self.selected]["rgb"][None].to(dev) if self.gallery else None
            t = time.perf_counter()
            if hasattr(m, "explain"):
                out = m.explain(L, reference_rgb=ref)
            else:
                out = {"ab": m.colorize(L, reference_rgb=ref)}
            self.last_seconds = time.perf_counter() - t
        finally:
            m.train(was)
        res = {k: (v.float().cpu() if isinstance(v, torch.Tensor) else None)
               for k, v in out.items() if k in ("ab", "warped_ab", "confidence")}
        res.setdefault("warped_ab", None)
        res.setdefault("confidence", None)
        self._cache = (key, res)
        return res

    def result_rgb(self) -> np.ndarray:
        """The colorized target, (H, W, 3) in [0, 1]."""
        r = self.compute()
        return merge_lab(self.target["L"].float().cpu(), r["ab"])[0].permute(1, 2, 0).numpy()

    def render(self) -> tuple[np.ndarray, dict]:
        """The strip: gray target | reference | transferred colours | confidence | result |
        ground truth; and scores (PSNR and ab-PSNR against the ground truth, colorfulness)."""
        r = self.compute()
        L = self.target["L"].float().cpu()
        H, W = L.shape[-2:]
        gray = gray_rgb_from_L(L)[0].permute(1, 2, 0).numpy()
        blank = np.ones((H, W, 3), np.float32)
        ref = self.gallery[self.selected]["rgb"] if self.gallery else None
        ref_img = (F.interpolate(ref[None], size=(H, W), mode="bilinear", align_corners=False)[0]
                   .clamp(0, 1).permute(1, 2, 0).numpy() if ref is not None else blank)
        warped = _ab_picture(r["warped_ab"][0], L[0]) if r["warped_ab"] is not None else blank
        conf = _heat(r["confidence"][0, 0]) if r["confidence"] is not None else blank
        out = self.result_rgb()
        gt = self.target["rgb"][0].float().cpu()
        pic = _hstack([gray, ref_img, warped, conf, out, gt.permute(1, 2, 0).numpy()])
        gt8, out8 = M.to_uint8(gt), M.to_uint8(torch.from_numpy(out).permute(2, 0, 1))
        scores = {"psnr": M.psnr(gt8, out8), "chroma_psnr": M.chroma_psnr(self.target["ab"][0].cpu(), r["ab"][0]),
                  "colorfulness": M.colorfulness(out8), "seconds": self.last_seconds}
        return _upscale(pic, self.zoom), scores

    def thumbnail(self, i: int) -> bytes:
        rgb = self.gallery[i]["rgb"].permute(1, 2, 0).numpy()
        return png_bytes(_upscale(rgb, max(1, 64 // rgb.shape[0])))

    # -- the UI ----------------------------------------------------------------------------------
    @property
    def widget(self):
        import ipywidgets as W

        message = W.HTML()
        message.add_class("exemplar-message")
        info = W.HTML()
        strip = W.Image(format="png")
        strip.add_class("exemplar-strip")
        result = W.Image(format="png", layout=W.Layout(width=f"{min(256, self.size * self.zoom * 2)}px"))
        result.add_class("exemplar-result")
        gallery_box = W.HBox(layout=W.Layout(flex_flow="row wrap"))
        target = W.IntText(value=self.index, description="target", layout=W.Layout(width="180px"))
        target.add_class("exemplar-target")
        method = W.Dropdown(options=list(self.models), value=self.method, description="method")
        method.add_class("exemplar-method")
        upload = W.FileUpload(accept="image/*", multiple=False, description="upload reference")
        upload.add_class("exemplar-upload")

        def say(msg: str):
            message.value = _ERR.format(msg) if msg else ""

        def redraw():
            try:
                pic, s = self.render()
                result.value = png_bytes(_upscale(self.result_rgb(), max(1, self.zoom * 2)))
                strip.value = png_bytes(pic)
            except Exception as e:  # the kernel must survive whatever the model does
                say(f"could not colorize: {type(e).__name__}: {e}")
                return
            g = self.gallery[self.selected] if self.gallery else {"name": "none"}
            info.value = (f"<code>gray target | reference ({g['name']}) | transferred colours | confidence | "
                          f"result | ground truth</code> (confidence: dark = weak match, yellow = strong)<br>{self.method}: PSNR {s['psnr']:.2f} dB · ab-PSNR "
                          f"{s['chroma_psnr']:.2f} dB · colorfulness {s['colorfulness']:.1f} · "
                          f"{1000 * s['seconds']:.0f} ms")
            for k, child in enumerate(gallery_box.children):
                child.children[1].button_style = "primary" if k == self.selected else ""

        def make_gallery():
            items = []
            for k, g in enumerate(self.gallery):
                thumb = W.Image(value=self.thumbnail(k), format="png", layout=W.Layout(width="64px", height="64px"))
                btn = W.Button(description=g["name"], tooltip=f"use {g['name']} as the reference",
                               layout=W.Layout(width="120px"))
                btn.add_class("exemplar-pick")
                btn.add_class(f"exemplar-pick-{k}")
                btn.on_click(lambda _b, k=k: on_pick(k))
                items.append(W.VBox([thumb, btn]))
            gallery_box.children = items

        def on_pick(k):
            say(self.pick(k))
            redraw()

        def on_target(change):
            msg = self.set_target(change["new"])
            say(msg)
            if not msg:
                make_gallery()
                redraw()

        def on_method(change):
            say(self.set_method(change["new"]))
            redraw()

        def on_upload(change):
            try:
                got = last_upload(change)
                if got is None:
                    return
                msg = self.upload(*got)
            except Exception as e:
                msg = f"could not read the upload: {type(e).__name__}: {e}"
            say(msg)
            make_gallery()
            redraw()

        target.observe(on_target, names="value")
        method.observe(on_method, names="value")
        upload.observe(on_upload, names="value")
        make_gallery()
        redraw()
        controls = W.HBox([target, method, upload] if len(self.models) > 1 else [target, upload])
        return W.VBox([controls, W.HTML("<b>references</b> (click one)"), gallery_box,
                       W.HBox([result, W.VBox([strip, info])]), message])
