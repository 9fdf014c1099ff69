"""The mutants of ``grader validate``: small, plausible bugs planted in a reference solution with :mod:`ast`.

Small, plausible bugs (*mutants*) are planted in the reference solution
``solutions/<assignment>/<module>.py``, one per copy, and every copy is graded
with the public AND hidden checks exactly as ``grader grade`` grades a
student. A mutant is *killed* when it earns less than the unmutated solution
on at least one check; one that *survives* every check is a bug the checks
cannot see (or a change the contract allows). The mutation score is killed
mutants over all mutants.

Mutants are made with :mod:`ast`, only inside the solution regions (the lines
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``), and each belongs to
the top-level function or class around it (its contract name, as
``assignment.toml`` lists it). Each has a stable id ``<function>:<kind>:L<line>`` (line of
the solution file; a second mutant of the same kind on the same line gets
``.2``, and so on). A mutant that does not compile, that unparses to the
original module, or whose module equals an earlier mutant's is left out.

Kinds (the names ``validate.must_kill`` in ``assignment.toml`` lists):

``operator``
    Swap an arithmetic operator, in an expression or an augmented assignment:
    ``+`` <-> ``-``, ``*`` <-> ``/``, ``@`` -> ``*`` (``-=`` <-> ``+=`` ...).
``comparison``
    Swap a comparison: ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``,
    ``is`` <-> ``is not``.
``no_grad``
    Drop a grad-mode block, keeping its body: ``with torch.no_grad():`` (and
    ``with torch.enable_grad():``); remove a ``@torch.no_grad()`` decorator.
``in_place``
    Make an in-place update out of place: ``a -= b`` -> ``a = a - b`` (any
    augmented assignment); a statement ``t.add_(u)`` -> ``t = t.add(u)``
    (likewise ``sub_ mul_ div_ clamp_ neg_ pow_ addcmul_ addcdiv_``;
    ``t.zero_()`` -> ``t = torch.zeros_like(t)``, ``t.fill_(v)`` ->
    ``t = torch.full_like(t, v)``, ``t.copy_(u)`` -> ``t = u.clone()``); such a
    call whose value is used loses its trailing underscore (``t.add_(u)`` ->
    ``t.add(u)``, ``t.zero_()`` -> ``torch.zeros_like(t)``).
``factor``
    Off by one or by a factor of 2 on a numeric constant: an int ``c`` ->
    ``c + 1``, a float ``c`` -> ``c * 2`` (booleans untouched); ``mean`` <->
    ``sum`` in a call (``x.mean()``, ``np.mean(x)``, ``torch.sum(x)``).
``transpose``
    Drop a transpose (``x.T``, ``x.mT``, ``x.t()``, ``x.transpose(...)``), or
    transpose one operand of a matrix product (``a @ b`` -> ``a.T @ b`` and
    ``a @ b.T``; the same for ``torch.matmul`` and ``torch.mm``).
``detach``
    Drop a ``.detach()`` or an ``.item()`` called without arguments
    (``x.detach().clone()`` -> ``x.clone()``, ``loss.item()`` -> ``loss``).
``return``
    Replace ``return X`` with ``return None``.

One module, past the usual size: the kinds above, the AST sites each applies to and the rewrite of each site are
one catalogue, read together when a kind is added or changed. Running the mutants: :mod:`grader.authoring.mutation`.
"""

from __future__ import annotations

import ast
import copy
import math
from dataclasses import dataclass
from typing import Callable

from grader.authoring.stubs import solution_regions
from grader.errors import CourseError

KINDS: dict[str, str] = {
    "operator": "an arithmetic operator swapped (+ <-> -, * <-> /, @ -> *)",
    "comparison": "a comparison swapped (< <-> <=, > <-> >=, == <-> !=, is <-> is not)",
    "no_grad": "a `with torch.no_grad():` / `torch.enable_grad()` block or a `@torch.no_grad()` decorator dropped",
    "in_place": "an in-place update made out of place (a -= b -> a = a - b, t.zero_() -> t = torch.zeros_like(t))",
    "factor": "a constant off by one (int) or by a factor of 2 (float); mean <-> sum",
    "transpose": "a transpose dropped, or one operand of a matrix product transposed",
    "detach": "a .detach() or .item() dropped",
    "return": "return X -> return None",
}

