"""An explorer for notebook 06 (multi-path networks, survey §2.6): what each path contributes.

One gray test image through the multi-path methods, with the paths under your control:
Iizuka et al.'s global features taken from another image (or switched off), PixColor's sample
(a seed), Baig & Torresani's hypothesis, Larsson's decoding. ``render()`` returns the picture
as an array (tests drive it headlessly); ``.widget`` builds the ipywidgets UI around it.
Callbacks never raise into the kernel: a failure is shown in the message line.
"""

from __future__ import annotations

import numpy as np

from ..color import gray_rgb_from_L, merge_lab
from .explorers import _hstack, _upscale, png_bytes

__all__ = ["PathExplorer"]


class PathExplorer:
    """``models``: trained multi-path methods by key (any of "iizuka", "pixcolor",
    "multi-hypothesis", "larsson"; others are shown with their plain ``colorize``);
    ``dataset``: where the images come from (``batch([i])`` with "L" and "rgb").

    State: ``index`` (the gray target), ``global_index`` (the image whose global features
    Iizuka fuses; None: its own; -1: the global path off), ``seed`` (PixColor's sample),
    ``head`` (Baig's hypothesis), ``decode`` (Larsson: "median" or "expectation")."""

    def __init__(self, models: dict, dataset, index: int = 0, zoom: int = 2):
        if not models:
            raise ValueError("PathExplorer needs at least one trained model")
        self.models, self.dataset, self.zoom = dict(models), dataset, zoom
        self.index, self.global_index, self.seed, self.head, self.decode = index, None, 0, 0, "median"
        self.message = ""

    def _conditions(self, key: str, device) -> dict:
        if key == "iizuka":
            if self.global_index == -1:
                return {"use_global": False}
            if self.global_index is not None:
                return {"global_L": self.dataset.batch([self.global_index], device=device)["L"]}
        if key == "pixcolor":
            return {"seed": self.seed}
        if key == "multi-hypothesis":
            return {"head": min(self.head, len(self.models[key].heads) - 1)}
        if key == "larsson":
            return {"decode": self.decode}
        return {}

    def results(self) -> dict[str, np.ndarray]:
        """Picture per column: "gray", each model's result, "ground truth" ((H, W, 3) in [0, 1])."""
        out = {}
        for key, m in self.models.items():
            device = next(m.parameters()).device
            b = self.dataset.batch([self.index], device=device)
            if "gray" not in out:
                out["gray"] = gray_rgb_from_L(b["L"].float().cpu())[0]
            ab = m.colorize(b["L"], **self._conditions(key, device)).cpu()
            out[key] = merge_lab(b["L"].float().cpu(), ab)[0]
        out["ground truth"] = b["rgb"][0].cpu()
        return {k: v.permute(1, 2, 0).numpy() for k, v in out.items()}

    def render(self) -> np.ndarray:
        """Every column side by side, (H, W', 3) float in [0, 1]."""
        return _upscale(_hstack(list(self.results().values())), self.zoom)

    @property
    def widget(self):
        import ipywidgets as W

        n = len(self.dataset) - 1
        image = W.Image(format="png")
        msg = W.HTML()
        target = W.IntSlider(value=self.index, min=0, max=n, description="image")
        source = W.IntSlider(value=-1, min=-2, max=n, description="global from",
                             tooltip="-2: its own global features, -1: global path off")
        seed = W.IntSlider(value=self.seed, min=0, max=20, description="PixColor seed")
        head = W.IntSlider(value=self.head, min=0, max=7, description="hypothesis")
        decode = W.ToggleButtons(options=["median", "expectation"], value=self.decode, description="Larsson")
        label = W.HTML("columns: " + " | ".join(["gray", *self.models, "ground truth"]))

        def update(*_):
            try:
                self.index, self.seed, self.head, self.decode = target.value, seed.value, head.value, decode.value
                self.global_index = None if source.value == -2 else source.value
                image.value = png_bytes(self.render())
                msg.value = ("Iizuka: own global features" if self.global_index is None else
                             "Iizuka: global path off" if self.global_index == -1 else
                             f"Iizuka: global features of image {self.global_index}")
            except Exception as e:           # never into the kernel
                msg.value = f"<span style='color:#b00'>{type(e).__name__}: {e}</span>"

        for w in (target, source, seed, head, decode):
            w.observe(update, names="value")
        source.value = -2
        update()
        return W.VBox([W.HBox([target, source]), W.HBox([seed, head, decode]), label, image, msg])

