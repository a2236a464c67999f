"""PSNR against the number of user hints, the classic figure of Zhang et al. 2017 (Fig. 6),
for the user-guided methods of survey §2.2 (:mod:`colorsurvey.models.user_guided`)."""

from __future__ import annotations

__all__ = ["HINT_BUDGETS", "psnr_vs_hints", "plot_psnr_vs_hints"]

HINT_BUDGETS = (0, 1, 2, 5, 10, 20, 50, 100)


def psnr_vs_hints(methods: dict, dataset, budgets=HINT_BUDGETS, limit: int | None = None, device=None,
                  batch_size: int = 32, progress: bool = False, store=None):
    """Mean PSNR of each user-guided method given exactly k simulated hints (strokes for
    Scribbler), for every k in ``budgets`` — the classic figure of Zhang et al. 2017 (Fig. 6).

    ``methods`` maps a label to a model. Hints are drawn per image from its index, so every method
    and every k sees the same points for the same image (the first k of a larger budget are not
    the same points, though: each budget is its own draw). Global inputs, for the methods that take
    them, are given as at evaluation (``eval_global``). Returns a long DataFrame
    (method, hints, psnr, ssim).

    ``store``: a :class:`~colorsurvey.runs.RunStore`; the values of ``methods`` may then be runs
    (a chapter's :class:`~colorsurvey.notebook.MethodRun` or a :class:`~colorsurvey.runs.Run`),
    and each (method, k) score is kept beside its run and read back the next time.
    """
    import pandas as pd

    from ..evaluate import evaluate

    rows = []
    for name, m in methods.items():
        run = getattr(m, "run", m) if store is not None else None
        model = getattr(m, "model", m)
        for k in budgets:
            if run is not None and getattr(run, "path", None) is not None:
                df = store.scores(run, dataset, limit=limit, hints=int(k), label="hints", device=device,
                                  progress=progress, batch_size=batch_size, metrics=("psnr", "ssim"))
            else:
                with model.hint_budget(int(k)):     # a no-op for the automatic reference methods
                    df = evaluate(model, dataset, limit=limit, device=device, batch_size=batch_size,
                                  progress=progress, metrics=("psnr", "ssim"))
            rows.append({"method": name, "hints": int(k), "psnr": float(df.psnr.mean()),
                         "ssim": float(df.ssim.mean())})
    return pd.DataFrame(rows)


def plot_psnr_vs_hints(curves, references: dict | None = None, save=None, title: str | None = None,
                       metric: str = "psnr"):
    """Plot :func:`psnr_vs_hints`' table: one line per method against the number of hints (log
    axis; 0 drawn at the left edge), and horizontal reference lines (``references``: label -> value,
    e.g. the automatic ``gray`` and U-Net baselines)."""
    import matplotlib.pyplot as plt

    from ..viz import save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ks = sorted(curves.hints.unique())
    pos = {k: (0.5 if k == 0 else k) for k in ks}
    for name, g in curves.groupby("method", sort=False):
        g = g.sort_values("hints")
        style = "--" if "propagation" in name else "-"
        ax.plot([pos[k] for k in g.hints], g[metric], style, marker="o", ms=4, label=name)
    for i, (name, v) in enumerate((references or {}).items()):
        ax.axhline(v, color=f"C{7 + i % 3}", ls=":", lw=1.5, label=f"{name} (automatic)")
    ax.set_xscale("log")
    ax.set_xticks([pos[k] for k in ks])
    ax.set_xticklabels([str(k) for k in ks])
    ax.set_xlabel("number of simulated hints (strokes for Scribbler)")
    ax.set_ylabel({"psnr": "PSNR (dB)", "ssim": "SSIM"}.get(metric, metric))
    ax.set_title(title or f"{metric.upper()} against the number of user hints")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save_figure(fig, save)
    return fig
