"""Downloading and unpacking datasets, with the standard library only (urllib, zipfile,
tarfile) and honest failure messages.

* :func:`download` streams a URL to a temporary file next to the destination, checks its
  sha256 when one is given, and renames it into place (``os.replace``: atomic). No network:
  :class:`OfflineError` saying what to download by hand and where to put it.
* :func:`safe_extract` unpacks .zip / .tar(.gz/.bz2/.xz) after checking every member:
  absolute paths, ``..`` components, links that point outside the destination and device
  files are refused before anything is written.
* :func:`fetch_ncd` gets the survey's Natural-Color Dataset from the Google Drive links that
  the survey's README publishes (recorded in ``data/ncd_sources.json``).

About checksums: the NCD authors publish none, and the archives could not be downloaded when
``ncd_sources.json`` was written, so it records ``"sha256": null``. :func:`fetch_ncd` then
cannot verify what it downloaded: it prints the computed sha256 with a warning and stores it
in ``<dest>/.sha256`` so that later copies can be compared with it. Record that value in
``ncd_sources.json`` to turn verification on.

Command line: ``python -m colorsurvey.data.download ncd --dest DIR`` (also wired as
``colorsurvey download ...`` where the CLI delegates to :func:`main`).
"""

from __future__ import annotations

import hashlib
import html
import http.client
import http.cookiejar
import json
import os
import re
import shutil
import socket
import ssl
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from pathlib import Path, PurePosixPath

__all__ = [
    "DownloadError", "OfflineError", "ChecksumError", "UnsafeArchiveError",
    "download", "safe_extract", "fetch_ncd", "sha256_file", "load_sources",
    "gdrive_file_id", "gdrive_confirm_url", "SOURCES_PATH", "main",
]

SOURCES_PATH = Path(__file__).resolve().parents[2] / "data" / "ncd_sources.json"
_UA = "Mozilla/5.0 (colorsurvey downloader; +https://github.com/saeed-anwar/ColorSurvey)"
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed for a reason other than the network being unreachable."""


class OfflineError(DownloadError):
    """The network (or the host) could not be reached; the message says what to fetch by hand."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected sha256 (nothing was kept)."""


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the destination, or is a device/special file."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# Google Drive
# --------------------------------------------------------------------------------------

_GDRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")
_GDRIVE_UC = "https://drive.google.com/uc?export=download&id={id}"   # first request for a file id


def gdrive_file_id(url: str) -> str | None:
    """The file id of a Google Drive link (``/file/d/<id>/...`` or ``?id=<id>``), else None."""
    u = urllib.parse.urlparse(url)
    if u.hostname not in _GDRIVE_HOSTS:
        return None
    m = re.search(r"/file/d/([0-9A-Za-z_-]+)", u.path)
    if m:
        return m.group(1)
    ids = urllib.parse.parse_qs(u.query).get("id")
    return ids[0] if ids else None


def _attrs(tag: str) -> dict[str, str]:
    return {k.lower(): html.unescape(v) for k, v in re.findall(r'([\w-]+)\s*=\s*"([^"]*)"', tag)}


def gdrive_confirm_url(page: str, file_id: str, cookies: dict[str, str] | None = None) -> str | None:
    """The follow-up URL from Google Drive's "can't scan this file for viruses" page.

    Handles the current form (``<form id="download-form" action=...>`` with hidden inputs),
    the older ``href="/uc?export=download&confirm=..."`` link, the ``download_warning*``
    cookie, and a bare ``confirm=<token>`` in the page. None if none is present (quota
    exceeded, sign-in required, file removed).
    """
    for form in re.findall(r"<form\b[^>]*>.*?</form>", page, flags=re.S | re.I):
        head = _attrs(re.match(r"<form\b[^>]*>", form, flags=re.I).group(0))
        action = head.get("action", "")
        if head.get("id") != "download-form" and "download" not in action:
            continue
        params = {}
        for tag in re.findall(r"<input\b[^>]*>", form, flags=re.I):
            a = _attrs(tag)
            if a.get("type", "").lower() == "hidden" and "name" in a:
                params[a["name"]] = a.get("value", "")
        if action:
            action = urllib.parse.urljoin("https://drive.google.com/", action)
            return action + ("&" if "?" in action else "?") + urllib.parse.urlencode(params)
    m = re.search(r'href="(/uc\?export=download[^"]*confirm=[^"]+)"', page)
    if m:
        return "https://drive.google.com" + html.unescape(m.group(1))
    for k, v in (cookies or {}).items():
        if k.startswith("download_warning"):
            return f"https://drive.google.com/uc?export=download&confirm={v}&id={file_id}"
    m = re.search(r"confirm=([0-9A-Za-z_-]+)", page)
    if m:
        return f"https://drive.google.com/uc?export=download&confirm={m.group(1)}&id={file_id}"
    return None


