"""Write `grader grade`'s scores into an nbgrader course (``grader grade ... --nbgrader COURSE``).

For each graded student: the student and the submission (with the timestamp
of ``submitted/<student>/<assignment>/timestamp.txt``) are created or updated
in nbgrader's gradebook (:class:`nbgrader.api.Gradebook`), and every
autograded test cell named after a function of the contract gets as
``auto_score`` the points its checks earned (bonus checks as
``extra_credit``), as ``nbgrader autograde`` would have written them. Cells
the grader does not know (manually graded answers) are left alone, and a
grader's manual score is never overwritten. The submitted notebook is copied
to ``autograded/`` with each test cell restored from the gradebook and its
output set to the checks' results, so formgrader lists the submission as
autograded, shows the scores and feedback, and ``nbgrader generate_feedback``
works.
"""

from __future__ import annotations

import json
import warnings
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grader.course import Assignment
from grader.errors import UsageError
from grader.reports.feedback import check_line
from grader.scoring import fmt_points, function_of


@dataclass
class Written:
    students: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


INSTALL = "pip install 'torch-autograder[nbgrader]' (or pip install nbgrader)"


def require_nbgrader(course: Path) -> None:
    """Refuse early, without importing nbgrader: not installed, or ``course`` is not a folder."""
    import importlib.util

    if importlib.util.find_spec("nbgrader") is None:
        raise UsageError(f"--nbgrader needs nbgrader, which is not installed: {INSTALL}")
    if not course.is_dir():
        raise UsageError(f"--nbgrader {course}: no such folder (the nbgrader course, holding source/ and submitted/)")


def _nbgrader():
    try:
        from nbgrader import api
        from nbgrader.coursedir import CourseDirectory
    except ImportError:
        raise UsageError(f"--nbgrader needs nbgrader, which is not installed: {INSTALL}") from None
    return api, CourseDirectory


