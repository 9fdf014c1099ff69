"""Write what `grade` produces: gradebook and Gradescope results (feedback: :mod:`grader.reports.feedback`). Atomically."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

from grader.scoring import CheckResult, Score, fmt_points

PROBLEM_CODES = (
    "syntax", "encoding", "import", "missing", "stub", "file_name", "archive",
    "timeout", "memory", "crash", "output", "forbidden_api", "tampering", "internal",
)


@contextlib.contextmanager
def _replacing(path: Path, mode: str):
    """A file opened in ``mode`` that replaces ``path`` on success, flushed to disk first; on any error
    the temporary file is removed and ``path`` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    with _replacing(path, "w") as f:
        f.write(text)


#: Every member of a zip the grader writes has this timestamp: the same content gives the same bytes.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def write_zip_atomic(path: Path, members: list[tuple[str, str | bytes, int]]) -> None:
    """Write a reproducible zip of ``(name, data, unix mode)`` members to ``path``, like :func:`write_atomic`."""
    with _replacing(path, "wb") as f, zipfile.ZipFile(f, "w") as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)


def ordered_problems(problems: set[str]) -> list[str]:
    return [code for code in PROBLEM_CODES if code in problems]


def results_json(results: list[CheckResult], score: Score, problems: set[str], notes: list[str], *, key: str = "",
                 checks: str = "") -> str:
    """Gradescope's results.json for one student; ``extra_data`` carries the problem codes and the resume
    key, and ``checks``, the hash of the checks it was graded with, where given."""
    doc = {
        "score": score.score,
        "max_score": score.max_score,
        "output": " ".join(notes),
        "tests": [
            {
                "name": r.id,
                "score": score.earned[r.id],
                "max_score": r.points,
                "output": r.message,
                "visibility": "visible" if r.visibility == "public" else "after_published",
                "status": "passed" if r.outcome == "passed" else "failed",
                **({"extra_data": {"bonus": True}} if r.bonus else {}),
            }
            for r in results
        ],
        "extra_data": {"problems": ordered_problems(problems), "key": key, **({"checks": checks} if checks else {})},
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """``text`` safe for a CSV cell a spreadsheet opens: a cell that would start a formula gets a leading ``'``
    (OWASP's recommendation), so ``-2+3`` shows as text instead of computing."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def grades_csv(check_ids: list[str], rows: list[dict]) -> str:
    """The gradebook: ``student,score,max_score,problems`` then one column per check id. The student's name is
    the one cell a student controls: it goes through :func:`csv_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", "score", "max_score", "problems", *check_ids])
    for row in sorted(rows, key=lambda r: r["student"]):
        earned = row["earned"]
        writer.writerow(
            [
                csv_cell(row["student"]),
                fmt_points(row["score"]),
                fmt_points(row["max_score"]),
                ";".join(row["problems"]),
                *(fmt_points(earned.get(cid, 0.0)) for cid in check_ids),
            ]
        )
    return buf.getvalue()
