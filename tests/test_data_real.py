"""Real-data layer: image reading, folders, NCD discovery, auxiliary signals, downloads.

Fast, offline: every image and archive is written into pytest's tmp_path.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorsurvey.data.download import (
    ChecksumError, DamagedArchiveError, DownloadError, OfflineError, UnsafeArchiveError, download,
    fetch_ncd, gdrive_confirm_url, gdrive_file_id, safe_extract,
)
from colorsurvey.data.real import (
    NCD, NCD_CATEGORIES, ImageFolder, ImageReadError, caption_for, find_ncd_root,
    kmeans_palette, load_image, mask_to_box, open_dataset, white_background_mask,
)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def disk_image(size=40, color=(200, 30, 30), radius=0.3, center=(0.5, 0.5)) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    inside = (xx + 0.5 - center[0] * size) ** 2 + (yy + 0.5 - center[1] * size) ** 2 < (radius * size) ** 2
    img = np.full((size, size, 3), 255, np.uint8)
    img[inside] = color
    return img


def save(arr: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def make_folder(root: Path, cats=("Apple", "Banana", "Carrot"), n=10, size=40) -> Path:
    rng = np.random.default_rng(0)
    for ci, c in enumerate(cats):
        for j in range(n):
            col = tuple(int(v) for v in rng.integers(0, 200, 3))
            save(disk_image(size, col, radius=0.2 + 0.02 * (j % 5)), root / c / f"{c.lower()}_{j:02d}.png")
    return root


@pytest.fixture
def no_proxy(monkeypatch):
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(k, raising=False)


# --------------------------------------------------------------------------------------
# load_image
# --------------------------------------------------------------------------------------

def test_load_image_modes(tmp_path):
    def check(img: Image.Image, name: str, expect, tol=0, **save_kw):
        p = tmp_path / name
        img.save(p, **save_kw)
        a = load_image(p)
        assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3, (name, a.shape, a.dtype)
        assert a.shape[:2] == (img.size[1], img.size[0])
        assert np.abs(a[0, 0].astype(int) - np.array(expect)).max() <= tol, (name, a[0, 0], expect)
        return a

    check(Image.new("L", (8, 6), 100), "l.png", (100, 100, 100))
    check(Image.new("LA", (8, 6), (0, 0)), "la_clear.png", (255, 255, 255))
    check(Image.new("LA", (8, 6), (50, 255)), "la_opaque.png", (50, 50, 50))
    p = Image.new("P", (8, 6), 1)
    p.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    check(p, "p.png", (0, 255, 0))
    check(p, "p_trns.png", (255, 255, 255), transparency=1)          # index 1 transparent
    check(Image.new("RGBA", (8, 6), (10, 20, 30, 0)), "rgba_clear.png", (255, 255, 255))
    check(Image.new("RGBA", (8, 6), (0, 0, 255, 255)), "rgba_opaque.png", (0, 0, 255))
    check(Image.new("RGBA", (8, 6), (0, 0, 0, 128)), "rgba_half.png", (127, 127, 127), tol=1)
    check(Image.new("CMYK", (8, 6), (0, 255, 255, 0)), "cmyk.tif", (255, 0, 0))
    check(Image.fromarray(np.full((6, 8), 65535, np.uint16)), "g16_max.png", (255, 255, 255))
    check(Image.fromarray(np.full((6, 8), 32896, np.uint16)), "g16_mid.png", (128, 128, 128))
    check(Image.fromarray(np.full((6, 8), 65535, np.uint16)), "g16.tif", (255, 255, 255))
    check(Image.new("I", (8, 6), 40000), "i32.tif", (156, 156, 156), tol=1)
    check(Image.new("F", (8, 6), 0.5), "f.tif", (128, 128, 128), tol=1)
    check(Image.new("1", (8, 6), 1), "one.png", (255, 255, 255))
    check(Image.new("1", (8, 6), 0), "zero.png", (0, 0, 0))
    check(Image.new("RGB", (8, 6), (1, 2, 3)), "rgb.bmp", (1, 2, 3))
    check(Image.new("RGB", (8, 6), (10, 200, 30)), "rgb.webp", (10, 200, 30), tol=6, lossless=True)


def test_load_image_icc_profiles(tmp_path):
    from PIL import ImageCms
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    img = Image.new("RGB", (8, 6), (10, 120, 230))
    img.save(tmp_path / "srgb.png", icc_profile=srgb)
    img.save(tmp_path / "broken.png", icc_profile=b"not a profile")
    for name in ("srgb.png", "broken.png"):           # sRGB kept as is; a broken profile ignored
        assert load_image(tmp_path / name)[0, 0].tolist() == [10, 120, 230]


def test_load_image_exif_orientation(tmp_path):
    a = np.zeros((4, 8, 3), np.uint8)
    a[:, :4] = (255, 0, 0)                                 # left half red, right half black
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6                                       # rotate 90 degrees clockwise to display
    p = tmp_path / "rot.png"
    img.save(p, exif=exif)
    out = load_image(p)
    assert out.shape == (8, 4, 3)
    assert out[0, 0, 0] > 200 and out[-1, 0, 0] < 50       # red now on top


def test_load_image_errors(tmp_path):
    bad = tmp_path / "noise.jpg"
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(ImageReadError, match="noise.jpg") as ei:
        load_image(bad)
    assert isinstance(ei.value, ValueError)
    good = io.BytesIO()
    Image.fromarray(disk_image(64)).save(good, "JPEG")
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    with pytest.raises(ImageReadError, match="trunc.jpg.*truncated"):
        load_image(trunc)
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")


# --------------------------------------------------------------------------------------
# ImageFolder
# --------------------------------------------------------------------------------------

def test_imagefolder_batch_keys_and_shapes(tmp_path):
    root = make_folder(tmp_path / "imgs")
    ds = ImageFolder(root, size=32)
    assert ds.categories == ["Apple", "Banana", "Carrot"] and len(ds) == 30
    b = ds.batch([0, 11, 29])
    assert b["rgb"].shape == (3, 3, 32, 32) and b["rgb"].dtype == torch.float32
    assert 0.0 <= float(b["rgb"].min()) and float(b["rgb"].max()) <= 1.0
    assert b["L"].shape == (3, 1, 32, 32) and b["ab"].shape == (3, 2, 32, 32)
    assert b["label"].tolist() == [0, 1, 2] and b["label"].dtype == torch.long
    assert b["mask"].shape == (3, 1, 32, 32) and set(b["mask"].unique().tolist()) <= {0.0, 1.0}
    assert b["box"].shape == (3, 4) and b["palette"].shape == (3, 5, 3)
    assert b["caption"] == ["a photo of an apple", "a photo of a banana", "a photo of a carrot"]
    assert b["index"].tolist() == [0, 11, 29] and "depth" not in b
    assert torch.equal(ds.labels(), torch.tensor([0] * 10 + [1] * 10 + [2] * 10))
    # the mask finds the disk: box well inside the image, not the full frame
    x0, y0, x1, y1 = b["box"][0].tolist()
    assert 0.1 < x0 < 0.5 < x1 < 0.9 and 0.1 < y0 < 0.5 < y1 < 0.9
    # palette as SyntheticNCD orders it: object colour first, white background last
    assert float(b["palette"][:, 4].min()) > 0.97
    centre = b["rgb"][:, :, 16, 16]
    assert torch.allclose(b["palette"][:, 0], centre, atol=2 / 255)
    one = ds[5]
    assert one["rgb"].shape == (3, 32, 32) and isinstance(one["caption"], str)
    # the same batch twice (cache) is identical
    assert torch.equal(ds.batch([0, 11, 29])["rgb"], b["rgb"])


def test_imagefolder_resize_center_crop(tmp_path):
    a = np.zeros((40, 80, 3), np.uint8)
    a[:, :20] = (255, 0, 0)          # outer quarters are cropped away
    a[:, 60:] = (255, 0, 0)
    a[:, 20:60] = (0, 0, 255)
    save(a, tmp_path / "one" / "wide.png")
    save(a, tmp_path / "one" / "wide2.png")
    ds = ImageFolder(tmp_path / "one", size=16)
    assert ds.categories == ["one"]                         # images directly in root
    rgb = ds.batch([0])["rgb"][0]
    assert rgb.shape == (3, 16, 16)
    assert float(rgb[2].min()) > 0.99 and float(rgb[0].max()) < 0.01


def test_split_deterministic_disjoint(tmp_path):
    root = make_folder(tmp_path / "imgs", n=10)
    tr = ImageFolder(root, split="train", test_fraction=0.3)
    te = ImageFolder(root, split="test", test_fraction=0.3)
    al = ImageFolder(root, split="all")
    assert set(tr.files).isdisjoint(te.files)
    assert set(tr.files) | set(te.files) == set(al.files)
    assert len(te) == 9 and len(tr) == 21                  # 3 of 10 per category
    assert torch.bincount(te.labels()).tolist() == [3, 3, 3]
    assert ImageFolder(root, split="test", test_fraction=0.3).files == te.files
    other = ImageFolder(root, split="test", test_fraction=0.3, seed=1)
    assert other.files != te.files
    # the split depends on the path relative to the category folder, not on where root lies
    moved = tmp_path / "elsewhere" / "deeper"
    moved.parent.mkdir(parents=True)
    os.rename(root, moved)
    te2 = ImageFolder(moved, split="test", test_fraction=0.3)
    assert [p.relative_to(moved) for p in te2.files] == [p.relative_to(root) for p in te.files]
    with pytest.raises(ValueError, match="split"):
        ImageFolder(moved, split="val")


def test_corrupt_file_skipped_with_warning(tmp_path):
    root = make_folder(tmp_path / "imgs", n=4)
    bad = root / "Banana" / "broken.jpg"
    bad.write_bytes(os.urandom(300))
    (root / "Banana" / "notes.txt").write_text("not an image")          # ignored: extension
    (root / "Banana" / "._hidden.jpg").write_bytes(b"AppleDouble")       # ignored: hidden
    with pytest.warns(UserWarning, match="broken.jpg"):
        ds = ImageFolder(root, size=24)
    assert len(ds) == 12 and len(ds.skipped) == 1
    assert ds.skipped[0][0] == bad and "broken.jpg" in ds.skipped[0][1]
    assert bad not in ds.files
    ds.batch(range(len(ds)))                                            # all load
    # unverified: the corrupt file raises when loaded, pointing at verify()
    lazy = ImageFolder(root, size=24, verify=False)
    i = lazy.files.index(bad)
    with pytest.raises(ImageReadError, match="broken.jpg.*verify"):
        lazy.batch([i])
    with pytest.warns(UserWarning, match="broken.jpg"):
        dropped = lazy.verify(progress=False)
    assert [p for p, _ in dropped] == [bad] and len(lazy) == 12


def test_too_small_images(tmp_path):
    root = make_folder(tmp_path / "imgs", cats=("A",), n=3)
    save(disk_image(10), root / "A" / "tiny.png")
    with pytest.warns(UserWarning, match=r"tiny\.png"):
        ds = ImageFolder(root, min_size=16)
    assert len(ds) == 3 and ds.skipped[0][0].name == "tiny.png"
    small = tmp_path / "small" / "A"
    for j in range(2):
        save(disk_image(8), small / f"s{j}.png")
    with pytest.raises(ValueError, match=r"min_size=16.*s0\.png|s0\.png.*min_size=16"):
        ImageFolder(small.parent, min_size=16)
    assert len(ImageFolder(small.parent, min_size=4)) == 2


def test_empty_and_missing_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as ei:
        ImageFolder(tmp_path / "nope")
    assert "<root>/<Category>/*.jpg" in str(ei.value) and "colorsurvey download ncd" in str(ei.value)
    (tmp_path / "empty" / "Apple").mkdir(parents=True)
    with pytest.raises(ValueError) as ei:
        ImageFolder(tmp_path / "empty")
    assert "<root>/<Category>/*.jpg" in str(ei.value) and "colorsurvey download ncd" in str(ei.value)


# --------------------------------------------------------------------------------------
# NCD and open_dataset
# --------------------------------------------------------------------------------------

def test_ncd_root_discovery_one_level_up(tmp_path):
    top = tmp_path / "ncd"
    make_folder(top / "Color", cats=NCD_CATEGORIES[:18], n=2, size=20)
    make_folder(top / "Gray", cats=NCD_CATEGORIES[:18], n=1, size=20)   # not chosen
    (top / ".sha256").write_text("x")
    assert find_ncd_root(top) == (top / "Color", 18)
    with pytest.warns(UserWarning, match="Strawberry, Tomato"):
        ds = NCD(top, size=16)
    assert ds.image_root == top / "Color" and len(ds) == 36
    assert ds.categories == list(NCD_CATEGORIES)
    assert ds.labels().max().item() == 17
    b = ds.batch([0, 35])
    assert b["caption"][1] == "a photo of a potato"
    # also when pointed straight at the category folder's parent; case-insensitive names
    os.rename(top / "Color" / "Apple", top / "Color" / "apple")
    save(disk_image(20), top / "Color" / "Extras" / "x.png")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="NCD at .* lacks")
        with pytest.warns(UserWarning, match="Extras"):
            ds2 = NCD(top / "Color", size=16, split="test", test_fraction=0.5)
    assert set(ds2.labels().tolist()) <= set(range(18))
    with pytest.warns(UserWarning):
        assert isinstance(open_dataset(top, split="all", size=16), NCD)


def test_ncd_missing_root_message(tmp_path, monkeypatch):
    monkeypatch.setenv("COLORSURVEY_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError) as ei:
        open_dataset("ncd")
    msg = str(ei.value)
    assert str(tmp_path / "data" / "ncd") in msg
    assert "colorsurvey download ncd --dest" in msg and "github.com/saeed-anwar/ColorSurvey" in msg
    (tmp_path / "other" / "Stuff").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="Apple"):
        NCD(tmp_path / "other")


def test_open_dataset(tmp_path):
    root = make_folder(tmp_path / "imgs", n=5)
    ds = open_dataset(root, split="test", size=16)
    assert type(ds) is ImageFolder and len(ds) == 3
    with pytest.raises(ValueError) as ei:
        open_dataset("imagenet-please")
    assert "'synthetic'" in str(ei.value) and "'ncd'" in str(ei.value)


# --------------------------------------------------------------------------------------
# auxiliary signals
# --------------------------------------------------------------------------------------

def test_white_background_mask_disk():
    img = disk_image(128, (180, 40, 40), radius=0.3, center=(0.45, 0.55))
    img[60:64, 50:54] = 255                                       # a specular highlight
    rng = np.random.default_rng(0)
    noisy = np.clip(img.astype(int) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    noisy[3, 3] = (20, 20, 20)                                    # an isolated speck
    mask = white_background_mask(noisy)
    yy, xx = np.mgrid[0:128, 0:128]
    truth = (xx + 0.5 - 0.45 * 128) ** 2 + (yy + 0.5 - 0.55 * 128) ** 2 < (0.3 * 128) ** 2
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.9 and not mask[3, 3] and mask[62, 52]
    box = mask_to_box(mask)
    np.testing.assert_allclose(box, [0.15, 0.25, 0.75, 0.85], atol=0.02)
    # tensors in, tensors out
    t = torch.from_numpy(noisy).permute(2, 0, 1).float() / 255
    mt = white_background_mask(t)
    assert isinstance(mt, torch.Tensor) and torch.equal(mt, torch.from_numpy(mask))
    assert torch.allclose(mask_to_box(mt.float().unsqueeze(0)), torch.from_numpy(box))
    # not on white: the whole image; empty mask: the full box
    dark = np.full((32, 32, 3), 40, np.uint8)
    assert white_background_mask(dark).all()
    assert mask_to_box(np.zeros((8, 8), bool)).tolist() == [0.0, 0.0, 1.0, 1.0]


def test_kmeans_palette_two_colours():
    img = np.zeros((30, 40, 3), np.uint8)
    img[:, :28] = (20, 160, 40)                                   # 70 % green
    img[:, 28:] = (230, 200, 10)                                  # 30 % yellow
    pal = kmeans_palette(img, k=5, seed=0)
    assert pal.shape == (5, 3) and pal.dtype == np.float32
    np.testing.assert_allclose(pal[0] * 255, (20, 160, 40), atol=0.5)
    np.testing.assert_allclose(pal[1] * 255, (230, 200, 10), atol=0.5)
    for c in pal[2:] * 255:                                        # spares repeat found colours
        assert min(np.abs(c - (20, 160, 40)).max(), np.abs(c - (230, 200, 10)).max()) < 0.5
    np.testing.assert_array_equal(pal, kmeans_palette(img, k=5, seed=0))
    # many colours, subsampled, deterministic, tensor in -> tensor out
    rng = np.random.default_rng(3)
    noisy = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
    p1 = kmeans_palette(torch.from_numpy(noisy).permute(2, 0, 1), seed=7)
    p2 = kmeans_palette(torch.from_numpy(noisy).permute(2, 0, 1), seed=7)
    assert isinstance(p1, torch.Tensor) and p1.shape == (5, 3) and torch.equal(p1, p2)


def test_kmeans_palette_agrees_with_scipy_kmeans2():
    """Our k-means (k-means++ then Lloyd, in Lab) is kept for its deterministic, documented
    output (sRGB means of the clusters, largest first, spares for images with few colours);
    scipy.cluster.vq.kmeans2 runs the same algorithm. On an image of five well-separated
    colours plus noise both find the same partition, so the palettes (each cluster's mean
    sRGB) agree to float rounding: atol 1e-6 in [0, 1]. (On overlapping clusters the two
    may stop in different local optima; that is k-means, not a disagreement.)"""
    from scipy.cluster.vq import kmeans2
    from skimage.color import rgb2lab

    rng = np.random.default_rng(0)
    base = np.array([(200, 30, 30), (30, 160, 40), (40, 60, 200), (230, 210, 20), (120, 120, 120)])
    sizes = np.array([30, 25, 20, 15, 10]) * 20                   # distinct sizes: a defined order
    px = np.concatenate([np.repeat(base[i][None], n, 0) for i, n in enumerate(sizes)])
    px = np.clip(px + rng.normal(0, 6, px.shape), 0, 255).astype(np.uint8)
    img = px[rng.permutation(len(px))].reshape(40, 50, 3)         # 2000 pixels < max_pixels: all used
    ours = kmeans_palette(img, k=5, seed=0)
    flat = img.reshape(-1, 3).astype(np.float64) / 255
    lab = rgb2lab(flat[:, None, :])[:, 0, :]
    _, labels = kmeans2(lab, 5, minit="++", seed=np.random.default_rng(1))
    counts = np.bincount(labels, minlength=5)
    theirs = np.stack([flat[labels == j].mean(0) for j in np.argsort(-counts)])
    assert sorted(counts, reverse=True) == sorted(sizes, reverse=True)    # scipy found the five colours
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_captions():
    assert caption_for("CapsicumGreen") == "a photo of a green capsicum"
    assert caption_for("ChilliGreen") == "a photo of a green chilli"
    assert caption_for("LadyFinger") == "a photo of a lady finger"
    assert caption_for("Orange") == "a photo of an orange"
    assert caption_for("Apple") == "a photo of an apple"
    assert caption_for("red_car") == "a photo of a red car"
    assert caption_for("tomato") == "a photo of a tomato"


# --------------------------------------------------------------------------------------
# download / safe_extract
# --------------------------------------------------------------------------------------

def test_download_file_url_sha256(tmp_path, no_proxy):
    src = tmp_path / "src.bin"
    data = os.urandom(100_000)
    src.write_bytes(data)
    good = hashlib.sha256(data).hexdigest()
    out_dir = tmp_path / "out"
    out = download(src.as_uri(), out_dir / "a.bin", sha256=good, progress=False)
    assert out.read_bytes() == data
    with pytest.raises(ChecksumError) as ei:
        download(src.as_uri(), out_dir / "b.bin", sha256="0" * 64, progress=False)
    assert good in str(ei.value) and "0" * 64 in str(ei.value)
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.bin"]     # nothing left behind
    # a sha256 prefix (as torch-hub names carry) and the byte count are checked before the
    # file is moved into place
    with pytest.raises(ChecksumError, match="damaged or incomplete: 100000 bytes instead of 99999"):
        download(src.as_uri(), out_dir / "c.bin", sha256=good[:8], size=99_999, progress=False)
    with pytest.raises(ChecksumError, match=f"expected {'0' * 8}\\.\\.\\., got {good}"):
        download(src.as_uri(), out_dir / "c.bin", sha256="0" * 8, progress=False)
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.bin"]
    assert download(src.as_uri(), out_dir / "c.bin", sha256=good[:8], size=100_000, progress=False).is_file()
    src.unlink()                                  # cached: a checked copy is not downloaded again
    assert download(src.as_uri(), out_dir / "a.bin", sha256=good, progress=False).read_bytes() == data


def test_download_offline_error(tmp_path, no_proxy):
    dest = tmp_path / "x.zip"
    with pytest.raises(OfflineError) as ei:
        download("http://127.0.0.1:9/x", dest, progress=False, timeout=5)
    msg = str(ei.value)
    assert isinstance(ei.value, RuntimeError)
    assert "http://127.0.0.1:9/x" in msg and str(dest) in msg and "by hand" in msg
    assert list(tmp_path.iterdir()) == []


def test_gdrive_helpers():
    fid = "1k_UvYzdrHbphW4UcbDb9jWB0ZQIAGEAo"
    assert gdrive_file_id(f"https://drive.google.com/file/d/{fid}/view?usp=sharing") == fid
    assert gdrive_file_id(f"https://drive.google.com/uc?export=download&id={fid}") == fid
    assert gdrive_file_id("https://example.com/file/d/abc") is None
    page = ('<html><form id="download-form" action="https://drive.usercontent.google.com/download" '
            'method="get"><input type="submit"><input type="hidden" name="id" value="ID1">'
            '<input type="hidden" name="export" value="download"><input type="hidden" '
            'name="confirm" value="t"><input type="hidden" name="uuid" value="u-1"></form></html>')
    url = gdrive_confirm_url(page, "ID1")
    assert url.startswith("https://drive.usercontent.google.com/download?")
    assert "id=ID1" in url and "confirm=t" in url and "uuid=u-1" in url
    old = '<a href="/uc?export=download&amp;confirm=AbC1&amp;id=ID1">Download anyway</a>'
    assert gdrive_confirm_url(old, "ID1") == "https://drive.google.com/uc?export=download&confirm=AbC1&id=ID1"
    assert "confirm=TOK" in gdrive_confirm_url("<html></html>", "ID1", {"download_warning_1": "TOK"})
    assert gdrive_confirm_url("<html>Quota exceeded</html>", "ID1") is None


def test_download_gdrive_confirmation_flow(tmp_path, no_proxy, monkeypatch):
    """The large-file page of Google Drive, served locally: form -> confirmed download."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    import colorsurvey.data.download as dl

    payload = os.urandom(5000)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            u = urlparse(self.path)
            q = parse_qs(u.query)
            if u.path == "/uc" and q["id"][0] == "QUOTA":
                body, ctype = b"<html>Quota exceeded</html>", "text/html; charset=utf-8"
            elif u.path == "/uc":
                port = self.server.server_address[1]
                body = (f'<html><form id="download-form" action="http://127.0.0.1:{port}/download" '
                        f'method="get"><input type="hidden" name="id" value="{q["id"][0]}">'
                        '<input type="hidden" name="confirm" value="t"></form></html>').encode()
                ctype = "text/html; charset=utf-8"
            elif u.path == "/download" and q.get("confirm") == ["t"]:
                body, ctype = payload, "application/octet-stream"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        port = srv.server_address[1]
        monkeypatch.setattr(dl, "_GDRIVE_UC", f"http://127.0.0.1:{port}/uc?export=download&id={{id}}")
        out = download("https://drive.google.com/file/d/FILE1/view?usp=sharing", tmp_path / "f.bin",
                       sha256=hashlib.sha256(payload).hexdigest(), progress=False, timeout=10)
        assert out.read_bytes() == payload
        with pytest.raises(dl.DownloadError, match="web page instead of the file"):
            download("https://drive.google.com/uc?id=QUOTA", tmp_path / "g.bin", progress=False,
                     timeout=10)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    finally:
        srv.shutdown()
        srv.server_close()


