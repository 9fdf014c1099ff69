"""Bad input stops one student, never the class: damaged archives, malformed notebooks, uploads inside a
student's folder, oversized files; and student text stays text in the Markdown feedback and the gradebook."""

from __future__ import annotations

import csv
import html.parser
import io
import json
import pathlib
import struct
import sys
import zipfile

import pytest

from conftest import ROOT, SUBMISSIONS, Gradebook, grade, run_grader

from grader.submissions import forms
from grader.submissions.locate import MAX_MODULE_BYTES, locate

MODULE = "linear_regression"
SOLUTION = (ROOT / "solutions" / "assignment2" / f"{MODULE}.py").read_text()
METHODS = {"stored": zipfile.ZIP_STORED, "deflate": zipfile.ZIP_DEFLATED, "bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}


# ----------------------------------------------------------------------------- archives, made and damaged
def zip_bytes(members: dict[str, str | bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _patched(data: bytes, *, local: dict[int, bytes] = {}, central: dict[int, bytes] = {}) -> bytes:  # noqa: B006
    """``data`` (a one-member zip) with bytes replaced at offsets of its local header and its central directory entry."""
    out = bytearray(data)
    at = data.rfind(b"PK\x01\x02")
    for base, patches in ((0, local), (at, central)):
        for offset, value in patches.items():
            out[base + offset:base + offset + len(value)] = value
    return bytes(out)


def damaged_archives() -> dict[str, bytes]:
    """One-member zips holding a correct module, each damaged in one way a real upload (or an attacker) damages one."""
    cases: dict[str, bytes] = {}
    for label, method in METHODS.items():
        good = zip_bytes({f"hw/{MODULE}.py": SOLUTION}, method)
        name_len, extra_len = struct.unpack("<HH", good[26:30])
        start = 30 + name_len + extra_len
        size = struct.unpack("<I", good[18:22])[0]
        stream = bytearray(good)
        for k in range(start + size // 3, start + size // 3 + 16):
            stream[k] ^= 0x5A
        cases[f"{label}_corrupt_stream"] = bytes(stream)
        for fraction in (0.3, 0.7):
            cases[f"{label}_truncated_{int(fraction * 100)}"] = good[: int(len(good) * fraction)]
        cases[f"{label}_truncated_in_directory"] = good[:-30]
        crc = struct.pack("<I", (struct.unpack("<I", good[14:18])[0] + 1) % 2**32)
        cases[f"{label}_bad_crc"] = _patched(good, local={14: crc}, central={16: crc})
        larger = struct.pack("<I", len(SOLUTION) + 1000)
        cases[f"{label}_claims_larger"] = _patched(good, local={22: larger}, central={24: larger})
        smaller = struct.pack("<I", len(SOLUTION) - 1000)
        cases[f"{label}_claims_smaller"] = _patched(good, local={22: smaller}, central={24: smaller})
    good = zip_bytes({f"hw/{MODULE}.py": SOLUTION})
    cases["unsupported_method"] = _patched(good, local={8: struct.pack("<H", 99)}, central={10: struct.pack("<H", 99)})
    cases["deflate64_method"] = _patched(good, local={8: struct.pack("<H", 9)}, central={10: struct.pack("<H", 9)})
    cases["encrypted"] = _patched(good, local={6: struct.pack("<H", 1)}, central={8: struct.pack("<H", 1)})
    cases["bad_local_header"] = _patched(good, local={0: b"PK\x07\x07"})
    cases["name_differs_in_header"] = _patched(good, local={30: b"x"})
    cases["not_a_zip"] = b"PK\x03\x04" + b"\0" * 200
    return cases


DAMAGED = damaged_archives()


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_every_damaged_archive_is_that_students_archive_problem(tmp_path, name):
    upload = tmp_path / f"{name}.zip"
    upload.write_bytes(DAMAGED[name])
    folder = tmp_path / "lms" / name
    folder.mkdir(parents=True)
    (folder / "submission.zip").write_bytes(DAMAGED[name])
    for entry in (upload, folder):  # a top-level zip, and the same zip in a student's folder
        found = locate(name, entry, module=MODULE, staging=tmp_path / "staging")
        assert found.module_path is None and found.problems == {"archive"}, (entry, found)
        assert "\n" not in found.reason and ("upload" in found.reason or "zip it again" in found.reason), found.reason


def test_the_damage_is_named(tmp_path):
    def reason(case: str) -> str:
        (tmp_path / f"{case}.zip").write_bytes(DAMAGED[case])
        return locate(case, tmp_path / f"{case}.zip", module=MODULE, staging=tmp_path / "s").reason

    assert "encrypted" in reason("encrypted")
    assert "compression method" in reason("unsupported_method") and "compression method" in reason("deflate64_method")
    assert "checksum" in reason("deflate_bad_crc")
    assert "corrupt or truncated" in reason("lzma_corrupt_stream") and "LZMAError" in reason("lzma_corrupt_stream")
    assert "corrupt or truncated" in reason("deflate_corrupt_stream")
    assert "not the size the archive says" in reason("stored_claims_larger")
    assert "checksum" in reason("stored_claims_smaller")


def _zip_file(path: pathlib.Path, members: dict) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zip_bytes(members) if members else _empty_zip())
    return path


def _empty_zip() -> bytes:
    buf = io.BytesIO()
    zipfile.ZipFile(buf, "w").close()
    return buf.getvalue()


@pytest.mark.parametrize("members, outcome", [
    ({f"hw2/{MODULE}.py": SOLUTION}, None),
    ({f"hw2/{MODULE}.py": SOLUTION, f"__MACOSX/hw2/._{MODULE}.py": "junk", "__MACOSX/._hw2": "junk"}, None),
    ({}, ("archive", "the archive is empty")),
    ({f"../{MODULE}.py": SOLUTION}, ("archive", "outside the archive")),
], ids=["zipped", "zipped_with_macosx_junk", "empty_zip", "zip_slip"])
def test_a_zip_in_a_students_folder_is_opened_like_a_top_level_one(tmp_path, members, outcome):
    top = _zip_file(tmp_path / "class" / "alice.zip", members)
    folder = tmp_path / "lms" / "alice"
    _zip_file(folder / "Submission attempt 1.zip", members)
    (folder / "comments.txt").write_text("see attached")
    found_top = locate("alice", top, module=MODULE, staging=tmp_path / "top")
    found_folder = locate("alice", folder, module=MODULE, staging=tmp_path / "folder")
    if outcome is None:
        assert found_top.module_path.read_text() == found_folder.module_path.read_text() == SOLUTION
        assert found_folder.problems == set()
    else:
        problem, why = outcome
        assert found_top.problems == found_folder.problems == {problem}
        assert why in found_top.reason and why in found_folder.reason


def test_a_folder_with_several_uploads_lists_them_and_one_exact_module_wins(tmp_path):
    folder = tmp_path / "bob"
    _zip_file(folder / "first.zip", {f"{MODULE}.py": SOLUTION})
    (folder / "second.ipynb").write_text("{}")
    found = locate("bob", folder, module=MODULE, staging=tmp_path / "s")
    assert found.problems == {"file_name"} and "first.zip, second.ipynb" in found.reason and "several" in found.reason
    (folder / f"{MODULE}.py").write_text(SOLUTION)
    assert locate("bob", folder, module=MODULE, staging=tmp_path / "s").module_path == folder / f"{MODULE}.py"
    # An upload nested deeper is another assignment's, not this one: named, not opened.
    carol = tmp_path / "carol"
    _zip_file(carol / "assignment1" / "work.zip", {f"{MODULE}.py": SOLUTION})
    found = locate("carol", carol, module=MODULE, staging=tmp_path / "s")
    assert found.problems == {"file_name"} and "assignment1/work.zip" in found.reason


# ----------------------------------------------------------------------------- notebooks
def notebook(*cells: dict, extra: dict | None = None) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells), **(extra or {})}).encode()


