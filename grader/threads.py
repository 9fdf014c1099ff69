"""One BLAS/OpenMP thread per grader process: N workers use N cores, and every student process forked from one
inherits the setting. Call :func:`single` before torch is imported (a later call still caps torch's own pool)."""

from __future__ import annotations

import os
import sys

VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def single() -> None:
    for var in VARIABLES:
        os.environ.setdefault(var, "1")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
