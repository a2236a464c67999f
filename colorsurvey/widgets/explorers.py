"""Explorers for notebooks 00 and 01: colour channels and the annealed-mean temperature.

Each explorer is a small class holding its state, a pure ``render()`` that returns the picture
as an array (so tests drive it headlessly), and a ``.widget`` property that builds the
ipywidgets UI around it. Callbacks never raise into the kernel: bad input is reported in the
widget's message line.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from .. import metrics as M
from ..color import lab_to_rgb, rgb_to_lab, rgb_to_yuv
from ._common import index_message

__all__ = ["ChannelExplorer", "TemperatureExplorer", "png_bytes"]


def png_bytes(img: np.ndarray) -> bytes:
    """(H, W, 3) float [0, 1] or uint8 -> PNG bytes for an ``ipywidgets.Image``."""
    from PIL import Image

    if img.dtype != np.uint8:
        img = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _hstack(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    h = max(i.shape[0] for i in images)
    pad = np.ones((h, gap, 3), dtype=np.float32)
    parts = []
    for k, im in enumerate(images):
        if k:
            parts.append(pad)
        parts.append(im.astype(np.float32))
    return np.concatenate(parts, axis=1)


def _upscale(img: np.ndarray, factor: int) -> np.ndarray:
    return img.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else img


class ChannelExplorer:
    """Split an image into luminance and chrominance and play with the chroma.

    Shows the image, its luminance (what a colorization network sees, survey eq. 2) and its
    two chroma channels in Lab or YUV; a *chroma scale* slider desaturates (0 = the gray
    baseline) or oversaturates, and the PSNR/SSIM against the original are updated, showing
    why ab = 0 already scores about 20 dB on white-background images.
    """

    SPACES = ("Lab", "YUV")

    def __init__(self, dataset, index: int = 0, space: str = "Lab", chroma: float = 1.0, zoom: int = 2):
        self.dataset = dataset
        self.zoom = zoom
        self.index, self.space, self.chroma = 0, "Lab", 1.0
        self.message = ""
        self.set(index=index, space=space, chroma=chroma)

    def set(self, index: int | None = None, space: str | None = None, chroma: float | None = None) -> str:
        """Change the state; returns the message (empty when all went well)."""
        self.message = ""
        if index is not None:
            if not 0 <= int(index) < len(self.dataset):
                self.message = f"index {index} is outside 0..{len(self.dataset) - 1}; kept {self.index}"
            else:
                self.index = int(index)
        if space is not None:
            if space not in self.SPACES:
                self.message = f"unknown colour space {space!r}; choose {', '.join(self.SPACES)}"
            else:
                self.space = space
        if chroma is not None:
            c = float(chroma)
            if not np.isfinite(c) or c < 0:
                self.message = f"chroma scale must be a number >= 0; got {chroma!r}"
            else:
                self.chroma = min(c, 3.0)
        return self.message

    def render(self) -> tuple[np.ndarray, dict]:
        """The picture (image | luminance | chroma 1 | chroma 2 | rescaled image) and metrics."""
        sample = self.dataset.batch([self.index])
        rgb = sample["rgb"][0].float()
        lab = rgb_to_lab(rgb)
        scaled = lab.clone()
        scaled[1:] *= self.chroma
        out = lab_to_rgb(scaled)
        if self.space == "Lab":
            lum = lab[:1] / 100.0
            c1, c2 = lab[1] / 220.0 + 0.5, lab[2] / 220.0 + 0.5
        else:
            yuv = rgb_to_yuv(rgb)
            lum = yuv[:1]
            c1, c2 = yuv[1] / 0.872 + 0.5, yuv[2] / 1.23 + 0.5
        as_img = lambda t: t.expand(3, *t.shape[-2:]).permute(1, 2, 0).numpy()  # noqa: E731
        # chroma channels drawn as diverging maps: blue-ish below 0, red-ish above
        div = lambda c: np.stack([c, 1 - np.abs(c - 0.5), 1 - c], axis=-1)  # noqa: E731
        panels = [rgb.permute(1, 2, 0).numpy(), as_img(lum), div(c1.numpy()), div(c2.numpy()),
                  out.permute(1, 2, 0).numpy()]
        gt8, out8 = M.to_uint8(rgb), M.to_uint8(out)
        scores = {"psnr": M.psnr(gt8, out8), "ssim": M.ssim(gt8, out8), "colorfulness": M.colorfulness(out8)}
        return _upscale(_hstack(panels), self.zoom), scores

    @property
    def widget(self):
        import ipywidgets as W

        img = W.Image(format="png")
        info = W.HTML()
        idx = W.IntSlider(value=self.index, min=0, max=len(self.dataset) - 1, description="image")
        space = W.ToggleButtons(options=list(self.SPACES), value=self.space, description="space")
        chroma = W.FloatSlider(value=self.chroma, min=0.0, max=2.0, step=0.05, description="chroma x")

        def update(*_):
            msg = self.set(index=idx.value, space=space.value, chroma=chroma.value)
            try:
                pic, s = self.render()
            except Exception as e:  # the kernel must survive whatever the data does
                info.value = f"<span style='color:#b00'>could not render: {e}</span>"
                return
            img.value = png_bytes(pic)
            names = "image | luminance | {0} | {1} | chroma x{2:.2f}".format(
                *(("a", "b") if self.space == "Lab" else ("U", "V")), self.chroma)
            info.value = (f"<code>{names}</code><br>PSNR {s['psnr']:.2f} dB · SSIM {s['ssim']:.3f} · "
                          f"colorfulness {s['colorfulness']:.1f}"
                          + (f"<br><span style='color:#b00'>{msg}</span>" if msg else ""))

        for w in (idx, space, chroma):
            w.observe(update, names="value")
        update()
        return W.VBox([W.HBox([idx, space, chroma]), img, info])


class TemperatureExplorer:
    """Annealed-mean temperature for a classification colorizer (Zhang et al. 2016 §3.3).

    ``model`` must offer ``colorize(L, T=...)`` (the ``colorful`` method does). T -> 0 gives
    the mode of the predicted distribution (vivid, patchy), T = 1 the mean (desaturated), and
    the paper's T = 0.38 sits between.
    """

    def __init__(self, model, batch: dict, index: int = 0, T: float = 0.38, zoom: int = 2):
        self.model, self.batch = model, batch
        self.index, self.T, self.zoom = index, T, zoom
        self.message = ""

    def set(self, T: float | None = None, index: int | None = None) -> str:
        self.message = ""
        if T is not None:
            T = float(T)
            if not np.isfinite(T) or not 0 <= T <= 1:
                self.message = f"T must lie in [0, 1]; got {T}"
            else:
                self.T = T
        if index is not None:
            bad = index_message(index, self.batch["L"].shape[0])
            if bad:
                self.message = bad
            else:
                self.index = int(index)
        return self.message

    @torch.no_grad()
    def render(self) -> tuple[np.ndarray, dict]:
        from ..color import merge_lab

        i = self.index
        L = self.batch["L"][i:i + 1].float()
        dev = next(self.model.parameters()).device
        self.model.eval()
        ab = self.model.colorize(L.to(dev), T=self.T).float().cpu()
        out = merge_lab(L.cpu(), ab)[0]
        gt = self.batch["rgb"][i].float().cpu()
        gt8, out8 = M.to_uint8(gt), M.to_uint8(out)
        scores = {"psnr": M.psnr(gt8, out8), "colorfulness": M.colorfulness(out8),
                  "colorfulness_gt": M.colorfulness(gt8)}
        pic = _hstack([out.permute(1, 2, 0).numpy(), gt.permute(1, 2, 0).numpy()])
        return _upscale(pic, self.zoom), scores

    @property
    def widget(self):
        import ipywidgets as W

        img = W.Image(format="png")
        info = W.HTML()
        T = W.FloatSlider(value=self.T, min=0.0, max=1.0, step=0.02, description="T",
                          continuous_update=False)
        idx = W.IntSlider(value=self.index, min=0, max=self.batch["L"].shape[0] - 1, description="image")

        def update(*_):
            msg = self.set(T=T.value, index=idx.value)
            try:
                pic, s = self.render()
            except Exception as e:
                info.value = f"<span style='color:#b00'>could not render: {e}</span>"
                return
            img.value = png_bytes(pic)
            mode = "mode" if self.T <= 1e-4 else ("mean" if self.T >= 1 else "annealed mean")
            info.value = (f"<code>prediction ({mode}, T = {self.T:.2f}) | ground truth</code><br>"
                          f"PSNR {s['psnr']:.2f} dB · colorfulness {s['colorfulness']:.1f} "
                          f"(ground truth {s['colorfulness_gt']:.1f})"
                          + (f"<br><span style='color:#b00'>{msg}</span>" if msg else ""))

        T.observe(update, names="value")
        idx.observe(update, names="value")
        update()
        return W.VBox([W.HBox([T, idx]), img, info])