def code(source, **metadata) -> dict:
    return {"cell_type": "code", "source": source, "metadata": metadata, "outputs": [], "execution_count": None}


MALFORMED_NOTEBOOKS = {
    "not_json": b"{not json",
    "not_utf8": b"\xff\xfe{}",
    "json_list": b"[1, 2, 3]",
    "json_string": b'"a notebook"',
    "cells_not_a_list": notebook(extra={"cells": "print(1)"}),
    "cell_is_a_string": notebook("def forward(x, w, b): return x @ w + b"),
    "source_is_a_number": notebook(code(42)),
    "source_list_of_numbers": notebook(code([1, 2])),
    "deeply_nested": b"[" * 100_000 + b"]" * 100_000,
}

#: Valid JSON that nbformat accepts or tolerates: the code still becomes the module, whatever the metadata says.
ODD_METADATA = {
    "nbgrader_is_a_string": code(SOLUTION, nbgrader="solution"),
    "nbgrader_is_a_list": code(SOLUTION, nbgrader=["grade", True]),
    "nbgrader_is_null": code(SOLUTION, nbgrader=None),
    "nbgrader_grade_id_is_a_number": code(SOLUTION, nbgrader={"grade_id": 7, "solution": True, "grade": False}),
    "metadata_is_a_string": {**code(SOLUTION), "metadata": "nbgrader"},
    "metadata_is_a_list": {**code(SOLUTION), "metadata": [1]},
    "source_as_lines": code(SOLUTION.splitlines(keepends=True)),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_NOTEBOOKS))
