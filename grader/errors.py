"""Every error the grader reports to its user, with its cause and its fix."""


class GraderError(Exception):
    """Root of the grader's own errors: the run stops with this message (exit status 2)."""


class UsageError(GraderError):
    """A command-line argument or input path is wrong: the message names it; fix the command."""


class CourseError(GraderError):
    """The course files (assignment, checks) are missing or malformed: fix the course, or pass --course."""


class SandboxError(GraderError):
    """The student sandbox could not be set up on this machine: run `grader doctor` for details."""


class ClusterError(GraderError):
    """The Dask cluster cannot grade: its scheduler is unreachable or was lost, or a worker lacks the grader or runs
    another version of it. Fix the cluster (the message says what) and run the same command again: results already
    in the output folder are kept."""
