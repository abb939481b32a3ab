"""The local ML Metadata store (SQLite) as runs and readers share it: who holds it, waiting.

SQLite lets readers in while a writer holds the write (RESERVED) lock, but not while a
process holds the EXCLUSIVE lock (a commit in progress, or a tool that took it). ML
Metadata then retries for half a minute and fails with "Concurrent writes aborted after
max number of retries", and a LocalDagRunner run waits without a word. So:

- `exclusive_run`: one pipeline run per store at a time. An advisory lock (`flock`) on
  `<metadata.db>.run.lock` records its owner (pipeline, pid, host, start, command); a
  second run (a scheduled one and a manual one, say) waits up to `wait_s`, saying for
  whom, then refuses. The kernel drops the lock when its process dies: a killed run
  leaves nothing stale. Then the store's own write lock, if another process holds it,
  is waited for the same way, naming that process when the system says (Linux's
  /proc/locks). Nothing is written to the store until both are free.
- `wait_until_readable`: readers (`history`) wait a bounded, stated time for an
  EXCLUSIVE lock to go, then say who holds the store.
- `busy_errors`: ML Metadata's own lock errors become `StoreBusyError` naming the store.

The probes use Python's sqlite3 with a busy timeout and never write (`BEGIN IMMEDIATE`,
then `ROLLBACK`): the store is only ever changed by ML Metadata itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
import socket
import sqlite3
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator

from absl import logging

RUN_WAIT_S = 60.0  # `pipeline run --wait` default
READ_WAIT_S = 10.0  # `pipeline history --wait` default
_POLL_S = 0.2
_MLMD_BUSY = ("Concurrent writes aborted", "database is locked")


class StoreBusyError(Exception):
    """The metadata store stayed locked by another process or run: an environment fault.
    The message names the store, who holds it, how long was waited and what to do."""


@dataclasses.dataclass(frozen=True)
class RunOwner:
    """The run holding a store's run lock, as it recorded itself."""

    pipeline: str
    pid: int
    host: str
    started: str  # ISO 8601, UTC
    command: str

    def describe(self) -> str:
        return (
            f"pipeline run {self.pipeline!r} (pid {self.pid} on {self.host}, started "
            f"{self.started[:19].replace('T', ' ')} UTC: {self.command})"
        )


def lock_path(metadata_db: str) -> str:
    """The run lock file of a store."""
    return metadata_db + ".run.lock"


def _path(metadata: str) -> str:
    return metadata.removeprefix("sqlite://") if metadata.startswith("sqlite://") else metadata


# --- one run per store ---------------------------------------------------------------------


