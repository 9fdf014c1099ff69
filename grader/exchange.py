"""The values course checks pass to a student function and get back from it (checks import them from
:mod:`grader.checks`).

Specs of objects built in the student process (:class:`Ref` to a kept object, :class:`Build` for what the course's
``objects.py`` builds, :class:`View`, :class:`NonLeaf`, :class:`AsGenerator`) and what results decode to besides
tensors and numbers (:class:`ModuleInfo`, :class:`OptimizerInfo`, :class:`NumpyScalar`, :class:`Opaque`).
The wire protocol itself is :mod:`grader.sandbox.protocol`. May import: that protocol only.
"""

from grader.sandbox.protocol.arguments import AsGenerator, Build, NonLeaf, Ref, View
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
    "AsGenerator", "Build", "InputState", "ModuleInfo", "NonLeaf", "NumpyScalar", "Opaque", "OptimizerGroup",
    "OptimizerInfo", "Ref", "TensorFacts", "View",
]
