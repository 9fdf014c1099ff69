"""Finding each student's module in a folder of submissions."""

from __future__ import annotations

import os
import stat
import zipfile

import pytest

from conftest import ROOT

from grader.errors import UsageError
from grader.submissions.locate import MAX_MODULE_BYTES, discover, locate

MODULE = "linear_regression"


def test_students_are_named_by_entry_uniquely_and_safely(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice.py").write_text("")
    (tmp_path / "bob.py").write_text("")
    (tmp_path / "a b").mkdir()
    (tmp_path / "a_b").mkdir()
    (tmp_path / ".DS_Store").write_text("")
    (tmp_path / "__MACOSX").mkdir()
    names = [name for name, _ in discover([tmp_path])]
    assert names == sorted(names)
    assert set(names) == {"alice", "alice.py", "bob", "a_b", "a_b~2"}


def test_a_missing_folder_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        discover([tmp_path / "nope"])


def test_module_is_found_at_any_depth_but_never_through_links(tmp_path):
    nested = tmp_path / "carol" / "hw2" / "src"
    nested.mkdir(parents=True)
    (nested / f"{MODULE}.py").write_text("x = 1\n")
    (tmp_path / "carol" / "__MACOSX").mkdir()
    (tmp_path / "carol" / "__MACOSX" / f"{MODULE}.py").write_text("junk")
    assert locate("carol", tmp_path / "carol", module=MODULE, staging=tmp_path / "staging").module_path == nested / f"{MODULE}.py"

    secret = tmp_path / "secret.py"
    secret.write_text("hidden = 1\n")
    (tmp_path / "mallory").mkdir()
    os.symlink(secret, tmp_path / "mallory" / f"{MODULE}.py")
    found = locate("mallory", tmp_path / "mallory", module=MODULE, staging=tmp_path / "staging")
    assert found.module_path is None and found.problems == {"file_name"} and "link" in found.reason

    (tmp_path / "eve").mkdir()
    os.symlink(tmp_path / "carol", tmp_path / "eve" / "linked_dir")
    assert locate("eve", tmp_path / "eve", module=MODULE, staging=tmp_path / "staging").module_path is None


def test_misnamed_empty_and_oversized_submissions_get_reasons(tmp_path):
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "linear_regression (1).py").write_text("")
    found = locate("dave", tmp_path / "dave", module=MODULE, staging=tmp_path / "staging")
    assert found.problems == {"file_name"}
    assert "linear_regression.py" in found.reason and "linear_regression (1).py" in found.reason
    (tmp_path / "erin").mkdir()
    assert locate("erin", tmp_path / "erin", module=MODULE, staging=tmp_path / "staging").problems == {"missing"}
    big = tmp_path / "frank.py"
    big.write_bytes(b"#" * (MAX_MODULE_BYTES + 1))
    found = locate("frank", big, module=MODULE, staging=tmp_path / "staging")
    assert found.module_path is None and "at most" in found.reason
    notes = tmp_path / "grace.txt"
    notes.write_text("")
    assert locate("grace", notes, module=MODULE, staging=tmp_path / "staging").problems == {"file_name"}


SOLUTION = ROOT / "solutions" / "assignment2" / "linear_regression.py"


def _zip(path, members: dict, links: tuple = ()):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_zip_archives_yield_the_module_or_a_reason(tmp_path):
    staging = tmp_path / "staging"
    good = _zip(tmp_path / "alice.zip", {"hw/linear_regression.py": SOLUTION.read_text(), "__MACOSX/hw/._linear_regression.py": "junk"})
    found = locate("alice", good, module=MODULE, staging=staging)
    assert found.module_path == staging / "alice" / f"{MODULE}.py"
    assert found.module_path.read_text() == SOLUTION.read_text()
    cases = {
        "escape": ({"../../evil.py": "x"}, (), "outside the archive"),
        "absolute": ({"/etc/evil.py": "x"}, (), "outside the archive"),
        "link": ({}, ("linear_regression.py",), "is a link"),
        "bomb": ({"linear_regression.py": "#" * (20 * 1024 * 1024)}, (), "zip bomb"),
        "empty": ({}, (), "empty"),
        "too_many": ({f"junk/{i}.txt": "x" for i in range(501)}, (), "501 members; at most 500"),
        "too_large": ({"data.bin": b"\0" * (51 * 1024 * 1024)}, (), "more than 50 MB once extracted"),
    }
    for name, (members, links, why) in cases.items():
        found = locate(name, _zip(tmp_path / f"{name}.zip", members, links), module=MODULE, staging=staging)
        assert found.module_path is None and found.problems == {"archive"} and why in found.reason, (name, found.reason)
    (tmp_path / "corrupt.zip").write_bytes(b"PK\x03\x04 not really a zip")
    found = locate("corrupt", tmp_path / "corrupt.zip", module=MODULE, staging=staging)
    assert found.problems == {"archive"} and "corrupt" in found.reason
    found = locate("misnamed", _zip(tmp_path / "misnamed.zip", {"linear_regresion.py": "x"}), module=MODULE, staging=staging)
    assert found.problems == {"file_name"} and "linear_regresion.py" in found.reason


