"""The values course checks pass to a student function and get back from it (course code imports them from here).

Specs of objects built in the student process (:class:`Ref` to a kept object, :class:`Criterion`, :class:`Fn`,
:class:`Linear`, :class:`SGD`, :class:`View`, :class:`NonLeaf`, :class:`AsGenerator`) and what results decode
to besides tensors and numbers (:class:`ModuleInfo`, :class:`OptimizerInfo`, :class:`NumpyScalar`, :class:`Opaque`).
The wire protocol itself is :mod:`grader.sandbox.protocol`. May import: that protocol only.
"""

from grader.sandbox.protocol.arguments import SGD, AsGenerator, Criterion, Fn, Linear, NonLeaf, Ref, View
from grader.sandbox.protocol.results import (
    InputState,
    ModuleInfo,
    NumpyScalar,
    Opaque,
    OptimizerGroup,
    OptimizerInfo,
    TensorFacts,
)

__all__ = [
    "SGD", "AsGenerator", "Criterion", "Fn", "InputState", "Linear", "ModuleInfo", "NonLeaf", "NumpyScalar",
    "Opaque", "OptimizerGroup", "OptimizerInfo", "Ref", "TensorFacts", "View",
]
