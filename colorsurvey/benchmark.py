"""The survey's NCD table, reproduced and extended (``colorsurvey benchmark``, notebook 08).

For every registered method (or a chosen few) and every seed of the profile: train under the
profile's budget (or load the run from the run store), evaluate on the test split, and collect

* the survey-layout table: rows = categories + ``Dataset``, per method PSNR / SSIM / PCQI /
  UIQM plus ab-PSNR, AuC and colorfulness (mean over seeds), and a dataset-level table with
  mean ± std over seeds;
* a compute table: parameters, GFLOPs at 256x256, training img/s, inference ms;
* the official weights' rows (ECCV16, SIGGRAPH17) where the weights can be had, and the reason
  where they cannot;
* the survey's own published NCD numbers beside ours (``survey_vs_ours.csv``,
  :mod:`colorsurvey.survey_table`);
* an extra split of rendered scenes with several small objects, for the survey's closing
  remark that models do worse on complex scenes.

User-guided methods are scored without hints (as the survey ran them); exemplar-based ones
with a matched reference (same category, another instance) drawn from the training split.

Robustness: a method that raises or produces NaN is reported as failed with the reason and the
run goes on; every trained (method, size, profile, seed, data) run and its scores live in the
run store (:mod:`colorsurvey.runs`, by default ``output/runs/``), shared by ``colorsurvey
benchmark``, notebook 08 and the chapters' ``Chapter.fit``, so whichever trains a run first, the
others load it; tables are written atomically at the end, so an interrupted run leaves the
previous tables intact and no half-written file.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import models
from .models.weights import published as published_weights
from .evaluate import (TABLE_METRICS, compute_row, evaluate, per_category_table,
                       write_table)
from .profiles import Profile, get_profile
from .runs import RunStore, atomic_write_text
from .train import pick_device

__all__ = ["Benchmark", "BenchmarkResult", "run_benchmark", "survey_conclusions", "OFFICIAL_WEIGHTS"]

#: methods whose authors publish PyTorch weights: key -> the label of their row (read from the
#: declarations beside each method, :mod:`colorsurvey.models.weights`)
OFFICIAL_WEIGHTS = {w.method: w.label for w in published_weights() if w.method is not None}


@dataclass
class BenchmarkResult:
    """Everything a benchmark run measured."""

    metrics: dict[str, list[pd.DataFrame]] = field(default_factory=dict)  # method -> per-seed frames
    train_info: dict[str, list[dict]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    official: dict[str, str] = field(default_factory=dict)  # label -> "ok" or the reason it is missing
    compute: pd.DataFrame | None = None
    complex_metrics: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0
    trained: int = 0  # how many (method, seed) runs were trained now rather than read from the run store

    def table(self, categories: list[str]) -> pd.DataFrame:
        """Per-category table, each method's seeds pooled (mean over all images of all seeds)."""
        pooled = {k: pd.concat(v, ignore_index=True) for k, v in self.metrics.items() if v}
        return per_category_table(pooled, categories)

    def dataset_table(self) -> pd.DataFrame:
        """Dataset-level mean ± std over seeds, one row per method (failed methods with the reason)."""
        rows = []
        for k, frames in self.metrics.items():
            per_seed = pd.DataFrame([f.mean(numeric_only=True) for f in frames])
            row = {"method": k, "seeds": len(frames), "images": len(frames[0]) if frames else 0}
            for m, (label, _) in TABLE_METRICS.items():
                if m in per_seed:
                    row[label] = per_seed[m].mean()
                    row[label + " ±"] = per_seed[m].std(ddof=1) if len(frames) > 1 else np.nan
            rows.append(row)
        for k, why in self.failures.items():
            rows.append({"method": k, "seeds": 0, "status": f"failed: {why}"})
        df = pd.DataFrame(rows).set_index("method")
        if "status" not in df:
            df["status"] = "ok"
        df["status"] = df["status"].fillna("ok")
        return df