def _open_url(url: str, timeout: float, manual: str):
    """urlopen, following Google Drive's confirmation page for large files."""
    fid = gdrive_file_id(url)
    if fid is None:
        return urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": _UA}),
                                      timeout=timeout)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    nxt = _GDRIVE_UC.format(id=fid)
    seen = set()
    while nxt not in seen and len(seen) < 4:
        seen.add(nxt)
        resp = opener.open(urllib.request.Request(nxt, headers={"User-Agent": _UA}), timeout=timeout)
        if not resp.headers.get("Content-Type", "").lower().startswith("text/html"):
            return resp
        with resp:
            page = resp.read(4_000_000).decode("utf-8", "replace")
        nxt = gdrive_confirm_url(page, fid, {c.name: c.value for c in jar}) or nxt
    raise DownloadError(
        "Google Drive answered with a web page instead of the file (download quota exceeded, "
        f"sign-in required, or the link changed): {url}. {manual}")


# --------------------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------------------

def _manual(url: str, dest: Path, hint: str | None) -> str:
    return hint or (f"Download {url} by hand (e.g. in a browser) and save it as {dest}.")


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, progress: bool = True,
             *, timeout: float = 60.0, manual_hint: str | None = None) -> Path:
    """Download ``url`` to ``dest`` (a file path; an existing folder gets the URL's file name).

    Streams into a temporary file in ``dest``'s folder, hashing as it goes, then renames it
    to ``dest`` with ``os.replace`` - a reader never sees a partial file, and on any failure
    the temporary file is removed. With ``sha256`` a mismatch raises :class:`ChecksumError`
    naming both hashes and keeps nothing. A tqdm progress bar shows unless ``progress`` is
    False. ``file://`` URLs work (urllib). Google Drive links (``/file/d/<id>``, ``?id=<id>``)
    go through the large-file confirmation page.

    Raises :class:`OfflineError` (a RuntimeError) when the network or host is unreachable,
    :class:`DownloadError` on an HTTP error; both messages say what to download by hand and
    where to put it (``manual_hint`` replaces that advice).
    """
    from tqdm.auto import tqdm

    dest = Path(dest).expanduser()
    if dest.is_dir():
        name = Path(urllib.parse.urlparse(url).path).name or "download"
        dest = dest / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    manual = _manual(url, dest, manual_hint)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                resp = _open_url(url, timeout, manual)
                with resp:
                    total = resp.headers.get("Content-Length")
                    total = int(total) if total and total.isdigit() else None
                    got = 0
                    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                              desc=dest.name, disable=not progress, leave=False) as bar:
                        while True:
                            chunk = resp.read(_CHUNK)
                            if not chunk:
                                break
                            f.write(chunk)
                            h.update(chunk)
                            got += len(chunk)
                            bar.update(len(chunk))
            except urllib.error.HTTPError as e:
                raise DownloadError(f"HTTP {e.code} {e.reason} for {url}. {manual}") from e
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError,
                    http.client.HTTPException, ssl.SSLError, socket.gaierror) as e:
                reason = getattr(e, "reason", e)
                raise OfflineError(
                    f"could not download {url} ({type(e).__name__}: {reason}); the network or "
                    f"host is unreachable. {manual}") from e
            if total is not None and got != total:
                raise OfflineError(f"download of {url} stopped after {got} of {total} bytes. {manual}")
        digest = h.hexdigest()
        if sha256 and digest.lower() != sha256.strip().lower():
            raise ChecksumError(
                f"sha256 mismatch for {url}: expected {sha256.strip().lower()}, got {digest}; "
                f"nothing was saved to {dest}. The file may have changed upstream or the "
                "transfer was corrupted.")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


# --------------------------------------------------------------------------------------
# safe_extract
# --------------------------------------------------------------------------------------

def _safe_relpath(name: str, archive: Path) -> PurePosixPath | None:
    """A member name as a relative path inside the destination; raises if it escapes."""
    n = name.replace("\\", "/")
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'; refusing to extract")
    return PurePosixPath(*parts) if parts else None


def _inside(rel_target: str) -> bool:
    """Whether a relative POSIX path stays inside the destination after normalisation."""
    if rel_target.startswith("/") or re.match(r"^[A-Za-z]:", rel_target):
        return False
    norm = os.path.normpath(rel_target.replace("\\", "/")).replace("\\", "/")
    return not (norm == ".." or norm.startswith("../") or norm.startswith("/"))


