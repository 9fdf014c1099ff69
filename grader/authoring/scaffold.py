"""``grader new``: a complete, gradable assignment to start from, in a course folder (made if absent).

It writes the reference solution (``solutions/<name>/<module>.py``: each function's contract docstring to fill
and a solution region holding a placeholder), the stub generated from it, ``assignment.toml``, the student
README with a worked-example section, ``references.py`` (what checks compare with: torch's own op for each
function, and the strategy that draws its inputs), one public and one hidden check per function, and the
course's ``course.toml`` where the folder held no course yet (an existing course keeps its own, or none). The placeholder (``x * 2.0``, its reference
``torch.mul(x, 2.0)``) makes the assignment gradable at once: the solution earns full marks, the stub 0,
and `grader author` runs; the author replaces both with the real function and its torch reference.

Nothing is written unless every name is valid and no file of the assignment exists yet.
"""

from __future__ import annotations

import keyword
import sys
from pathlib import Path

from grader.authoring.stubs import make_stub
from grader.errors import UsageError

#: Modules a student module must not shadow besides the standard library: what the grader, its checks and the
#: student's code import, and the course's own module names.
RESERVED = {"torch", "torchvision", "numpy", "hypothesis", "pytest", "grader", "typing_extensions",
            "references", "objects", "checks_public", "checks_hidden", "conftest"}


