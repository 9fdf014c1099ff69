"""Find the course (assignments, public and hidden checks) through the installed project.

A course is a folder: ``assignments/<name>/`` (stub, README, ``assignment.toml``,
public checks), ``solutions/<name>/`` (reference solution, hidden checks; the
instructor's copy only) and an optional ``course.toml`` (its title and the
default limits of ``grade``, see :class:`Course`). ``--course PATH`` or
``GRADER_COURSE`` picks one; else the bundled course is used.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import CourseError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE_DIR = Path(__file__).resolve().parent
#: The optional file at the root of a course: its title and its default limits.
COURSE_FILE = "course.toml"
#: What course.toml may hold (README, "A course is a folder"): top-level keys and the keys of ``[limits]``.
COURSE_KEYS = ("title", "limits")
LIMIT_KEYS = ("timeout", "memory")


@dataclass(frozen=True)
class LimitDefaults:
    """``[limits]`` of course.toml: what ``--timeout`` and ``--memory`` mean when they are not given
    (None: the grader's own default). A command-line option beats these, which beat the grader's defaults."""

    timeout: float | None = None
    """CPU seconds one check may use in the student's processes (``--timeout``)."""
    memory: int | None = None
    """MB a student process may use beyond the warm process (``--memory``)."""


@dataclass(frozen=True)
class Course:
    """A course folder and what its ``course.toml`` says (everything optional)."""

    root: Path
    title: str | None = None
    limits: LimitDefaults = field(default_factory=LimitDefaults)

    @property
    def config(self) -> Path | None:
        """The course's ``course.toml``; None where it has none."""
        return _existing(self.root / COURSE_FILE)


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
    forbidden: dict[str, str | list[str]]
    """Function -> what is forbidden while it (and the backward of its result) runs, ``[forbidden]`` in
    assignment.toml: an API group, or a list of groups and dotted API names (:mod:`grader.sandbox.guard`)."""
    must_kill: list[str] = field(default_factory=list)
    """Mutant kinds (:mod:`grader.authoring.mutation`) that `grader validate` requires the checks to kill
    (``validate.must_kill`` in assignment.toml)."""
    equivalent: dict[str, str] = field(default_factory=dict)
    """Mutant id -> why no check can kill it (the contract allows the change), ``validate.equivalent`` in
    assignment.toml: `grader author` shows it as equivalent, not as a survivor, and leaves it out of the score."""
    objects: Path | None = None
    """The course's registry of objects built in the student process, ``assignments/<name>/objects.py``
    (``OBJECTS``: name -> builder, see :class:`grader.checks.Build`); None where the assignment has none."""

    @property
    def stub(self) -> Path:
        return self.directory / f"{self.module}.py"

    @property
    def root(self) -> Path:
        """The course folder this assignment belongs to."""
        return self.directory.parent.parent


def course_root(explicit: str | os.PathLike | None = None) -> Path:
    """``--course``, else ``GRADER_COURSE``, else the project checkout, else the installed copy."""
    for candidate, origin in ((explicit, "--course"), (os.environ.get("GRADER_COURSE"), "GRADER_COURSE")):
        if candidate:
            root = Path(candidate).expanduser().resolve()
            if not (root / "assignments").is_dir():
                raise UsageError(
                    f"{origin}={candidate}: no assignments/ folder in {root}: a course folder holds assignments/, "
                    f"solutions/ and optionally {COURSE_FILE}; pass the folder that holds them"
                )
            return root
    for root in (PACKAGE_DIR.parent, PACKAGE_DIR / "_course"):
        if (root / "assignments").is_dir():
            return root
    raise CourseError("no course found: reinstall the grader, or pass --course PATH")


def load_course(explicit: str | os.PathLike | None = None) -> Course:
    """The course of :func:`course_root`, with its ``course.toml`` read and checked: an unknown key or a value of the
    wrong type is a :class:`CourseError` naming the file and the line."""
    root = course_root(explicit)
    path = root / COURSE_FILE
    if not path.is_file():
        return Course(root)
    try:
        text = path.read_text(encoding="utf-8")
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        raise CourseError(f"{path}{f':{line.group(1)}' if line else ''}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CourseError(f"{path}: cannot read it ({exc})") from None

    def wrong(key: str, what: str) -> CourseError:
        line = _line_of(text, key)
        return CourseError(f"{path}{f':{line}' if line else ''}: {key} {what}")

    known = "known keys: title, and timeout and memory under [limits]"
    for key in doc:
        if key not in COURSE_KEYS:
            raise wrong(key, f"is not a {COURSE_FILE} key ({known})")
    title = doc.get("title")
    if title is not None and not (isinstance(title, str) and title.strip()):
        raise wrong("title", f"must be a non-empty string, not {title!r}")
    limits = doc.get("limits", {})
    if not isinstance(limits, dict):
        raise wrong("limits", f"must be a table ([limits] with timeout = SECONDS, memory = MB), not {limits!r}")
    for key in limits:
        if key not in LIMIT_KEYS:
            raise wrong(f"limits.{key}", f"is not a {COURSE_FILE} key ({known})")
    timeout, memory = limits.get("timeout"), limits.get("memory")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0.1):
        raise wrong("limits.timeout", f"must be a number of CPU seconds per check, at least 0.1 (as --timeout), not {timeout!r}")
    if memory is not None and (isinstance(memory, bool) or not isinstance(memory, int) or memory < 64):
        raise wrong("limits.memory", f"must be a whole number of MB, at least 64 (as --memory), not {memory!r}")
    return Course(root, title=title, limits=LimitDefaults(None if timeout is None else float(timeout), memory))


def _line_of(text: str, dotted: str) -> int | None:
    """The line of ``text`` (TOML) that sets the key ``dotted`` (``limits.timeout``), or that opens its table."""
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\[\]]+?)\s*\](\s*#.*)?", stripped)
        if header:
            table = re.sub(r"[\s\"']", "", header.group(1))
            if table == dotted:
                return number
            continue
        assigned = re.match(r"([\w.\s\"'-]+?)\s*=", stripped)
        if assigned:
            key = ".".join(filter(None, (table, re.sub(r"[\s\"']", "", assigned.group(1)))))
            if key == dotted or dotted.startswith(key + "."):
                return number
    return None


def course_files(assignment: Assignment) -> list[Path]:
    """The course half of ``assignment``: what its checks may read, and what a grade depends on besides the
    submission and the grader. Every file under ``assignments/<name>/`` and ``solutions/<name>/`` but the student
    stub, the reference solution, Markdown (READMEs), ``__pycache__`` and dot-files, then the course's
    ``course.toml``; sorted by path relative to the course root."""
    root = assignment.root
    left_out = {assignment.stub, root / "solutions" / assignment.name / f"{assignment.module}.py"}
    found = []
    for folder in (assignment.directory, root / "solutions" / assignment.name):
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            parts = path.relative_to(folder).parts
            if (path.is_file() and path not in left_out and path.suffix.lower() != ".md"
                    and not any(part == "__pycache__" or part.startswith(".") for part in parts)):
                found.append(path)
    found.sort(key=lambda p: p.relative_to(root).as_posix())
    if (root / COURSE_FILE).is_file():
        found.append(root / COURSE_FILE)
    return found


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
            forbidden=_forbidden(meta, meta_file),
            must_kill=_must_kill(meta, meta_file),
            equivalent=_equivalent(meta, meta_file),
            objects=_existing(directory / "objects.py"),
        )
    except KeyError as exc:
        raise CourseError(f"{meta_file}: missing key {exc}") from None


