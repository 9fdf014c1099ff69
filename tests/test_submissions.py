"""Finding each student's module in a folder of submissions."""

from __future__ import annotations

import os

import pytest

from grader.errors import UsageError
from grader.submissions import MAX_MODULE_BYTES, discover, locate

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
    assert locate("carol", tmp_path / "carol", module=MODULE).module_path == nested / f"{MODULE}.py"

    secret = tmp_path / "secret.py"
    secret.write_text("hidden = 1\n")
    (tmp_path / "mallory").mkdir()
    os.symlink(secret, tmp_path / "mallory" / f"{MODULE}.py")
    found = locate("mallory", tmp_path / "mallory", module=MODULE)
    assert found.module_path is None and found.problems == {"file_name"} and "link" in found.reason

    (tmp_path / "eve").mkdir()
    os.symlink(tmp_path / "carol", tmp_path / "eve" / "linked_dir")
    assert locate("eve", tmp_path / "eve", module=MODULE).module_path is None


def test_misnamed_empty_and_oversized_submissions_get_reasons(tmp_path):
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "linear_regression (1).py").write_text("")
    found = locate("dave", tmp_path / "dave", module=MODULE)
    assert found.problems == {"file_name"}
    assert "linear_regression.py" in found.reason and "linear_regression (1).py" in found.reason
    (tmp_path / "erin").mkdir()
    assert locate("erin", tmp_path / "erin", module=MODULE).problems == {"missing"}
    big = tmp_path / "frank.py"
    big.write_bytes(b"#" * (MAX_MODULE_BYTES + 1))
    found = locate("frank", big, module=MODULE)
    assert found.module_path is None and "at most" in found.reason
    notes = tmp_path / "grace.txt"
    notes.write_text("")
    assert locate("grace", notes, module=MODULE).problems == {"file_name"}