class Benchmark:
    """Train-and-evaluate over methods x seeds through the run store (see module docstring)."""

    def __init__(self, profile: str | Profile, data: str = "synthetic", out: str | os.PathLike = "output/benchmark",
                 methods: list[str] | None = None, seeds: int | None = None, device=None, progress: bool = True,
                 complex_scenes: bool = True, train_set=None, test_set=None,
                 runs: str | os.PathLike | RunStore | None = None, retrain: bool | None = None, cache=None):
        """``data`` names the set (``synthetic``, ``ncd`` or a folder); ``train_set`` and
        ``test_set`` may instead hand over ready datasets (``data`` is then only a label: runs
        and scores are keyed by the sets' :meth:`~colorsurvey.data.base.ColorDataset.identity`).
        ``runs``: the run store or its folder (default :func:`colorsurvey.runs.default_root`,
        shared with the notebooks); ``cache`` is the same argument under its former name.
        ``retrain``: train every method afresh (default ``$COLORSURVEY_RETRAIN``)."""
        from .data import open_dataset

        self.profile = get_profile(profile)
        self.data = data
        self.out = Path(out)
        runs = runs if runs is not None else cache
        self.store = runs if isinstance(runs, RunStore) else RunStore(runs, retrain=retrain)
        self.device = pick_device(device or self.profile.device)
        self.progress = progress
        self.methods = methods or [k for k in models.list_models()]
        unknown = [m for m in self.methods if m not in models.list_models()]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; registered: {models.list_models()}")
        self.seeds = seeds or self.profile.seeds
        P = self.profile
        kw = {"n": P.train_images} if data == "synthetic" else {}
        self.train_set = train_set if train_set is not None else open_dataset(data, split="train", size=P.resolution, **kw)
        kw = {"n": P.eval_images} if data == "synthetic" else {}
        self.test_set = test_set if test_set is not None else open_dataset(data, split="test", size=P.resolution, **kw)
        self.complex_set = None
        self._models: dict[tuple[str, int], models.ColorizationModel] = {}   # loaded once, shown many times
        if complex_scenes and data == "synthetic" and test_set is None:
            from .data.synthetic import SyntheticNCD

            self.complex_set = SyntheticNCD("test", size=P.resolution, n=max(20, P.eval_images // 2), objects=(2, 4))

    # -- one (method, seed) ---------------------------------------------------------------
    def size_for(self, key: str) -> str:
        """The profile's model size, or the method's first preset if it lacks that one."""
        sizes = models.get_class(key).sizes
        return self.profile.size if self.profile.size in sizes else next(iter(sizes))

    def create(self, key: str, seed: int | None = None) -> models.ColorizationModel:
        """Build ``key`` at the profile's size; methods that draw reference images from the
        data (exemplar-based ones) get the training set as their reference pool, methods with a
        category input the training set's number of categories."""
        return models.create(key, size=self.size_for(key), seed=seed, references=self.train_set,
                             n_categories=len(self.train_set.categories))

    def fit(self, key: str, seed: int = 0, train_if_missing: bool = True):
        """The :class:`~colorsurvey.runs.Run` of (``key``, ``seed``) from the run store, trained
        first when missing (the same run a chapter's ``Chapter.fit`` makes and reuses)."""
        return self.store.fit(key, self.train_set, profile=self.profile, size=self.size_for(key), seed=seed,
                              device=self.device, progress=self.progress, references=self.train_set,
                              train_if_missing=train_if_missing)

    def load_trained(self, key: str, seed: int = 0) -> models.ColorizationModel:
        """The model of a finished (method, seed) run, from the run store, in eval mode (loaded
        once per benchmark: :meth:`run` keeps what it trained or loaded); FileNotFoundError when
        it was never trained."""
        if (key, seed) not in self._models:
            self._models[key, seed] = self.fit(key, seed, train_if_missing=False).model
        return self._models[key, seed].to(self.device).eval()

    def _run_one(self, key: str, seed: int, result: BenchmarkResult) -> None:
        run = self.fit(key, seed)
        self._models[key, seed] = run.model
        # no user input, as the survey ran them
        df = self.store.scores(run, self.test_set, limit=self.profile.eval_images, hints=0, label="benchmark",
                               device=self.device, progress=self.progress)
        if df.drop(columns=["index", "category"]).isna().any().any():
            raise FloatingPointError("evaluation produced NaN metrics")
        if self.complex_set is not None:
            cm = self.store.scores(run, self.complex_set, hints=0, label="complex", device=self.device,
                                   progress=False)
            result.complex_metrics.setdefault(key, cm)
        result.metrics.setdefault(key, []).append(df)
        result.train_info.setdefault(key, []).append(run.info)
        result.trained += int(run.trained)

    def _official_rows(self, result: BenchmarkResult) -> None:
        """Evaluate the authors' weights where they can be downloaded (or are cached)."""
        for w in published_weights():
            if w.method is None:
                continue
            key, label = w.method, w.label
            if key not in models.list_models():
                result.official[label] = "not available: method not registered in this version"
                continue
            try:
                model = models.create(key, size=w.size, pretrained=True, progress=self.progress)
            except Exception as e:  # offline, checksum, ...: say so instead of leaving a hole
                result.official[label] = f"not available: {type(e).__name__}: {str(e).splitlines()[0]}"
                continue
            try:
                with model.hint_budget(0):   # no user input, as the survey ran them
                    df = evaluate(model, self.test_set, limit=self.profile.eval_images, device=self.device,
                                  progress=self.progress)
            except Exception as e:
                result.official[label] = f"failed: {type(e).__name__}: {e}"
                continue
            result.metrics[label] = [df]
            result.official[label] = "ok"

    def run(self, official: bool = True) -> BenchmarkResult:
        from tqdm.auto import tqdm

        result = BenchmarkResult()
        t0 = time.perf_counter()
        jobs = [(k, s) for k in self.methods for s in range(self.seeds)]
        for key, seed in tqdm(jobs, desc="benchmark", disable=not self.progress):
            if key in result.failures:
                continue
            try:
                self._run_one(key, seed, result)
            except Exception as e:
                result.failures[key] = f"{type(e).__name__}: {e}".splitlines()[0]
                (self.out / "logs").mkdir(parents=True, exist_ok=True)
                (self.out / "logs" / f"{key}-s{seed}.txt").write_text(traceback.format_exc())
                result.metrics.pop(key, None)
                result.train_info.pop(key, None)
        if official:
            self._official_rows(result)
        result.compute = self.compute_table(result)
        result.seconds = time.perf_counter() - t0
        return result

    def compute_table(self, result: BenchmarkResult) -> pd.DataFrame:
        rows = []
        for key in self.methods:
            if key in result.failures:
                continue
            size = self.size_for(key)
            model = self.create(key)
            ips = [i["images_per_s"] for i in result.train_info.get(key, []) if i.get("images_per_s")]
            try:
                rows.append(compute_row(model, np.mean(ips) if ips else None, size=256, device=self.device,
                                        repeats=2))
            except Exception as e:
                rows.append({"method": key, "size": size, "error": f"{type(e).__name__}: {e}"})
        return pd.DataFrame(rows).set_index("method") if rows else pd.DataFrame()

    # -- writing ----------------------------------------------------------------------------
    def write(self, result: BenchmarkResult) -> dict[str, Path]:
        """Write every table (CSV, HTML, LaTeX) under ``out/tables``; returns the main paths."""
        tdir = self.out / "tables"
        cats = list(self.test_set.categories)
        paths = {}
        if result.metrics:
            paths.update({f"per_category.{k}": v for k, v in write_table(
                result.table(cats), tdir, "per_category",
                caption=f"Per-category results, profile {self.profile.name}, data {self.data}").items()})
        ds = result.dataset_table()
        atomic_write_text(tdir / "dataset_level.csv", ds.to_csv())
        atomic_write_text(tdir / "dataset_level.html", ds.to_html(float_format=lambda v: f"{v:.3f}"))
        if result.compute is not None and len(result.compute):
            atomic_write_text(tdir / "compute.csv", result.compute.to_csv())
            atomic_write_text(tdir / "compute.html", result.compute.to_html(float_format=lambda v: f"{v:.3f}"))
        if result.complex_metrics:
            atomic_write_text(tdir / "complex_scenes.csv", self.complex_comparison(result).to_csv())
        atomic_write_text(tdir / "survey_vs_ours.csv", self.survey_comparison(result).to_csv())
        atomic_write_text(tdir / "conclusions.json", json.dumps(self.conclusions(result), indent=1))
        atomic_write_text(tdir / "official.json", json.dumps(result.official, indent=1))
        paths["dataset_level"] = tdir / "dataset_level.csv"
        return paths

    def survey_comparison(self, result: BenchmarkResult) -> pd.DataFrame:
        """The survey's published NCD table beside this run (:func:`colorsurvey.survey_table.beside_ours`):
        for each of its six methods, the official weights' row where they were loaded (a
        reproduction when the data is real NCD: the difference is given), else our re-implementation."""
        from .survey_table import SURVEY_METHODS, beside_ours, read_survey_table

        P, ours = self.profile, {}
        for method, key in SURVEY_METHODS.items():
            label = OFFICIAL_WEIGHTS.get(key)
            if label and result.official.get(label) == "ok" and result.metrics.get(label):
                ours[method] = (pd.concat(result.metrics[label], ignore_index=True),
                                f"ours: {label} on {self.data}", self.data == "ncd")
            elif result.metrics.get(key):
                ours[method] = (pd.concat(result.metrics[key], ignore_index=True),
                                f"ours: re-implementation, size {self.size_for(key)!r}, {P.name} profile "
                                f"({P.steps} steps), data {self.data}", False)
        return beside_ours(read_survey_table(), ours)

    def conclusions(self, result: BenchmarkResult) -> list[dict]:
        """The survey's two closing remarks judged on ``result`` (:func:`survey_conclusions`)."""
        cmp = self.complex_comparison(result) if result.complex_metrics else None
        return survey_conclusions(result.dataset_table(), result.compute, cmp)

    def complex_comparison(self, result: BenchmarkResult) -> pd.DataFrame:
        """Dataset-level PSNR / ab-PSNR on single-object vs several-small-object scenes.

        Smaller objects leave more white background, which raises every method's PSNR, the
        gray baseline's included; so the comparison that speaks to the survey's remark is each
        method's *gain over gray* on each split (columns ``... gain``), when gray was run.
        """
        rows = []
        for key, cm in result.complex_metrics.items():
            single = pd.concat(result.metrics[key]).mean(numeric_only=True)
            multi = cm.mean(numeric_only=True)
            rows.append({"method": key, "PSNR single": single["psnr"], "PSNR complex": multi["psnr"],
                         "ab-PSNR single": single["chroma_psnr"], "ab-PSNR complex": multi["chroma_psnr"]})
        df = pd.DataFrame(rows).set_index("method")
        if "gray" in df.index:
            for col in list(df.columns):
                df[col + " gain"] = df[col] - df.loc["gray", col]
        return df


def survey_conclusions(dataset_table: pd.DataFrame, compute: pd.DataFrame | None,
                       complex_cmp: pd.DataFrame | None, metric: str = "PSNR",
                       baselines=("gray", "mean-ab")) -> list[dict]:
    """Test the survey's two closing remarks (§5) on this run's numbers; one dict per remark with
    ``remark``, ``verdict`` ("agrees", "disagrees" or "cannot tell") and ``evidence`` (the
    numbers behind it).

    (a) "deep models with higher complexity have little improvement in terms of numbers": the
    Spearman rank correlation between parameters and dataset-level ``metric`` over the learned
    methods (those with parameters). We say *agrees* when it is below 0.5 — more parameters do
    not reliably buy a higher score — and *disagrees* otherwise.

    (b) "sub-optimal results for complex scenes having a large number of objects with small
    sizes": each learned method's ``metric`` gain over the gray baseline on the single-object
    split against the several-small-object split. *agrees* when most methods gain less on the
    complex scenes.

    Either verdict needs methods that learned colour: a run without any learned method (only
    baselines, say) gets no verdict at all (an empty list: there is nothing to judge); when the
    learned methods do not beat the gray baseline on average (a smoke run, say), both remarks
    get "cannot tell".
    """
    A, B = ("(a) more complex models improve the numbers little",
            "(b) complex scenes with many small objects are harder")
    ok = dataset_table[dataset_table["status"] == "ok"] if "status" in dataset_table.columns else dataset_table
    has_params = compute is not None and len(compute) > 0 and "parameters" in compute
    # the learned methods: those with parameters (propagation and the baselines learn nothing)
    learned = [m for m in compute.index if m in ok.index and m not in baselines
               and np.isfinite(compute.loc[m, "parameters"]) and compute.loc[m, "parameters"] > 0] if has_params else []
    out = []
    if not learned:   # only baselines (or nothing) ran: speak only about what was run
        return out
    if "gray" in ok.index and metric in ok:
        gain = float((ok.loc[learned, metric] - ok.loc["gray", metric]).mean())
        if not gain > 0:
            why = (f"the learned methods do not beat the gray baseline (mean {metric} gain {gain:+.2f} dB): "
                   "train longer (a `cpu` or `brief` profile) before reading anything into the ranking")
            return [{"remark": r, "verdict": "cannot tell", "evidence": why} for r in (A, B)]
    if has_params and metric in ok:
        if len(learned) >= 3:
            x = compute.loc[learned, "parameters"].astype(float)
            y = ok.loc[learned, metric].astype(float)
            rho = float(x.rank().corr(y.rank()))
            big, best = x.idxmax(), y.idxmax()
            evidence = (f"Spearman rho(parameters, {metric}) = {rho:+.2f} over {len(learned)} learned methods; the "
                        f"largest, {big} ({x[big] / 1e6:.2f} M parameters), scores {y[big]:.2f} dB; the best, "
                        f"{best} ({x[best] / 1e6:.2f} M), {y[best]:.2f} dB")
            out.append({"remark": A, "verdict": "agrees" if rho < 0.5 else "disagrees", "evidence": evidence})
        else:
            out.append({"remark": A, "verdict": "cannot tell",
                        "evidence": f"only {len(learned)} learned method(s) in this run; need at least 3"})
    col_s, col_c = f"{metric} single gain", f"{metric} complex gain"
    if complex_cmp is not None and col_s in complex_cmp:
        rows = [m for m in complex_cmp.index if (m in learned if has_params else m not in baselines)]
        g = complex_cmp.loc[rows].dropna(subset=[col_s, col_c])
        if len(g):
            worse = int((g[col_c] < g[col_s]).sum())
            evidence = (f"{worse} of {len(g)} methods gain less over gray on the complex scenes; mean gain "
                        f"{g[col_s].mean():+.2f} dB (single object) vs {g[col_c].mean():+.2f} dB (2-4 small objects)")
            out.append({"remark": B, "verdict": "agrees" if worse > len(g) / 2 else "disagrees", "evidence": evidence})
    return out


def run_benchmark(profile: str, data: str = "synthetic", methods: list[str] | None = None,
                  out: str | os.PathLike = "output/benchmark", seeds: int | None = None, device=None,
                  progress: bool = True, official: bool = True, runs: str | os.PathLike | None = None,
                  retrain: bool | None = None) -> tuple[Benchmark, BenchmarkResult]:
    """Run and write the benchmark; returns the :class:`Benchmark` and its result."""
    bench = Benchmark(profile, data, out=out, methods=methods, seeds=seeds, device=device, progress=progress,
                      runs=runs, retrain=retrain)
    result = bench.run(official=official)
    bench.write(result)
    return bench, result
