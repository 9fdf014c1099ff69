"""Discover students' submissions and locate the module file in each."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath

from grader.submissions import forms
from grader.errors import UsageError
from grader.submissions.submission import Submission

MAX_LISTED = 8
MAX_MODULE_BYTES = 2 * 1024 * 1024
#: Files looked at in one student's folder: a folder holding a whole environment is not walked to its end.
MAX_WALKED = 20_000
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
    """Every regular file under ``folder`` (at most :data:`MAX_WALKED`), never following links, skipping hidden
    and tool folders."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
        if len(files) >= MAX_WALKED:
            return files[:MAX_WALKED]
    return files


def _listing(names: list[str]) -> str:
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def _refused(student: str, problem: str, reason: str) -> Submission:
    return Submission(name=student, module_path=None, problems={problem}, reason=reason)


#: What each form may weigh before it is read: (cap, what it is called, problem code).
_CAPS = {
    ".py": (MAX_MODULE_BYTES, "a module", "import"),
    ".ipynb": (forms.MAX_NOTEBOOK_BYTES, "a notebook", "import"),
    ".zip": (forms.MAX_TOTAL_BYTES, "an archive", "archive"),
}


def _too_large(student: str, shown: str, size: int, suffix: str = ".py") -> Submission:
    cap, what, problem = _CAPS[suffix]
    return _refused(student, problem, f"{shown} is {size // 1024} KB; {what} may be at most {cap // 1024} KB")


def _form(path: Path) -> str:
    """``.py``, ``.ipynb`` or ``.zip`` (those two in any case: Windows uploads say ``.ZIP``), else ``""``."""
    if path.suffix == ".py":
        return ".py"
    return path.suffix.lower() if path.suffix.lower() in (".ipynb", ".zip") else ""


def _checked(student: str, path: Path, shown: str) -> Submission | None:
    """Why the file at ``path`` is not read (a link, a special file, over its form's cap), or None: checked on the
    file's own metadata, before a byte of it is read."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        return _refused(student, "file_name", f"{shown} is a link or special file, not a regular file: submit the file itself")
    if info.st_size > _CAPS[_form(path)][0]:
        return _too_large(student, shown, info.st_size, _form(path))
    return None


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


def _from_notebook(student: str, data: bytes, shown: str, *, module: str, staging: Path) -> Submission:
    try:
        source = forms.notebook_source(data)
    except ValueError as exc:
        return _refused(student, "syntax", f"{shown}: {exc}")
    size = len(source.encode("utf-8"))
    if size > MAX_MODULE_BYTES:
        return _too_large(student, f"the code of {shown}", size)
    return Submission(name=student, module_path=_staged(student, module, source, staging))


def _from_archive(student: str, entry: Path, shown: str, *, module: str, staging: Path) -> Submission:
    try:
        files = forms.archive_files(entry)
        for wanted in (f"{module}.py", f"{module}.ipynb"):
            matches = sorted((n for n in files if PurePosixPath(n).name == wanted), key=lambda n: (n.count("/"), n))
            if matches:
                info = files[matches[0]]
                member = f"{shown}:{matches[0]}"
                suffix = ".ipynb" if wanted.endswith(".ipynb") else ".py"
                if info.file_size > _CAPS[suffix][0]:
                    return _too_large(student, member, info.file_size, suffix)
                data = forms.read_member(entry, info)
                if suffix == ".ipynb":
                    return _from_notebook(student, data, member, module=module, staging=staging)
                return Submission(name=student, module_path=_staged(student, module, data, staging))
    except forms.ArchiveRejected as exc:
        return _refused(student, "archive", f"{shown} was rejected: {exc}")
    return _refused(
        student, "file_name", f"expected {module}.py (or {module}.ipynb) in {shown}; found: {_listing(sorted(files)) or 'no files'}"
    )


def _open(student: str, path: Path, shown: str, *, module: str, staging: Path) -> Submission:
    """The module in the file at ``path`` (a module, a notebook or a zip), each form capped before it is read."""
    refused = _checked(student, path, shown)
    if refused is not None:
        return refused
    if _form(path) == ".zip":
        return _from_archive(student, path, shown, module=module, staging=staging)
    if _form(path) == ".ipynb":
        return _from_notebook(student, path.read_bytes(), shown, module=module, staging=staging)
    return Submission(name=student, module_path=path)


def locate(student: str, entry: Path, *, module: str, staging: Path, assignment: str | None = None) -> Submission:
    """The submission's module file, or the reason (and problem code) why there is none.

    A ``.py`` file or folder is used in place; a module inside a ``.zip`` or
    a notebook is written to ``staging/<student>/`` first. A student folder
    holding a folder named ``assignment`` (nbgrader's ``submitted/<student>/<assignment>/``)
    is searched only there. A folder without a file of the module's exact name
    that directly holds one archive or notebook (an LMS download: each student's
    folder holds what they uploaded) is that archive or notebook.
    """
    expected = f"{module}.py"
    if entry.is_file() or entry.is_symlink():
        if _form(entry) == ".py" or (_form(entry) and not entry.is_symlink()):
            return _open(student, entry, entry.name, module=module, staging=staging)
        return _refused(student, "file_name", f"expected {expected} (or a folder, .zip or .ipynb holding it); found the file {entry.name}")
    if assignment and (entry / assignment).is_dir() and not (entry / assignment).is_symlink():
        entry = entry / assignment
    files = _walk(entry)
    for wanted in (expected, f"{module}.ipynb"):
        exact = [p for p in files if p.name == wanted]
        if exact:
            best = min(exact, key=lambda p: (len(p.parts), str(p)))
            return _open(student, best, str(best.relative_to(entry)), module=module, staging=staging)
    uploads = [p for p in files if p.parent == entry and _form(p) in (".zip", ".ipynb")]
    if len(uploads) == 1:
        return _open(student, uploads[0], uploads[0].name, module=module, staging=staging)
    if not files:
        return _refused(student, "missing", f"the submission is empty: expected {expected}")
    if len(uploads) > 1:
        return _refused(student, "file_name", (
            f"expected a file named exactly {expected}, or one archive or notebook holding it; found several: "
            f"{_listing([p.name for p in uploads])}: submit one"
        ))
    return _refused(student, "file_name", f"expected a file named exactly {expected}; found: {_listing([str(f.relative_to(entry)) for f in files])}")