def test_a_malformed_notebook_is_that_students_problem_in_any_form(tmp_path, name):
    data = MALFORMED_NOTEBOOKS[name]
    top = tmp_path / f"{name}.ipynb"
    top.write_bytes(data)
    folder = tmp_path / "lms" / name
    folder.mkdir(parents=True)
    (folder / "homework.ipynb").write_bytes(data)
    zipped = _zip_file(tmp_path / "zips" / f"{name}.zip", {f"{MODULE}.ipynb": data})
    for entry in (top, folder, zipped):
        found = locate(name, entry, module=MODULE, staging=tmp_path / "staging")
        assert found.module_path is None and found.problems == {"syntax"}, (entry, found)
        assert "notebook cannot be read" in found.reason and "save it again" in found.reason


@pytest.mark.parametrize("name", sorted(ODD_METADATA))
def test_notebook_metadata_of_any_shape_never_stops_reading_the_code(tmp_path, name):
    path = tmp_path / "alice.ipynb"
    path.write_bytes(notebook({"cell_type": "markdown", "source": "# hw", "metadata": {}}, ODD_METADATA[name]))
    found = locate("alice", path, module=MODULE, staging=tmp_path / "staging")
    assert found.problems == set() and found.module_path.read_text() == SOLUTION.rstrip("\n") + "\n"


def test_every_form_is_capped_before_it_is_read(tmp_path, monkeypatch):
    """A 40 MB notebook, module or archive is refused from its size alone, with the same reason in every form."""
    too_big = {".ipynb": forms.MAX_NOTEBOOK_BYTES + 1, ".py": MAX_MODULE_BYTES + 1, ".zip": forms.MAX_TOTAL_BYTES + 1}
    read: list[str] = []
    real_read_bytes = pathlib.Path.read_bytes
    monkeypatch.setattr(pathlib.Path, "read_bytes", lambda self: read.append(self.name) or real_read_bytes(self))
    real_zipfile = zipfile.ZipFile
    monkeypatch.setattr(zipfile, "ZipFile", lambda path, *a, **k: read.append(str(path)) or real_zipfile(path, *a, **k))
    for suffix, size in too_big.items():
        top = tmp_path / f"big{suffix}"
        with open(top, "wb") as f:
            f.truncate(size)  # sparse: reading it would still cost the grader its full size
        folder = tmp_path / f"folder{suffix}"
        folder.mkdir()
        name = f"{MODULE}.py" if suffix == ".py" else f"upload{suffix}"
        (folder / name).symlink_to(top)
        (folder / name).unlink()
        with open(folder / name, "wb") as f:
            f.truncate(size)
        reasons = []
        for entry, shown in ((top, top.name), (folder, name)):
            found = locate("x", entry, module=MODULE, staging=tmp_path / "s")
            assert found.module_path is None and found.problems == {"archive" if suffix == ".zip" else "import"}, found
            reasons.append(found.reason.replace(shown, "FILE"))
        assert reasons[0] == reasons[1] and "may be at most" in reasons[0], reasons
    assert read == []


