"""(DE)²CO's experiment in miniature (Carlucci, Russo, Caputo, RA-L 2018; survey §2.1.3): does a
learned colorization of depth let an RGB network recognise depth maps better than the raw depth?
With the small classifier helpers it needs (:class:`~colorsurvey.models.plain.SmallClassifier`
stands in for the paper's ImageNet networks)."""

from __future__ import annotations

import contextlib
import copy
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..models.plain import SmallClassifier
from ..models.registry import create

__all__ = ["train_classifier", "evaluate_classifier", "depth_recognition_experiment"]


def _rgb(batch: dict) -> torch.Tensor:
    return batch["rgb"]


def train_classifier(clf: nn.Module, dataset, steps: int, batch_size: int = 32,
                     device: str | torch.device = "cpu", input_fn: Callable[[dict], torch.Tensor] | None = None,
                     lr: float = 1e-3, only_fc: bool = False, seed: int = 0, progress: bool = True,
                     desc: str = "classifier") -> list[float]:
    """Train ``clf`` with cross-entropy on ``input_fn(batch)`` (default: the RGB image).

    ``only_fc=True`` trains only ``clf.fc`` with everything else frozen and in eval mode
    (BatchNorm statistics kept), as when a frozen RGB network is adapted to another input.
    Batches are ``dataset.random_batch(batch_size, step=i, seed=seed)``. Returns the loss per
    step (read once, at the end: no host sync per step).
    """
    input_fn = input_fn or _rgb
    device = torch.device(device)
    clf.to(device)
    flags = [p.requires_grad for p in clf.parameters()]
    if only_fc:
        clf.eval()
        clf.requires_grad_(False)
        clf.fc.requires_grad_(True)
        clf.fc.train()
        params = list(clf.fc.parameters())
    else:
        clf.train()
        clf.requires_grad_(True)
        params = list(clf.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    try:
        for i in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
            b = dataset.random_batch(batch_size, step=i, seed=seed, device=device)
            with torch.no_grad() if only_fc else contextlib.nullcontext():
                x = input_fn(b)
            logits = clf(x.detach() if only_fc else x)
            loss = F.cross_entropy(logits.float(), b["label"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
    finally:
        for p, f in zip(clf.parameters(), flags):
            p.requires_grad_(f)
        clf.eval()
    return torch.stack(losses).cpu().tolist() if losses else []


@torch.no_grad()
def evaluate_classifier(clf: nn.Module, dataset, batch_size: int = 64, device: str | torch.device = "cpu",
                        input_fn: Callable[[dict], torch.Tensor] | None = None) -> float:
    """Top-1 accuracy of ``clf`` on every sample of ``dataset`` (in order, eval mode)."""
    input_fn = input_fn or _rgb
    was = clf.training
    clf.eval().to(device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    n = 0
    for b in dataset.iterate(batch_size, device):
        correct += (clf(input_fn(b)).argmax(1) == b["label"]).sum()
        n += b["label"].numel()
    clf.train(was)
    return float(correct) / max(n, 1)



def depth_recognition_experiment(train_set, test_set, steps: int = 300, de2co_steps: int | None = None,
                                 fc_steps: int | None = None, batch_size: int = 32,
                                 device: str | torch.device = "cpu", size: str = "small",
                                 classifier_width: int = 32, lr: float = 1e-3, seed: int = 0,
                                 progress: bool = True, store=None) -> dict:
    """The (DE)²CO experiment in miniature: does a learned colorization of depth let an RGB
    network recognise depth maps better than the raw depth does?

    1. train a :class:`SmallClassifier` on the RGB images (``steps``): test accuracy on RGB
       is the ceiling; freeze it;
    2. (a) retrain only its ``fc`` on raw depth (scaled to [0, 1] per image) replicated to
       3 channels (``fc_steps``);
    3. (b) train the (DE)²CO network through the frozen classifier (``de2co_steps``), then
       retrain ``fc`` on the colorized depth (``fc_steps``).

    Returns ``{"rgb", "raw_depth", "colorized_depth"}`` test accuracies, their loss histories
    under ``"history"``, and the trained ``"classifier"`` and ``"de2co"`` modules.

    ``store``: a :class:`~colorsurvey.runs.RunStore`: the result (accuracies, histories, both
    modules as safetensors) is kept under ``<store>/experiments/`` keyed by the data's identity,
    every argument above and this module's and the models' source, and read back next time
    (``"loaded": True`` in the result) — as a chapter's trained methods are.
    """
    device = torch.device(device)
    de2co_steps = steps if de2co_steps is None else de2co_steps
    fc_steps = max(1, steps // 2) if fc_steps is None else fc_steps
    if store is not None:
        return _stored(store, train_set, test_set, dict(
            steps=steps, de2co_steps=de2co_steps, fc_steps=fc_steps, batch_size=batch_size, size=size,
            classifier_width=classifier_width, lr=lr, seed=seed), device, progress)
    torch.manual_seed(seed)
    num_classes = len(train_set.categories) or int(train_set.labels().max()) + 1

    # 1. the RGB classifier (stands in for the paper's ImageNet networks), then frozen
    clf = SmallClassifier(num_classes, classifier_width).to(device)
    hist = {"rgb": train_classifier(clf, train_set, steps, batch_size, device, _rgb, lr, seed=seed,
                                    progress=progress, desc="RGB classifier")}
    clf.eval().requires_grad_(False)
    acc = {"rgb": evaluate_classifier(clf, test_set, device=device)}

    def depth3(b):  # raw depth, scaled to [0, 1] per image, replicated to 3 channels
        d = b["depth"]
        return (d / d.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)).expand(-1, 3, -1, -1)

    # 2a. raw depth: retrain only the last layer
    clf_a = copy.deepcopy(clf)
    clf_a.reset_fc()
    hist["raw_depth_fc"] = train_classifier(clf_a, train_set, fc_steps, batch_size, device, depth3, lr,
                                            only_fc=True, seed=seed + 1, progress=progress, desc="fc on raw depth")
    acc["raw_depth"] = evaluate_classifier(clf_a, test_set, device=device, input_fn=depth3)

    # 2b. (DE)²CO through the frozen classifier, then the last layer on colorized depth
    net = create("de2co", size=size, lr=lr).to(device).set_classifier(clf)
    net.train()
    losses = []
    for i in tqdm(range(de2co_steps), desc="(DE)²CO", disable=not progress, leave=False):
        batch = train_set.random_batch(batch_size, step=i, seed=seed + 2, device=device)
        losses.append(net.training_step(batch)["loss"])
    hist["de2co"] = torch.stack(losses).cpu().tolist() if losses else []
    net.eval()

    def colorized(b):
        return net.colorize_depth(b["depth"])

    clf_b = copy.deepcopy(clf)
    clf_b.reset_fc()
    hist["colorized_depth_fc"] = train_classifier(clf_b, train_set, fc_steps, batch_size, device, colorized, lr,
                                                  only_fc=True, seed=seed + 3, progress=progress,
                                                  desc="fc on colorized depth")
    with torch.no_grad():
        acc["colorized_depth"] = evaluate_classifier(clf_b, test_set, device=device, input_fn=colorized)
    return {**acc, "history": hist, "classifier": clf, "de2co": net}


def _stored(store, train_set, test_set, args: dict, device: torch.device, progress: bool) -> dict:
    """:func:`depth_recognition_experiment` through the run store (see its ``store``)."""
    import sys

    from safetensors.torch import load_file

    from ..runs import _module_hash

    spec = {"experiment": "de2co-depth", "train": train_set.identity(), "test": test_set.identity(), **args,
            "code": _module_hash([sys.modules[__name__], sys.modules[SmallClassifier.__module__]])}
    folder, saved = store.experiment("de2co-depth", spec, key="de2co")
    if saved is not None:
        num_classes = len(train_set.categories) or int(train_set.labels().max()) + 1
        clf = SmallClassifier(num_classes, args["classifier_width"])
        clf.load_state_dict(load_file(str(folder / "classifier.safetensors")))
        clf.to(device).eval().requires_grad_(False)
        net = create("de2co", size=args["size"], lr=args["lr"])
        net.load_state_dict(load_file(str(folder / "de2co.safetensors")))
        net.to(device).set_classifier(clf).eval()
        if getattr(store, "verbose", True):
            print(f"found the stored experiment at {folder}, loading", flush=True)
        return {**saved["accuracy"], "history": saved["history"], "classifier": clf, "de2co": net, "loaded": True}
    out = depth_recognition_experiment(train_set, test_set, device=device, progress=progress, **args)
    acc = {k: out[k] for k in ("rgb", "raw_depth", "colorized_depth")}
    store.save_experiment(folder, spec, {"accuracy": acc, "history": out["history"]},
                          {"classifier": out["classifier"].state_dict(), "de2co": out["de2co"].state_dict()})
    return {**out, "loaded": False}
