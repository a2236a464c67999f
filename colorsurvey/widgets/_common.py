"""Small pieces every widget repeats: the last file of a FileUpload change, an index check."""

from __future__ import annotations

__all__ = ["last_upload", "index_message"]


def last_upload(change) -> tuple[bytes, str] | None:
    """(content, file name) of the newest file in an ipywidgets ``FileUpload`` change (ipywidgets 7
    gives a dict by name, 8 a tuple of dicts), or None when the change holds no file."""
    val = change["new"]
    files = list(val.values()) if isinstance(val, dict) else list(val)
    if not files:
        return None
    f = files[-1]
    return f["content"], f.get("name") or f.get("metadata", {}).get("name", "upload")


def index_message(index, n: int) -> str:
    """"" when ``index`` is a valid position among ``n`` images, else the one-line message."""
    return "" if 0 <= int(index) < n else f"index {index} is outside 0..{n - 1}"