def test_a_notebook_inside_a_zip_gets_the_notebook_cap_not_the_module_cap(tmp_path):
    import base64
    import random

    picture = base64.b64encode(random.Random(0).randbytes(3 * 1024 * 1024)).decode()  # a plot, as notebooks hold one
    big_outputs = {"output_type": "display_data", "metadata": {}, "data": {"image/png": picture}}
    cell = {**code(SOLUTION), "outputs": [big_outputs]}
    data = notebook(cell)
    assert MAX_MODULE_BYTES < len(data) < forms.MAX_NOTEBOOK_BYTES
    for entry in (_zip_file(tmp_path / "a.zip", {f"{MODULE}.ipynb": data}), tmp_path / "b.ipynb"):
        entry.write_bytes(data) if entry.suffix == ".ipynb" else None
        found = locate("a", entry, module=MODULE, staging=tmp_path / "s")
        assert found.problems == set() and "def forward" in found.module_path.read_text()


def test_check_on_a_damaged_archive_says_why_in_one_line(tmp_path):
    bad = tmp_path / "homework.zip"
    bad.write_bytes(DAMAGED["lzma_corrupt_stream"])
    proc = run_grader("check", "assignment2", "--path", bad)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "corrupt or truncated" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# ----------------------------------------------------------------------------- a class with everything in it
INJECTION = (
    "![pixel](https://evil.example/p.png) [regrade here](https://evil.example/regrade) "
    "<img src=https://evil.example/i.png> <a href=https://evil.example>x</a> https://evil.example/bare www.evil.example\n"
    "# Your grade is 100\n| forged | row |\n| --- | --- |\n```\n<script>alert(1)</script>"
)

BROKEN = {  # student -> the problem code that flags them
    "damaged_deflate": "archive", "damaged_lzma": "archive", "damaged_bzip2": "archive", "damaged_crc": "archive",
    "damaged_truncated": "archive", "damaged_encrypted": "archive", "damaged_in_folder": "archive",
    "notebook_not_json": "syntax", "notebook_json_list": "syntax", "notebook_huge": "import",
    "www.evil.example": "import", "file_names": "file_name", "-2+3+cmd": "stub",
}
CORRECT = {"alice", "carol_lms", "dan_notebook", "erin_odd_metadata"}  # a top-level zip: test_submissions


def _class(folder: pathlib.Path, *, broken: bool) -> pathlib.Path:
    folder.mkdir(parents=True)
    (folder / "alice").mkdir()
    (folder / "alice" / f"{MODULE}.py").write_text(SOLUTION)
    (folder / "carol_lms").mkdir()
    (folder / "carol_lms" / "Homework 2 - Carol.zip").write_bytes(
        zip_bytes({f"hw2/{MODULE}.py": SOLUTION, f"__MACOSX/hw2/._{MODULE}.py": "junk"}))
    (folder / "dan_notebook").mkdir()
    (folder / "dan_notebook" / "HW2.ipynb").write_bytes(notebook(code("%matplotlib inline"), code(SOLUTION)))
    (folder / "erin_odd_metadata.ipynb").write_bytes(notebook(ODD_METADATA["nbgrader_is_a_string"]))
    if not broken:
        return folder
    for student, case in [("damaged_deflate", "deflate_corrupt_stream"), ("damaged_lzma", "lzma_corrupt_stream"),
                          ("damaged_bzip2", "bzip2_corrupt_stream"), ("damaged_crc", "stored_bad_crc"),
                          ("damaged_truncated", "deflate_truncated_70"), ("damaged_encrypted", "encrypted")]:
        (folder / f"{student}.zip").write_bytes(DAMAGED[case])
    (folder / "damaged_in_folder").mkdir()
    (folder / "damaged_in_folder" / "upload.zip").write_bytes(DAMAGED["lzma_claims_larger"])
    (folder / "notebook_not_json.ipynb").write_bytes(MALFORMED_NOTEBOOKS["not_json"])
    (folder / "notebook_json_list.ipynb").write_bytes(MALFORMED_NOTEBOOKS["json_list"])
    with open(folder / "notebook_huge.ipynb", "wb") as f:
        f.truncate(forms.MAX_NOTEBOOK_BYTES + 1)
    (folder / "www.evil.example").mkdir()
    (folder / "www.evil.example" / f"{MODULE}.py").write_text(f"raise ImportError({INJECTION!r})\n")
    (folder / "file_names").mkdir()
    (folder / "file_names" / "[regrade here](https:evil.example) ![x](https:evil.example).py").write_text("")
    (folder / "-2+3+cmd").mkdir()
    (folder / "-2+3+cmd" / f"{MODULE}.py").write_text((ROOT / "assignments" / "assignment2" / f"{MODULE}.py").read_text())
    return folder


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_input")
    clean = grade(_class(base / "clean", broken=False), base / "clean_out", "-j", "1")
    mixed = _class(base / "mixed", broken=True)
    books = {jobs: grade(mixed, base / f"out_{jobs}", *jobs.split()) for jobs in ("-j 1", "-j 2", "--dask-local 2")}
    return clean, books


