"""Train once: the run store shared by every notebook chapter, notebook 08 and ``colorsurvey benchmark``.

A *run* is one trained method: its weights (safetensors, with the optimiser state and loss
history in ``state.pt``, the format of :func:`colorsurvey.train.save_checkpoint`) and a
``run.json`` with the method's card, the profile, the training data's identity
(:meth:`colorsurvey.data.base.ColorDataset.identity`), seed, steps, overrides, a code
fingerprint (a hash of the source of the modules that define the method and of the training
loop) and the training speed. Scores are stored beside it, one file per evaluation setting
(test data identity, number of images, hints, evaluation code), so a changed setting is
evaluated afresh instead of returning stale numbers.

Layout, under the store's root (default ``output/runs/`` of the checkout; ``$COLORSURVEY_RUNS``
or the ``root`` argument move it)::

    <method>-<size>-<profile>-s<seed>-<hash>/      one finished run
        model.safetensors  state.pt  run.json
        metrics/<label>-<hash>.csv (+ .json)        its scores, one pair per evaluation setting
    <...>.partial/                                  a run being trained (resumed if interrupted)

``<hash>`` covers everything in the run's spec, so changing the method's code, the profile,
the model size, an override or the data gives a new folder and a new training; a finished run
is never rewritten in place. A run appears under its final name only once complete (trained
in ``.partial``, then moved with ``os.replace``), so a half-written run is never read.

Force retraining with ``RunStore(retrain=True)`` or the environment variable
``COLORSURVEY_RETRAIN=1`` (or a comma-separated list of method keys: ``COLORSURVEY_RETRAIN=unet,colorful``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pandas as pd
import torch

from . import models
from .train import (TrainResult, fit_statistics, load_checkpoint, pick_device, save_checkpoint,
                    seed_everything, train)

__all__ = ["RunStore", "Run", "load", "find_run", "default_root", "code_fingerprint", "atomic_write_text", "RUNS_ENV", "RETRAIN_ENV"]

RUNS_ENV = "COLORSURVEY_RUNS"
RETRAIN_ENV = "COLORSURVEY_RETRAIN"
REPO = Path(__file__).resolve().parent.parent


def default_root() -> Path:
    """``$COLORSURVEY_RUNS`` if set, else ``output/runs`` in the checkout."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser() if env else REPO / "output" / "runs"


def _retrain_from_env() -> bool | frozenset[str]:
    v = os.environ.get(RETRAIN_ENV, "").strip()
    if v.lower() in ("", "0", "false", "no"):
        return False
    if v.lower() in ("1", "true", "yes", "all"):
        return True
    return frozenset(k.strip() for k in v.split(",") if k.strip())


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _module_hash(modules) -> str:
    h = hashlib.sha256()
    for m in sorted(modules, key=lambda m: m.__name__):
        src = getattr(m, "__file__", None)
        h.update(m.__name__.encode() + b"\0")
        if src and Path(src).exists():
            h.update(Path(src).read_bytes())
    return h.hexdigest()[:16]


def _ours(m) -> bool:
    return isinstance(m, ModuleType) and (m.__name__ == "colorsurvey" or m.__name__.startswith("colorsurvey."))


@functools.lru_cache(maxsize=None)
def code_fingerprint(cls: type) -> str:
    """A hash of the source of the modules that define method ``cls``: the modules of its
    classes (its MRO), the package modules those import from (one level: layers, features,
    hints, ...), and the training loop. Editing any of them changes the fingerprint."""
    mods = {sys.modules[c.__module__] for c in cls.__mro__ if _ours(sys.modules.get(c.__module__))}
    for m in list(mods):
        for v in vars(m).values():
            mm = v if isinstance(v, ModuleType) else sys.modules.get(getattr(v, "__module__", None) or "")
            if _ours(mm) and mm.__name__ != "colorsurvey":
                mods.add(mm)
    mods.add(sys.modules["colorsurvey.train"])
    return _module_hash(mods)