#: The API groups ``[forbidden]`` may name (:mod:`grader.sandbox.guard`); any other entry is a dotted API name.
FORBIDDEN_GROUPS = ("functional", "autograd")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def _forbidden(meta: dict, meta_file: Path) -> dict[str, str | list[str]]:
    table = meta.get("forbidden", {})
    if not isinstance(table, dict):
        raise CourseError(f"{meta_file}: [forbidden] must be a table: function = \"autograd\" or [\"autograd\", \"torch.tanh\"]")
    out: dict[str, str | list[str]] = {}
    for fn, value in table.items():
        entries = [value] if isinstance(value, str) else value
        if not isinstance(entries, list) or not entries or not all(isinstance(e, str) for e in entries):
            raise CourseError(f"{meta_file}: forbidden.{fn} must be an API group or a non-empty list of groups and API names, not {value!r}")
        for entry in entries:
            if entry not in FORBIDDEN_GROUPS and not _DOTTED.fullmatch(entry):
                raise CourseError(f"{meta_file}: forbidden.{fn}: {entry!r} is neither an API group "
                                  f"({', '.join(FORBIDDEN_GROUPS)}) nor a dotted API name like torch.nn.functional.gelu")
        out[str(fn)] = value if isinstance(value, str) else list(entries)
    return out


def _must_kill(meta: dict, meta_file: Path) -> list[str]:
    table = meta.get("validate", {})
    kinds = table.get("must_kill", []) if isinstance(table, dict) else None
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise CourseError(f"{meta_file}: validate.must_kill must be a list of mutant kinds (strings)")
    return list(kinds)


def _equivalent(meta: dict, meta_file: Path) -> dict[str, str]:
    table = meta.get("validate", {})
    found = table.get("equivalent", {}) if isinstance(table, dict) else None
    if not isinstance(found, dict) or not all(isinstance(v, str) and v.strip() for v in found.values()):
        raise CourseError(f"{meta_file}: validate.equivalent must map mutant ids to the reason each is equivalent (strings)")
    return {str(k): v for k, v in found.items()}


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def list_all(*, root: Path) -> list[Assignment]:
    base = root / "assignments"
    names = sorted(p.name for p in base.iterdir() if (p / "assignment.toml").is_file()) if base.is_dir() else []
    return [load(n, root=root) for n in names]