def test_correct_students_are_graded_as_without_the_broken_ones(classes):
    clean, books = classes
    assert sorted(clean.rows) == sorted(CORRECT)
    assert all(clean.rows[s]["score"] == "100" and clean.rows[s]["problems"] == "" for s in CORRECT), clean.rows
    for how, book in books.items():
        for student in CORRECT:
            assert book.rows[student] == clean.rows[student], (how, student)
            assert book.results(student) == clean.results(student)
            assert book.feedback(student) == clean.feedback(student)


def test_each_broken_student_is_flagged_in_every_executor(classes):
    _, books = classes
    reference = (books["-j 1"].out / "grades.csv").read_text()
    for how, book in books.items():
        assert (book.out / "grades.csv").read_text() == reference, how
        assert book.proc.returncode == 0
        names = {s.lstrip("'") for s in book.rows}
        assert names == CORRECT | set(BROKEN), (how, sorted(book.rows))
        for student, problem in BROKEN.items():
            row = book.rows.get(student) or book.rows["'" + student]
            assert row["problems"] == problem and row["score"] == "0", (how, student, row)


def test_a_rerun_after_damage_resumes_and_regrades_nobody(classes, tmp_path):
    _, books = classes
    book = books["-j 1"]
    mixed = book.out.parent / "mixed"
    proc = run_grader("grade", "assignment2", mixed, "-o", book.out, "-j", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"reused {len(CORRECT) + len(BROKEN)} unchanged results" in proc.stderr


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.headings: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in = tag if tag in ("h1", "h2", "h3", "h4", "h5", "h6") else self._in

    def handle_endtag(self, tag):
        self._in = None if tag == self._in else self._in

    def handle_data(self, data):
        if self._in:
            self.headings.append(f"{self._in}:{data}")


def _rendered(markdown: str) -> list[_Tags]:
    """The feedback rendered by two real Markdown renderers: CommonMark (markdown-it, tables on, raw HTML on)
    and mistune with GitHub's bare-URL autolinks."""
    import mistune
    from markdown_it import MarkdownIt

    pages = [
        MarkdownIt("commonmark").enable("table").render(markdown),
        mistune.create_markdown(escape=False, plugins=["url", "table", "strikethrough"])(markdown),
    ]
    parsed = []
    for page in pages:
        tags = _Tags()
        tags.feed(page)
        parsed.append(tags)
    return parsed


def test_student_text_in_markdown_feedback_renders_as_text(classes):
    _, books = classes
    book = books["-j 1"]
    for student in ("www.evil.example", "file_names"):
        md = book.feedback(student)
        assert "regrade here" in md  # the student's text is shown...
        for tags in _rendered(md):  # ...as text: no link, image, raw HTML or heading of theirs
            assert not {"a", "img", "script", "h4", "h5", "h6"} & set(tags.tags), (student, tags.tags)
            assert all("grade is 100" not in h for h in tags.headings), tags.headings
            assert tags.tags.count("tr") == 1 + len(book.check_ids), student  # our table's rows, no forged one


def test_grades_csv_cells_a_student_controls_are_never_formulas(classes):
    _, books = classes
    with open(books["-j 1"].out / "grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    students = [row[0] for row in rows[1:]]
    assert "'-2+3+cmd" in students
    assert not [s for s in students if s.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert all(cell.replace(".", "").replace(";", "").replace("_", "").isalnum() or cell == "" for row in rows[1:] for cell in row[1:])


def test_whatever_locating_raises_is_that_students_internal_problem(tmp_path, monkeypatch):
    """An exception the grader did not foresee while reading one submission (here: the file system fails under
    one student's folder) is that student's `internal` problem, never the batch's, and is graded again on a re-run."""
    from grader.engine import resume
    from grader.course import load
    from grader.sandbox.policy import Limits

    for student in ("alice", "bob", "carol"):
        (tmp_path / "class" / student).mkdir(parents=True)
        (tmp_path / "class" / student / f"{MODULE}.py").write_text(SOLUTION)
    real_walk = resume.locate.__globals__["_walk"]

    def failing_walk(folder):
        if folder.name == "bob":
            raise PermissionError(13, "Permission denied", str(folder))
        return real_walk(folder)

    monkeypatch.setitem(resume.locate.__globals__, "_walk", failing_walk)
    assignment = load("assignment2", root=ROOT)
    entries = [(s, tmp_path / "class" / s) for s in ("alice", "bob", "carol")]
    found = list(resume.scan(assignment, entries, digest=resume.checks_digest(assignment, Limits()), out=tmp_path / "out"))
    assert [f.student for f in found] == ["alice", "bob", "carol"]
    assert found[0].submission.problems == found[2].submission.problems == set()
    bob = found[1].submission
    assert bob.problems == {"internal"} and "PermissionError" in bob.reason and "not your mistake" in bob.reason
    results = tmp_path / "out" / "results"
    results.mkdir(parents=True)
    (results / "bob.json").write_text(json.dumps({"score": 0, "max_score": 100, "tests": [],
                                                  "extra_data": {"key": found[1].key, "problems": ["internal"]}}))
    assert resume.reusable_row(results / "bob.json", found[1].key) is None  # incomplete: graded again


def test_the_readme_says_how_csv_cells_are_neutralised():
    readme = (ROOT / "README.md").read_text()
    assert "OWASP" in readme and "CSV injection" in readme


def test_an_exception_that_escapes_a_check_stops_that_student_not_the_loop(tmp_path):
    """The grader's own bug on one student (here: recording bob's check result raises) makes the rest of bob's
    checks `internal` failures; alice and carol, before and after him, are graded in full."""
    from grader.engine.runner import run_checks

    (tmp_path / "checks_public.py").write_text(
        "from grader.checks import check\n\n"
        "@check('f.one', points=1)\ndef test_one(student):\n    student.calls += 1\n\n"
        "@check('f.two', points=2)\ndef test_two(student):\n    student.calls += 1\n"
    )

    class Fake:
        def __init__(self, name):
            self.submission = type("S", (), {"name": name})()
            self.problems: set[str] = set()
            self.calls = 0

        def begin_check(self):
            pass

        def end_check(self):
            if self.submission.name == "bob":
                raise RuntimeError("the grader's own bug")
            return "", 0

        def note_failure(self, message):
            pass

        def checkpoint(self):
            return None

        def rewind(self, state):
            pass

        def close(self):
            pass

    done = {}
    before = set(sys.modules)
    try:
        ids = run_checks(files=[tmp_path / "checks_public.py"], hidden_files=set(), rootdir=tmp_path,
                         students=[Fake("alice"), Fake("bob"), Fake("carol")],
                         on_done=lambda st, results: done.setdefault(st.submission.name, (st, results)))
    finally:  # this process may fork student processes later: it must not hold a checks module (see the launcher)
        for name in set(sys.modules) - before:
            if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(tmp_path)):
                del sys.modules[name]
    assert ids == ["f.one", "f.two"] and list(done) == ["alice", "bob", "carol"]
    for name in ("alice", "carol"):
        student, results = done[name]
        assert [(r.id, r.outcome) for r in results] == [("f.one", "passed"), ("f.two", "passed")] and not student.problems
    bob, results = done["bob"]
    assert bob.problems == {"internal"} and [r.id for r in results] == ["f.one", "f.two"]
    assert all(r.outcome == "internal" and "not your mistake" in r.message and "RuntimeError" in r.detail for r in results)
