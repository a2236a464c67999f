"""``colorsurvey colorize``: colourise your own photos — files or folders (recursively), any size, mode and
orientation — with a trained run or published weights.

    colorsurvey colorize photos/ old.jpg --run output/runs/unet-small-cpu-s0-... --out coloured/
    colorsurvey colorize portrait.png --method realtime-ug --run RUN --hints hints.json --out out/
    colorsurvey colorize scan.tif --method fast-exemplar --run RUN --reference summer.jpg --out out/

Each photo keeps its own lightness at full resolution; the method predicts ab at the working size
(``--work-size``: the shorter side, default 256 px) and ab is upsampled, in strips, so a
12-megapixel photo runs in bounded memory. Outputs have the input's size and (EXIF-applied)
orientation, under ``--out`` with the input's relative path and format (PNG for formats PIL
cannot write); inputs are never overwritten; unreadable files are skipped and named.

Hints (user-guided methods) are a JSON file: ``{"points": [{"x": 120, "y": 80, "ab": [40, 30],
"size": 9}, {"x": 400, "y": 210, "rgb": "#2a7a3a"}]}`` — x, y in the photo's pixels (as displayed),
the colour as ab (Lab units) or sRGB (hex or 0..255 triple), ``size`` the patch side in the
photo's pixels (default: 1 % of its shorter side). The same hints apply to every input.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
from pathlib import Path

HELP = "colourise photos (files or folders, any size) with a trained run or published weights"
WRITABLE = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
            ".webp": "WEBP"}


def add_parser(sub) -> None:
    from ..photos import DEFAULT_WORK_SIZE

    s = sub.add_parser("colorize", aliases=["colourise"], help=HELP, description=__doc__,
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (searched recursively)")
    s.add_argument("--method", default=None, help="the method key (with --pretrained; checked against --run)")
    w = s.add_mutually_exclusive_group()
    w.add_argument("--run", help="a trained run's folder, or its name in the run store")
    w.add_argument("--pretrained", action="store_true", help="the authors' published weights for --method")
    s.add_argument("--size", default="paper", help="model size of --pretrained (default paper)")
    s.add_argument("--out", required=True, help="output folder (created; inputs are never overwritten)")
    s.add_argument("--work-size", type=int, default=DEFAULT_WORK_SIZE,
                   help=f"the shorter side at which ab is predicted, px (default {DEFAULT_WORK_SIZE})")
    s.add_argument("--hints", default=None, metavar="FILE", help="user hints as JSON (user-guided methods)")
    s.add_argument("--reference", default=None, metavar="IMAGE", help="a reference photo (exemplar-based methods)")
    s.add_argument("--text", default=None, help="a caption (text-based methods)")
    s.add_argument("--samples", type=int, default=1, metavar="N", help="N colourisations each (diverse methods)")
    s.add_argument("--runs", default=None, help="the run store (default: $COLORSURVEY_RUNS or output/runs)")
    s.add_argument("--device", default=None)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=run)


# -- inputs ------------------------------------------------------------------------------------

def gather(inputs, out: Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """[(file, output path relative to --out)] for every input (folders recursively, their name
    kept as the first part), and the files left out because they lie under ``out``. Raises
    FileNotFoundError for a missing input and ValueError for a folder without images."""
    from ..data.real import IMAGE_EXTENSIONS, _images_under

    jobs, inside = [], []
    out_r = out.resolve()
    for item in inputs:
        p = Path(item).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"no such file or folder: {item}")
        if p.is_dir():
            files = _images_under(p)
            kept = [f for f in files if out_r not in f.resolve().parents]
            inside += [f for f in files if out_r in f.resolve().parents]
            if not kept:
                raise ValueError(f"no images in the folder {item} (read: {', '.join(IMAGE_EXTENSIONS)}, in sub-folders "
                                 "too)" + (" outside --out" if inside else ""))
            base = Path(p.resolve().name or "input")
            jobs += [(f, base / f.relative_to(p)) for f in kept]
        else:
            jobs.append((p, Path(p.name)))
    return jobs, inside


def output_path(out: Path, rel: Path, sample: int | None) -> Path:
    suffix = rel.suffix.lower() if rel.suffix.lower() in WRITABLE else ".png"
    stem = rel.stem + (f"_sample{sample}" if sample is not None else "")
    return out / rel.parent / f"{stem}{suffix}"


def displayed_size(path: Path) -> tuple[int, int] | str:
    """(width, height) as displayed (EXIF rotation applied), from the header only; or why it
    cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            w, h = img.size
            orient = img.getexif().get(0x0112, 1)
    except Exception as e:
        return f"not a readable image ({type(e).__name__}: {' '.join(str(e).split())})"
    return (h, w) if orient in (5, 6, 7, 8) else (w, h)


# -- conditions ----------------------------------------------------------------------------------