def _eval_code() -> str:
    return _module_hash([sys.modules["colorsurvey.evaluate"], sys.modules["colorsurvey.metrics"]])


def _jsonable(v):
    """An override as it goes into a spec: data sets by identity, the rest as JSON would write it."""
    if hasattr(v, "identity") and callable(v.identity):
        return v.identity()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


def _record(path: Path, spec: dict) -> dict | None:
    """The JSON record at ``path`` when its ``"spec"`` is ``spec`` (compared as JSON), else None
    (also when the file is missing or unreadable)."""
    try:
        stored = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return stored if _same_spec(stored, spec) else None


def _same_spec(stored: dict, spec: dict) -> bool:
    return stored.get("spec") == json.loads(json.dumps(spec, default=str))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class Run:
    """A trained method from the store: the model (in eval mode on its device), its training
    result (loss history, speed), its folder and spec, and whether it was trained just now."""

    key: str
    model: models.ColorizationModel
    result: TrainResult
    path: Path
    spec: dict
    trained: bool
    info: dict

    def __repr__(self) -> str:
        return f"Run({self.key!r}, {'trained now' if self.trained else 'loaded'} , {self.path})"


class RunStore:
    """Finished runs under ``root`` (default :func:`default_root`), found by their spec.

    ``retrain``: True retrains every run asked for (once per store object), a set of method keys
    retrains those; None reads ``$COLORSURVEY_RETRAIN``. ``verbose`` prints what is found."""

    def __init__(self, root: str | os.PathLike | None = None, retrain: bool | set | frozenset | None = None,
                 verbose: bool = True):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.retrain = _retrain_from_env() if retrain is None else (retrain if isinstance(retrain, bool)
                                                                     else frozenset(retrain))
        self.verbose = verbose
        self._retrained: set[str] = set()   # folders retrained by this object: not again

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # -- specs -------------------------------------------------------------------------------
    def spec(self, key: str, train_set, *, profile, size: str, seed: int, steps: int, batch_size: int,
             references=None, **overrides) -> dict:
        """Everything that decides a run's weights, as a JSON-able dict."""
        kw = dict(overrides)
        if references is not None and models.accepts(key, "references"):
            kw["references"] = references
        if models.accepts(key, "num_classes") and "num_classes" not in kw:
            kw["num_classes"] = len(train_set.categories)
        prof = {k: v for k, v in profile.as_dict().items() if k not in ("eval_images", "seeds", "device")}
        return {"method": key, "size": size, "profile": prof, "seed": int(seed), "steps": int(steps),
                "batch_size": int(batch_size), "overrides": _jsonable(kw), "data": train_set.identity(),
                "code": code_fingerprint(models.get_class(key))}

    def path(self, spec: dict) -> Path:
        """The folder of the run with ``spec`` (whether or not it exists)."""
        name = f"{spec['method']}-{spec['size']}-{spec['profile']['name']}-s{spec['seed']}-{_digest(spec)}"
        return self.root / name

    def find(self, spec: dict) -> Path | None:
        """The finished run with exactly ``spec``, or None."""
        p = self.path(spec)
        return p if _record(p / "run.json", spec) is not None else None

    def _forced(self, key: str, path: Path) -> bool:
        wanted = self.retrain is True or (isinstance(self.retrain, frozenset) and key in self.retrain)
        return wanted and str(path) not in self._retrained

    # -- train or load --------------------------------------------------------------------------
    @staticmethod
    def partial_path(path: Path) -> Path:
        """Where the run that will be ``path`` is trained (and resumed from if interrupted)."""
        return path.with_name(path.name + ".partial")

    def fit(self, key: str, train_set, *, profile, size: str | None = None, steps: int | None = None,
            batch_size: int | None = None, seed: int = 0, device=None, progress: bool = True,
            references=None, train_if_missing: bool = True, out: str | os.PathLike | None = None,
            checkpoint_every: int = 500, resume: bool = True, sync_bn: bool = False, source: str | None = None,
            **overrides) -> Run:
        """The run of ``key`` trained on ``train_set`` under ``profile`` (its size, steps and batch
        size unless given): loaded when the store has it, else trained and stored.

        Methods that take reference images get ``references``; methods with a category input
        (``num_classes``) get the number of categories of ``train_set``. Raises
        FileNotFoundError when the run is missing and ``train_if_missing`` is False.

        ``out``: the run's folder instead of its name in the store (ValueError when it holds
        another run). Training goes on in ``<folder>.partial``, checkpointed every
        ``checkpoint_every`` steps; ``resume`` continues an interrupted training from there, False
        starts it afresh. Under torch.distributed every process trains its share and rank 0 alone
        writes (:mod:`colorsurvey.distributed`); ``sync_bn``: SyncBatchNorm. ``source``: how the
        training data was named (``synthetic``, ``ncd``, a folder), recorded in run.json."""
        from .distributed import barrier, is_main, world

        size = size or profile.size
        steps = int(steps or profile.steps)
        batch_size = int(batch_size or profile.batch_size)
        device = pick_device(str(device) if device is not None else profile.device)
        spec = self.spec(key, train_set, profile=profile, size=size, seed=seed, steps=steps, batch_size=batch_size,
                         references=references, **overrides)
        path = self.path(spec) if out is None else Path(out).expanduser().absolute()
        forced = self._forced(key, path)
        found = None if forced else (self.find(spec) if out is None else self._find_at(path, spec))
        if found is None and not train_if_missing:
            raise FileNotFoundError(f"no finished run of {key!r} (size {size}, seed {seed}) under {self.root}")
        model = models.create(key, size=size, seed=seed, references=references,
                              n_categories=len(train_set.categories), **overrides)
        if found is not None:
            if self.verbose:
                print(f"found a trained run at {found}, loading", flush=True)
            seed_everything(seed)
            model.to(device)
            fit_statistics(model, train_set, batch_size, seed, device)   # as train() before loading
            result = load_checkpoint(model, found, device) or TrainResult(device=str(device))
            result.device = str(device)
            info = json.loads((found / "run.json").read_text())["info"]
            return Run(key, model.eval(), result, found, spec, False, info)
        partial = self.partial_path(path)
        if (forced or not resume) and is_main():
            shutil.rmtree(partial, ignore_errors=True)
        barrier()
        if self.verbose and forced:
            print(f"retraining {key} ({RETRAIN_ENV} or retrain=True), into {path}", flush=True)
        result = train(model, train_set, steps=steps, batch_size=batch_size, device=device, seed=seed,
                       checkpoint=partial, resume=True, progress=progress, checkpoint_every=checkpoint_every,
                       sync_bn=sync_bn)
        info = {"steps": result.step, "seconds": result.seconds, "images_per_s": result.images_per_second,
                "size": size, "resolution": getattr(train_set, "size", None), "device": str(device),
                "cpu_threads": torch.get_num_threads(), "processes": world()[1], "data_source": source}
        if is_main():
            save_checkpoint(model, partial, result)
            card = model.card
            atomic_write_text(partial / "run.json", json.dumps(
                {"spec": spec, "info": info, "card": {"key": card.key, "title": card.title, "section": card.section,
                                                      "taxonomy": card.taxonomy}}, indent=1, default=str))
            self._commit(partial, path)
        barrier()
        self._retrained.add(str(path))
        return Run(key, model.eval(), result, path, spec, True, info)

    @staticmethod
    def _find_at(path: Path, spec: dict) -> Path | None:
        """``path`` when it holds the finished run with ``spec``, None when it holds no run;
        ValueError when it holds another run (an ``out`` folder is never overwritten by another)."""
        try:
            stored = json.loads((path / "run.json").read_text())
        except FileNotFoundError:
            if path.exists() and any(path.iterdir()):
                raise ValueError(f"{path} exists and is not a run folder: choose an empty or new folder for --out")
            return None
        if _same_spec(stored, spec):
            return path
        s = stored.get("spec", {})
        raise ValueError(f"{path} holds another run ({s.get('method')}, size {s.get('size')}, seed {s.get('seed')}, "
                         f"{s.get('steps')} steps): choose another folder for --out, or delete it to replace it")

    @staticmethod
    def _commit(partial: Path, path: Path) -> None:
        """Move a finished ``partial`` folder to ``path`` (replacing an older run there)."""
        old = None
        if path.exists():
            old = path.with_name(f"{path.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(partial, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    # -- experiments that are not a method's run ----------------------------------------------
    def experiment(self, name: str, spec: dict, key: str | None = None) -> tuple[Path, dict | None]:
        """Where an experiment that is not a method's run (e.g. the (DE)²CO depth experiment)
        keeps its result, ``<root>/experiments/<name>-<digest of spec>``, and its finished record
        (``result.json``) when it was stored with exactly ``spec``; the record is None when it is
        missing, stored with another spec, or when retraining is forced for ``key`` (default
        ``name``) as for a run (``COLORSURVEY_RETRAIN``, ``retrain=``)."""
        folder = self.root / "experiments" / f"{name}-{_digest(spec)}"
        if self._forced(key or name, folder):
            return folder, None
        return folder, _record(folder / "result.json", spec)

    def save_experiment(self, folder: Path, spec: dict, record: dict, state_dicts: dict[str, dict]) -> None:
        """Store an experiment's ``record`` (JSON-able, saved with ``spec`` as ``result.json``) and
        its modules' state dicts (``state_dicts``: file stem -> state dict, as safetensors) in
        ``folder``: written under ``<folder>.partial``, then renamed, as a run is."""
        from safetensors.torch import save_file

        partial = self.partial_path(folder)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for stem, sd in state_dicts.items():
            save_file({k: v.detach().cpu().contiguous() for k, v in sd.items()}, str(partial / f"{stem}.safetensors"))
        atomic_write_text(partial / "result.json", json.dumps({"spec": spec, **record}, default=str))
        self._commit(partial, folder)
        self._retrained.add(str(folder))

    # -- scores --------------------------------------------------------------------------------
    def scores(self, run: Run, dataset, *, limit: int | None = None, hints: int | None = None,
               label: str = "eval", device=None, progress: bool = True, batch_size: int = 32,
               metrics: tuple[str, ...] | None = None, variant: str | None = None) -> pd.DataFrame:
        """:func:`colorsurvey.evaluate.evaluate` of ``run``'s model on ``dataset``, stored with the
        run under its evaluation setting (test data identity, ``limit``, ``hints`` — None: the
        method's default simulated user, k: exactly k hints via ``hint_budget`` — and the
        evaluation code); a stored result is returned only when every part matches.

        ``label`` (who asked: "chapter", "benchmark", ...) is recorded, not part of the setting:
        the same evaluation asked for by a chapter and by the benchmark is computed once. For a
        method without user input ``hints`` has no effect and is not part of the setting either.
        ``metrics``: the columns to compute (None: evaluate's default set); ``variant``: a name for
        a change the caller made to the model before asking (e.g. a branch switched off), so that
        each state of the model keeps its own scores."""
        from .evaluate import evaluate
        from .models.base import ColorizationModel

        n = None if limit is None or limit >= len(dataset) else int(limit)
        takes_hints = type(run.model).hint_budget is not ColorizationModel.hint_budget
        espec = {"data": dataset.identity(), "limit": n, "hints": hints if takes_hints else None,
                 "code": _eval_code()}
        if metrics is not None:
            espec["metrics"] = list(metrics)
        if variant is not None:
            espec["variant"] = str(variant)
        f = run.path / "metrics" / f"scores-{_digest(espec)}.csv"
        meta = f.with_suffix(".json")
        stored = _record(meta, espec) if f.exists() else None
        if stored is not None:
            df = pd.read_csv(f)
            df.attrs["evaluated"] = stored.get("evaluated", "")
            if label not in stored.get("labels", []):
                stored["labels"] = [*stored.get("labels", []), label]
                atomic_write_text(meta, json.dumps(stored, indent=1, default=str))
            return df
        ctx = run.model.hint_budget(hints) if hints is not None and takes_hints else contextlib.nullcontext()
        with ctx:
            kw = {} if metrics is None else {"metrics": tuple(metrics)}
            df = evaluate(run.model, dataset, limit=n, device=device, progress=progress, batch_size=batch_size, **kw)
        atomic_write_text(meta, json.dumps({"spec": espec, "labels": [label], "evaluated": df.attrs.get("evaluated", "")},
                                           indent=1, default=str))
        atomic_write_text(f, df.to_csv(index=False))
        return df


# -- one call from a folder ----------------------------------------------------------------------

def find_run(run: str | os.PathLike | Run, root: str | os.PathLike | None = None) -> tuple[Path, dict]:
    """The folder and the ``run.json`` record of ``run``: a :class:`Run`, a run's folder, or the name
    of a folder in the run store (``root``, default :func:`default_root`). Raises FileNotFoundError
    naming what was looked for (and the fix) when there is no finished run there."""
    if isinstance(run, Run):
        run = run.path
    p = Path(run).expanduser()
    store = Path(root).expanduser() if root is not None else default_root()
    candidates = [p] if p.is_absolute() or p.exists() else [p, store / p]
    for c in candidates:
        if (c / "run.json").exists():
            try:
                return c, json.loads((c / "run.json").read_text())
            except json.JSONDecodeError as e:
                raise ValueError(f"{c / 'run.json'} is not valid JSON ({e}): the run folder is damaged; "
                                 "train it again") from None
    for c in candidates:
        partial = c.with_name(c.name + ".partial") if not c.name.endswith(".partial") else c
        if partial.is_dir():
            raise FileNotFoundError(f"{c} is an unfinished run (its training is in {partial}): finish it with "
                                    "`colorsurvey train ... --resume` (the same command with --resume)")
    where = " or ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"no trained run at {where} (a run folder holds run.json and model.safetensors): give "
                            f"a run's folder, or the name of one under {store}")


