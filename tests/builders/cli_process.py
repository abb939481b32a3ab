"""Runs `python -m <module> ...` in a child process, as a user types it (tests only)."""

import os
import subprocess
import sys
import time

from tests import REPO


def run_module(*argv: str, env: dict | None = None, timeout: float = 300):
    """The finished process (`.returncode`, `.stdout`, `.stderr`, and `.elapsed` in s).

    The child gets this environment with TF_USE_LEGACY_KERAS=1 and without VERBOSE
    (tests read the quiet output), updated with `env`; a value of None removes a
    variable (e.g. TF_CPP_MIN_LOG_LEVEL, to see what a user's terminal shows).
    """
    child = {k: v for k, v in os.environ.items() if k != "VERBOSE"}
    child["TF_USE_LEGACY_KERAS"] = "1"
    for key, value in (env or {}).items():
        if value is None:
            child.pop(key, None)
        else:
            child[key] = value
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=REPO,
        env=child,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result.elapsed = time.monotonic() - start
    return result
