"""How the command lines end: one line per error, exit statuses, and `--verbose`.

Every CLI (`python -m pipeline ...`, `python -m kubeflow_runner ...`) runs its command
through `run_command`: an error of a kind it lists prints `error: <message>` and
ends with that kind's status (2 for bad input, 1 for a fault of the environment:
network, a busy store, a cluster); anything else (a bug, or a fault nobody
foresaw) prints one line naming the exception and ends with 1. With
`-v/--verbose` the library logs are shown and an error ends with its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

VERBOSE_ENV = "VERBOSE"


class UsageError(Exception):
    """A command line that cannot run as given (a missing flag, an output folder in the
    way): the CLIs end it with status 2. Not a ValueError: a ValueError from deeper
    down is a bug, reported as one."""


def add_verbose_flag(parser: argparse.ArgumentParser, subparsers) -> None:
    """`-v/--verbose` before or after the command name (`python -m pipeline -v run`,
    `python -m pipeline run -v`)."""
    flag = ("-v", "--verbose")
    text = "show library logs and, on an error, its traceback"
    parser.add_argument(*flag, action="store_true", help=text)
    for sub in subparsers.choices.values():
        # SUPPRESS: a subcommand that is not given the flag keeps the main parser's value.
        sub.add_argument(*flag, action="store_true", default=argparse.SUPPRESS, help=text)


def is_verbose(args: argparse.Namespace) -> bool:
    """--verbose given, or $VERBOSE set; sets $VERBOSE so child processes see it too."""
    verbose = bool(getattr(args, "verbose", False) or os.environ.get(VERBOSE_ENV))
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    return verbose


def run_command(
    command: Callable[[], int],
    errors: list[tuple[type[BaseException] | tuple[type[BaseException], ...], int]],
    verbose: bool,
) -> int:
    """`command()`'s exit status; an exception becomes one line on stderr and a status.

    Args:
      command: the command to run.
      errors: (exception kinds, exit status), the first match wins.
      verbose: re-raise instead (Python prints the traceback, status 1).
    """
    try:
        return command()
    except Exception as e:  # noqa: BLE001 (each kind is reported, none is swallowed)
        if verbose:
            raise
        for kinds, status in errors:
            if isinstance(e, kinds):
                print(f"error: {e}", file=sys.stderr)
                return status
        message = " ".join(str(e).split()) or "(no message)"
        print(
            f"error: {type(e).__name__}: {message} (run again with --verbose for the traceback)",
            file=sys.stderr,
        )
        return 1
