"""A Dask worker preload for the tests (``dask worker --preload tests/dask_faults.py``): a real SIGKILL of the
worker process while it grades a submission carrying :data:`MARKER`, standing in for whatever kills a node's
grading process from outside the student sandbox (the kernel's OOM killer, a node failure). The grader itself
has no such hook; only workers started with this preload do it."""

import os
import signal

MARKER = b"# test fault: this submission kills the Dask worker grading it"


def dask_setup(worker):
    from grader.engine import dask_worker

    materialize = dask_worker.Item.submission

    def submission(self, folder, module):  # called as the batch reaches this student
        if self.module is not None and MARKER in self.module:
            os.kill(os.getpid(), signal.SIGKILL)
        return materialize(self, folder, module)

    dask_worker.Item.submission = submission
