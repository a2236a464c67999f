"""The text-and-palette widget: type a sentence, watch the colours follow (survey §2.4).

One gray image (from a dataset, or an uploaded picture read by the data module's reader), a
sentence, and two text-based methods:

* Text2Colors: the sentence -> the five-colour palette its Text-to-Palette Network proposes,
  shown as five swatches, each editable with a colour picker -> the image colourised from the
  (possibly edited) palette by the Palette-based Colorization Network;
* Learning to Color from Language: the image colourised straight from the sentence.

Words the models do not know are listed under the box (they act as ``<unk>``; nothing fails).

:class:`TextPalette` is a state class like the other explorers: ``set_caption``,
``set_swatch``, ``set_image``, ``upload`` return a message and never raise; ``render()``
returns the pictures (tests drive it headlessly); ``.widget`` builds the ipywidgets UI: a
text box (CSS class ``text-caption``; a sentence is taken on Enter or when the box loses
focus), five colour pickers (``text-swatch``, ``text-swatch-<i>``), the unknown words
(``text-unknown``), the results (``text-result-palette``, ``text-result-language``), an
upload button (``text-upload``) and a message line (``text-message``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..color import gray_rgb_from_L, merge_lab, rgb_to_lab
from .exemplar_picker import decode_upload
from .explorers import _hstack, _upscale, png_bytes
from ._common import last_upload

__all__ = ["TextPalette", "hex_to_rgb", "rgb_to_hex"]

_ERR = "<span style='color:#b00'>{}</span>"


def rgb_to_hex(rgb) -> str:
    """(3,) sRGB in [0, 1] -> "#rrggbb"."""
    r, g, b = (int(round(min(max(float(x), 0.0), 1.0) * 255)) for x in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def hex_to_rgb(value: str) -> torch.Tensor:
    """"#rrggbb" (or "#rgb") -> (3,) float sRGB in [0, 1]. ValueError for anything else."""
    s = str(value).strip().lstrip("#")
    if len(s) == 3:
        s = "".join(c * 2 for c in s)
    if len(s) != 6 or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise ValueError(f"a colour must be '#rrggbb'; got {value!r}")
    return torch.tensor([int(s[i:i + 2], 16) for i in (0, 2, 4)], dtype=torch.float32) / 255.0


class TextPalette:
    """Colour one gray image from a sentence (and an editable palette).

    Parameters: ``text2colors`` (a Text2Colors model, or None), ``language`` (a
    color-from-language model, or None; at least one is needed), ``images`` (a dataset),
    ``index`` (the image), ``caption`` (the first sentence), ``zoom`` (display scale).
    """

    def __init__(self, text2colors=None, language=None, images=None, index: int = 0,
                 caption: str = "a ripe red apple", zoom: int = 3, device=None):
        if text2colors is None and language is None:
            raise ValueError("TextPalette needs a text2colors model, a color-from-language model, or both")
        self.t2c, self.cfl, self.images, self.zoom = text2colors, language, images, int(zoom)
        m = text2colors if text2colors is not None else language
        self.device = torch.device(device) if device is not None else next(m.parameters()).device
        self.rgb: torch.Tensor | None = None
        self.palette: torch.Tensor | None = None           # (5, 3) sRGB in [0, 1]
        self.caption = ""
        self.unknown: list[str] = []
        if images is not None:
            self.set_image(index)
        self.set_caption(caption)

    # -- state ---------------------------------------------------------------------------
    @property
    def L(self) -> torch.Tensor:
        return rgb_to_lab(self.rgb[None].float())[:, :1].clamp(0, 100).to(self.device)

    def set_image(self, index: int) -> str:
        if self.images is None:
            return "no dataset given: upload an image"
        try:
            i = int(index)
        except (TypeError, ValueError):
            return f"the image index must be an integer; got {index!r}"
        if not 0 <= i < len(self.images):
            return f"image {i} does not exist: choose 0..{len(self.images) - 1}"
        self.rgb = self.images.batch([i])["rgb"][0].float().cpu()
        return ""

    def upload(self, content, name: str = "upload") -> str:
        size = int(self.rgb.shape[-1]) if self.rgb is not None else 64
        rgb, msg = decode_upload(content, size)
        if rgb is None:
            return msg
        self.rgb = rgb
        return ""

    def set_caption(self, text: str) -> str:
        """Take a sentence: TPN proposes a new palette (replacing hand edits); lists unknown words."""
        if not isinstance(text, str) or not text.strip():
            return "type a sentence, e.g. 'a ripe red apple'"
        self.caption = text
        models = [m for m in (self.t2c, self.cfl) if m is not None]
        self.unknown = [w for w in models[0].unknown_words(text) if all(w in m.unknown_words(text) for m in models)]
        if self.t2c is not None and self.rgb is not None:
            self.palette = self.t2c.text_to_palette(self.L, caption=text)[0].cpu()
        return ""

    def set_swatch(self, i: int, colour) -> str:
        """Replace swatch ``i`` (0..4) of the palette by ``colour`` ("#rrggbb" or 3 floats in [0, 1])."""
        if self.palette is None:
            return "no palette yet: the widget needs a text2colors model"
        if not 0 <= int(i) < 5:
            return f"swatch {i} does not exist: choose 0..4"
        try:
            rgb = hex_to_rgb(colour) if isinstance(colour, str) else torch.as_tensor(colour, dtype=torch.float32)
        except ValueError as e:
            return str(e)
        if rgb.shape != (3,) or not bool(((rgb >= 0) & (rgb <= 1)).all()):
            return "a colour is three values in [0, 1] or '#rrggbb'"
        self.palette = self.palette.clone()
        self.palette[int(i)] = rgb
        return ""

    # -- pictures ------------------------------------------------------------------------
    def render(self) -> dict:
        """``{"gray", "palette_result", "language_result", "palette"}``: (H, W, 3) float pictures
        (None where a model is missing) and the palette as a (5, 3) array."""
        L = self.L
        out = {"gray": gray_rgb_from_L(L.cpu())[0].permute(1, 2, 0).numpy(), "palette_result": None,
               "language_result": None, "palette": None if self.palette is None else self.palette.numpy()}
        if self.t2c is not None and self.palette is not None:
            ab = self.t2c.colorize(L, palette=self.palette.to(self.device))
            out["palette_result"] = merge_lab(L.cpu(), ab.cpu())[0].permute(1, 2, 0).numpy()
        if self.cfl is not None:
            ab = self.cfl.colorize(L, caption=self.caption)
            out["language_result"] = merge_lab(L.cpu(), ab.cpu())[0].permute(1, 2, 0).numpy()
        return out

    # -- the UI --------------------------------------------------------------------------
    @property
    def widget(self):
        import ipywidgets as W

        message, unknown = W.HTML(), W.HTML()
        message.add_class("text-message")
        unknown.add_class("text-unknown")
        box = W.Text(value=self.caption, description="sentence", continuous_update=False,
                     layout=W.Layout(width="420px"))
        box.add_class("text-caption")
        upload = W.FileUpload(accept="image/*", multiple=False, description="upload image")
        upload.add_class("text-upload")
        index = W.IntText(value=0, description="image", layout=W.Layout(width="160px"))
        side = f"{min(256, int(self.rgb.shape[-1]) * self.zoom)}px"
        pics = {k: W.Image(format="png", layout=W.Layout(width=side)) for k in ("gray", "palette_result", "language_result")}
        pics["palette_result"].add_class("text-result-palette")
        pics["language_result"].add_class("text-result-language")
        swatches = [W.ColorPicker(concise=True, value="#ffffff", layout=W.Layout(width="48px")) for _ in range(5)]
        for i, s in enumerate(swatches):
            s.add_class("text-swatch")
            s.add_class(f"text-swatch-{i}")
        busy = {"swatches": False}

        def say(msg: str):
            message.value = _ERR.format(msg) if msg else ""

        def redraw():
            unknown.value = (f"unknown words (read as &lt;unk&gt;): <b>{', '.join(self.unknown)}</b>" if self.unknown
                             else "every word is known")
            try:
                r = self.render()
            except Exception as e:            # the kernel must survive whatever the model does
                say(f"could not colorize: {type(e).__name__}: {e}")
                return
            for k, w in pics.items():
                if r[k] is not None:
                    w.value = png_bytes(_upscale(r[k], self.zoom))
            if r["palette"] is not None:
                busy["swatches"] = True
                for s, c in zip(swatches, r["palette"]):
                    s.value = rgb_to_hex(c)
                busy["swatches"] = False

        def on_caption(change):
            say(self.set_caption(change["new"]))
            redraw()

        def on_swatch(change, i):
            if not busy["swatches"]:
                say(self.set_swatch(i, change["new"]))
                redraw()

        def on_index(change):
            msg = self.set_image(change["new"])
            if not msg:
                msg = self.set_caption(self.caption)
            say(msg)
            redraw()

        def on_upload(change):
            try:
                got = last_upload(change)
                if got is None:
                    return
                msg = self.upload(got[0])
                if not msg:
                    msg = self.set_caption(self.caption)
            except Exception as e:
                msg = f"could not read the upload: {type(e).__name__}: {e}"
            say(msg)
            redraw()

        box.observe(on_caption, names="value")
        for i, s in enumerate(swatches):
            s.observe(lambda ch, i=i: on_swatch(ch, i), names="value")
        index.observe(on_index, names="value")
        upload.observe(on_upload, names="value")
        redraw()
        titles = [("gray", "gray"), ("palette_result", "from the palette (Text2Colors)"),
                  ("language_result", "from the sentence (color-from-language)")]
        shown = [W.VBox([W.HTML(f"<small>{t}</small>"), pics[k]]) for k, t in titles
                 if k == "gray" or (k == "palette_result" and self.t2c is not None)
                 or (k == "language_result" and self.cfl is not None)]
        rows = [W.HBox([box, index, upload]), unknown]
        if self.t2c is not None:
            rows.append(W.HBox([W.HTML("palette (click a swatch to edit)")] + swatches))
        return W.VBox(rows + [W.HBox(shown), message])

    def strip(self) -> np.ndarray:
        """gray | palette swatches | palette result | language result, side by side (for a still)."""
        r = self.render()
        H = r["gray"].shape[0]
        parts = [r["gray"]]
        if r["palette"] is not None:
            rows = np.minimum(np.arange(H) * 5 // H, 4)                  # five bands over the height
            parts.append(np.repeat(r["palette"][rows][:, None, :], max(1, H // 5), 1).astype(np.float32))
        parts += [p for p in (r["palette_result"], r["language_result"]) if p is not None]
        return _hstack(parts)
