"""The course ecosystems: nbgrader (source notebooks, gradebook export, the kernel-side test cell),
Gradescope (the autograder zip), and the students' handout.

May import: grader.course, grader.authoring, grader.reports, grader.scoring, grader.submissions, grader.errors.
"""
