"""Torch's own implementations, registered once per student function of each assignment.

Checks compare the student's result with these; they are never a second
hand-written formula and never the solution file.

May import: :mod:`grader.checks` and :mod:`grader.exchange` (what checks import), torch.
"""
