"""Data-parallel training on the CPU: 2 processes, the gloo backend (colorsurvey.distributed)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from colorsurvey import distributed as D
from colorsurvey import models
from colorsurvey.train import train

from .conftest import TinyColors

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parent.parent
STEPS, BATCH = 4, 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _without_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """BatchNorm -> GroupNorm(1, C): per-sample statistics, so sharding the batch changes nothing."""
    for name, child in module.named_children():
        if isinstance(child, torch.nn.modules.batchnorm._BatchNorm):
            setattr(module, name, torch.nn.GroupNorm(1, child.num_features))
        else:
            _without_batchnorm(child)
    return module


def _model(key: str, no_bn: bool):
    m = models.create(key, size="smoke", seed=0)
    return _without_batchnorm(m) if no_bn else m


CASES = {"plain": ("unet", True),          # no BatchNorm: must match one process with the same global batch
         "gan": ("scribbler", False)}       # generator + PatchGAN discriminator (two optimisers), BatchNorm


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        for case, (key, no_bn) in CASES.items():
            model = _model(key, no_bn)
            r = train(model, TinyColors(16), steps=STEPS, batch_size=BATCH, seed=1, progress=False, device="cpu",
                      checkpoint=Path(out) / case, checkpoint_every=2, log_every=2)
            torch.save({"state": model.state_dict(), "history": r.history, "step": r.step},
                       Path(out) / f"{case}-rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Both cases trained by 2 processes (one spawn: starting processes is the slow part)."""
    out = tmp_path_factory.mktemp("ddp")
    n = torch.get_num_threads()
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    torch.set_num_threads(n)
    return out, {case: [torch.load(out / f"{case}-rank{r}.pt", weights_only=True) for r in (0, 1)] for case in CASES}


def test_ranks_hold_identical_weights_and_match_one_process(ranks):
    out, res = ranks
    r0, r1 = res["plain"]
    assert r0["step"] == r1["step"] == STEPS and r0["history"] == r1["history"]   # losses averaged over ranks
    for k, v in r0["state"].items():
        assert torch.equal(v, r1["state"][k]), k
    one = _model("unet", no_bn=True)
    train(one, TinyColors(16), steps=STEPS, batch_size=BATCH, seed=1, progress=False, device="cpu", log_every=2)
    moved = 0.0
    start = _model("unet", no_bn=True).state_dict()
    for k, v in one.state_dict().items():
        assert torch.allclose(v.float(), r0["state"][k].float(), atol=2e-5, rtol=1e-4), k
        moved = max(moved, float((v.float() - start[k].float()).abs().max()))
    assert moved > 1e-3                                  # it trained: the comparison is not of untouched weights
    # rank 0 alone wrote the checkpoint, and it is the weights the ranks hold
    from colorsurvey.train import load_checkpoint
    fresh = _model("unet", no_bn=True)
    assert load_checkpoint(fresh, out / "plain").step == STEPS
    assert all(torch.equal(v, r0["state"][k]) for k, v in fresh.state_dict().items())


def test_a_gan_with_two_optimisers_and_batchnorm_stays_in_step(ranks):
    r0, r1 = ranks[1]["gan"]
    for k, v in r0["state"].items():
        assert torch.equal(v, r1["state"][k]), k
    start = _model("scribbler", no_bn=False).state_dict()
    assert any(not torch.equal(v, start[k]) for k, v in r0["state"].items() if "discriminator" in k)
    assert any(not torch.equal(v, start[k]) for k, v in r0["state"].items() if "discriminator" not in k)


def test_batch_must_divide_and_sync_bn_needs_cuda():
    with pytest.raises(ValueError, match="divide"):
        orig = D.world
        D.world = lambda: (0, 3)
        try:
            D.shard_indices(torch.arange(8))
        finally:
            D.world = orig
    with pytest.raises(ValueError, match="CUDA"):
        D.convert_sync_batchnorm(models.create("unet", size="smoke"), torch.device("cpu"))


def test_sync_bn_conversion_keeps_the_weights():
    m = models.create("unet", size="smoke", seed=0)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    for name, child in list(m.named_children()):
        setattr(m, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
    assert any(isinstance(x, torch.nn.SyncBatchNorm) for x in m.modules())
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_torchrun_trains_one_run_that_loads_like_any_other(tmp_path):
    from PIL import Image

    import colorsurvey

    data = tmp_path / "photos"
    data.mkdir()
    for i in range(6):
        rgb = (TinyColors(6).batch([i])["rgb"][0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
        Image.fromarray(rgb).save(data / f"{i}.png")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "colorsurvey", "train", "--method", "unet", "--data", str(data), "--profile", "smoke",
           "--steps", "3", "--batch-size", "4", "--out", str(tmp_path / "run"), "--quiet", "--device", "cpu"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "on 2 processes" in p.stdout
    assert p.stdout.count("run: ") == 1                  # rank 0 alone reports (and writes)
    model = colorsurvey.load(tmp_path / "run", device="cpu")
    assert model.run_record["info"]["processes"] == 2 and model.run_record["info"]["steps"] == 3
    assert not model.training and model.card.key == "unet"
