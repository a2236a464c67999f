"""Shared test fixtures: a tiny in-memory dataset that needs neither rendering nor files."""

import pytest
import torch

from colorsurvey.data.base import ColorDataset


class TinyColors(ColorDataset):
    """Deterministic toy images: a coloured disc (colour = category) on white."""

    categories = ["Red", "Green", "Blue", "Yellow"]
    name = "tiny"
    COLORS = torch.tensor([[0.85, 0.15, 0.1], [0.2, 0.7, 0.2], [0.15, 0.25, 0.85], [0.95, 0.85, 0.1]])

    def __init__(self, n=16, size=32):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def _load(self, indices, device):
        B, S = len(indices), self.size
        y, x = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
        labels = indices % len(self.categories)
        r = 0.45 + 0.1 * ((indices * 7) % 5).float() / 5
        mask = ((x ** 2 + y ** 2)[None] < r.view(B, 1, 1) ** 2).float()[:, None]
        shade = (1.0 - 0.35 * (x + y + 2) / 4)[None, None]
        col = self.COLORS[labels].view(B, 3, 1, 1)
        rgb = mask * col * shade + (1 - mask) * 0.97
        return {"rgb": rgb.to(device), "label": labels.to(device), "mask": mask.to(device),
                "depth": (mask * (1 - (x ** 2 + y ** 2)).clamp(0)).to(device),
                "box": torch.tensor([[0.2, 0.2, 0.8, 0.8]] * B, device=device),
                "caption": [f"a {self.categories[int(c)].lower()} disc" for c in labels],
                "palette": col.view(B, 1, 3).expand(B, 5, 3).to(device)}


@pytest.fixture
def tiny():
    return TinyColors()


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module's tests: on tiny tensors extra threads only add overhead,
    and on a busy 2-core CI box they stall each other. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def network_cut(monkeypatch):
    """Downloads fail as they do offline: every HTTP(S) request that requests (and so pooch)
    sends raises ``requests.ConnectionError`` before anything leaves the machine. Yields the
    list of URLs that were tried."""
    import requests

    tried = []

    def offline(self, request, *a, **k):
        tried.append(request.url)
        raise requests.exceptions.ConnectionError(
            "[Errno -2] Name or service not known (test: network cut)", request=request)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", offline)
    return tried
