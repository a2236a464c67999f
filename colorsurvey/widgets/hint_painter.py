"""The hint painter: colour a gray image by clicking points, as in Zhang et al.'s interactive tool
(SIGGRAPH 2017, survey §2.2.2), with any hint-capable method of :mod:`colorsurvey.models.user_guided`.

The gray image is shown as a canvas. Click to add a point hint, pick its colour with the colour
picker, from the method's suggested swatches for that point, or on the ab gamut at the point's
lightness; drag a point to move it, right-click it (or press *delete*) to remove it; set the patch
size; undo and reset; the colorized result is updated beside it after every change; *save* writes
the result (PNG) and the hints (JSON).

Like the other explorers, :class:`HintPainter` is a state class whose methods (``add``, ``move``,
``delete``, ``undo``, ``reset``, ``set_color``, ``set_patch``, ``handle_event``) return a message and
never raise, pure renderers (``render_canvas``, ``render_result``, ``gamut_image``), and a
``.widget`` property that builds the ipywidgets UI around them — so tests drive every callback
headlessly. Invalid input (a point outside the image, an out-of-gamut colour, an unparsable
colour name) is clamped or refused with a message in the widget's message line.

Front end: an ``ipywidgets.Image`` (a PNG rendered here) with mouse events from **ipyevents**. We
chose that over ipycanvas because the picture is drawn in Python — the same pixels the tests check
— ipyevents reports clicks in image-pixel coordinates (``dataX``/``dataY``) whatever the display
zoom, delivers right clicks (``contextmenu``, with the browser's menu suppressed) and ships a
prebuilt JupyterLab 4 extension; ipycanvas draws client-side and reports no mouse button. Without
ipyevents the widget still works with x/y fields and an *add* button.

Latency: every update runs the method once on the whole image. On a 2-thread CPU, the
brief-size ("small") networks take 54-90 ms per update at 256 x 256 (measured with
:func:`benchmark_latency`, which times one full update). Larger images and networks are
slower: ``work_size`` then runs the network on a downscaled copy (hints rasterised at that
scale) and upsamples the predicted ab bilinearly — colour is smooth, and Zhang et al.'s tool
does the same from 256 to full resolution.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..color import gray_rgb_from_L, lab_to_rgb, merge_lab, rgb_to_lab
from ..hints import rasterize_points
from ..models.user_guided import in_gamut
from .explorers import _upscale, png_bytes

__all__ = ["HintPainter", "benchmark_latency", "clamp_to_gamut", "parse_color"]

_ERR = "<span style='color:#b00'>{}</span>"


# --------------------------------------------------------------------------------------
# Colour helpers
# --------------------------------------------------------------------------------------

def clamp_to_gamut(L: float, a: float, b: float) -> tuple[float, float, bool]:
    """(a, b) if it is displayable at lightness L, else the most saturated colour of the same hue
    that is (the chroma scaled down, to 1/1024, in one batched gamut test). Returns (a, b, clamped?)."""
    ab = torch.tensor([[float(a), float(b)]])
    if bool(in_gamut(L, ab)[0]):
        return float(a), float(b), False
    scales = torch.linspace(0.0, 1.0, 1025)
    ok = in_gamut(L, ab * scales[:, None])
    s = float(scales[int(torch.nonzero(~ok)[0]) - 1]) if (~ok).any() else 1.0   # last scale before leaving
    return float(a) * s, float(b) * s, True


def parse_color(value) -> tuple[float, float, float]:
    """A colour as sRGB in [0, 1]: '#rrggbb', '#rgb', a CSS/matplotlib name, or an (r, g, b) tuple."""
    from matplotlib.colors import to_rgb

    if isinstance(value, (tuple, list, np.ndarray)):
        rgb = tuple(float(v) for v in value)
        if len(rgb) != 3 or not all(np.isfinite(rgb)):
            raise ValueError(f"not an RGB triple: {value!r}")
        if max(rgb) > 1.0:
            rgb = tuple(v / 255.0 for v in rgb)
        return tuple(min(max(v, 0.0), 1.0) for v in rgb)
    return tuple(float(v) for v in to_rgb(str(value).strip()))


def _lab_to_hex(L: float, a: float, b: float) -> str:
    rgb = lab_to_rgb(torch.tensor([float(L), float(a), float(b)]).view(3, 1, 1)).flatten().tolist()
    return "#" + "".join(f"{int(round(min(max(v, 0), 1) * 255)):02x}" for v in rgb)


def _as_L(image) -> tuple[torch.Tensor, torch.Tensor | None]:
    """L (1, 1, H, W) in 0..100 and the ground-truth RGB (3, H, W) if known, from a batch dict, a
    sample dict, an RGB tensor (3, H, W) in [0, 1], or an L tensor ((1, 1,) H, W) in 0..100."""
    rgb = None
    if isinstance(image, dict):
        if "L" in image:
            L = image["L"]
            rgb = image.get("rgb")
        else:
            rgb = image["rgb"]
            L = rgb_to_lab(rgb.float())[..., :1, :, :]
    else:
        L = torch.as_tensor(image)
        if L.dim() >= 3 and L.shape[-3] == 3:
            rgb = L
            L = rgb_to_lab(rgb.float())[..., :1, :, :]
    L = L.detach().float().cpu()
    while L.dim() > 4 or (L.dim() == 4 and L.shape[0] > 1):
        L = L[:1] if L.dim() == 4 else L[0]
    while L.dim() < 4:
        L = L.unsqueeze(0)
    if rgb is not None:
        rgb = rgb.detach().float().cpu()
        while rgb.dim() > 3:
            rgb = rgb[0]
    return L, rgb


# --------------------------------------------------------------------------------------
# The painter
# --------------------------------------------------------------------------------------

class HintPainter:
    """Interactive point hints for a user-guided method.

    ``model``: a method whose ``colorize(L, hints=..., mask=...)`` takes point hints (any of
    ``scribbler``, ``realtime-ug``, ``realtime-ug-global``, ``idc``, ``lineart``). ``image``: what
    :func:`_as_L` accepts (a test batch works: its first image is used). ``zoom``: display
    magnification (default: so the canvas is about 256 px). ``patch``: side of new hints (1-9).
    ``work_size``: run the network at this side (None: the image's size). ``out_dir``: where
    *save* writes. ``conditions``: extra keyword arguments for ``colorize`` (global hints).
    """

    MAX_PATCH = 9

    def __init__(self, model, image, *, zoom: int | None = None, patch: int = 3, work_size: int | None = None,
                 out_dir: str | os.PathLike = "output/hint_painter", suggestions: int = 6,
                 conditions: dict | None = None):
        self.model = model
        self.L, self.rgb = _as_L(image)
        self.H, self.W = self.L.shape[-2:]
        self.zoom = int(zoom) if zoom else max(1, int(round(256 / max(self.H, self.W))))
        self.patch = int(min(max(patch, 1), self.MAX_PATCH))
        self.work_size = work_size
        self.out_dir = Path(out_dir)
        self.n_suggestions = suggestions
        self.conditions = dict(conditions or {})
        self.points: list[dict] = []
        self.selected: int | None = None
        self.history: list[tuple[list[dict], int | None]] = []
        self.message = ""
        self.last_ms = float("nan")
        self.saved = 0
        self._ab: torch.Tensor | None = None
        self._drag: dict | None = None
        self._ui: dict = {}
        self._last_suggestions: list = []
        self._sugg_cache: tuple | None = None
        # the gray picture of L (as everywhere in the project), at display zoom, drawn once
        self._gray = _upscale(gray_rgb_from_L(self.L)[0].permute(1, 2, 0).numpy().astype(np.float32), self.zoom)

    # -- state ---------------------------------------------------------------------------
    def _snapshot(self) -> None:
        self.history.append(([dict(p) for p in self.points], self.selected))
        del self.history[:-200]

    def _clamp_xy(self, x, y) -> tuple[int, int, str]:
        try:
            xf, yf = float(x), float(y)
        except (TypeError, ValueError):
            raise ValueError(f"the point ({x!r}, {y!r}) is not a pair of numbers") from None
        if not (np.isfinite(xf) and np.isfinite(yf)):
            raise ValueError(f"the point ({x}, {y}) is not finite")
        xi, yi = int(np.floor(xf)), int(np.floor(yf))
        cx, cy = min(max(xi, 0), self.W - 1), min(max(yi, 0), self.H - 1)
        note = "" if (cx, cy) == (xi, yi) else f"({xi}, {yi}) is outside the {self.W}x{self.H} image: clamped to ({cx}, {cy}). "
        return cx, cy, note

    def L_at(self, x: int, y: int) -> float:
        return float(self.L[0, 0, int(y), int(x)])

    def hit(self, x, y) -> int | None:
        """The topmost hint whose square (at least 5 display px) contains image pixel (x, y)."""
        try:
            xf, yf = float(x), float(y)
        except (TypeError, ValueError):
            return None
        for i in reversed(range(len(self.points))):
            p = self.points[i]
            r = max(p["size"] / 2.0, 2.5 / self.zoom) + 0.5
            if abs(xf - p["x"]) <= r and abs(yf - p["y"]) <= r:
                return i
        return None

    def _safe(self, fn, *args, **kw) -> str:
        """Run a state change; any error becomes the message (the kernel never sees it)."""
        try:
            self.message = fn(*args, **kw) or ""
        except Exception as e:  # noqa: BLE001 - reported to the user, never raised into the kernel
            self.message = f"{type(e).__name__}: {e}"
        return self.message

    def add(self, x, y, ab=None, size=None) -> str:
        """Add a hint at image pixel (x, y) (clamped into the image). Its colour is ``ab`` (clamped
        to the gamut at the pixel's lightness) or, by default, the current prediction there."""
        def _add():
            cx, cy, note = self._clamp_xy(x, y)
            s = self.patch if size is None else int(min(max(int(size), 1), self.MAX_PATCH))
            if ab is None:
                cur = self.predict()
                a, b = float(cur[0, 0, cy, cx]), float(cur[0, 1, cy, cx])
            else:
                a, b = float(ab[0]), float(ab[1])
                if not (np.isfinite(a) and np.isfinite(b)):
                    raise ValueError(f"colour ab = {ab!r} is not finite")
            a, b, clamped = clamp_to_gamut(self.L_at(cx, cy), a, b)
            self._snapshot()
            self.points.append({"x": cx, "y": cy, "a": a, "b": b, "size": s})
            self.selected = len(self.points) - 1
            self._ab = None
            return note + f"hint {self.selected + 1} added at ({cx}, {cy})" + (" (colour clamped to the gamut)" if clamped else "")
        return self._safe(_add)

    def move(self, i, x, y, record: bool = True) -> str:
        def _move():
            self._check_index(i)
            cx, cy, note = self._clamp_xy(x, y)
            if record:
                self._snapshot()
            p = self.points[i]
            p["x"], p["y"] = cx, cy
            a, b, clamped = clamp_to_gamut(self.L_at(cx, cy), p["a"], p["b"])
            p["a"], p["b"] = a, b
            self.selected = i
            self._ab = None
            return note + f"hint {i + 1} moved to ({cx}, {cy})" + (" (colour clamped to the gamut)" if clamped else "")
        return self._safe(_move)

    def delete(self, i=None) -> str:
        def _delete():
            j = self.selected if i is None else i
            if j is None:
                return "no hint selected: click one first (or right-click it to delete it)"
            self._check_index(j)
            self._snapshot()
            self.points.pop(j)
            self.selected = (len(self.points) - 1) if self.points else None
            self._ab = None
            return f"hint {j + 1} deleted"
        return self._safe(_delete)

    def select(self, i) -> str:
        def _select():
            self._check_index(i)
            self.selected = int(i)
            return f"hint {i + 1} selected"
        return self._safe(_select)

    def undo(self) -> str:
        def _undo():
            if not self.history:
                return "nothing to undo"
            self.points, self.selected = self.history.pop()
            self._ab = None
            return "undone"
        return self._safe(_undo)

    def reset(self) -> str:
        def _reset():
            if not self.points:
                return "no hints to reset"
            self._snapshot()
            self.points, self.selected, self._ab = [], None, None
            return "all hints removed (undo brings them back)"
        return self._safe(_reset)

    def set_patch(self, size) -> str:
        """Patch side for new hints and for the selected one (1-9; others are clamped)."""
        def _patch():
            s = int(size)
            note = ""
            if not 1 <= s <= self.MAX_PATCH:
                note = f"patch size {s} clamped to 1..{self.MAX_PATCH}. "
                s = min(max(s, 1), self.MAX_PATCH)
            self.patch = s
            if self.selected is not None and self.points[self.selected]["size"] != s:
                self._snapshot()
                self.points[self.selected]["size"] = s
                self._ab = None
            return note + f"patch size {s}"
        return self._safe(_patch)

    def set_color(self, color=None, ab=None, i=None) -> str:
        """Colour of hint ``i`` (default: the selected one): a colour as :func:`parse_color` reads
        it (its hue and chroma are kept, its lightness is the image's), or ``ab`` directly. Colours
        outside the gamut at the point's lightness are clamped, with a message."""
        def _color():
            j = self.selected if i is None else i
            if j is None:
                return "no hint selected: click the image to add one first"
            self._check_index(j)
            if ab is not None:
                a, b = float(ab[0]), float(ab[1])
                if not (np.isfinite(a) and np.isfinite(b)):
                    raise ValueError(f"colour ab = {ab!r} is not finite")
            else:
                rgb = parse_color(color)
                lab = rgb_to_lab(torch.tensor(rgb).view(3, 1, 1)).flatten()
                a, b = float(lab[1]), float(lab[2])
            p = self.points[j]
            a, b, clamped = clamp_to_gamut(self.L_at(p["x"], p["y"]), a, b)
            if (a, b) == (p["a"], p["b"]):
                return f"hint {j + 1} already has that colour"
            self._snapshot()
            p["a"], p["b"] = a, b
            self._ab = None
            return (f"hint {j + 1}: ab = ({a:.0f}, {b:.0f})"
                    + (" — clamped: that colour is out of gamut at this lightness" if clamped else ""))
        return self._safe(_color)

    def _check_index(self, i) -> None:
        if i is None or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < len(self.points):
            raise IndexError(f"there is no hint {i!r} (there are {len(self.points)})")

    # -- the method ------------------------------------------------------------------------
    def hint_tensors(self, H: int | None = None, W: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(hints, mask) rasterised at H x W (default: the image's size; points scaled to it)."""
        H, W = H or self.H, W or self.W
        sy, sx = H / self.H, W / self.W
        pts = [((p["x"] + 0.5) * sx - 0.5, (p["y"] + 0.5) * sy - 0.5, p["a"], p["b"],
                max(1, round(p["size"] * min(sx, sy)))) for p in self.points]
        pts = [(int(round(x)), int(round(y)), a, b, s) for x, y, a, b, s in pts]
        return rasterize_points(pts, H, W)

    def _device(self) -> torch.device:
        """Where the model's weights are (CPU for a method without any)."""
        return next(iter(self.model.parameters()), torch.empty(0)).device

    @torch.no_grad()
    def predict(self) -> torch.Tensor:
        """The method's ab (1, 2, H, W) for the current hints (cached until they change)."""
        if self._ab is not None:
            return self._ab
        t = time.perf_counter()
        dev = self._device()
        self.model.eval()
        L = self.L
        if self.work_size and max(self.H, self.W) > self.work_size:
            s = self.work_size / max(self.H, self.W)
            h, w = max(8, round(self.H * s)), max(8, round(self.W * s))
            Lw = F.interpolate(L, size=(h, w), mode="area")
        else:
            h, w, Lw = self.H, self.W, L
        hints, mask = self.hint_tensors(h, w)
        ab = self.model.colorize(Lw.to(dev), hints=hints.to(dev), mask=mask.to(dev), **self.conditions)
        ab = ab.float().cpu()
        if ab.shape[-2:] != (self.H, self.W):
            ab = F.interpolate(ab, size=(self.H, self.W), mode="bilinear", align_corners=False)
        self._ab = ab
        self.last_ms = 1000 * (time.perf_counter() - t)
        return ab

    def suggestions(self, i=None) -> list[tuple[float, float, float]]:
        """Colours (a, b, weight) the method suggests for hint ``i`` (default: the selected one),
        computed with that hint left out; [] when nothing is selected or the method offers none."""
        j = self.selected if i is None else i
        fn = getattr(self.model, "suggest_colors", None)
        if fn is None or j is None or not 0 <= j < len(self.points):
            return []
        p = self.points[j]
        others = [q for k, q in enumerate(self.points) if k != j]
        pts = [(q["x"], q["y"], q["a"], q["b"], q["size"]) for q in others]
        key = (p["x"], p["y"], tuple(pts))          # the selected hint's own colour does not matter
        if self._sugg_cache is not None and self._sugg_cache[0] == key:
            return self._sugg_cache[1]
        hints, mask = rasterize_points(pts, self.H, self.W)
        dev = self._device()
        out = fn(self.L.to(dev), p["x"], p["y"], hints=hints.to(dev), mask=mask.to(dev),
                 k=self.n_suggestions, **self.conditions)
        self._sugg_cache = (key, out)
        return out

    # -- pictures --------------------------------------------------------------------------
    def render_canvas(self) -> np.ndarray:
        """The gray image at display zoom with every hint drawn as a square of its colour
        (white and black outline; the selected one outlined in orange). (H*z, W*z, 3) float."""
        z = self.zoom
        img = self._gray.copy()
        Hd, Wd = img.shape[:2]
        for k, p in enumerate(self.points):
            half = max(p["size"] * z, 6) / 2.0
            cx, cy = (p["x"] + 0.5) * z, (p["y"] + 0.5) * z
            y0, y1 = int(round(cy - half)), int(round(cy + half))
            x0, x1 = int(round(cx - half)), int(round(cx + half))
            col = lab_to_rgb(torch.tensor([self.L_at(p["x"], p["y"]), p["a"], p["b"]]).view(3, 1, 1)).flatten().numpy()
            outline = [(2, (0.0, 0.0, 0.0)), (1, (1.0, 1.0, 1.0))]
            if k == self.selected:
                outline = [(3, (1.0, 0.55, 0.0)), (1, (1.0, 1.0, 1.0))]
            pad = sum(w for w, _ in outline)
            for w, c in outline:
                ya, yb, xa, xb = max(y0 - pad, 0), min(y1 + pad, Hd), max(x0 - pad, 0), min(x1 + pad, Wd)
                img[ya:yb, xa:xb] = c
                pad -= w
            img[max(y0, 0):min(y1, Hd), max(x0, 0):min(x1, Wd)] = col
        return img

    def render_result(self) -> np.ndarray:
        """The colorized image (input L + predicted ab) at display zoom. (H*z, W*z, 3) float."""
        return _upscale(merge_lab(self.L, self.predict())[0].permute(1, 2, 0).numpy(), self.zoom)

    def gamut_image(self, i=None, n: int = 121, extent: float = 110.0) -> np.ndarray:
        """The ab plane at the lightness of hint ``i`` (default: selected; else L = 50), as the
        authors' tool shows it: out-of-gamut white, the hint's ab ringed in black and white, the
        suggested colours ringed in gray. Rows b = +extent..-extent, columns a = -extent..+extent."""
        from ..viz import ab_gamut_image

        j = self.selected if i is None else i
        p = self.points[j] if j is not None and 0 <= j < len(self.points) else None
        L = self.L_at(p["x"], p["y"]) if p else 50.0
        img = ab_gamut_image(L, extent, n).astype(np.float32)

        def ring(a, b, colors, r=4):
            c = int(round((a + extent) / (2 * extent) * (n - 1)))
            rr = int(round((extent - b) / (2 * extent) * (n - 1)))
            yy, xx = np.ogrid[:n, :n]
            d = np.sqrt((yy - rr) ** 2 + (xx - c) ** 2)
            for k, col in enumerate(colors):
                img[(d >= r + k) & (d < r + k + 1)] = col
        if p:
            for a, b, _ in self._last_suggestions:
                ring(a, b, [(0.45, 0.45, 0.45)], r=3)
            ring(p["a"], p["b"], [(0, 0, 0), (1, 1, 1), (0, 0, 0)])
        return img

    def gamut_to_ab(self, px: float, py: float, n: int = 121, extent: float = 110.0) -> tuple[float, float]:
        """ab at pixel (px, py) of :meth:`gamut_image`."""
        a = -extent + 2 * extent * float(px) / (n - 1)
        b = extent - 2 * extent * float(py) / (n - 1)
        return a, b

    def save(self, out_dir=None) -> dict[str, Path]:
        """Write the result (full-resolution PNG) and the hints (JSON) to ``out_dir``."""
        out = Path(out_dir) if out_dir is not None else self.out_dir
        out.mkdir(parents=True, exist_ok=True)
        self.saved += 1
        stem = f"hint_painter_{time.strftime('%Y%m%d-%H%M%S')}_{self.saved:03d}"
        rgb = merge_lab(self.L, self.predict())[0].permute(1, 2, 0).numpy()
        paths = {"result": out / f"{stem}.png", "hints": out / f"{stem}.json"}
        tmp = paths["result"].with_suffix(".tmp")
        tmp.write_bytes(png_bytes(rgb))
        os.replace(tmp, paths["result"])
        record = {
            "method": getattr(getattr(self.model, "card", None), "key", type(self.model).__name__),
            "size": getattr(self.model, "size_name", None), "image_size": [self.H, self.W],
            "hints": [{**p, "L": self.L_at(p["x"], p["y"]), "rgb": _lab_to_hex(self.L_at(p["x"], p["y"]), p["a"], p["b"])}
                      for p in self.points],
            "coordinates": "x = column, y = row of the image; size = side of the square patch centred there",
        }
        paths["hints"].write_text(json.dumps(record, indent=1))
        return paths

    # -- events ----------------------------------------------------------------------------
    def handle_event(self, event: dict) -> str:
        """A mouse event on the canvas (as ipyevents sends it: ``type``, ``button``, ``dataX``,
        ``dataY`` in display pixels). Left press on a hint selects it and starts a drag; on empty
        image it adds a hint; moving drags; release ends the drag; right click deletes a hint.
        Returns what changed: "" (nothing), "canvas" (markers only) or "all" (result too)."""
        try:
            kind = event.get("type")
            x = float(event.get("dataX", np.nan)) / self.zoom
            y = float(event.get("dataY", np.nan)) / self.zoom
            button = int(event.get("button", 0) or 0)
            if kind == "mousedown" and button == 0:
                j = self.hit(x, y)
                if j is not None:
                    self.select(j)
                    self._drag = {"i": j, "moved": False}
                    return "all"          # the result is cached; the swatches follow the selection
                self.add(x, y)
                self._drag = None
                return "all"
            if kind == "mousemove" and self._drag is not None:
                i = self._drag["i"]
                if 0 <= i < len(self.points):
                    p = self.points[i]
                    cx, cy, _ = self._clamp_xy(x, y)
                    if (cx, cy) != (p["x"], p["y"]):
                        self.move(i, cx, cy, record=not self._drag["moved"])
                        self._drag["moved"] = True
                        return "canvas"
                return ""
            if kind in ("mouseup", "mouseleave") and self._drag is not None:
                moved = self._drag["moved"]
                self._drag = None
                return "all" if moved else ""
            if kind == "contextmenu":
                j = self.hit(x, y)
                self.message = self.delete(j) if j is not None else "right-click a hint to delete it"
                return "all" if j is not None else "canvas"
            return ""
        except Exception as e:  # noqa: BLE001
            self.message = f"{type(e).__name__}: {e}"
            return "canvas"

    # -- the UI ------------------------------------------------------------------------------
    @property
    def widget(self):
        """The ipywidgets UI: canvas | result, controls, suggested swatches, gamut, message line."""
        import ipywidgets as W

        side = f"{self.W * self.zoom}px"
        canvas = W.Image(format="png", layout=W.Layout(width=side, height="auto"))
        result = W.Image(format="png", layout=W.Layout(width=side, height="auto"))
        gamut = W.Image(format="png", layout=W.Layout(width="160px", height="160px"))
        canvas.add_class("hp-canvas")
        result.add_class("hp-result")
        gamut.add_class("hp-gamut")
        picker = W.ColorPicker(value="#808080", description="colour", concise=False,
                               layout=W.Layout(width="220px"))
        picker.add_class("hp-color")
        patch = W.IntSlider(value=self.patch, min=1, max=self.MAX_PATCH, description="patch",
                            continuous_update=False, layout=W.Layout(width="240px"))
        b_delete, b_undo, b_reset, b_save = (W.Button(description=d, layout=W.Layout(width="80px"))
                                             for d in ("delete", "undo", "reset", "save"))
        for b, c in ((b_delete, "hp-delete"), (b_undo, "hp-undo"), (b_reset, "hp-reset"), (b_save, "hp-save")):
            b.add_class(c)
        swatches = W.HBox([])
        message = W.HTML()
        message.add_class("hp-message")
        status = W.HTML()
        status.add_class("hp-status")
        x_in = W.BoundedIntText(value=self.W // 2, min=-10 ** 6, max=10 ** 6, description="x",
                                layout=W.Layout(width="140px"))
        y_in = W.BoundedIntText(value=self.H // 2, min=-10 ** 6, max=10 ** 6, description="y",
                                layout=W.Layout(width="140px"))
        b_add = W.Button(description="add at x, y", layout=W.Layout(width="110px"))
        ui = dict(canvas=canvas, result=result, gamut=gamut, picker=picker, patch=patch, delete=b_delete,
                  undo=b_undo, reset=b_reset, save=b_save, swatches=swatches, message=message, status=status,
                  x=x_in, y=y_in, add=b_add)
        self._ui = ui
        syncing = {"on": False}

        def show_message():
            msg = self.message or ""
            bad = any(w in msg for w in ("Error", "outside", "clamped", "no hint", "not ", "there is no"))
            message.value = _ERR.format(msg) if bad and msg else msg

        def refresh(what: str = "all"):
            try:
                if what == "all":
                    result.value = png_bytes(self.render_result())
                    self._last_suggestions = self.suggestions() if self.selected is not None else []
                    swatches.children = [self._swatch(W, a, b, w) for a, b, w in self._last_suggestions]
                    status.value = (f"{len(self.points)} hint(s) · {getattr(self.model.card, 'key', '')} · "
                                    f"update {self.last_ms:.0f} ms")
                canvas.value = png_bytes(self.render_canvas())
                gamut.value = png_bytes(self.gamut_image())
                if self.selected is not None and self.selected < len(self.points):
                    p = self.points[self.selected]
                    syncing["on"] = True
                    try:
                        picker.value = _lab_to_hex(self.L_at(p["x"], p["y"]), p["a"], p["b"])
                        if patch.value != p["size"]:
                            patch.value = p["size"]
                    finally:
                        syncing["on"] = False
            except Exception as e:  # noqa: BLE001
                self.message = f"could not update: {type(e).__name__}: {e}"
            show_message()

        self._refresh = refresh

        def on_event(event):
            what = self.handle_event(event)
            if what:
                refresh(what)
            elif event.get("type") in ("mousedown", "contextmenu"):
                show_message()

        def on_color(change):
            if syncing["on"]:
                return
            self.set_color(change["new"])
            refresh()

        def on_patch(change):
            if syncing["on"]:
                return
            self.set_patch(change["new"])
            refresh()

        def on_gamut(event):
            if event.get("type") != "click":
                return
            if self.selected is None:
                self.message = "no hint selected: click the image to add one first"
                show_message()
                return
            try:
                a, b = self.gamut_to_ab(float(event.get("dataX")), float(event.get("dataY")))
            except (TypeError, ValueError) as e:
                self.message = f"could not read the click on the gamut: {e}"
                show_message()
                return
            self.set_color(ab=(a, b))
            refresh()

        def button(fn):
            def cb(_):
                fn()
                refresh()
            return cb

        picker.observe(on_color, names="value")
        patch.observe(on_patch, names="value")
        b_delete.on_click(button(lambda: self.delete()))
        b_undo.on_click(button(self.undo))
        b_reset.on_click(button(self.reset))
        b_add.on_click(button(lambda: self.add(x_in.value, y_in.value)))

        def on_save(_):
            try:
                paths = self.save()
                self.message = f"saved {paths['result']} and {paths['hints'].name}"
            except Exception as e:  # noqa: BLE001
                self.message = f"could not save: {type(e).__name__}: {e}"
            show_message()
        b_save.on_click(on_save)

        events_note = ""
        try:
            from ipyevents import Event

            ev = Event(source=canvas, watched_events=["mousedown", "mouseup", "contextmenu", "mouseleave"],
                       prevent_default_action=True)
            ev.on_dom_event(on_event)
            mv = Event(source=canvas, watched_events=["mousemove"], wait=40, throttle_or_debounce="throttle")
            mv.on_dom_event(on_event)
            gv = Event(source=gamut, watched_events=["click"], prevent_default_action=True)
            gv.on_dom_event(on_gamut)
            ui["events"] = (ev, mv, gv)
            manual = W.HBox([])
        except ImportError:
            events_note = " (ipyevents is not installed: add hints with the x, y fields)"
            manual = W.HBox([x_in, y_in, b_add])
        ui["manual"] = manual

        self.message = ("click the gray image to add a hint; drag to move it; right-click to delete it; "
                        "pick its colour below" + events_note)
        refresh()
        head = W.HTML("<b>hints</b> (click / drag / right-click)")
        return W.VBox([
            W.HBox([W.VBox([head, canvas]), W.VBox([W.HTML("<b>result</b>"), result]),
                    W.VBox([W.HTML("<b>ab gamut at the hint's L</b> (click to pick)"), gamut])]),
            W.HBox([picker, patch, b_delete, b_undo, b_reset, b_save]),
            W.HBox([W.HTML("suggested:"), swatches]),
            manual, status, message,
        ])

    def _swatch(self, W, a: float, b: float, weight: float):
        j = self.selected
        L = self.L_at(self.points[j]["x"], self.points[j]["y"]) if j is not None else 50.0
        btn = W.Button(description="", tooltip=f"ab = ({a:.0f}, {b:.0f}), weight {weight:.2f}",
                       layout=W.Layout(width="34px", height="28px"))
        btn.style.button_color = _lab_to_hex(L, a, b)
        btn.add_class("hp-swatch")

        def pick(_):
            self.set_color(ab=(a, b))
            if getattr(self, "_refresh", None):
                self._refresh()
        btn.on_click(pick)
        return btn


def benchmark_latency(model, size: int = 256, repeats: int = 5, work_size: int | None = None,
                      image=None) -> dict:
    """Median time of one full widget update (rasterise the hints, run the method, render the
    result and the canvas, encode both PNGs) at ``size`` x ``size``, in ms. Prints and returns it."""
    if image is None:
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
        image = (100 - 60 * (xx ** 2 + yy ** 2 < 0.5).float() * (0.7 + 0.3 * yy)).view(1, 1, size, size)
    hp = HintPainter(model, image, zoom=1, work_size=work_size)
    hp.add(size // 2, size // 2, ab=(40.0, 30.0))
    times, model_ms = [], []
    for k in range(repeats + 1):
        t = time.perf_counter()
        hp.set_color(ab=(40.0 - 3 * k, 30.0 + 2 * k))
        png_bytes(hp.render_result())
        png_bytes(hp.render_canvas())
        dt = 1000 * (time.perf_counter() - t)
        if k:
            times.append(dt)
            model_ms.append(hp.last_ms)
    r = {"method": getattr(model.card, "key", "?"), "size": getattr(model, "size_name", None),
         "image": size, "work_size": work_size or size, "update_ms": float(np.median(times)),
         "model_ms": float(np.median(model_ms)), "threads": torch.get_num_threads()}
    print(f"hint painter update at {size}x{size} ({r['method']} {r['size']}, network at {r['work_size']} px, "
          f"{r['threads']} CPU threads): {r['update_ms']:.0f} ms (model {r['model_ms']:.0f} ms)")
    return r