_OPERATOR_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.MatMult: ast.Mult}
_COMPARE_SWAP = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_GRAD_MODES = {"no_grad", "enable_grad"}
#: In-place tensor methods whose out-of-place twin is the same name without the underscore.
_INPLACE_TWINS = {"add_", "sub_", "mul_", "div_", "clamp_", "neg_", "pow_", "addcmul_", "addcdiv_"}
_INPLACE_SPECIAL = {"zero_", "fill_", "copy_"}
_TRANSPOSE_ATTRS = {"T", "mT"}
_TRANSPOSE_CALLS = {"t", "transpose"}
_MATMUL_CALLS = {"matmul", "mm"}
_MEAN_SUM = {"mean": "sum", "sum": "mean"}
_DROPPED_CALLS = {"detach", "item"}
_SHOWN = 70  # characters of code shown on each side of a description


@dataclass(frozen=True)
class Mutant:
    id: str
    """``<function>:<kind>:L<line>`` (``.N`` appended for the N-th one of a kind on a line)."""
    kind: str
    function: str
    line: int
    description: str
    """One line for people: ``line 42: with torch.no_grad() removed``."""
    source: str
    """The whole mutated module."""


# ---------------------------------------------------------------- generating

@dataclass
class _Site:
    """One way to mutate one node: where it is (a path from the module) and what to put there."""

    kind: str
    path: tuple
    line: int
    col: int
    make: Callable[[ast.AST], "ast.AST | list[ast.stmt]"]
    """Gets a copy of the node, returns its replacement (a list of statements splices into a body)."""
    describe: Callable[[ast.AST, "ast.AST | list[ast.stmt]"], str]


def _short(node) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _before_after(before, after) -> str:
    return f"{_short(before)} -> {_short(after)}"


def _call_name(node) -> str | None:
    """``no_grad`` for ``torch.no_grad()`` / ``no_grad()`` / ``torch.no_grad``, else the bare name or None."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _method(node) -> str | None:
    """``m`` when ``node`` is a call ``obj.m(...)``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _store(node):
    target = copy.deepcopy(node)
    target.ctx = ast.Store()
    return target


def _load(node):
    value = copy.deepcopy(node)
    if hasattr(value, "ctx"):
        value.ctx = ast.Load()
    return value


def _torch_call(fn: str, *args) -> ast.Call:
    return ast.Call(func=ast.Attribute(value=ast.Name(id="torch", ctx=ast.Load()), attr=fn, ctx=ast.Load()), args=list(args), keywords=[])


def _out_of_place(call: ast.Call) -> ast.expr:
    """The out-of-place twin of an in-place method call ``obj.m_(args)``."""
    obj, name = call.func.value, call.func.attr
    if name == "zero_":
        return _torch_call("zeros_like", _load(obj))
    if name == "fill_":
        return _torch_call("full_like", _load(obj), *call.args)
    if name == "copy_":
        return ast.Call(func=ast.Attribute(value=call.args[0], attr="clone", ctx=ast.Load()), args=[], keywords=[])
    return ast.Call(func=ast.Attribute(value=obj, attr=name[:-1], ctx=ast.Load()), args=call.args, keywords=call.keywords)


def _with_op(node, op_type):
    new = copy.copy(node)
    new.op = op_type()
    return new


