"""Downloading and unpacking data sets and published weights, with honest failure messages.

* :func:`download` goes through :func:`pooch.retrieve` (the downloader scikit-image uses):
  the bytes land in a temporary file next to the destination and are renamed into place
  only once complete and checked against the sha256 (full digest or prefix) and byte count
  when known; cached (an existing checked file is not downloaded again); a progress bar.
  No network: :class:`OfflineError` saying what to download by hand and where to put it.
* :func:`safe_extract` unpacks .zip / .tar(.gz/.bz2/.xz) after checking every member:
  absolute paths, ``..`` components, links that point outside the destination and device
  files are refused before anything is written; a truncated or corrupt archive raises
  :class:`DamagedArchiveError` ("damaged or incomplete: delete it and download it again").
  pooch's own Unzip/Untar processors are not used: Untar applies no extraction filter on
  Python < 3.12 (so ``../`` members and outside links are written), Unzip silently rewrites
  unsafe names, and neither extracts atomically.
* :func:`fetch_ncd` gets the survey's Natural-Color Dataset from the Google Drive links that
  the survey's README publishes (recorded in ``data/ncd_sources.json``).

About checksums: the NCD authors publish none, and the archives could not be downloaded when
``ncd_sources.json`` was written, so it records ``"sha256": null``. :func:`fetch_ncd` then
cannot verify what it downloaded: it prints the computed sha256 with a warning and stores it
in ``<dest>/.sha256`` so that later copies can be compared with it. Record that value in
``ncd_sources.json`` to turn verification on.

Command line: ``colorsurvey download ncd [--dest DIR]`` and ``colorsurvey download weights
NAME`` (``python -m colorsurvey.data.download ...`` runs the same).
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import lzma
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import pooch

__all__ = [
    "DownloadError", "OfflineError", "ChecksumError", "UnsafeArchiveError", "DamagedArchiveError",
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


class DamagedArchiveError(ValueError):
    """A zip or tar archive is truncated or corrupt (typically an interrupted download);
    ``detail`` says what failed."""

    def __init__(self, archive: Path, dest: Path, detail: str):
        self.detail = detail
        super().__init__(f"{archive} is damaged or incomplete ({detail}), as an interrupted download "
                         f"leaves it; nothing was extracted into {dest}. Delete it and download it again.")


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


class _Downloader:
    """A pooch downloader (``downloader(url, output_file, pooch)``): http(s) through
    :class:`pooch.HTTPDownloader` (requests), Google Drive links through the large-file
    confirmation page first, ``file://`` by copying. After the transfer it checks the byte
    count and a sha256 *prefix* (pooch checks full digests itself), raising
    :class:`ChecksumError` before pooch moves the file into place."""

    def __init__(self, timeout: float, progress: bool, desc: str, manual: str,
                 sha256_prefix: str | None = None, size: int | None = None):
        self.timeout, self.progress, self.desc, self.manual = timeout, progress, desc, manual
        self.sha256_prefix, self.size = sha256_prefix, size

    def __call__(self, url: str, output_file: str, pooch_=None, check_only: bool = False) -> None:
        from tqdm.auto import tqdm

        # total=1 until the size is known: pooch tests the bar's truth, which tqdm refuses without one
        with tqdm(total=1, unit="B", unit_scale=True, unit_divisor=1024, desc=self.desc, leave=False,
                  disable=not self.progress) as bar:
            if urllib.parse.urlparse(url).scheme == "file":
                src = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
                if not src.is_file():
                    raise DownloadError(f"no such file: {src} (from {url}). {self.manual}")
                bar.total = src.stat().st_size
                with open(src, "rb") as fin, open(output_file, "wb") as fout:
                    for chunk in iter(lambda: fin.read(_CHUNK), b""):
                        fout.write(chunk)
                        bar.update(len(chunk))
            else:
                kw = {}
                fid = gdrive_file_id(url)
                if fid is not None:
                    url, kw["cookies"] = self._gdrive_url(url, fid)
                pooch.HTTPDownloader(progressbar=bar if self.progress else False, timeout=self.timeout,
                                     headers={"User-Agent": _UA}, **kw)(url, output_file, pooch_)
        got = os.path.getsize(output_file)
        if self.size is not None and got != self.size:
            raise ChecksumError(f"the download of {url} is damaged or incomplete: {got} bytes instead of "
                                f"{self.size}; nothing was saved. Try again. {self.manual}")
        if self.sha256_prefix:
            digest = sha256_file(output_file)
            if not digest.startswith(self.sha256_prefix):
                raise ChecksumError(f"sha256 mismatch for {url}: expected {self.sha256_prefix}..., got "
                                    f"{digest}; nothing was saved. The file may have changed upstream or "
                                    f"the transfer was damaged. {self.manual}")

    def _gdrive_url(self, url: str, fid: str):
        """Follow Google Drive's "can't scan this file for viruses" page to the file itself."""
        import requests

        session = requests.Session()
        session.headers["User-Agent"] = _UA
        nxt, seen = _GDRIVE_UC.format(id=fid), set()
        while nxt not in seen and len(seen) < 4:
            seen.add(nxt)
            with session.get(nxt, timeout=self.timeout, stream=True) as r:
                r.raise_for_status()
                if not r.headers.get("Content-Type", "").lower().startswith("text/html"):
                    return nxt, session.cookies
                page = r.raw.read(4_000_000, decode_content=True).decode("utf-8", "replace")
            nxt = gdrive_confirm_url(page, fid, session.cookies.get_dict()) or nxt
        raise DownloadError(
            "Google Drive answered with a web page instead of the file (download quota exceeded, "
            f"sign-in required, or the link changed): {url}. {self.manual}")


