"""For course authors: stubs generated from the solutions' regions, and the mutation analysis of the checks.

May import: grader.course, grader.engine, grader.sandbox, grader.scoring, grader.errors.
"""
