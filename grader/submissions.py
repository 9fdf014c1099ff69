"""Discover students' submissions and locate the module file in each."""

from __future__ import annotations

import re
from pathlib import Path

from grader.errors import UsageError
from grader.student import Submission

MAX_LISTED = 8
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def safe_name(name: str) -> str:
    """A file-name-safe form of a student's name."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "student"
    return cleaned[:120]


def discover(dirs: list[Path]) -> list[tuple[str, Path]]:
    """``(student, entry)`` for every entry directly inside each folder, sorted by student."""
    found: dict[str, Path] = {}
    for d in dirs:
        if not d.is_dir():
            raise UsageError(f"{d} is not a folder of submissions")
        for entry in sorted(d.iterdir()):
            if entry.name.startswith("."):
                continue
            student = entry.stem if entry.is_file() else entry.name
            if student in found:
                raise UsageError(f"two submissions are named {student!r}: {found[student]} and {entry}")
            found[student] = entry
    return sorted(found.items())


def _listing(files: list[Path], base: Path) -> str:
    names = [str(f.relative_to(base)) for f in files[:MAX_LISTED]]
    more = f" and {len(files) - MAX_LISTED} more" if len(files) > MAX_LISTED else ""
    return ", ".join(names) + more


def locate(student: str, entry: Path, *, module: str) -> Submission:
    """The submission's module file, or the reason (and problem code) why there is none."""
    expected = f"{module}.py"
    if entry.is_file():
        if entry.suffix == ".py":
            return Submission(name=student, module_path=entry)
        return Submission(
            name=student,
            module_path=None,
            problems={"file_name"},
            reason=f"expected {expected} (or a folder holding it); found the file {entry.name}",
        )
    files = sorted(p for p in entry.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(entry).parts))
    exact = [p for p in files if p.name == expected]
    if exact:
        return Submission(name=student, module_path=min(exact, key=lambda p: len(p.parts)))
    if not files:
        return Submission(name=student, module_path=None, problems={"missing"}, reason=f"the submission is empty: expected {expected}")
    return Submission(
        name=student,
        module_path=None,
        problems={"file_name"},
        reason=f"expected a file named exactly {expected}; found: {_listing(files, entry)}",
    )