def test_notebooks_become_modules_without_magics(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Linear regression"),
        nbformat.v4.new_code_cell("%matplotlib inline\n!pip install torch\nimport torch"),
        nbformat.v4.new_code_cell("%%bash\nrm -rf /"),
        nbformat.v4.new_code_cell("def forward(x, w, b):\n    return x @ w + b"),
    ]
    path = tmp_path / "bob.ipynb"
    path.write_text(nbformat.writes(nb))
    found = locate("bob", path, module=MODULE, staging=tmp_path / "staging")
    source = found.module_path.read_text()
    compile(source, "nb", "exec")
    assert "def forward" in source and "import torch" in source
    assert "\n%" not in "\n" + source and "\n!" not in "\n" + source and "# [grader] cell magic removed: rm -rf /" in source
    (tmp_path / "broken.ipynb").write_text("{not json")
    found = locate("broken", tmp_path / "broken.ipynb", module=MODULE, staging=tmp_path / "staging")
    assert found.module_path is None and found.problems == {"syntax"} and "notebook cannot be read" in found.reason


def test_a_grader_test_cell_that_lost_its_metadata_is_still_left_out():
    """Copied into a plain cell (or its nbgrader metadata stripped), a `grader nbgrader source` test cell
    would import the grader inside the sandbox at import time; only exactly such a cell is dropped."""
    import nbformat

    from grader.submissions.forms import notebook_source
    from grader.interop.nbgrader_source import TEST_CELL

    test = TEST_CELL.format(fn="forward", points="20", assignment="assignment2")
    mixed = "def helper():\n    return 1\ncheck('assignment2', 'forward')"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in ("import torch", test, "check( 'assignment2' , 'train' )  # again", mixed)]
    source = notebook_source(nbformat.writes(nb).encode())
    assert "grader.notebook" not in source and "'train'" not in source
    assert "import torch" in source and "def helper" in source and "check('assignment2', 'forward')" in source


def test_zip_and_notebook_submissions_grade_end_to_end(tmp_path):
    import nbformat

    from conftest import grade

    folder = tmp_path / "class"
    folder.mkdir()
    _zip(folder / "alice.zip", {"alice/linear_regression.py": SOLUTION.read_text()})
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext autoreload"), nbformat.v4.new_code_cell(SOLUTION.read_text())]
    (folder / "bob.ipynb").write_text(nbformat.writes(nb))
    _zip(folder / "eve.zip", {"../linear_regression.py": SOLUTION.read_text()})
    book = grade(folder, tmp_path / "out")
    assert book.rows["alice"]["score"] == "100" and book.rows["bob"]["score"] == "100"
    assert book.rows["eve"]["score"] == "0" and book.rows["eve"]["problems"] == "archive"
    assert "outside the archive" in book.feedback("eve")


def _notebook(code: str, *, test_cell: str | None = None) -> str:
    """A notebook as nbgrader releases it: a solution cell and, optionally, an autograded test cell."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Linear regression"), nbformat.v4.new_code_cell(code)]
    nb.cells[1].metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "solution", "locked": False, "schema_version": 3}
    if test_cell is not None:
        cell = nbformat.v4.new_code_cell(test_cell)
        cell.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": "test_forward", "points": 5, "locked": True, "schema_version": 3}
        nb.cells.append(cell)
    return nbformat.writes(nb)


def test_an_nbgrader_submitted_folder_grades_each_students_assignment_folder(tmp_path):
    from conftest import grade

    submitted = tmp_path / "course" / "submitted"
    stub = (ROOT / "assignments" / "assignment2" / "linear_regression.py").read_text()
    # nbgrader's own test cells are the instructor's: they never become part of the module
    # (this one would fail the import if it did).
    failing_test = "assert False, 'instructor test cell ran at import'"
    for student, a2, other in [("alice", SOLUTION.read_text(), True), ("bob", stub, False), ("carol", None, True)]:
        if a2 is not None:
            folder = submitted / student / "assignment2"
            folder.mkdir(parents=True)
            (folder / "linear_regression.ipynb").write_text(_notebook(a2, test_cell=failing_test))
            (folder / "timestamp.txt").write_text("2026-11-20 23:59:00.000000 UTC")
        if other:
            folder = submitted / student / "assignment1"
            folder.mkdir(parents=True)
            (folder / "autograd_basics.ipynb").write_text(_notebook("x = 1"))
    book = grade(submitted, tmp_path / "out")
    assert sorted(book.rows) == ["alice", "bob", "carol"]
    assert book.rows["alice"]["score"] == "100" and book.rows["alice"]["problems"] == ""
    assert book.rows["bob"]["score"] == "0" and book.rows["bob"]["problems"] == "stub"
    assert book.rows["carol"]["problems"] == "file_name"
    assert "expected a file named exactly linear_regression.py; found: assignment1/autograd_basics.ipynb" in book.feedback("carol")