def _identifier(kind: str, name: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise UsageError(f"{kind} {name!r} is not a Python identifier: use letters, digits and _, not starting with a digit")
    if name.startswith("__"):
        raise UsageError(f"{kind} {name!r} starts with __: Python keeps such names for itself")


def check_names(name: str, module: str, functions: list[str]) -> None:
    """A :class:`UsageError` saying what is wrong with the names, if anything is."""
    _identifier("the assignment name", name)
    _identifier("the module name", module)
    if module in sys.stdlib_module_names or module in RESERVED:
        raise UsageError(f"the module name {module!r} shadows the {'standard-library' if module in sys.stdlib_module_names else 'installed'} "
                         f"module {module}: a student's `import {module}` would get theirs, and the checks would break; pick another")
    if not functions:
        raise UsageError("--functions names no function: list them, comma-separated (--functions forward,backward)")
    seen = set()
    for function in functions:
        _identifier("the function name", function)
        if function in seen:
            raise UsageError(f"--functions lists {function!r} twice")
        seen.add(function)


def _split(points: int, parts: int) -> list[int]:
    base, extra = divmod(points, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def files(name: str, module: str, functions: list[str], *, title: str) -> dict[str, str]:
    """Course-relative path -> text of every file of the new assignment."""
    points = _split(100, 2 * len(functions))
    solution = _solution(name, module, functions, title)
    public, hidden = points[0::2], points[1::2]
    return {
        f"assignments/{name}/assignment.toml": _toml(title, module, functions),
        f"assignments/{name}/README.md": _readme(name, module, functions, title),
        f"assignments/{name}/references.py": _references(name, functions),
        f"assignments/{name}/checks_public.py": _checks(name, functions, public, hidden=False),
        f"assignments/{name}/{module}.py": make_stub(solution, name=f"solutions/{name}/{module}.py"),
        f"solutions/{name}/{module}.py": solution,
        f"solutions/{name}/checks_hidden.py": _checks(name, functions, hidden, hidden=True),
    }


def create(course: Path, name: str, module: str, functions: list[str]) -> list[Path]:
    """Write the assignment into ``course`` (made if absent); the paths written, in order."""
    check_names(name, module, functions)
    course = course.expanduser().resolve()
    if course.exists() and not course.is_dir():
        raise UsageError(f"--course {course}: not a folder")
    for folder in (course / "assignments" / name, course / "solutions" / name):
        if folder.exists():
            raise UsageError(f"{folder} already exists: pick another assignment name, or remove that folder first")
    title = name.replace("_", " ").capitalize()
    written = files(name, module, functions, title=title)
    if not (course / "course.toml").exists() and not (course / "assignments").is_dir():
        written = {"course.toml": f'title = "{course.name}"\n', **written}
    paths = []
    for relative, text in written.items():
        path = course / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


# ---------------------------------------------------------------- templates

def _toml(title: str, module: str, functions: list[str]) -> str:
    listed = ", ".join(f'"{f}"' for f in functions)
    return f'''title = "{title}"
module = "{module}"
functions = [{listed}]
points = 100
bonus = 0

# What is forbidden while a function runs (and while the backward of its result runs); the failure names the API.
# An API group, "functional" (torch.autograd.functional, torch.func) or "autograd" (every autograd entry point), or a
# list of groups and dotted API names: f = ["autograd", "torch.nn.functional.gelu"]. See docs/authoring.md.
[forbidden]

# `grader author` fails when a mutant of one of these kinds survives every check (see docs/authoring.md).
[validate]
must_kill = ["operator", "factor", "return"]
'''


def _solution(name: str, module: str, functions: list[str], title: str) -> str:
    parts = [f'''"""{title}.

Describe the assignment for students: what the functions compute, and a worked example with numbers.
"""

import torch
''']
    for function in functions:
        parts.append(f'''

def {function}(x):
    """What ``{function}`` returns: the contract students code against, and the checks test.

    Args:
        x: a tensor, float32 or float64, of any shape (0-dim included).

    Returns:
        A tensor of the shape and dtype of ``x``.
    """
    ### BEGIN SOLUTION
    return x * 2.0  # the placeholder: replace it with the solution (and references.{function} with torch's own op)
    ### END SOLUTION
''')
    return "".join(parts)


def _readme(name: str, module: str, functions: list[str], title: str) -> str:
    listed = "\n".join(f"- `{f}(x)`: what it returns, its shapes and dtypes." for f in functions)
    return f'''# {title}

Fill in the functions of `{module}.py`:

{listed}

## Worked example

```python
import torch
from {module} import {functions[0]}

x = torch.tensor([1.0, 2.0])
print({functions[0]}(x))  # what it prints, and why
```

## Common mistakes

- A result of the wrong shape: the checks compare shapes before values.
- Computing in float32 when the input is float64: the float64 checks tell.

## Checking your work

```sh
grader check {name}
```
'''


def _references(name: str, functions: list[str]) -> str:
    parts = [f'''"""References for {name}: what each check compares the student's result with, computed in the grader with
torch's own implementation (never a second formula), and the inputs the checks draw."""

import torch
from hypothesis import strategies as st

from grader.checks.strategies import float_dtypes, shapes, tensors


@st.composite
def inputs(draw, dtype=None):
    """A tensor of any shape with at least one element (0-dim included), float32 or float64."""
    dtype = dtype or draw(float_dtypes)
    return draw(tensors(draw(shapes()), dtype))
''']
    for function in functions:
        parts.append(f'''

def {function}(x: torch.Tensor) -> torch.Tensor:
    """What ``{function}(x)`` must return: replace with torch's own op for it."""
    return torch.mul(x, 2.0)
''')
    return "".join(parts)


#: Per kind of checks file: its docstring, an import it needs, and each function's check (id suffix, hint, the
#: arguments drawn, a first line of the body).
_CHECKS = {
    False: ("Public checks of {name}: students run them with ``grader check {name}``.", "",
            "values", "compare your result with the worked example in the README", "x=ref.inputs()", ""),
    # float64: some inputs past float32's range, so that float32 work meets inf there instead of passing within
    # float32's rounding (grader.checks.strategies.float64_scales).
    True: ("Hidden checks of {name}: run by `grader grade`, never handed out.",
           "from grader.checks.strategies import float64_scales\n",
           "float64", "keep the input's dtype: no float32 tensor or constant in between (float64 inputs here go past float32's range, 3.4e38)",
           "x=ref.inputs(torch.float64), scale=float64_scales()",
           "\n    x = x * scale  # drop the scale for a function that saturates (sigmoid, tanh): float32 reaches the same limit"),
}


def _checks(name: str, functions: list[str], points: list[int], *, hidden: bool) -> str:
    doc, imports, aspect, hint, drawn, first = _CHECKS[hidden]
    parameters = ", ".join(arg.split("=")[0] for arg in drawn.split(", "))
    parts = [f'''"""{doc.format(name=name)}"""

import torch
from hypothesis import given, settings

from grader.checks import assignment_module, check
from grader.checks.compare import describe_inputs
{imports}
ref = assignment_module(__file__, "references")
''']
    for function, worth in zip(functions, points):
        parts.append(f'''

@check("{function}.{aspect}", points={worth}, hint="{hint}")
@settings(max_examples=10)
@given({drawn})
def test_{function}_{aspect}(student, judge, {parameters}):{first}
    got = student.call("{function}", x).value
    judge.close(got, ref.{function}(x), what="{function}(x)", inputs=describe_inputs(x=x))
''')
    return "".join(parts)