def _check_tar(tf: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tf.getmembers()
    for m in members:
        rel = _safe_relpath(m.name, archive)
        where = str(rel) if rel else "."
        if m.issym():
            target = os.path.join(os.path.dirname(where), m.linkname)
            if os.path.isabs(m.linkname) or not _inside(target):
                raise UnsafeArchiveError(
                    f"{archive}: symlink {m.name!r} -> {m.linkname!r} points outside the "
                    "destination; refusing to extract")
        elif m.islnk():
            if os.path.isabs(m.linkname) or not _inside(m.linkname):
                raise UnsafeArchiveError(
                    f"{archive}: hard link {m.name!r} -> {m.linkname!r} points outside the "
                    "destination; refusing to extract")
        elif not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(
                f"{archive}: member {m.name!r} is a device, FIFO or other special file; "
                "refusing to extract")
    return members


def _check_zip(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    for info in infos:
        rel = _safe_relpath(info.filename, archive)
        mode = (info.external_attr >> 16) & 0o177777
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            target = zf.read(info).decode("utf-8", "replace")
            where = str(rel) if rel else "."
            if os.path.isabs(target) or not _inside(os.path.join(os.path.dirname(where), target)):
                raise UnsafeArchiveError(
                    f"{archive}: symlink {info.filename!r} -> {target!r} points outside the "
                    "destination; refusing to extract")
        elif kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(
                f"{archive}: member {info.filename!r} is a device, FIFO or other special file; "
                "refusing to extract")
    return infos


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a .zip or .tar(.gz/.bz2/.xz) into ``dest``, refusing anything unsafe.

    Every member is checked before anything is written: absolute paths, ``..`` components,
    symlinks or hard links that resolve outside ``dest`` and device/FIFO files raise
    :class:`UnsafeArchiveError` (a ValueError). Extraction goes to a temporary folder next to
    ``dest``, which then becomes ``dest`` by one rename (or, when ``dest`` exists, each of its
    top-level entries is renamed into ``dest``, replacing an entry of the same name).
    Zip symlink entries inside ``dest`` are written as small files holding the target, as
    :mod:`zipfile` does; tar members additionally go through tarfile's ``data`` filter.
    Returns ``dest``.
    """
    archive, dest = Path(archive), Path(dest).expanduser()
    if not archive.is_file():
        raise FileNotFoundError(f"no such archive: {archive}")
    if zipfile.is_zipfile(archive):
        kind = "zip"
    elif tarfile.is_tarfile(archive):
        kind = "tar"
    else:
        with open(archive, "rb") as f:
            head = f.read(8)
        guess = " (it looks like a RAR archive)" if head.startswith(b"Rar!") else \
            " (it looks like a 7z archive)" if head.startswith(b"7z\xbc\xaf") else ""
        raise ValueError(f"{archive} is neither a zip nor a tar archive{guess}; extract it by "
                         f"hand into {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            members = _check_zip(zf, archive)
            tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
            try:
                for info in members:
                    rel = _safe_relpath(info.filename, archive)
                    if rel is None:
                        continue
                    out = tmp.joinpath(*rel.parts)
                    if info.is_dir():
                        out.mkdir(parents=True, exist_ok=True)
                        continue
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    else:
        with tarfile.open(archive, "r:*") as tf:
            members = _check_tar(tf, archive)
            tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
            try:
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(tmp, members=members, filter="data")
                else:  # pragma: no cover - Python without extraction filters
                    tf.extractall(tmp, members=members)
            except getattr(tarfile, "FilterError", ()) as e:
                shutil.rmtree(tmp, ignore_errors=True)
                raise UnsafeArchiveError(f"{archive}: {e}; refusing to extract") from e
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    _move_into_place(tmp, dest)
    return dest


def _move_into_place(tmp: Path, dest: Path) -> None:
    if not dest.exists():
        os.replace(tmp, dest)
        return
    try:
        for child in sorted(tmp.iterdir()):
            target = dest / child.name
            aside = None
            if target.exists() or target.is_symlink():
                aside = Path(tempfile.mkdtemp(prefix=".replaced-", dir=dest)) / child.name
                os.replace(target, aside)
            os.replace(child, target)
            if aside is not None:
                shutil.rmtree(aside.parent, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------
# NCD
# --------------------------------------------------------------------------------------

def load_sources(path: str | os.PathLike | None = None) -> dict:
    """The NCD download records (``data/ncd_sources.json`` of the repository)."""
    p = Path(path) if path is not None else SOURCES_PATH
    if not p.is_file():
        raise FileNotFoundError(
            f"{p} not found: it ships in the colorsurvey repository's data/ folder (an installed "
            "wheel lacks it). Download NCD by hand from the links in the README of "
            "https://github.com/saeed-anwar/ColorSurvey.")
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def fetch_ncd(dest: str | os.PathLike | None = None, progress: bool = True, *,
              which: str = "color", force: bool = False, keep_archive: bool = False,
              timeout: float = 60.0, sources: str | os.PathLike | None = None) -> Path:
    """Download and extract NCD's colour archive (``which="gray"``: the grayscale inputs).

    ``dest`` defaults to ``$COLORSURVEY_DATA/ncd`` or ``~/.cache/colorsurvey/ncd``. When
    ``dest`` already holds the categories, nothing is downloaded unless ``force``. Returns the
    folder that holds the category folders (``dest`` or its archive's top-level folder).

    Verification is only as good as ``ncd_sources.json``: its ``sha256`` is null (the authors
    publish none and none could be computed when it was written), so the download is NOT
    verified. The computed sha256 is printed with a warning and written to ``<dest>/.sha256``;
    record it in ``ncd_sources.json`` to verify future downloads. Google Drive may refuse
    automated downloads (quota, sign-in); the error then says how to fetch the file by hand.
    """
    from .real import default_ncd_root, find_ncd_root

    dest = Path(dest).expanduser() if dest is not None else default_ncd_root()
    src = load_sources(sources)
    archives = src["archives"]
    if which not in archives:
        raise ValueError(f"which must be one of {sorted(archives)}, got {which!r}")
    entry = archives[which]
    if not force and dest.is_dir():
        root, n = find_ncd_root(dest)
        if n >= 15:
            print(f"NCD already present at {root} ({n} category folders); force=True downloads again")
            return root
    manual = (
        f"Manual route: open {entry['view_url']} in a browser (the '{entry.get('label', which)}' "
        "archive linked from the README of https://github.com/saeed-anwar/ColorSurvey), "
        f"download it, and extract it into {dest} so that {dest / 'Apple'} exists (one extra "
        "top-level folder, e.g. " f"{dest / '<Folder>' / 'Apple'}, is found too).")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f".ncd_{which}.download"
    try:
        download(entry["download_url"], archive, sha256=entry.get("sha256"), progress=progress,
                 timeout=timeout, manual_hint=manual)
    except BaseException:
        if created and not any(dest.iterdir()):
            dest.rmdir()                                 # leave no empty folder behind
        raise
    digest = sha256_file(archive)
    if not entry.get("sha256"):
        msg = (f"NCD {which} archive downloaded but NOT verified: data/ncd_sources.json records no "
               f"sha256. Computed sha256 = {digest} (saved to {dest / '.sha256'}); record it in "
               "ncd_sources.json to verify later downloads.")
        print(msg, file=sys.stderr)
        warnings.warn(msg, stacklevel=2)
    try:
        safe_extract(archive, dest)
    except ValueError as e:
        raise DownloadError(f"{e}. {manual}") from e
    (dest / ".sha256").write_text(f"{digest}  ncd_{which} {entry['download_url']}\n", encoding="utf-8")
    if not keep_archive:
        archive.unlink(missing_ok=True)
    root, n = find_ncd_root(dest)
    if n == 0:
        raise DownloadError(f"the {which} archive was extracted into {dest} but no NCD category "
                            f"folder (Apple, ..., Tomato) was found in it or one level below. {manual}")
    return root


def main(argv: list[str] | None = None) -> int:
    """``ncd [--dest DIR] [--gray] [--force] [--keep-archive] [--quiet]`` or
    ``url URL DEST [--sha256 HEX]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="colorsurvey download", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("ncd", help="the survey's Natural-Color Dataset (Google Drive)")
    a.add_argument("--dest", default=None, help="target folder (default $COLORSURVEY_DATA/ncd "
                   "or ~/.cache/colorsurvey/ncd)")
    a.add_argument("--gray", action="store_true", help="the grayscale archive instead of colour")
    a.add_argument("--force", action="store_true", help="download even if present")
    a.add_argument("--keep-archive", action="store_true")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    b = sub.add_parser("url", help="any URL, with an optional sha256 check")
    b.add_argument("url")
    b.add_argument("dest")
    b.add_argument("--sha256", default=None)
    b.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.what == "ncd":
            root = fetch_ncd(args.dest, progress=not args.quiet, which="gray" if args.gray else "color",
                             force=args.force, keep_archive=args.keep_archive)
            print(root)
        else:
            print(download(args.url, args.dest, sha256=args.sha256, progress=not args.quiet))
    except (DownloadError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