def _sites(node: ast.AST, path: tuple, parent: ast.AST | None):
    """Every mutation site of ``node`` itself (not of its children)."""
    line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)

    def site(kind, make, describe=_before_after, at=node):
        return _Site(kind, path, getattr(at, "lineno", line), getattr(at, "col_offset", col), make, describe)

    # operator
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _OPERATOR_SWAP:
        swapped = _OPERATOR_SWAP[type(node.op)]
        yield site("operator", lambda n, s=swapped: _with_op(n, s))
    # comparison
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _COMPARE_SWAP:
                def swap(n, i=i, s=_COMPARE_SWAP[type(op)]):
                    new = copy.copy(n)
                    new.ops = [*n.ops[:i], s(), *n.ops[i + 1:]]
                    return new
                yield site("comparison", swap)
    # no_grad
    if isinstance(node, (ast.With, ast.AsyncWith)):
        for i, item in enumerate(node.items):
            if item.optional_vars is None and _call_name(item.context_expr) in _GRAD_MODES:
                def drop(n, i=i):
                    if len(n.items) == 1:
                        return n.body
                    new = copy.copy(n)
                    new.items = [*n.items[:i], *n.items[i + 1:]]
                    return new
                what = _short(item.context_expr)
                yield site("no_grad", drop, lambda before, after, what=what: f"with {what} removed")
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for i, deco in enumerate(node.decorator_list):
            if _call_name(deco) in _GRAD_MODES:
                def undecorate(n, i=i):
                    new = copy.copy(n)
                    new.decorator_list = [*n.decorator_list[:i], *n.decorator_list[i + 1:]]
                    return new
                what = _short(deco)
                yield site("no_grad", undecorate, lambda before, after, what=what: f"@{what} removed", at=deco)
    # in_place
    if isinstance(node, ast.AugAssign) and isinstance(node.target, (ast.Name, ast.Attribute, ast.Subscript)):
        def spell_out(n):
            value = ast.BinOp(left=_load(n.target), op=n.op, right=n.value)
            return ast.Assign(targets=[_store(n.target)], value=value, lineno=n.lineno)
        yield site("in_place", spell_out)
    method = _method(node)
    if method in _INPLACE_TWINS | _INPLACE_SPECIAL and not (method == "copy_" and len(node.args) != 1):
        statement = isinstance(parent, ast.Expr)
        obj = node.func.value
        if statement and isinstance(obj, (ast.Name, ast.Attribute, ast.Subscript)):
            # The call is a whole statement: assign the out-of-place result back. The site is the
            # statement (the Expr around the call): its path is ours without the last step.
            def assign_back(expr):
                call = expr.value
                return ast.Assign(targets=[_store(call.func.value)], value=_out_of_place(call), lineno=expr.lineno)
            yield _Site("in_place", path[:-1], line, col, assign_back, _before_after)
        elif not statement:
            yield site("in_place", _out_of_place)
    # factor
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value + 1 if type(node.value) is int else node.value * 2
        if math.isfinite(value):
            # Shown with what is around it: "x + 2 -> x + 3", "one_hot[i] = 1.0 -> one_hot[i] = 2.0".
            shown = parent if isinstance(parent, (ast.expr, ast.Assign, ast.AugAssign, ast.Return, ast.Expr)) else None

            def describe_constant(before, after, shown=shown, path=path):
                if shown is None:
                    return _before_after(before, after)
                changed = copy.deepcopy(shown)
                _replace_child(changed, path[-1], after)
                return _before_after(shown, changed)
            yield site("factor", lambda n, v=value: ast.Constant(value=v), describe_constant)
    if isinstance(node, ast.Call) and _call_name(node) in _MEAN_SUM and isinstance(node.func, ast.Attribute):
        def mean_sum(n):
            new = copy.copy(n)
            new.func = copy.copy(n.func)
            new.func.attr = _MEAN_SUM[n.func.attr]
            return new
        yield site("factor", mean_sum)
    # transpose
    if isinstance(node, ast.Attribute) and node.attr in _TRANSPOSE_ATTRS and isinstance(node.ctx, ast.Load):
        yield site("transpose", lambda n: n.value)
    if method in _TRANSPOSE_CALLS:
        yield site("transpose", lambda n: n.func.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        for side in ("left", "right"):
            def transpose_operand(n, side=side):
                new = copy.copy(n)
                setattr(new, side, ast.Attribute(value=getattr(n, side), attr="T", ctx=ast.Load()))
                return new
            yield site("transpose", transpose_operand)
    if isinstance(node, ast.Call) and _call_name(node) in _MATMUL_CALLS and len(node.args) == 2:
        for i in (0, 1):
            def transpose_arg(n, i=i):
                new = copy.copy(n)
                new.args = list(n.args)
                new.args[i] = ast.Attribute(value=n.args[i], attr="T", ctx=ast.Load())
                return new
            yield site("transpose", transpose_arg)
    # detach
    if method in _DROPPED_CALLS and not node.args and not node.keywords:
        yield site("detach", lambda n: n.func.value)
    # return
    if isinstance(node, ast.Return) and node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
        yield site("return", lambda n: ast.Return(value=ast.Constant(value=None)))


def _walk(node: ast.AST, path: tuple = (), parent: ast.AST | None = None):
    """``(node, path, parent)`` for ``node`` and all its descendants, in source order (pre-order)."""
    yield node, path, parent
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            for i, child in enumerate(value):
                if isinstance(child, ast.AST):
                    yield from _walk(child, (*path, (name, i)), node)
        elif isinstance(value, ast.AST):
            yield from _walk(value, (*path, (name, None)), node)


def _child(node, step):
    name, index = step
    value = getattr(node, name)
    return value if index is None else value[index]


def _replace_child(node, step, new) -> None:
    name, index = step
    if index is None:
        setattr(node, name, new)
        return
    items = getattr(node, name)
    if isinstance(new, list):
        items[index:index + 1] = new
    else:
        items[index] = new


def _apply(tree: ast.Module, site: _Site) -> tuple[ast.Module, ast.AST, object]:
    """A mutated copy of ``tree``, with the original and replacement node of ``site``."""
    mutated = copy.deepcopy(tree)
    parent = mutated
    for step in site.path[:-1]:
        parent = _child(parent, step)
    before = _child(parent, site.path[-1])
    original = copy.deepcopy(before)
    after = site.make(before)
    _replace_child(parent, site.path[-1], after)
    return ast.fix_missing_locations(mutated), original, after


def _owners(tree: ast.Module) -> list[tuple[int, int, str]]:
    """``(first line, last line, name)`` of every top-level function and class (decorators included)."""
    owners = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            owners.append((first, node.end_lineno, node.name))
    return owners


def generate(source: str, *, name: str = "<solution>") -> list[Mutant]:
    """Every mutant of ``source`` inside its solution regions, in source order; see the module docstring."""
    regions = solution_regions(source, name=name)
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as exc:
        raise CourseError(f"{name}:{exc.lineno}: the reference solution does not compile: {exc.msg}") from None
    original = ast.unparse(tree)
    owners = _owners(tree)
    order = list(KINDS)

    def inside(node) -> bool:
        first, last = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        return first is not None and any(begin < first and last < end for begin, end in regions)

    sites = []
    for node, path, parent in _walk(tree):
        if not path or not inside(node):
            continue
        for s in _sites(node, path, parent):
            sites.append(s)
    sites.sort(key=lambda s: (s.line, s.col, order.index(s.kind)))  # stable: source order breaks ties

    mutants: list[Mutant] = []
    seen = {original}
    per_line: dict[tuple[str, str, int], int] = {}
    for s in sites:
        mutated, before, after = _apply(tree, s)
        try:
            text = ast.unparse(mutated)
            compile(text, name, "exec")
        except (SyntaxError, ValueError, TypeError, AttributeError, RecursionError):
            continue
        if text in seen:
            continue
        seen.add(text)
        function = next((owner for first, last, owner in owners if first <= s.line <= last), "<module>")
        key = (function, s.kind, s.line)
        per_line[key] = per_line.get(key, 0) + 1
        suffix = "" if per_line[key] == 1 else f".{per_line[key]}"
        mutants.append(Mutant(
            id=f"{function}:{s.kind}:L{s.line}{suffix}",
            kind=s.kind,
            function=function,
            line=s.line,
            description=f"line {s.line}: {s.describe(before, after)}",
            source=text + "\n",
        ))
    return mutants