# --------------------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------------------

def _manual(url: str, dest: Path, hint: str | None) -> str:
    return hint or (f"Download {url} by hand (e.g. in a browser) and save it as {dest}.")


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, progress: bool = True,
             *, size: int | None = None, timeout: float = 60.0, manual_hint: str | None = None) -> Path:
    """Download ``url`` to ``dest`` (a file path; an existing folder gets the URL's file name).

    Through :func:`pooch.retrieve`: the bytes go to a temporary file in ``dest``'s folder and
    are renamed to ``dest`` only once complete and checked - a reader never sees a partial
    file, and on any failure nothing is left behind. ``sha256``: the full hex digest (checked
    by pooch) or a prefix of it (e.g. the ``9b330a0b`` of a torch-hub name; checked here);
    ``size``: the expected byte count. A mismatch raises :class:`ChecksumError` naming both
    values and keeps nothing. An existing ``dest`` that matches ``sha256`` (or any existing
    ``dest`` when no full sha256 is given) is kept without downloading: delete it to download
    again. A tqdm progress bar shows unless ``progress`` is False. ``file://`` URLs work;
    Google Drive links (``/file/d/<id>``, ``?id=<id>``) go through the large-file confirmation
    page.

    Raises :class:`OfflineError` (a RuntimeError) when the network or host is unreachable or
    the transfer breaks off, :class:`DownloadError` on an HTTP error; both messages say what
    to download by hand and where to put it (``manual_hint`` replaces that advice).
    """
    import requests

    dest = Path(dest).expanduser()
    if dest.is_dir():
        name = Path(urllib.parse.urlparse(url).path).name or "download"
        dest = dest / name
    manual = _manual(url, dest, manual_hint)
    sha = sha256.strip().lower() if sha256 else None
    full = sha if sha and len(sha) == 64 else None
    fetcher = _Downloader(timeout, progress, dest.name, manual, sha256_prefix=sha if sha and not full else None,
                          size=size)
    logger = pooch.get_logger()      # its INFO lines advise on pooch's API; the progress bar suffices
    level = logger.level
    logger.setLevel("WARNING")
    try:
        out = pooch.retrieve(url, known_hash=f"sha256:{full}" if full else None, fname=dest.name,
                             path=dest.parent, downloader=fetcher, progressbar=progress)
    except requests.exceptions.HTTPError as e:
        r = e.response
        raise DownloadError(f"HTTP {getattr(r, 'status_code', '?')} {getattr(r, 'reason', '')} for {url}. "
                            f"{manual}") from e
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError) as e:
        raise OfflineError(
            f"could not download {url} ({type(e).__name__}: {_reason(e)}); the network or host is "
            f"unreachable or the transfer broke off. {manual}") from e
    except requests.exceptions.RequestException as e:
        raise DownloadError(f"could not download {url} ({type(e).__name__}: {_reason(e)}). {manual}") from e
    except ValueError as e:
        if isinstance(e, DownloadError) or "hash" not in str(e).lower():
            raise
        m = re.search(r"got (\w+)", str(e))
        raise ChecksumError(
            f"sha256 mismatch for {url}: expected {full}, got {m.group(1) if m else '?'}; nothing was "
            f"saved to {dest}. The file may have changed upstream or the transfer was damaged.") from None
    finally:
        logger.setLevel(level)
    return Path(out)


