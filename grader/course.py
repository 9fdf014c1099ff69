"""Find the course (assignments, public and hidden checks) through the installed project."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import CourseError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    module: str
    functions: list[str]
    points: float
    bonus: float
    directory: Path
    public_checks: Path
    hidden_checks: Path | None
    """None where the solutions are not installed (a student's copy)."""
    solution: Path | None
    """The reference solution ``solutions/<name>/<module>.py``; None where it is not installed."""
    forbidden: dict[str, str]
    """Function -> forbidden-API group enforced while it runs (``[forbidden]`` in assignment.toml)."""
    must_kill: list[str] = field(default_factory=list)
    """Mutant kinds (:mod:`grader.authoring.mutation`) that `grader validate` requires the checks to kill
    (``validate.must_kill`` in assignment.toml)."""
    objects: Path | None = None
    """The course's registry of objects built in the student process, ``assignments/<name>/objects.py``
    (``OBJECTS``: name -> builder, see :class:`grader.checks.Build`); None where the assignment has none."""

    @property
    def stub(self) -> Path:
        return self.directory / f"{self.module}.py"


def course_root(explicit: str | os.PathLike | None = None) -> Path:
    """``--course``, else ``GRADER_COURSE``, else the project checkout, else the installed copy."""
    for candidate, origin in ((explicit, "--course"), (os.environ.get("GRADER_COURSE"), "GRADER_COURSE")):
        if candidate:
            root = Path(candidate).expanduser().resolve()
            if not (root / "assignments").is_dir():
                raise UsageError(f"{origin}={candidate}: no assignments/ folder there")
            return root
    for root in (PACKAGE_DIR.parent, PACKAGE_DIR / "_course"):
        if (root / "assignments").is_dir():
            return root
    raise CourseError("no course found: reinstall the grader, or pass --course PATH")


def load(name: str, *, root: Path) -> Assignment:
    directory = root / "assignments" / name
    meta_file = directory / "assignment.toml"
    if not meta_file.is_file():
        known = ", ".join(a.name for a in list_all(root=root)) or "none"
        raise UsageError(f"unknown assignment {name!r}; known assignments: {known}")
    try:
        meta = tomllib.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"{meta_file}: {exc}") from None
    solutions = root / "solutions" / name
    try:
        return Assignment(
            name=name,
            title=str(meta["title"]),
            module=str(meta["module"]),
            functions=[str(f) for f in meta["functions"]],
            points=float(meta["points"]),
            bonus=float(meta.get("bonus", 0)),
            directory=directory,
            public_checks=directory / "checks_public.py",
            hidden_checks=_existing(solutions / "checks_hidden.py"),
            solution=_existing(solutions / f"{meta['module']}.py"),
            forbidden={str(k): str(v) for k, v in meta.get("forbidden", {}).items()},
            must_kill=_must_kill(meta, meta_file),
            objects=_existing(directory / "objects.py"),
        )
    except KeyError as exc:
        raise CourseError(f"{meta_file}: missing key {exc}") from None


def _must_kill(meta: dict, meta_file: Path) -> list[str]:
    table = meta.get("validate", {})
    kinds = table.get("must_kill", []) if isinstance(table, dict) else None
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise CourseError(f"{meta_file}: validate.must_kill must be a list of mutant kinds (strings)")
    return list(kinds)


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def list_all(*, root: Path) -> list[Assignment]:
    base = root / "assignments"
    names = sorted(p.name for p in base.iterdir() if (p / "assignment.toml").is_file()) if base.is_dir() else []
    return [load(n, root=root) for n in names]
