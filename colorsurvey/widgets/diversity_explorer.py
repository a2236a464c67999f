"""The diversity explorer for notebook 05 (survey §2.5): N colourings of one gray image by a
diverse method, "sample again" and a seed slider, the diversity and best-of-N numbers beside
the grid, and for ``divcolor`` a slider walking between two mixture components.

``set_target``, ``upload``, ``set_method``, ``set_seed``, ``sample_again`` and ``set_walk``
return a message and never raise; ``render()`` returns the grid and the numbers (tests drive it
headlessly); ``.widget`` builds the ipywidgets UI (CSS classes ``diverse-grid``,
``diverse-sample-again``, ``diverse-seed``, ``diverse-walk``, ``diverse-info``,
``diverse-message``) for the browser test.
"""

from __future__ import annotations

import time

import numpy as np

from .. import metrics as M
from ..color import gray_rgb_from_L, merge_lab, rgb_to_lab
from .exemplar_picker import decode_upload
from .explorers import _hstack, _upscale, png_bytes
from ._common import last_upload

__all__ = ["DiversityExplorer"]

_ERR = "<span style='color:#b00'>{}</span>"


class DiversityExplorer:
    """N samples of a diverse method on one image (see the module docstring).

    ``models``: a diverse model or a dict name -> model (each with ``sample(L, n, seed)``);
    ``dataset``: the test images (``batch([i])`` with ``rgb``, ``L``); ``n``: samples per draw
    (at most 16); ``seed``: the first sample's seed (sample j uses seed + j).
    """

    MAX_N = 16

    def __init__(self, models, dataset, index: int = 0, n: int = 8, seed: int = 0, zoom: int = 2):
        self.models = models if isinstance(models, dict) else {models.card.key: models}
        if not self.models:
            raise ValueError("DiversityExplorer needs at least one model")
        for name, m in self.models.items():
            if not callable(getattr(m, "sample", None)):
                raise TypeError(f"{name}: a diverse method with sample(L, n, seed) is needed")
        self.dataset, self.zoom = dataset, zoom
        self.method = next(iter(self.models))
        self.n = max(1, min(self.MAX_N, int(n)))
        self.seed, self.walk = int(seed), (0, 1, 0.0)
        self.index, self.target, self.message = 0, None, ""
        self.set_target(index)

    @property
    def model(self):
        return self.models[self.method]

    # -- state -----------------------------------------------------------------------------
    def set_target(self, index: int) -> str:
        """Use test image ``index``."""
        if not 0 <= int(index) < len(self.dataset):
            return f"index {index} is outside 0..{len(self.dataset) - 1}; kept {self.index}"
        self.index = int(index)
        b = self.dataset.batch([self.index])
        self.target = {"rgb": b["rgb"].cpu().float(), "L": b["L"].cpu().float(), "name": f"test image {self.index}"}
        return ""

    def upload(self, content, name: str = "upload") -> str:
        """Use an uploaded photo (its lightness; its colours are the ground truth shown)."""
        size = int(self.target["L"].shape[-1]) if self.target is not None else 64
        rgb, msg = decode_upload(content, size)
        if rgb is None:
            return msg
        self.target = {"rgb": rgb[None], "L": rgb_to_lab(rgb[None])[:, :1], "name": f"upload: {name}"[:40]}
        return ""

    def set_method(self, name: str) -> str:
        if name not in self.models:
            return f"unknown method {name!r}; choose {', '.join(self.models)}"
        self.method = name
        return ""

    def set_seed(self, seed: int) -> str:
        try:
            self.seed = int(seed)
        except (TypeError, ValueError):
            return f"seed must be an integer; got {seed!r}"
        return ""

    def sample_again(self) -> str:
        """The next N seeds: a fresh set of samples."""
        self.seed += self.n
        return ""

    def set_walk(self, t: float, i: int | None = None, j: int | None = None) -> str:
        """``divcolor``: decode (1 - t) mu_i + t mu_j, between mixture components i and j."""
        i0, j0, _ = self.walk
        i, j = i0 if i is None else int(i), j0 if j is None else int(j)
        if not 0.0 <= float(t) <= 1.0:
            return f"t must be in 0..1; got {t}"
        self.walk = (i, j, float(t))
        return ""

    @property
    def can_walk(self) -> bool:
        return callable(getattr(self.model, "distribution", None)) and hasattr(self.model, "mdn")

    # -- computing -------------------------------------------------------------------------
    def compute(self) -> dict:
        """Samples (n, 2, H, W), their sRGB pictures, and the numbers."""
        L, rgb = self.target["L"], self.target["rgb"]
        dev = next(self.model.parameters()).device
        t = time.perf_counter()
        ab = self.model.sample(L.to(dev), self.n, seed=self.seed)[0].float().cpu()
        seconds = time.perf_counter() - t
        pics = merge_lab(L.expand(self.n, -1, -1, -1), ab)
        gt8 = M.to_uint8(rgb[0])
        psnrs = [M.psnr(gt8, M.to_uint8(p)) for p in pics]
        out = {"ab": ab, "pics": pics, "psnr": psnrs, "best_psnr": max(psnrs), "best": int(np.argmax(psnrs)),
               "diversity": M.ab_diversity(ab), "seconds": seconds,
               "colorfulness": float(np.mean([M.colorfulness(M.to_uint8(p)) for p in pics])),
               "colorfulness_truth": M.colorfulness(gt8)}
        if self.can_walk:
            i, j, tt = self.walk
            d = self.model.distribution(L.to(dev))
            K = d["means"].shape[1]
            i, j = i % K, j % K
            z = (1 - tt) * d["means"][:, i] + tt * d["means"][:, j]
            out["walk"] = merge_lab(L, self.model.colorize(L.to(dev), z=z).float().cpu())[0]
            out["weights"] = d["weights"][0].cpu().tolist()
        return out

    def render(self) -> tuple[np.ndarray, dict]:
        """The grid (gray input, ground truth, then the N samples; the best one framed) as an
        (H, W, 3) float array, and the numbers."""
        s = self.compute()
        gray = gray_rgb_from_L(self.target["L"])[0].permute(1, 2, 0).numpy()
        tiles = [gray, self.target["rgb"][0].permute(1, 2, 0).numpy()]
        for k, p in enumerate(s["pics"]):
            im = p.permute(1, 2, 0).numpy().copy()
            if k == s["best"]:
                im[:1], im[-1:], im[:, :1], im[:, -1:] = 0, 0, 0, 0
            tiles.append(im)
        per_row = 5
        rows = [_hstack(tiles[r:r + per_row]) for r in range(0, len(tiles), per_row)]
        width = max(r.shape[1] for r in rows)
        rows = [np.concatenate([r, np.ones((r.shape[0], width - r.shape[1], 3), np.float32)], 1) for r in rows]
        gap = np.ones((4, width, 3), np.float32)
        grid = np.concatenate([x for r in rows for x in (r, gap)][:-1], 0)
        return _upscale(np.clip(grid, 0, 1), self.zoom), s

    # -- the UI ----------------------------------------------------------------------------
    @property
    def widget(self):
        import ipywidgets as W

        message = W.HTML()
        message.add_class("diverse-message")
        info = W.HTML()
        info.add_class("diverse-info")
        grid = W.Image(format="png")
        grid.add_class("diverse-grid")
        walk_img = W.Image(format="png", layout=W.Layout(width="128px"))
        walk_img.add_class("diverse-walk-image")
        method = W.Dropdown(options=list(self.models), value=self.method, description="method")
        target = W.IntText(value=self.index, description="test image", layout=W.Layout(width="200px"))
        upload = W.FileUpload(accept="image/*", multiple=False, description="your photo")
        seed = W.IntSlider(value=self.seed, min=0, max=10_000, description="seed", continuous_update=False)
        seed.add_class("diverse-seed")
        again = W.Button(description="sample again", button_style="primary")
        again.add_class("diverse-sample-again")
        walk = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="walk t", continuous_update=False)
        walk.add_class("diverse-walk")
        comp_i = W.BoundedIntText(value=0, min=0, max=15, description="from k", layout=W.Layout(width="150px"))
        comp_j = W.BoundedIntText(value=1, min=0, max=15, description="to k", layout=W.Layout(width="150px"))
        walk_box = W.VBox([W.HTML("<b>walk between two mixture components</b>"), W.HBox([comp_i, comp_j]), walk, walk_img])

        def say(msg: str):
            message.value = _ERR.format(msg) if msg else ""

        def redraw():
            try:
                pic, s = self.render()
            except Exception as e:  # the kernel must survive whatever the model does
                say(f"could not sample: {type(e).__name__}: {e}")
                return
            grid.value = png_bytes(pic)
            info.value = (f"<code>gray | ground truth | {self.n} samples (seeds {self.seed}..{self.seed + self.n - 1}; "
                          f"the best framed)</code><br>{self.method} on {self.target['name']}: "
                          f"best-of-{self.n} PSNR <b>{s['best_psnr']:.2f} dB</b> (sample PSNRs "
                          f"{min(s['psnr']):.1f}..{max(s['psnr']):.1f}) · diversity <b>{s['diversity']:.2f}</b> "
                          f"(mean pairwise ab distance) · colourfulness {s['colorfulness']:.1f} "
                          f"(truth {s['colorfulness_truth']:.1f}) · {1000 * s['seconds']:.0f} ms")
            walk_box.layout.display = "" if "walk" in s else "none"
            if "walk" in s:
                walk_img.value = png_bytes(_upscale(s["walk"].permute(1, 2, 0).numpy(), max(1, self.zoom * 2)))

        def on_again(_b):
            say(self.sample_again())
            seed.unobserve(on_seed, names="value")
            seed.value = min(seed.max, self.seed)
            seed.observe(on_seed, names="value")
            redraw()

        def on_seed(change):
            say(self.set_seed(change["new"]))
            redraw()

        def on_target(change):
            msg = self.set_target(change["new"])
            say(msg)
            if not msg:
                redraw()

        def on_method(change):
            say(self.set_method(change["new"]))
            redraw()

        def on_walk(_change):
            say(self.set_walk(walk.value, comp_i.value, comp_j.value))
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
            redraw()

        again.on_click(on_again)
        seed.observe(on_seed, names="value")
        target.observe(on_target, names="value")
        method.observe(on_method, names="value")
        for w in (walk, comp_i, comp_j):
            w.observe(on_walk, names="value")
        upload.observe(on_upload, names="value")
        redraw()
        return W.VBox([W.HBox([method, target, upload]), W.HBox([seed, again]), grid, info, walk_box, message])