def course_directory(course: Path):
    """nbgrader's view of ``course``: its ``nbgrader_config.py`` where there is one, rooted at ``course``."""
    _, CourseDirectory = _nbgrader()
    from traitlets.config import Config, PyFileConfigLoader

    config = Config()
    if (course / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    coursedir = CourseDirectory(config=config)
    if "root" not in config.get("CourseDirectory", {}):
        coursedir.root = str(course)
    return coursedir


def _by_function(doc: dict) -> dict[str, tuple[float, float, list[dict]]]:
    """``function -> (points earned, bonus earned, its checks)`` from a results file."""
    totals: dict[str, tuple[float, float, list[dict]]] = {}
    for test in doc.get("tests", []):
        fn = function_of(str(test["name"]))
        earned, bonus, tests = totals.get(fn, (0.0, 0.0, []))
        if test.get("extra_data", {}).get("bonus"):
            bonus += float(test["score"])
        else:
            earned += float(test["score"])
        totals[fn] = (earned, bonus, [*tests, test])
    return totals


def _feedback(fn: str, earned: float, bonus: float, tests: list[dict], problems: list[str], output: str) -> str:
    lines = [f"{fn}: {fmt_points(earned)} points" + (f" + {fmt_points(bonus)} bonus" if bonus else "")]
    if problems:
        lines.append(f"problems: {', '.join(problems)}" + (f" ({output})" if output else ""))
    for t in tests:
        lines.append(check_line(t["name"], t["score"], t["max_score"], t["status"] == "passed"))
        if t["status"] != "passed" and t.get("output"):
            lines.append(f"      {t['output']}")
    return "\n".join(lines) + "\n"


def write_scores(course: Path, assignment: Assignment, results: Path, students: list[str]) -> Written:
    """Write the scores of ``students`` (their ``results/<student>.json`` under ``results``) into the
    gradebook of the nbgrader course at ``course``."""
    api, _ = _nbgrader()
    coursedir = course_directory(course)
    notebook_id = assignment.module
    written = Written()
    with warnings.catch_warnings(), api.Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy's SAWarnings from inside nbgrader's add_submission
        try:
            nb = gb.find_notebook(notebook_id, assignment.name)
        except api.MissingEntry:
            raise UsageError(
                f"nbgrader's gradebook ({coursedir.db_url}) has no notebook {notebook_id} in {assignment.name}: "
                f"run `grader nbgrader source {assignment.name} {course}` and then "
                f"`nbgrader generate_assignment {assignment.name}` in {course} first"
            ) from None
        cells = {cell.name: cell for cell in nb.grade_cells if cell.name in assignment.functions}
        if not cells:
            raise UsageError(
                f"the notebook {notebook_id} of {assignment.name} in nbgrader's gradebook has no test cell named after "
                f"a function ({', '.join(assignment.functions)}): regenerate it with `grader nbgrader source`"
            )
        for student in students:
            try:
                _write_student(gb, coursedir, assignment, cells, results, student, written)
            except Exception as exc:  # noqa: BLE001 - one student's damaged files or data never stop the export
                gb.db.rollback()
                written.warnings.append(f"{student}: not written into nbgrader's gradebook ({type(exc).__name__}: {str(exc)[:300]})")
    return written


def _write_student(gb, coursedir, assignment: Assignment, cells: dict, results: Path, student: str, written: Written) -> None:
    """Write one student's scores into the gradebook and their notebook into ``autograded/``."""
    try:
        doc = json.loads((results / f"{student}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        written.warnings.append(f"{student}: no results to write ({exc})")
        return
    submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment.name))
    if not submitted.parent.is_dir():
        written.warnings.append(
            f"{student}: no folder {submitted.parent} in the course, so no nbgrader student to write to "
            f"(the score is in grades.csv; grade the course's {coursedir.submitted_directory}/ folder)"
        )
        return
    timestamp = coursedir.get_existing_timestamp(str(submitted))
    gb.update_or_create_student(student)
    gb.update_or_create_submission(assignment.name, student, **({"timestamp": timestamp} if timestamp else {}))
    functions = _by_function(doc)
    problems = doc.get("extra_data", {}).get("problems", [])
    feedback = {}
    notebook_id = assignment.module
    for name, cell in cells.items():
        earned, bonus, tests = functions.get(name, (0.0, 0.0, []))
        if earned > cell.max_score + 1e-9:
            written.warnings.append(
                f"{student}: {name} earned {fmt_points(earned)} points but its cell is worth "
                f"{fmt_points(cell.max_score)}: regenerate the source notebook (`grader nbgrader source`)"
            )
        grade = gb.find_grade(name, notebook_id, assignment.name, student)
        grade.auto_score = min(earned, cell.max_score)
        grade.extra_credit = bonus or None
        grade.needs_manual_grade = grade.manual_score is not None
        feedback[name] = _feedback(name, earned, bonus, tests, problems, doc.get("output", ""))
    gb.db.commit()
    for warning in _write_autograded(coursedir, assignment, student, submitted, gb, feedback):
        written.warnings.append(f"{student}: {warning}")
    written.students.append(student)


def _write_autograded(coursedir, assignment: Assignment, student: str, submitted: Path, gb, feedback: dict) -> list[str]:
    """``autograded/<student>/<assignment>/``: the submitted files, the notebook's test cells restored and
    showing the checks' results (what formgrader and ``nbgrader generate_feedback`` read). Returns warnings about
    the submitted notebook (damaged, or a cell whose nbgrader metadata is damaged or that repeats a test cell)."""
    import nbformat

    from grader.submissions.forms import MAX_NOTEBOOK_BYTES, nbgrader_meta, notebook_cells

    dest = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment.name))
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if submitted.is_dir():
        for item in submitted.iterdir():
            if item.is_file() and not item.is_symlink() and item.suffix != ".ipynb":
                shutil.copy2(item, dest / item.name)
    source = submitted / f"{assignment.module}.ipynb"
    if not source.is_file() and submitted.is_dir():  # graded as it was found (grader.submissions.locate.locate): the one notebook
        uploads = sorted(p for p in submitted.iterdir() if p.suffix.lower() == ".ipynb")
        source = uploads[0] if len(uploads) == 1 else source
    warnings: list[str] = []
    nb = nbformat.v4.new_notebook()
    if source.is_file() and not source.is_symlink():
        try:
            if source.stat().st_size > MAX_NOTEBOOK_BYTES:
                raise ValueError(f"it is over {MAX_NOTEBOOK_BYTES // (1024 * 1024)} MB")
            data = source.read_bytes()
            notebook_cells(data)  # the shape every cell must have, checked before nbformat sees it
            nb = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
        except Exception as exc:  # noqa: BLE001 - the scores are in the gradebook all the same
            warnings.append(f"{source.name} was not copied to autograded/ ({str(exc)[:300]})")
            nb = nbformat.v4.new_notebook()
    restored = set()
    for i, cell in enumerate(nb.cells, 1):
        meta = nbgrader_meta(cell)
        if isinstance(cell.get("metadata"), dict) and "nbgrader" in cell.metadata and not meta:
            warnings.append(f"cell {i} of {source.name} has nbgrader metadata that is not an object; it was dropped")
            del cell.metadata["nbgrader"]
        grade_id = meta.get("grade_id")
        if cell.get("cell_type") != "code" or not isinstance(grade_id, str) or grade_id not in assignment.functions:
            continue
        if grade_id in restored or grade_id not in feedback:
            warnings.append(f"cell {i} of {source.name} repeats the test cell {grade_id}; its outputs were cleared")
            cell.outputs, cell.execution_count = [], None
            continue
        try:
            cell.source = gb.find_source_cell(grade_id, assignment.module, assignment.name).source
        except Exception:  # noqa: BLE001 - an old gradebook without the source cell: keep the student's copy
            pass
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=feedback[grade_id])]
        cell.execution_count = None
        restored.add(grade_id)
    try:
        nbformat.write(nb, dest / f"{assignment.module}.ipynb")
    except Exception as exc:  # noqa: BLE001 - a cell nbformat cannot write: the scores are in the gradebook
        warnings.append(f"{source.name} could not be written to autograded/ ({type(exc).__name__}: {str(exc)[:300]})")
        nbformat.write(nbformat.v4.new_notebook(), dest / f"{assignment.module}.ipynb")
    return warnings
