"""The `grader` command: a thin shell over the stages' public functions (option parsing, progress, messages).

One module per command group, registered in the order people use them: :mod:`.course` (list), :mod:`.check`,
:mod:`.grade`, :mod:`.instructor` (doctor, release, gradescope, nbgrader source, validate), :mod:`.authoring` (new, author); :mod:`.shell` holds
what they share, :mod:`.watch` the ``check --watch`` loop. No stage imports this package.
May import: every stage.
"""

from __future__ import annotations

from grader import threads

threads.single()  # before torch is imported anywhere: see grader.threads

# Importing a command module registers its commands; this order is the order `grader --help` lists them.
from grader.cli import course  # noqa: E402,F401 - list
from grader.cli import check  # noqa: E402,F401
from grader.cli import grade  # noqa: E402,F401
from grader.cli import instructor  # noqa: E402,F401 - doctor, release, gradescope, nbgrader, validate
from grader.cli import authoring  # noqa: E402,F401 - new, author
from grader.cli.shell import app  # noqa: E402


def main() -> None:
    app()


if __name__ == "__main__":
    main()