def _colour_ab(pt: dict, i: int) -> tuple[float, float]:
    import torch

    from ..color import rgb_to_lab

    if "ab" in pt:
        ab = pt["ab"]
        if not (isinstance(ab, (list, tuple)) and len(ab) == 2 and all(isinstance(v, (int, float)) for v in ab)):
            raise ValueError(f"hint {i}: ab must be two numbers [a, b] in Lab units, got {ab!r}")
        a, b = float(ab[0]), float(ab[1])
        if not (math.isfinite(a) and math.isfinite(b)) or abs(a) > 128 or abs(b) > 128:
            raise ValueError(f"hint {i}: ab {ab!r} is outside the Lab range -128..128: give a and b in Lab units")
        return a, b
    if "rgb" in pt:
        c = pt["rgb"]
        if isinstance(c, str) and len(c.lstrip("#")) == 6:
            try:
                c = [int(c.lstrip("#")[k:k + 2], 16) for k in (0, 2, 4)]
            except ValueError:
                raise ValueError(f"hint {i}: rgb {pt['rgb']!r} is not a hex colour like '#2a7a3a'") from None
        if not (isinstance(c, (list, tuple)) and len(c) == 3 and all(isinstance(v, (int, float)) and 0 <= v <= 255
                                                                    for v in c)):
            raise ValueError(f"hint {i}: rgb must be '#rrggbb' or three numbers 0..255, got {pt['rgb']!r}")
        lab = rgb_to_lab(torch.tensor([float(v) / 255 for v in c]).view(1, 3, 1, 1))
        return float(lab[0, 1]), float(lab[0, 2])
    raise ValueError(f"hint {i} has no colour: give \"ab\": [a, b] or \"rgb\": \"#rrggbb\"")


def read_hints(path: str) -> list[dict]:
    """The points of a hints file, checked (one ValueError naming the point and the fix)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"no such hints file: {path}")
    try:
        doc = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"the hints file {path} is not valid JSON ({e}); see `colorsurvey colorize --help`") from None
    points = doc.get("points") if isinstance(doc, dict) else doc
    if not isinstance(points, list) or not points:
        raise ValueError(f"the hints file {path} holds no points: expected {{\"points\": [{{\"x\": 120, \"y\": 80, "
                         "\"ab\": [40, 30], \"size\": 9}, ...]}")
    out = []
    for i, pt in enumerate(points):
        if not isinstance(pt, dict) or not all(isinstance(pt.get(k), (int, float)) for k in ("x", "y")):
            raise ValueError(f"hint {i} in {path} needs numeric \"x\" and \"y\" (the photo's pixels), got {pt!r}")
        size = pt.get("size")
        if size is not None and (not isinstance(size, (int, float)) or size < 1):
            raise ValueError(f"hint {i} in {path}: size must be a patch side of at least 1 px, got {size!r}")
        a, b = _colour_ab(pt, i)
        out.append({"x": float(pt["x"]), "y": float(pt["y"]), "a": a, "b": b, "size": size})
    return out


def check_hints_fit(points: list[dict], path: Path, size: tuple[int, int], hints_file: str) -> None:
    w, h = size
    for i, pt in enumerate(points):
        if not (0 <= pt["x"] < w and 0 <= pt["y"] < h):
            raise ValueError(f"hint {i} in {hints_file} at (x={pt['x']:g}, y={pt['y']:g}) lies outside {path} "
                             f"({w}x{h}: x 0..{w - 1}, y 0..{h - 1}); give coordinates in the photo's pixels")


def hint_maps(points: list[dict], full: tuple[int, int], work: tuple[int, int], device):
    """hints (1, 2, h, w) and mask (1, 1, h, w) at the working size for points in the photo's pixels."""
    from ..hints import rasterize_points

    (H, W), (h, w) = full, work
    sy, sx = h / H, w / W
    pts = []
    for pt in points:
        side = pt["size"] if pt["size"] is not None else 0.01 * min(H, W)
        pts.append((int(pt["x"] * sx), int(pt["y"] * sy), pt["a"], pt["b"], max(1, round(side * min(sx, sy)))))
    return rasterize_points(pts, h, w, device=device)


def _takes(model, name: str) -> bool:
    fn = type(model).colorize
    return name in inspect.signature(getattr(fn, "__wrapped__", fn)).parameters


def _check_options(model, args) -> None:
    """Options the method does not take, and inputs it needs: one line each."""
    key, conds = model.card.key, set(model.card.conditions)
    takes_text = bool(conds & {"caption", "text"}) or _takes(model, "caption")
    if args.hints and "hints" not in conds:
        raise ValueError(f"--hints: {key} takes no user hints (its inputs: {', '.join(conds) or 'L only'}); "
                         "user-guided methods do: colorsurvey list --taxonomy user-guided")
    if args.reference and "exemplar" not in conds:
        raise ValueError(f"--reference: {key} takes no reference image; exemplar-based methods do: "
                         "colorsurvey list --taxonomy exemplar-based")
    if "exemplar" in conds and not args.reference:
        raise ValueError(f"{key} colourises from a reference photo: give --reference IMAGE")
    if args.text and not takes_text:
        raise ValueError(f"--text: {key} takes no caption; text-based methods do: colorsurvey list --taxonomy text-based")
    if args.samples < 1:
        raise ValueError(f"--samples must be at least 1, got {args.samples}")
    if args.samples > 1 and not _takes(model, "seed"):
        raise ValueError(f"--samples {args.samples}: {key} gives one colourisation per photo; diverse methods give "
                         "several: colorsurvey list --taxonomy diverse")