def _tar_with(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def test_safe_extract_refuses_traversal(tmp_path):
    dest = tmp_path / "dest"
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../evil", "boom")
    with pytest.raises(UnsafeArchiveError, match=r"\.\."):
        safe_extract(z, dest)
    t1 = _tar_with(tmp_path / "abs.tar.gz", (tarfile.TarInfo("/tmp/evil_abs"), b"boom"))
    with pytest.raises(UnsafeArchiveError, match="absolute"):
        safe_extract(t1, dest)
    link = tarfile.TarInfo("data/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../outside"
    t2 = _tar_with(tmp_path / "sym.tar.gz", (tarfile.TarInfo("data/a.txt"), b"a"), (link, None))
    with pytest.raises(UnsafeArchiveError, match="symlink"):
        safe_extract(t2, dest)
    dev = tarfile.TarInfo("data/dev")
    dev.type = tarfile.CHRTYPE
    t3 = _tar_with(tmp_path / "dev.tar.gz", (dev, None))
    with pytest.raises(UnsafeArchiveError, match="device"):
        safe_extract(t3, dest)
    assert not dest.exists() and not (tmp_path.parent / "evil").exists()
    assert not any(p.name.startswith(".dest.extract") for p in tmp_path.iterdir())
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"Rar!\x1a\x07\x00 not really")
    with pytest.raises(ValueError, match="RAR"):
        safe_extract(junk, dest)


def test_safe_extract_good_archives(tmp_path):
    z = tmp_path / "good.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("Top/Apple/a.txt", "A")
        zf.writestr("Top/Banana/b.txt", "B")
    dest = tmp_path / "dest"
    assert safe_extract(z, dest) == dest
    assert (dest / "Top" / "Apple" / "a.txt").read_text() == "A"
    inner = tarfile.TarInfo("Top/rel_link")
    inner.type, inner.linkname = tarfile.SYMTYPE, "Apple/a2.txt"
    t = _tar_with(tmp_path / "good.tar.gz", (tarfile.TarInfo("Top/Apple/a2.txt"), b"A2"), (inner, None))
    safe_extract(t, dest)                                   # into an existing dest: replaces Top
    assert (dest / "Top" / "Apple" / "a2.txt").read_text() == "A2"
    assert (dest / "Top" / "rel_link").read_text() == "A2"
    assert sorted(p.name for p in dest.iterdir()) == ["Top"]


def _ncd_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for c in NCD_CATEGORIES:
            buf = io.BytesIO()
            Image.fromarray(disk_image(24)).save(buf, "PNG")
            zf.writestr(f"NCD_color/{c}/{c}_1.png", buf.getvalue())
    return path


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "tar"])
def test_safe_extract_says_a_truncated_archive_is_damaged(tmp_path, kind):
    """An interrupted download (the first 60% of the bytes) is reported as damaged, with the
    advice to download again - not as 'neither a zip nor a tar archive' - and nothing is
    extracted."""
    full = tmp_path / f"full.{kind}"
    if kind == "zip":
        _ncd_zip(full)
    else:
        with tarfile.open(full, "w:gz" if kind == "tar.gz" else "w") as tf:
            for i in range(4):
                data = os.urandom(20_000)                 # incompressible: truncation cuts members
                info = tarfile.TarInfo(f"Top/Apple/{i}.bin")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    dest = tmp_path / "dest"
    with pytest.raises(DamagedArchiveError) as ei:
        safe_extract(cut, dest)
    msg = str(ei.value)
    assert "damaged or incomplete" in msg and "download it again" in msg and str(cut) in msg
    assert "neither a zip nor a tar" not in msg
    assert not dest.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted([full.name, cut.name])
    assert safe_extract(full, dest) == dest                  # the whole file still extracts