def _reason(e: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, on one line."""
    for _ in range(8):
        if e.__context__ is None or not str(e.__context__):
            break
        e = e.__context__
    return " ".join(str(e).split())[:300]


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
    A truncated or corrupt archive raises :class:`DamagedArchiveError` (a ValueError) saying
    so and to download it again; nothing is extracted then. Returns ``dest``.
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
            head = f.read(512)
        known = _archive_format(head)
        if known:
            raise DamagedArchiveError(archive, dest, f"a {known} that cannot be read to its end")
        guess = " (it looks like a RAR archive)" if head.startswith(b"Rar!") else \
            " (it looks like a 7z archive)" if head.startswith(b"7z\xbc\xaf") else ""
        raise ValueError(f"{archive} is neither a zip nor a tar archive{guess}; extract it by "
                         f"hand into {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
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
    except _DAMAGED as e:
        raise DamagedArchiveError(archive, dest, f"{type(e).__name__}: {e}") from e
    _move_into_place(tmp, dest)
    return dest


#: what reading a truncated or corrupt archive raises
_DAMAGED = (zipfile.BadZipFile, tarfile.ReadError, tarfile.CompressionError, EOFError, zlib.error,
            lzma.LZMAError, gzip.BadGzipFile)


def _archive_format(head: bytes) -> str | None:
    """The archive or compression format that the first 512 bytes announce, else None."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip archive"
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return "compressed (tar) archive"
    if head[257:262] == b"ustar":
        return "tar archive"
    return None


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

def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
    if force:
        archive.unlink(missing_ok=True)              # else pooch would keep the cached copy
    try:
        download(entry["download_url"], archive, sha256=entry.get("sha256"), progress=progress,
                 timeout=timeout, manual_hint=manual)
    except BaseException:
        if created and not any(dest.iterdir()):
            dest.rmdir()                                 # leave no empty folder behind
        raise
    digest = sha256_file(archive)
    try:
        safe_extract(archive, dest)
    except DamagedArchiveError as e:
        archive.unlink(missing_ok=True)                  # a cached damaged copy would be reused
        raise DownloadError(
            f"the downloaded NCD {which} archive is damaged or incomplete ({e.detail}); "
            f"it was deleted and nothing was extracted. Download it again (run the same command), or: "
            f"{manual}") from e
    except ValueError as e:
        raise DownloadError(f"{e} (the archive is kept at {archive}). {manual}") from e
    _write_text_atomic(dest / ".sha256", f"{digest}  ncd_{which} {entry['download_url']}\n")
    if not entry.get("sha256"):
        msg = (f"NCD {which} archive downloaded but NOT verified: data/ncd_sources.json records no "
               f"sha256. Computed sha256 = {digest} (saved to {dest / '.sha256'}); record it in "
               "ncd_sources.json to verify later downloads.")
        print(msg, file=sys.stderr)
        warnings.warn(msg, stacklevel=2)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    root, n = find_ncd_root(dest)
    if n == 0:
        raise DownloadError(f"the {which} archive was extracted into {dest} but no NCD category "
                            f"folder (Apple, ..., Tomato) was found in it or one level below. {manual}")
    return root


def add_arguments(p) -> None:
    """The ``colorsurvey download`` sub-commands (``ncd``, ``weights``, ``url``) on parser ``p``."""
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("ncd", help="the survey's Natural-Color Dataset (Google Drive)")
    a.add_argument("--dest", default=None, help="target folder (default $COLORSURVEY_DATA/ncd "
                   "or ~/.cache/colorsurvey/ncd)")
    a.add_argument("--gray", action="store_true", help="the grayscale archive instead of colour")
    a.add_argument("--force", action="store_true", help="download even if present")
    a.add_argument("--keep-archive", action="store_true")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    w = sub.add_parser("weights", help="published weights by name (see `colorsurvey list`)")
    w.add_argument("name", help="e.g. eccv16, siggraph17, vgg19")
    w.add_argument("--dest", default=None, help="folder (default $COLORSURVEY_CACHE/weights)")
    w.add_argument("--quiet", action="store_true")
    b = sub.add_parser("url", help="any URL, with an optional sha256 check")
    b.add_argument("url")
    b.add_argument("dest")
    b.add_argument("--sha256", default=None)
    b.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=run)


def run(args) -> int:
    """Carry out a parsed ``colorsurvey download`` command; errors propagate to the CLI."""
    if args.what == "ncd":
        root = fetch_ncd(args.dest, progress=not args.quiet, which="gray" if args.gray else "color",
                         force=args.force, keep_archive=args.keep_archive)
        print(f"NCD is ready at {root}")
    elif args.what == "weights":
        from ..models.weights import find

        print(find(args.name).fetch(args.dest, progress=not args.quiet))
    else:
        print(download(args.url, args.dest, sha256=args.sha256, progress=not args.quiet))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m colorsurvey.data.download ...`` = ``colorsurvey download ...``."""
    from ..cli import main as cli_main

    return cli_main(["download", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
