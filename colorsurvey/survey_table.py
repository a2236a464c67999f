"""The survey's published NCD table (``data/survey_ncd_table.csv``) and ours beside it.

The survey (Anwar et al., arXiv 2008.10774) evaluates six methods with their authors' weights on
its Natural-Color Dataset: PSNR, SSIM, PCQI and UIQM per category (20) and at dataset level. The
table is an image in the authors' repository (``Figs/NCD_results_table.png``); its hand
transcription, with the way it was read, is in ``data/`` (see ``data/README.md``).

The survey's dataset level is the **unweighted mean of the 20 category means** (each category
counts once, whatever its number of images); :func:`survey_way` aggregates our per-image scores
the same way before they are compared. :func:`beside_ours` puts, for each of the six methods and
each metric, the survey's number beside ours, per category and at dataset level, labelled which
is which: *theirs* come from official weights on real NCD, *ours* from the run named (profile,
data, weights). A row of ours that used the official weights on real NCD is a **reproduction**,
and only there is the difference printed (elsewhere the two numbers measure different things).

>>> theirs = read_survey_table()                     # doctest: +SKIP
>>> survey_dataset_level(theirs).loc["iizuka2016"]   # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .evaluate import SURVEY_METRICS, TABLE_METRICS

__all__ = ["SURVEY_TABLE", "SURVEY_METHODS", "DATASET_LEVEL", "read_survey_table", "survey_dataset_level",
           "category_key", "survey_way", "beside_ours"]

#: the transcription of the survey's NCD table, in the repository's data folder
SURVEY_TABLE = Path(__file__).resolve().parent.parent / "data" / "survey_ncd_table.csv"
#: the survey table's method keys -> this project's registry keys
SURVEY_METHODS = {
    "larsson2016": "larsson", "colorcapsnet2019": "colorcapsnet", "iizuka2016": "iizuka",
    "zhang2016_eccv16": "colorful", "su2020_instance_aware": "instance-aware", "zhang2017_realtime": "realtime-ug",
}
#: the table's label of its dataset-level row
DATASET_LEVEL = "Dataset-level"
_COLUMNS = ["method", "category", "n_images", *SURVEY_METRICS]


def read_survey_table(path: str | Path | None = None) -> pd.DataFrame:
    """The survey's NCD table: one row per (method, category), 6 methods x (20 categories + the
    ``"Dataset-level"`` row), columns method, category, n_images, psnr, ssim, pcqi, uiqm.

    FileNotFoundError naming the file when it is missing; ValueError naming the problem when
    columns are missing, a number does not parse, or a method lacks rows."""
    p = Path(path) if path is not None else SURVEY_TABLE
    if not p.exists():
        raise FileNotFoundError(f"the survey's NCD table is not at {p}; it is part of the repository's data/ "
                                "folder (see data/README.md)")
    df = pd.read_csv(p)
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{p.name}: columns {missing} missing; expected {_COLUMNS}")
    for c in ("n_images", *SURVEY_METRICS):
        bad = pd.to_numeric(df[c], errors="coerce").isna()
        if bad.any():
            raise ValueError(f"{p.name}: column {c!r} has values that are not numbers in rows "
                             f"{list(df.index[bad][:5] + 2)} (line numbers)")
        df[c] = pd.to_numeric(df[c])
    counts = df.groupby("method").size()
    short = counts[counts != counts.max()]
    if len(short) or (df["category"] == DATASET_LEVEL).groupby(df["method"]).sum().ne(1).any():
        raise ValueError(f"{p.name}: every method needs the same categories and one {DATASET_LEVEL!r} row; "
                         f"rows per method: {counts.to_dict()}")
    return df


def survey_dataset_level(theirs: pd.DataFrame) -> pd.DataFrame:
    """Dataset level recomputed the survey's way: per method, the unweighted mean of its
    category rows (the ``Dataset-level`` row left out). method x (psnr, ssim, pcqi, uiqm)."""
    cats = theirs[theirs["category"] != DATASET_LEVEL]
    return cats.groupby("method", sort=False)[list(SURVEY_METRICS)].mean()


def category_key(name: str) -> str:
    """A category name reduced for matching: lower case, letters and digits only
    ("Capsicum green", "CapsicumGreen" and "capsicum_green" all give "capsicumgreen")."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def survey_way(per_image: pd.DataFrame, categories: list[str]) -> pd.DataFrame:
    """Our per-image scores (:func:`colorsurvey.evaluate.evaluate`'s frame: a ``category``
    column and the metric columns) aggregated as the survey does: the mean per category, named
    with the survey table's spelling (``categories``), and the ``Dataset-level`` row as the
    unweighted mean of the category means. Categories of ours the table lacks are left out;
    the table's categories we did not score are NaN. (categories + Dataset-level) x metrics."""
    by_key = {category_key(c): c for c in categories}
    df = per_image.assign(category=per_image["category"].map(lambda c: by_key.get(category_key(c))))
    df = df.dropna(subset=["category"])
    cols = [m for m in SURVEY_METRICS if m in df.columns]
    g = df.groupby("category")[cols].mean().reindex(categories)
    g.loc[DATASET_LEVEL] = g.mean(skipna=True)
    return g


def beside_ours(theirs: pd.DataFrame, ours: dict[str, tuple[pd.DataFrame, str, bool]]) -> pd.DataFrame:
    """The survey's table beside ours.

    ``ours`` maps a survey method key (``SURVEY_METHODS``) to (our per-image scores, the label of
    what ours is — e.g. "ours: re-implementation, cpu profile, synthetic data" —, whether it is a
    reproduction: official weights on real NCD). Methods missing from ``ours`` get empty "ours".

    Returns one row per (method, category) — the table's 20 categories and ``Dataset-level``
    (theirs as printed, which is the unweighted category mean to within rounding; ours aggregated
    the same way) — with columns ``registry key``, ``theirs`` (what the
    survey's number is), ``ours`` (the label) and, per metric label (PSNR, SSIM, PCQI, UIQM),
    ``<metric> survey``, ``<metric> ours`` and ``<metric> ours - survey`` (reproductions only).
    """
    rows = []
    for method, part in theirs.groupby("method", sort=False):
        cats = [c for c in part["category"] if c != DATASET_LEVEL]
        survey = part.set_index("category")
        scores, label, repro = ours.get(method, (None, "not run", False))
        mine = survey_way(scores, cats) if scores is not None else None
        for cat in cats + [DATASET_LEVEL]:
            row = {"method": method, "category": cat, "registry key": SURVEY_METHODS.get(method, ""),
                   "theirs": "survey: official weights on real NCD", "ours": label}
            for m in SURVEY_METRICS:
                name = TABLE_METRICS[m][0]
                s = float(survey.loc[cat, m])
                o = float(mine.loc[cat, m]) if mine is not None and m in mine else float("nan")
                row[f"{name} survey"], row[f"{name} ours"] = s, o
                row[f"{name} ours - survey"] = o - s if repro else float("nan")
            rows.append(row)
    return pd.DataFrame(rows).set_index(["method", "category"])