def _model(args, device):
    from .. import models
    from ..runs import load

    if args.run:
        model = load(args.run, device=device, root=args.runs)
        if args.method and args.method != model.card.key:
            raise ValueError(f"the run {model.run_path} is a {model.card.key!r} run, not {args.method!r}: drop "
                             f"--method, or give a run of {args.method}")
        return model
    if not args.method:
        raise ValueError("give --run RUN (a trained run), or --method KEY with --pretrained (published weights)")
    models.get_class(args.method)                 # an unknown key: one line listing the known ones
    if args.pretrained:
        return models.create(args.method, size=args.size, pretrained=True).to(device).eval()
    if args.method == "gray":                     # the one method without anything learned
        return models.create("gray").to(device).eval()
    raise ValueError(f"{args.method} needs weights: give --run RUN (colorsurvey train --method {args.method} ...) "
                     "or --pretrained")


# -- the command -----------------------------------------------------------------------------------

def save_image(rgb8, target: Path) -> None:
    """Write uint8 RGB to ``target`` atomically (a temporary file in its folder, then os.replace)."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fmt = WRITABLE.get(target.suffix.lower(), "PNG")
    try:
        Image.fromarray(rgb8, "RGB").save(tmp, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def run(args) -> int:
    import torch
    from tqdm.auto import tqdm

    from ..data.real import ImageReadError, load_image
    from ..photos import colorize_photo, resize, work_shape
    from ..train import pick_device

    if args.work_size < 8:
        raise ValueError(f"--work-size must be at least 8 px, got {args.work_size}")
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {args.out} is a file: give a folder")
    jobs, inside = gather(args.inputs, out)
    device = pick_device(args.device)
    model = _model(args, device)
    _check_options(model, args)
    points = read_hints(args.hints) if args.hints else None
    reference = None
    if args.reference:
        ref = load_image(args.reference)          # ImageReadError / FileNotFoundError: one line naming it
        ref = resize(ref, work_shape(*ref.shape[:2], args.work_size))
        reference = torch.from_numpy(ref).permute(2, 0, 1)[None].float().div(255).to(device)

    sizes, skipped = {}, []
    for f, _ in jobs:
        s = displayed_size(f)
        if isinstance(s, str):
            skipped.append((f, s))
        else:
            sizes[f] = s
    if points is not None:
        for f, s in sizes.items():
            check_hints_fit(points, f, s, args.hints)
    samples = [None] if args.samples == 1 else list(range(args.samples))
    targets: dict[Path, Path] = {}
    for f, rel in jobs:
        for k in samples:
            t = output_path(out, rel, k)
            if t in targets:
                raise ValueError(f"{f} and {targets[t]} would both be written to {t}: colourise them in separate runs "
                                 "or into separate --out folders")
            if t.exists() and t.resolve() == f.resolve():
                raise ValueError(f"{t} is an input: writing there would overwrite it; choose another --out")
            targets[t] = f
    inputs = {f.resolve() for f, _ in jobs}
    done = 0
    for f, rel in tqdm(jobs, desc=f"colorize {model.card.key}", unit="photo", disable=args.quiet or len(jobs) < 2):
        if f not in sizes:
            continue
        try:
            rgb8 = load_image(f)
        except (ImageReadError, OSError) as e:
            skipped.append((f, str(e)))
            continue
        H, W = rgb8.shape[:2]
        work = work_shape(H, W, args.work_size)
        cond = {}
        if points is not None:
            cond["hints"], cond["mask"] = hint_maps(points, (H, W), work, device)
        if reference is not None:
            cond["reference_rgb"] = reference
        if args.text:
            cond["caption"] = [args.text]
        for k in samples:
            if k is not None:
                cond["seed"] = k
            target = output_path(out, rel, k)
            if target.resolve() in inputs:
                raise ValueError(f"{target} is an input: writing there would overwrite it; choose another --out")
            save_image(colorize_photo(model, rgb8, args.work_size, cond), target)
        done += 1
    for f, reason in skipped:
        print(f"skipped {f}: {reason}", file=sys.stderr)
    if inside:
        print(f"left out {len(inside)} file(s) under --out {out} (earlier outputs)", file=sys.stderr)
    if not done:
        raise ValueError(f"no photo could be read ({len(skipped)} skipped, named above); nothing was written")
    print(f"colourised {done} of {len(jobs)} photo(s) with {model.card.key} into {out}"
          + (f"; skipped {len(skipped)}" if skipped else ""))
    return 0
