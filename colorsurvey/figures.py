"""The survey's architecture figures (its Figs. 2-8), regenerated from the code, and each
method's training recipe as the survey states it beside what this project runs.

The survey draws one architecture figure per taxonomy class (Fig. 2 plain networks, Fig. 3
user-guided, Fig. 4 domain-specific, Fig. 5 text-based, Fig. 6 diverse, Fig. 7 multi-path,
Fig. 8 exemplar-based; §2.1-§2.7). Here each is drawn from the modules themselves so it cannot
drift from what runs: :func:`trace_blocks` calls a method's ``colorize`` once on a stand-in
input (with the method's own stand-in conditions, ``example_conditions``) and records, through
forward hooks on its top-level children, which blocks run, in which order, how often and with
what output shape; :func:`architecture_figure` draws that path from the gray input and the
card's conditioning inputs to ab, with the blocks that never run at inference (discriminators,
critics, auxiliary heads) set apart as training-only.

:func:`recipe_table` puts each card's ``survey_recipe`` (what the survey says about training:
iterations, learning rate, epochs, batch size, data) beside the profile's budget, so a reader
sees what was scaled down.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from .models.base import ColorizationModel, count_parameters

__all__ = ["SURVEY_FIGURES", "Block", "trace_blocks", "architecture_figure", "recipe_table"]

#: taxonomy class -> the number of the survey's architecture figure for that class (§2.1-§2.7)
SURVEY_FIGURES: dict[str, int] = {
    "plain": 2, "user-guided": 3, "domain-specific": 4, "text-based": 5,
    "diverse": 6, "multi-path": 7, "exemplar-based": 8,
}


@dataclass
class Block:
    """One top-level child of a method: its name, type, parameter counts, and how it ran."""

    name: str
    kind: str
    parameters: int
    trainable: int
    calls: int = 0          # times it ran in one colorize call (0: training only)
    order: int = -1         # position of its first call
    out_shape: tuple = ()   # shape of its first output (the first tensor in it)


def _first_tensor(x):
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        for v in x:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


@torch.no_grad()
def trace_blocks(model: ColorizationModel, size: int = 64, batch: dict | None = None) -> list[Block]:
    """Run ``model.colorize`` once and describe each top-level child: the ones that ran, in the
    order of their first call, then the ones that did not (training-only or optional parts).
    A ``ModuleList``/``ModuleDict`` child counts the calls of its members.

    Input: ``batch`` (its first image, with the method's ``conditions_from_batch``) when given,
    else a ``size`` x ``size`` stand-in (a brighter square on mid-gray) with the method's
    ``example_conditions``. The model is left in the mode it was in. Raises what ``colorize``
    raises."""
    blocks = {name: Block(name, type(mod).__name__, count_parameters(mod),
                          count_parameters(mod, trainable_only=True))
              for name, mod in model.named_children()}
    seen: list[str] = []

    def hook(name):
        def record(_module, _inputs, output):
            b = blocks[name]
            b.calls += 1
            if b.order < 0:
                b.order = len(seen)
                seen.append(name)
                t = _first_tensor(output)
                b.out_shape = tuple(t.shape) if t is not None else ()
        return record

    handles = []
    for name, mod in model.named_children():
        members = mod.values() if isinstance(mod, torch.nn.ModuleDict) else (
            mod if isinstance(mod, torch.nn.ModuleList) else [mod])
        handles += [m.register_forward_hook(hook(name)) for m in members]
    was = model.training
    device = next(iter(model.parameters()), torch.empty(0)).device
    try:
        model.eval()
        if batch is not None:
            one = {k: (v[:1].to(device) if isinstance(v, torch.Tensor) else v[:1]) for k, v in batch.items()}
            model.colorize(one["L"], **model.conditions_from_batch(one))
        else:
            L = torch.full((1, 1, size, size), 50.0, device=device)
            L[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 70.0
            model.colorize(L, **model.example_conditions(L))
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    ran = sorted((b for b in blocks.values() if b.calls), key=lambda b: b.order)
    return ran + [b for b in blocks.values() if not b.calls]


def _fmt(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else (f"{n / 1e3:.1f}k" if n >= 1e3 else str(n))


def architecture_figure(models_by_key: dict[str, ColorizationModel], taxonomy: str,
                        differs: str = "", size: int = 64, batch: dict | None = None,
                        per_line: int = 8, save=None):
    """The survey's architecture figure for one class, drawn from the modules.

    One panel per method: the inputs first (the gray L and each condition its card names),
    then every block that runs (:func:`trace_blocks` on ``batch`` or a stand-in) in the order
    of its first call — type, parameters, "frozen" when none train, "xN" when it runs N times,
    the output shape (C x H x W) of its first call on the arrow into the next — then ab,
    ``per_line`` boxes to a line; blocks that did not run are listed under the panel. The title
    names the survey's figure (:data:`SURVEY_FIGURES`) and ``differs``, what is not as in the
    survey's drawing. Returns the matplotlib Figure.

    Raises KeyError for a taxonomy class the survey has no figure for."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from .viz import save_figure

    fig_no = SURVEY_FIGURES[taxonomy]
    rows = [(k, m, trace_blocks(m, size, batch)) for k, m in models_by_key.items()]
    lines = [1 + (sum(1 for b in bl if b.calls) + 1) // per_line for *_, bl in rows]
    fig, axes = plt.subplots(len(rows), 1, figsize=(2.0 * (per_line + 1), sum(1.35 * n + 0.9 for n in lines)),
                             squeeze=False, gridspec_kw={"height_ratios": [1.35 * n + 0.9 for n in lines]})
    dx, dy = 2.0, 1.35

    def box(ax, x, y, text, color):
        ax.add_patch(FancyBboxPatch((x - 0.75, y - 0.4), 1.5, 0.8, boxstyle="round,pad=0.03",
                                    fc=color, ec="0.3", lw=1))
        ax.text(x, y, text, ha="center", va="center", fontsize=7)

    def arrow(ax, p0, p1, label=""):
        (x0, y0), (x1, y1) = p0, p1
        if y0 == y1:
            a, b = (x0 + 0.75, y0), (x1 - 0.75, y1)
        else:                                # to the next line: bottom of one, top of the next
            a, b = (x0, y0 - 0.4), (x1, y1 + 0.4)
        ax.annotate("", b, a, arrowprops=dict(arrowstyle="->", color="0.3", lw=1))
        if label:
            ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.05, label, ha="center", va="bottom",
                    fontsize=5.5, color="0.35")

    for ax, (key, model, blocks), n_lines in zip(axes[:, 0], rows, lines):
        card = model.card
        inputs = ["L (gray)"] + list(card.conditions)
        box(ax, 0, 0, "\n".join(inputs), "#fde9c9" if card.conditions else "#dfe9f7")
        ran = [b for b in blocks if b.calls]
        pos = [(0.0, 0.0)]
        for i in range(1, len(ran) + 2):
            pos.append((dx * (i % per_line), -dy * (i // per_line)))
        for i, b in enumerate(ran):
            state = "frozen" if b.parameters and not b.trainable else _fmt(b.parameters) + " params"
            times = f" x{b.calls}" if b.calls > 1 else ""
            box(ax, *pos[i + 1], f"{b.name}{times}\n{b.kind}\n{state}", "#e6f2e6" if b.trainable else "#eeeeee")
        box(ax, *pos[len(ran) + 1], "ab", "#f7dede")
        for i in range(len(ran) + 1):
            shape = "x".join(map(str, ran[i - 1].out_shape[1:])) if i > 0 else ""
            arrow(ax, pos[i], pos[i + 1], shape)
        unused = [b for b in blocks if not b.calls]
        if unused:
            ax.text(-0.75, -dy * (n_lines - 1) - 0.75, "not run at inference on this input (training-only or "
                    "optional): " + ", ".join(f"{b.name} ({b.kind}, {_fmt(b.parameters)})" for b in unused),
                    ha="left", va="center", fontsize=6.5, style="italic", color="0.3")
        ax.set_title(f"{card.title}  (§{card.section}; {key!r} at size {model.size_name!r})",
                     fontsize=8.5, loc="left")
        ax.set_xlim(-0.9, dx * (per_line - 1) + 0.9)
        ax.set_ylim(-dy * (n_lines - 1) - 1.0, 0.6)
        ax.axis("off")
    title = f"Survey Fig. {fig_no} ({taxonomy} networks), regenerated from the code"
    fig.suptitle(title + (f"\nwhat differs: {differs}" if differs else ""), fontsize=9.5)
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def recipe_table(keys, profile) -> pd.DataFrame:
    """Each method's training as the survey states it (its card's ``survey_recipe``, with the
    section) beside this project's run under ``profile`` (steps x batch at the profile's
    resolution, model size). One row per key; raises KeyError for an unknown key."""
    from .models import get_class

    rows = []
    for k in keys:
        c = get_class(k).card
        rows.append({"method": k, "survey §": c.section,
                     "the survey's training recipe": c.survey_recipe or "(the survey gives none)",
                     f"here ({profile.name} profile)": f"{profile.steps} steps x batch {profile.batch_size} "
                     f"at {profile.resolution}x{profile.resolution}, size {profile.size!r}, "
                     "on the chosen data (default: rendered NCD-like)"})
    return pd.DataFrame(rows).set_index("method")
