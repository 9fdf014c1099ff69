"""Grade: run the checks (pytest, in the trusted process) against each student's sandboxed process, score,
record, resume, and spread a batch over local workers or a Dask cluster.

Owns: the runner plugin, the checks' handle on a student (:mod:`grader.engine.student`), the one grading loop,
records and resume keys, the executors.
May import: grader.sandbox, grader.submissions, grader.reports, grader.checks, grader.course, grader.scoring,
grader.errors; never grader.cli.
"""