def load(run: str | os.PathLike | Run, device=None, root: str | os.PathLike | None = None) -> models.ColorizationModel:
    """A trained run as a ready model, in eval mode on ``device`` (default: the best available),
    whatever notebook or command made it: the method, size and overrides are read from the run's
    ``run.json``, the weights from its checkpoint (:func:`colorsurvey.train.load_checkpoint`).

    ``run``: a run's folder, its name in the run store (``root``), or a :class:`Run`. The returned
    model has ``run_path`` and ``run_record`` (the parsed ``run.json``) attributes.

    Exemplar-based methods come back without the training data's pool of references: give them
    ``reference_rgb`` when colorizing. Raises FileNotFoundError (no run there) and ValueError
    (a damaged run folder), each naming the folder and the fix."""
    path, record = find_run(run, root)
    spec = record.get("spec") or {}
    key = spec.get("method")
    if key is None:
        raise ValueError(f"{path / 'run.json'} names no method (no spec.method): not a colorsurvey run")
    overrides = {k: v for k, v in (spec.get("overrides") or {}).items() if k != "references"}
    model = models.create(key, size=spec.get("size", "small"), seed=spec.get("seed"), **overrides)
    dev = pick_device(str(device) if device is not None else None)
    model.to(dev)
    load_checkpoint(model, path, dev)
    model.run_path, model.run_record = path, record
    return model.eval()