@contextlib.contextmanager
def exclusive_run(
    metadata_db: str,
    pipeline: str,
    wait_s: float = RUN_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Within the block this process is the only run of the store, and the store was
    writable when it began; ML Metadata lock errors inside become StoreBusyError.

    Args:
      metadata_db: the SQLite file (it may not exist yet).
      pipeline: this run's pipeline name, recorded for whoever waits on it.
      wait_s: how long to wait for another run or another process's lock (0: not at all).
      on_wait: told once, in one line, what is waited for (default: logged).

    Raises:
      StoreBusyError: still held after `wait_s`; nothing was written.
    """
    on_wait = on_wait or (lambda line: logging.warning("%s", line))
    deadline = time.monotonic() + wait_s
    with _run_lock(metadata_db, pipeline, deadline, wait_s, on_wait):
        _wait_until_writable(metadata_db, deadline, wait_s, on_wait)
        with busy_errors(metadata_db), watch_foreign_locks(metadata_db, on_wait):
            yield


@contextlib.contextmanager
def watch_foreign_locks(
    metadata_db: str, on_wait: Callable[[str], None], every_s: float = 2.0
) -> Iterator[None]:
    """Within the block, says (once per process) when another process holds the store's
    write lock for two checks in a row: ML Metadata then waits for it without a word.
    Reads /proc/locks only (Linux; elsewhere it stays silent); never touches the store."""
    stop = threading.Event()

    def watch() -> None:
        seen: set[int] = set()
        said: set[int] = set()
        while not stop.wait(every_s):
            holders = set(_lock_pids(metadata_db, write_only=True)) - {os.getpid()}
            for pid in sorted((holders & seen) - said):
                said.add(pid)
                on_wait(
                    f"waiting for the ML Metadata store {metadata_db}: pid {pid} "
                    f"({_command(pid)}) holds its write lock; ML Metadata waits about half a "
                    "minute, then the run stops (run again: finished components are reused)"
                )
            seen = holders

    thread = threading.Thread(target=watch, name="store-lock-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s + 1)


@contextlib.contextmanager
def _run_lock(metadata_db, pipeline, deadline, wait_s, on_wait) -> Iterator[None]:
    path = lock_path(metadata_db)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            owner = _describe_owner(metadata_db)
            on_wait(
                f"waiting for {owner} to finish: one run of {metadata_db} at a time; "
                f"waiting up to {wait_s:g} s (--wait)"
            )
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"another run of the ML Metadata store {metadata_db} is in progress: "
                        f"{_describe_owner(metadata_db)}; nothing was run; let it finish, or queue "
                        f"behind it with --wait SECONDS (waited {wait_s:g} s)"
                    )
                time.sleep(_POLL_S)
        _record_owner(fd, pipeline)
        yield
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _record_owner(fd: int, pipeline: str) -> None:
    owner = RunOwner(
        pipeline=pipeline,
        pid=os.getpid(),
        host=socket.gethostname(),
        started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        command=" ".join(["python", *sys.argv])[:200],
    )
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(dataclasses.asdict(owner)).encode(), 0)


def run_owner(metadata_db: str) -> RunOwner | None:
    """The run holding the store's run lock now, or None when no run holds it."""
    path = lock_path(metadata_db)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None  # free: what the file says is a finished run's
        except BlockingIOError:
            pass
        try:
            return RunOwner(**json.loads(os.pread(fd, 4096, 0) or b"{}"))
        except (TypeError, ValueError):
            return RunOwner("?", 0, "?", "?", "a run starting or stopping")
    finally:
        os.close(fd)


def _describe_owner(metadata_db: str) -> str:
    owner = run_owner(metadata_db)
    return owner.describe() if owner else "another pipeline run"


# --- the store's own lock ----------------------------------------------------------------


def _wait_until_writable(metadata_db, deadline, wait_s, on_wait) -> None:
    """Returns once a write transaction could begin (none is left open)."""
    if not os.path.isfile(metadata_db):
        return
    if _probe(metadata_db, "BEGIN IMMEDIATE", 0.0):
        return
    on_wait(
        f"waiting for the ML Metadata store {metadata_db}: {_holder(metadata_db)} holds its "
        f"write lock; waiting up to {wait_s:g} s (--wait)"
    )
    if not _probe(metadata_db, "BEGIN IMMEDIATE", max(0.0, deadline - time.monotonic())):
        raise StoreBusyError(
            f"the ML Metadata store {metadata_db} is still locked by {_holder(metadata_db)} "
            f"after {wait_s:g} s; nothing was run; let that process finish or stop it, then "
            "run again (or wait longer: --wait SECONDS)"
        )


def wait_until_readable(metadata_db: str, wait_s: float = READ_WAIT_S) -> None:
    """Returns once the store can be read, waiting up to `wait_s` for a lock to go.

    Raises:
      StoreBusyError: still locked after `wait_s`; names who holds it.
    """
    path = _path(metadata_db)
    if _probe(path, "SELECT count(*) FROM sqlite_master", wait_s, read_only=True):
        return
    raise StoreBusyError(
        f"the ML Metadata store {path} is locked by {_holder(path)} and stayed locked for "
        f"{wait_s:g} s; try again when it is done, or wait longer with --wait SECONDS"
    )


def _probe(path: str, statement: str, timeout_s: float, read_only: bool = False) -> bool:
    """Whether `statement` could run within `timeout_s` (SQLite's busy timeout waits)."""
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}" + ("?mode=ro" if read_only else "")
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None)
    except sqlite3.OperationalError:
        return True  # not a store we can open: ML Metadata will say why
    try:
        connection.execute(statement)
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            return False
        return True  # e.g. not a database: ML Metadata will say why
    finally:
        connection.close()


def _holder(path: str) -> str:
    """Who holds the store's SQLite lock, as precisely as the system tells."""
    pids = sorted(set(_lock_pids(path)) - {os.getpid()})
    owner = run_owner(path)
    if owner is not None and owner.pid != os.getpid() and (not pids or owner.pid in pids):
        return owner.describe()
    if pids:
        return ", ".join(f"pid {pid} ({_command(pid)})" for pid in pids)
    return "another process (not a pipeline run: e.g. an sqlite3 shell; `fuser FILE` names it)"


def _lock_pids(path: str, write_only: bool = False) -> list[int]:
    """Pids holding POSIX locks on the file (Linux /proc/locks; [] where unknown); with
    write_only, only write locks (SQLite's RESERVED, PENDING, EXCLUSIVE; not SHARED)."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    pids = []
    for line in lines:
        fields = line.split()
        # "1: POSIX  ADVISORY  WRITE 24303 fe:00:2239140 1073741824 1073742335"
        if write_only and (len(fields) < 4 or fields[3] != "WRITE"):
            continue
        if len(fields) >= 6 and fields[1] == "POSIX" and fields[5].endswith(f":{inode}"):
            if fields[4].isdigit() and int(fields[4]) > 0:
                pids.append(int(fields[4]))
    return pids


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            words = f.read().decode(errors="replace").replace("\0", " ").split()
    except OSError:
        return "command unknown"
    return " ".join(words)[:120]  # one line, whatever the arguments hold


# --- ML Metadata's own lock errors ---------------------------------------------------------


@contextlib.contextmanager
def busy_errors(metadata_db: str) -> Iterator[None]:
    """ML Metadata's "Concurrent writes aborted" (it gave up waiting for SQLite's lock)
    inside the block becomes a StoreBusyError naming the store and the holder."""
    try:
        yield
    except Exception as e:
        if not any(text in str(e) for text in _MLMD_BUSY):
            raise
        path = _path(metadata_db)
        raise StoreBusyError(
            f"the ML Metadata store {path} stayed locked by {_holder(path)} longer than ML "
            "Metadata waits (about half a minute); run again when that process is done "
            "(a run picks up after its last finished component)"
        ) from e
