"""Discover students' submissions and locate the module file in each."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath

from grader import forms
from grader.errors import UsageError
from grader.student import Submission

MAX_LISTED = 8
MAX_MODULE_BYTES = 2 * 1024 * 1024
#: Folders archivers and editors add that never hold a student's work.
SKIPPED_DIRS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints", ".git"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def safe_name(name: str) -> str:
    """A file-name-safe form of a student's name."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "student"
    return cleaned[:120]


def discover(dirs: list[Path]) -> list[tuple[str, Path]]:
    """``(student, entry)`` for every entry directly inside each folder, sorted by student.

    A student is named by the entry (a file without its extension, unless
    that collides), made safe for file names and unique.
    """
    entries: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            raise UsageError(f"{d} is not a folder of submissions")
        entries += sorted(e for e in d.iterdir() if not e.name.startswith(".") and e.name not in SKIPPED_DIRS)
    stems = [e.stem if e.is_file() else e.name for e in entries]
    taken: set[str] = set()
    found: list[tuple[str, Path]] = []
    for entry, stem in zip(entries, stems):
        base = safe_name(stem if stems.count(stem) == 1 else entry.name)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}~{n}"
        taken.add(name)
        found.append((name, entry))
    return sorted(found)


def _walk(folder: Path) -> list[Path]:
    """Every regular file under ``folder``, never following links, skipping hidden and tool folders."""
    files = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return files


def _listing(files: list[Path], base: Path) -> str:
    names = [str(f.relative_to(base)) for f in files[:MAX_LISTED]]
    more = f" and {len(files) - MAX_LISTED} more" if len(files) > MAX_LISTED else ""
    return ", ".join(names) + more


def _usable(student: str, path: Path, shown: str) -> Submission:
    """The module at ``path`` if it is a regular file of sane size."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        return Submission(
            name=student, module_path=None, problems={"file_name"},
            reason=f"{shown} is a link or special file, not a regular file: submit the file itself",
        )
    if info.st_size > MAX_MODULE_BYTES:
        return _too_large(student, shown, info.st_size)
    return Submission(name=student, module_path=path)


def _staged(student: str, module: str, source: str | bytes, staging: Path) -> Path:
    """Write a module recovered from an archive or a notebook where the grader can copy it from."""
    folder = staging / student
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}.py"
    if isinstance(source, str):
        path.write_text(source, encoding="utf-8")
    else:
        path.write_bytes(source)
    return path


def _too_large(student: str, shown: str, size: int) -> Submission:
    return Submission(
        name=student, module_path=None, problems={"import"},
        reason=f"{shown} is {size // 1024} KB; a module may be at most {MAX_MODULE_BYTES // 1024} KB",
    )


def _from_notebook(student: str, data: bytes, shown: str, *, module: str, staging: Path) -> Submission:
    try:
        source = forms.notebook_source(data)
    except ValueError as exc:
        return Submission(name=student, module_path=None, problems={"syntax"}, reason=f"{shown}: {exc}")
    size = len(source.encode("utf-8"))
    if size > MAX_MODULE_BYTES:
        return _too_large(student, f"the code of {shown}", size)
    return Submission(name=student, module_path=_staged(student, module, source, staging))


def _from_archive(student: str, entry: Path, *, module: str, staging: Path) -> Submission:
    try:
        files = forms.archive_files(entry)
        for wanted in (f"{module}.py", f"{module}.ipynb"):
            matches = sorted((n for n in files if PurePosixPath(n).name == wanted), key=lambda n: (n.count("/"), n))
            if matches:
                data = forms.read_member(entry, files[matches[0]])
                shown = f"{entry.name}:{matches[0]}"
                if len(data) > MAX_MODULE_BYTES:
                    return _too_large(student, shown, len(data))
                if wanted.endswith(".ipynb"):
                    return _from_notebook(student, data, shown, module=module, staging=staging)
                return Submission(name=student, module_path=_staged(student, module, data, staging))
    except forms.ArchiveRejected as exc:
        return Submission(name=student, module_path=None, problems={"archive"}, reason=f"{entry.name} was rejected: {exc}")
    names = sorted(files)
    listing = ", ".join(names[:MAX_LISTED]) + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")
    return Submission(
        name=student, module_path=None, problems={"file_name"},
        reason=f"expected {module}.py (or {module}.ipynb) in {entry.name}; found: {listing or 'no files'}",
    )


def locate(student: str, entry: Path, *, module: str, staging: Path, assignment: str | None = None) -> Submission:
    """The submission's module file, or the reason (and problem code) why there is none.

    A ``.py`` file or folder is used in place; a module inside a ``.zip`` or
    a notebook is written to ``staging/<student>/`` first. A student folder
    holding a folder named ``assignment`` (nbgrader's ``submitted/<student>/<assignment>/``)
    is searched only there.
    """
    expected = f"{module}.py"
    if entry.is_file() or entry.is_symlink():
        if entry.suffix == ".py":
            return _usable(student, entry, entry.name)
        if entry.suffix == ".ipynb" and not entry.is_symlink():
            return _from_notebook(student, entry.read_bytes(), entry.name, module=module, staging=staging)
        if entry.suffix == ".zip" and not entry.is_symlink():
            return _from_archive(student, entry, module=module, staging=staging)
        return Submission(
            name=student,
            module_path=None,
            problems={"file_name"},
            reason=f"expected {expected} (or a folder, .zip or .ipynb holding it); found the file {entry.name}",
        )
    if assignment and (entry / assignment).is_dir() and not (entry / assignment).is_symlink():
        entry = entry / assignment
    files = _walk(entry)
    for wanted in (expected, f"{module}.ipynb"):
        exact = [p for p in files if p.name == wanted]
        if exact:
            best = min(exact, key=lambda p: (len(p.parts), str(p)))
            shown = str(best.relative_to(entry))
            if wanted.endswith(".ipynb"):
                usable = _usable(student, best, shown)
                if usable.module_path is None:
                    return usable
                return _from_notebook(student, best.read_bytes(), shown, module=module, staging=staging)
            return _usable(student, best, shown)
    if not files:
        return Submission(name=student, module_path=None, problems={"missing"}, reason=f"the submission is empty: expected {expected}")
    return Submission(
        name=student,
        module_path=None,
        problems={"file_name"},
        reason=f"expected a file named exactly {expected}; found: {_listing(files, entry)}",
    )
