"""`grader check ... --watch`: run the checks again each time the student saves their module."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path


#: How long a changed file must stay unchanged before the checks run again.
SETTLE = 0.2


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def watch(path: Path, argv: list[str], *, console, interval: float = 0.5) -> None:
    """Run ``grader ARGV`` now and after every change to ``path``, until Ctrl-C.

    Each run is a fresh ``grader`` process, so a run sees exactly the file as saved
    and nothing of the previous run; a save during a run starts another one after it.
    """
    # Ctrl-C must stop the loop even where SIGINT was inherited as ignored (a parent that started us in the background).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    last = None
    try:
        while True:
            current = _signature(path)
            if current != last:
                time.sleep(SETTLE)  # an editor's save can be several writes: run once, on the saved file
                current = _signature(path)
                last = current
                if console.is_terminal:
                    console.clear()
                subprocess.run([sys.executable, "-m", "grader.cli", *argv])
                console.print(f"[dim]{time.strftime('%H:%M:%S')} watching {path} for changes (Ctrl-C to stop)[/]")
                sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        console.print()