def test_fetch_ncd_with_a_damaged_archive(tmp_path, no_proxy, capsys):
    """A truncated NCD archive: the error says it is damaged and to download again, the damaged
    copy is deleted (else the download cache would keep serving it), and no .sha256 file is
    written or announced."""
    z = _ncd_zip(tmp_path / "ncd.zip")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    sources = tmp_path / "sources.json"
    sources.write_text(
        '{"archives": {"color": {"label": "Color-Groundtruth", "view_url": "https://example.invalid/v", '
        f'"download_url": "{cut.as_uri()}", "sha256": null}}}}}}')
    dest = tmp_path / "ncd"
    with warnings.catch_warnings():
        warnings.simplefilter("error")                    # no "downloaded but NOT verified" claim
        with pytest.raises(DownloadError) as ei:
            fetch_ncd(dest, progress=False, sources=sources)
    msg = str(ei.value)
    assert "damaged or incomplete" in msg and "deleted" in msg and "Download it again" in msg
    assert list(dest.iterdir()) == []                     # no archive, no .sha256, nothing extracted
    assert ".sha256" not in capsys.readouterr().err


def test_download_that_breaks_off_keeps_nothing(tmp_path, no_proxy):
    """A server that announces more bytes than it sends: OfflineError (the transfer broke off),
    nothing at the destination. The whole file, with a progress bar, arrives."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * (100_000 if self.path == "/whole.bin" else 1000))
            self.wfile.flush()
            self.close_connection = True

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/file.bin"
        with pytest.raises(OfflineError, match="broke off") as ei:
            download(url, tmp_path / "file.bin", progress=False, timeout=10)
        assert str(tmp_path / "file.bin") in str(ei.value) and "by hand" in str(ei.value)
        assert list(tmp_path.iterdir()) == []
        whole = download(url.replace("file.bin", "whole.bin"), tmp_path, progress=True, size=100_000)
        assert whole == tmp_path / "whole.bin" and whole.read_bytes() == b"x" * 100_000
    finally:
        srv.shutdown()
        srv.server_close()


def test_fetch_ncd_from_local_archive(tmp_path, no_proxy):
    z = tmp_path / "ncd.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for c in NCD_CATEGORIES:
            buf = io.BytesIO()
            Image.fromarray(disk_image(24)).save(buf, "PNG")
            zf.writestr(f"NCD_color/{c}/{c}_1.png", buf.getvalue())
    sources = tmp_path / "sources.json"
    sources.write_text(
        '{"archives": {"color": {"label": "Color-Groundtruth", "view_url": "https://example.invalid/v", '
        f'"download_url": "{z.as_uri()}", "sha256": null}}}}}}')
    dest = tmp_path / "ncd"
    with pytest.warns(UserWarning, match="NOT verified"):
        root = fetch_ncd(dest, progress=False, sources=sources)
    assert root == dest / "NCD_color"
    digest = hashlib.sha256(z.read_bytes()).hexdigest()
    assert (dest / ".sha256").read_text().startswith(digest)
    assert not (dest / ".ncd_color.download").exists()
    ds = NCD(dest, size=16)
    assert len(ds) == 20 and ds.labels().tolist() == list(range(20))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fetch_ncd(dest, progress=False, sources=sources) == root   # already there


def test_fetch_ncd_offline_message(tmp_path, no_proxy):
    sources = tmp_path / "sources.json"
    sources.write_text(
        '{"archives": {"color": {"label": "Color-Groundtruth", '
        '"view_url": "https://drive.google.com/file/d/XYZ/view", '
        '"download_url": "http://127.0.0.1:9/ncd", "sha256": null}}}')
    dest = tmp_path / "ncd"
    with pytest.raises(OfflineError) as ei:
        fetch_ncd(dest, progress=False, sources=sources, timeout=5)
    msg = str(ei.value)
    assert "https://drive.google.com/file/d/XYZ/view" in msg and str(dest / "Apple") in msg
    assert "github.com/saeed-anwar/ColorSurvey" in msg
    assert not dest.exists()


def test_shipped_ncd_sources():
    from colorsurvey.data.download import load_sources

    src = load_sources()
    assert src["categories"] == list(NCD_CATEGORIES)
    for which, fid in (("color", "1k_UvYzdrHbphW4UcbDb9jWB0ZQIAGEAo"),
                       ("gray", "1GpmEVNFn12bK0EoXK46FP3cXFUosomaG")):
        a = src["archives"][which]
        assert a["gdrive_id"] == fid and gdrive_file_id(a["download_url"]) == fid
        assert gdrive_file_id(a["view_url"]) == fid and "sha256" in a


# --------------------------------------------------------------------------------------
# Subset, CategorySubset
# --------------------------------------------------------------------------------------

def test_subset_is_the_parents_images_in_the_given_order():
    from colorsurvey.data import SyntheticNCD
    from colorsurvey.data.subset import CategorySubset, Subset
    parent = SyntheticNCD("test", size=16, n=60, seed=3)
    sub = Subset(parent, [41, 2, 17])
    assert len(sub) == 3 and sub.categories == parent.categories
    assert sub.labels().tolist() == parent.labels()[[41, 2, 17]].tolist()
    a, b = sub.batch([0, 2]), parent.batch([41, 17])
    for k in ("rgb", "L", "ab", "mask"):
        torch.testing.assert_close(a[k], b[k])
    assert sub.identity() != Subset(parent, [2, 41, 17]).identity()      # the order is part of what it is
    with pytest.raises(IndexError):
        Subset(parent, [0, 99]).batch([1])
    few = CategorySubset(parent, parent.categories[5], n=2, skip=1)
    assert few.indices.tolist() == [25, 45] and few.labels().tolist() == [5, 5]
    torch.testing.assert_close(few.batch([1])["rgb"], parent.batch([45])["rgb"])
