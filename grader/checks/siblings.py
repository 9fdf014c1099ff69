"""The course's own modules beside its checks (references, the objects registry), imported by file.

Checks run under pytest's ``--import-mode=importlib``: the folder of a checks
file is not on ``sys.path``, so a plain ``import references`` there finds
nothing (or another course's). :func:`assignment_module` imports
``<name>.py`` from the folder of the file that asks, else from the
assignment's public folder ``<course>/assignments/<same folder name>/`` (so
the hidden checks in ``solutions/<a>/`` share the public references), once
per resolved path, under a module name made from that path: two courses, or
two assignments, in one process never share a module. A reference module
loads its own siblings (the objects registry) the same way.

These modules are trusted code, like the grader's own: a reference that
raises is the grader's failure, never the student's
(:func:`is_course_module`, read by :mod:`grader.engine.faults`).
May import: the standard library.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

_FILES: set[str] = set()
"""The resolved paths of the modules loaded here."""


class CourseModuleMissing(ImportError):
    """A checks file (or reference) asked for a course module that is in neither folder it is looked for in."""


def module_name(path: Path) -> str:
    """The ``sys.modules`` name of the course module at the resolved ``path``: its folder and name, and a digest of
    the whole path."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return "_course_" + re.sub(r"\W", "_", f"{path.parent.name}_{path.stem}") + "_" + digest


def assignment_module(asking: str | os.PathLike, name: str) -> ModuleType:
    """The course module ``<name>.py`` beside ``asking`` (pass ``__file__``), else in the assignment's public folder.

    ``ref = assignment_module(__file__, "references")`` in a checks file; imported once per process.
    """
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not a module name")
    here = Path(asking).resolve().parent
    candidates = [here / f"{name}.py"]
    public = here.parent.parent / "assignments" / here.name / f"{name}.py"
    if public != candidates[0]:
        candidates.append(public)
    for path in candidates:
        if path.is_file():
            return _load(path.resolve())
    raise CourseModuleMissing(
        f"{asking} asks for the course module {name!r}, but there is no {' and no '.join(map(str, candidates))}"
    )


def _load(path: Path) -> ModuleType:
    name = module_name(path)
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: a dataclass in it looks its module up there
    _FILES.add(str(path))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def is_course_module(filename: str) -> bool:
    """Whether ``filename`` (a code object's, resolved) is a module :func:`assignment_module` loaded."""
    return filename in _FILES
