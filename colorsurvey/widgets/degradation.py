"""The domain-specific chapter's widget (notebook 03): pick a method and the strength of its
input's degradation — speckle looks (SAR, radar), sketch line thickness, NIR mix — and see the
input, the output and the ground truth update, with the output's PSNR.

:class:`DegradationExplorer` holds the state; ``render()`` is pure (tests drive it headlessly);
``.widget`` wraps it in ipywidgets. Bad input is reported in the message line, never raised into
the kernel.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import metrics as M
from .explorers import _hstack, _upscale, png_bytes
from ._common import index_message

__all__ = ["DegradationExplorer"]


class DegradationExplorer:
    """``models``: key -> a trained :class:`~colorsurvey.models.domain.DomainModel`; ``batch``:
    a data batch (its images are the ground truth the stand-ins are made from). ``set(key,
    strength, index)`` changes the state (returns an error message or ""); ``render()`` returns
    (picture: input | output | ground truth as an (H, 3W, 3) float array, scores dict)."""

    def __init__(self, models: dict, batch: dict, index: int = 0, zoom: int = 2):
        if not models:
            raise ValueError("DegradationExplorer needs at least one trained domain-specific model")
        self.models, self.batch, self.index, self.zoom = models, batch, index, zoom
        self.key = next(iter(models))
        self.strength = self.models[self.key].strength[1]
        self.message = ""

    def choices(self, key: str | None = None) -> tuple:
        return self.models[key or self.key].strength[2]

    def set(self, key: str | None = None, strength=None, index: int | None = None) -> str:
        self.message = ""
        if key is not None and key != self.key:
            if key not in self.models:
                self.message = f"unknown method {key!r}; choose one of {', '.join(self.models)}"
                return self.message
            self.key, self.strength = key, self.models[key].strength[1]
        if strength is not None:
            if strength not in self.choices():
                self.message = f"{self.models[self.key].strength[0]} must be one of {self.choices()}; got {strength}"
            else:
                self.strength = strength
        if index is not None:
            bad = index_message(index, self.batch["L"].shape[0])
            if bad:
                self.message = bad
            else:
                self.index = int(index)
        return self.message

    @torch.no_grad()
    def render(self) -> tuple[np.ndarray, dict]:
        m = self.models[self.key]
        i = self.index
        one = {k: (v[i:i + 1] if torch.is_tensor(v) and v.dim() > 0 else v) for k, v in self.batch.items()}
        dev = next(m.parameters()).device
        one = {k: (v.to(dev) if torch.is_tensor(v) else v) for k, v in one.items()}
        seeds = [int(one["index"][0])] if "index" in one else [0]
        cond = m.standin(one, strength=self.strength, seeds=seeds)
        rgb = m.explain(one["L"], **cond)["rgb"].float().cpu()[0].clamp(0, 1)
        x = cond[m.domain_input].float().cpu()[0, 0]
        x = (x / x.max().clamp_min(1e-6)) if m.domain_input == "sar" else x.clamp(0, 1)
        gt = one["rgb"].float().cpu()[0]
        scores = {"psnr": M.psnr(M.to_uint8(gt), M.to_uint8(rgb))}
        pic = _hstack([x[..., None].expand(-1, -1, 3).numpy(), rgb.permute(1, 2, 0).numpy(), gt.permute(1, 2, 0).numpy()])
        return _upscale(pic, self.zoom), scores

    @property
    def widget(self):
        import ipywidgets as W

        img, info = W.Image(format="png"), W.HTML()
        method = W.Dropdown(options=list(self.models), value=self.key, description="method")
        strength = W.SelectionSlider(options=self.choices(), value=self.strength,
                                     description=self.models[self.key].strength[0], continuous_update=False)
        idx = W.IntSlider(value=self.index, min=0, max=self.batch["L"].shape[0] - 1, description="image")
        busy = []

        def update(*_):
            if busy:
                return
            msg = self.set(strength=strength.value, index=idx.value)
            try:
                pic, s = self.render()
            except Exception as e:  # noqa: BLE001 — shown in the widget, not raised into the kernel
                info.value = f"<span style='color:#b00'>could not render: {e}</span>"
                return
            img.value = png_bytes(pic)
            name = self.models[self.key].strength[0]
            info.value = (f"<code>{self.models[self.key].domain_input} input ({name} = {self.strength}) | "
                          f"output | ground truth</code><br>PSNR {s['psnr']:.2f} dB"
                          + (f"<br><span style='color:#b00'>{msg}</span>" if msg else ""))

        def switch(*_):
            self.set(key=method.value)
            busy.append(1)
            strength.options, strength.value = self.choices(), self.strength
            strength.description = self.models[self.key].strength[0]
            busy.clear()
            update()

        method.observe(switch, names="value")
        strength.observe(update, names="value")
        idx.observe(update, names="value")
        update()
        return W.VBox([W.HBox([method, strength, idx]), img, info])
