"""Submission forms other than a plain ``.py``: ``.zip`` archives and Jupyter notebooks.

Archives are never extracted to disk: every member is validated first
(paths that escape, links, too many or too large members, compression
bombs), then only the module's bytes are read. A notebook becomes a module
from its code cells, with IPython magics and shell escapes commented out.
"""

from __future__ import annotations

import json
import re
import stat
import zipfile
from pathlib import PurePosixPath

MAX_MEMBERS = 500
MAX_TOTAL_BYTES = 50 * 1024 * 1024
MAX_RATIO = 200
#: The largest notebook read, in any form (a submission, a file in a student's folder, an archive's member):
#: room for the outputs and images of a real notebook; only its code is the module (capped on its own).
MAX_NOTEBOOK_BYTES = 16 * 1024 * 1024
IGNORED_PARTS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints"}


class ArchiveRejected(Exception):
    """The archive cannot be read safely; the message says why (problem code ``archive``)."""


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _why_unreadable(exc: BaseException) -> str:
    """What went wrong reading a zip, in words a student can act on (whatever ``zipfile`` or a decompressor raised)."""
    text = str(exc)[:200]
    if isinstance(exc, RuntimeError) and "encrypted" in text:
        return "is encrypted: zip it again without a password"
    if isinstance(exc, NotImplementedError):
        return f"uses a compression method this grader cannot read ({text}): zip it again with the standard method (deflate)"
    if "CRC" in text:
        return "is corrupt (its checksum does not match): upload the archive again"
    return f"is corrupt or truncated ({type(exc).__name__}: {text}): upload the archive again"


def archive_files(path) -> dict[str, zipfile.ZipInfo]:
    """The regular files of a zip archive by member name, after checking the whole archive is safe."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except Exception as exc:  # noqa: BLE001 - zipfile raises many kinds on a damaged archive; each is the student's
        raise ArchiveRejected(
            f"the archive is corrupt or not a zip file ({type(exc).__name__}: {str(exc)[:200]}): upload the archive again"
        ) from None
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
    """The bytes of one member, read in full and checked (size and CRC); any damage is :class:`ArchiveRejected`."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open(info) as member:
            data = member.read(info.file_size + 1)
            if len(data) == info.file_size:
                member.read(1)  # at the end: zipfile checks the CRC only once it reads past the last byte
    except Exception as exc:  # noqa: BLE001 - zlib.error, lzma.LZMAError, EOFError, OSError (bzip2), BadZipFile, ...
        raise ArchiveRejected(f"the member {info.filename!r} {_why_unreadable(exc)}") from None
    if len(data) != info.file_size:
        raise ArchiveRejected(f"the member {info.filename!r} is not the size the archive says ({len(data)} bytes, not {info.file_size}): upload the archive again")
    return data


_TEST_CELL_LINE = re.compile(r"""(from grader\.notebook import check|check\(\s*(["'])[\w.-]+\2\s*,\s*(["'])\w+\3\s*\))\s*(#.*)?""")


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata, or ``{}`` where it is missing or not an object (a string, a list: valid JSON,
    never trusted)."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _is_nbgrader_test(cell: dict, source: str) -> bool:
    """An autograded test cell: by its nbgrader metadata, or, where that metadata was lost, by being
    exactly a test cell of `grader nbgrader source` (comments, the import and ``check("a", "f")``)."""
    meta = nbgrader_meta(cell)
    if bool(meta.get("grade")) and not meta.get("solution"):
        return True
    lines = [line.strip() for line in source.splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    return bool(code) and all(_TEST_CELL_LINE.fullmatch(line) for line in code)


def _text(value) -> str | None:
    """A cell's source as nbformat stores it (a string, or a list of strings), else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return None


def notebook_cells(data: bytes) -> list[dict]:
    """The cells of a notebook, checked for shape: every cell an object with a ``cell_type`` and a text source.

    Format 4 is read as plain JSON (fast, whatever its outputs weigh); older formats go through nbformat's
    converter. Raises ``ValueError`` saying what is wrong."""
    def unreadable(why: str) -> ValueError:
        return ValueError(f"the notebook cannot be read ({why}): save it again from Jupyter and resubmit")

    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise unreadable(f"it is not JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise unreadable(f"its JSON is a {type(doc).__name__}, not a notebook")
    if "cells" not in doc and "worksheets" in doc:  # nbformat 3 and older
        try:
            import nbformat

            doc = nbformat.convert(nbformat.from_dict(doc), 4)
        except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on a damaged old notebook
            raise unreadable(f"an old notebook format that cannot be converted: {type(exc).__name__}: {str(exc)[:200]}") from None
    cells = doc.get("cells")
    if not isinstance(cells, list):
        raise unreadable("it has no list of cells")
    for i, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            raise unreadable(f"cell {i} is a {type(cell).__name__}, not a cell")
        if _text(cell.get("source", "")) is None:
            raise unreadable(f"the source of cell {i} is not text")
    return cells


def notebook_source(data: bytes) -> str:
    """The code cells of a notebook as one module; magics (``%``, ``%%``) and shell escapes (``!``) commented out.

    nbgrader's autograded test cells (``grade`` without ``solution`` in the cell's
    nbgrader metadata) are the instructor's, not the student's module: they are left out.
    """
    chunks = []
    for cell in notebook_cells(data):
        source = _text(cell.get("source", ""))
        if cell.get("cell_type") != "code" or _is_nbgrader_test(cell, source):
            continue
        lines = source.splitlines()
        if lines and lines[0].lstrip().startswith("%%"):
            lines = [f"# [grader] cell magic removed: {line}" for line in lines]
        else:
            lines = [
                f"# [grader] removed: {line.strip()}" if line.lstrip().startswith(("%", "!")) else line
                for line in lines
            ]
        chunks.append("\n".join(lines))
    return "\n\n".join(chunks) + "\n"
