"""What a grade becomes on disk: the gradebook, Gradescope results, student feedback, the class report.

Owns: every output format of `grade` (their bytes are a contract) and atomic writing.
May import: grader.scoring and the standard library.
"""
