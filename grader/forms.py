"""Submission forms other than a plain ``.py``: ``.zip`` archives and Jupyter notebooks.

Archives are never extracted to disk: every member is validated first
(paths that escape, links, too many or too large members, compression
bombs), then only the module's bytes are read. A notebook becomes a module
from its code cells, with IPython magics and shell escapes commented out.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import PurePosixPath

MAX_MEMBERS = 500
MAX_TOTAL_BYTES = 50 * 1024 * 1024
MAX_RATIO = 200
IGNORED_PARTS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints"}


class ArchiveRejected(Exception):
    """The archive cannot be read safely; the message says why (problem code ``archive``)."""


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def archive_files(path) -> dict[str, zipfile.ZipInfo]:
    """The regular files of a zip archive by member name, after checking the whole archive is safe."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveRejected(f"the archive is corrupt or not a zip file ({exc})") from None
    if not infos:
        raise ArchiveRejected("the archive is empty")
    if len(infos) > MAX_MEMBERS:
        raise ArchiveRejected(f"the archive has {len(infos)} members; at most {MAX_MEMBERS} are accepted")
    total = 0
    files = {}
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise ArchiveRejected(f"the member {name!r} would be written outside the archive's folder")
        if _is_link(info):
            raise ArchiveRejected(f"the member {name!r} is a link")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise ArchiveRejected(f"the archive holds more than {MAX_TOTAL_BYTES // (1024 * 1024)} MB once extracted")
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1024 * 1024:
            raise ArchiveRejected(f"the member {name!r} expands {info.file_size // info.compress_size}x: a zip bomb")
        if info.is_dir() or any(p in IGNORED_PARTS or p.startswith(".") for p in parts):
            continue
        files[name] = info
    return files


def read_member(path, info: zipfile.ZipInfo) -> bytes:
    try:
        with zipfile.ZipFile(path) as zf, zf.open(info) as member:
            data = member.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as exc:  # RuntimeError: encrypted
        raise ArchiveRejected(f"the member {info.filename!r} cannot be read ({exc})") from None
    if len(data) > info.file_size:
        raise ArchiveRejected(f"the member {info.filename!r} is larger than the archive says")
    return data


_TEST_CELL_LINE = re.compile(r"""(from grader\.notebook import check|check\(\s*(["'])[\w.-]+\2\s*,\s*(["'])\w+\3\s*\))\s*(#.*)?""")


def _is_nbgrader_test(cell) -> bool:
    """An autograded test cell: by its nbgrader metadata, or, where that metadata was lost, by being
    exactly a test cell of `grader nbgrader source` (comments, the import and ``check("a", "f")``)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if isinstance(meta, dict) and bool(meta.get("grade")) and not meta.get("solution"):
        return True
    lines = [line.strip() for line in str(cell.get("source", "")).splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    return bool(code) and all(_TEST_CELL_LINE.fullmatch(line) for line in code)


def notebook_source(data: bytes) -> str:
    """The code cells of a notebook as one module; magics (``%``, ``%%``) and shell escapes (``!``) commented out.

    nbgrader's autograded test cells (``grade`` without ``solution`` in the cell's
    nbgrader metadata) are the instructor's, not the student's module: they are left out.
    """
    import nbformat

    try:
        nb = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        raise ValueError(f"the notebook cannot be read ({type(exc).__name__}: {str(exc)[:200]})") from None
    chunks = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code" or _is_nbgrader_test(cell):
            continue
        lines = str(cell.get("source", "")).splitlines()
        if lines and lines[0].lstrip().startswith("%%"):
            lines = [f"# [grader] cell magic removed: {line}" for line in lines]
        else:
            lines = [
                f"# [grader] removed: {line.strip()}" if line.lstrip().startswith(("%", "!")) else line
                for line in lines
            ]
        chunks.append("\n".join(lines))
    return "\n\n".join(chunks) + "\n"
