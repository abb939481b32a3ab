"""The ML Metadata store shared by runs and readers (pipeline/store.py), with real
processes: one holding SQLite's locks, or a run's lock, while `python -m pipeline history`
and `run` (also as processes) wait a stated time, say on what, and leave the store intact."""

import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from pipeline import store
from pipeline.store import StoreBusyError
from tests import REPO
from tests.builders.cli_process import run_module
from tests.builders.tiny_pipeline import tiny_config_dict

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_USE_LEGACY_KERAS": "1"}


def make_store(path: str, runs: int = 1) -> str:
    """A SQLite ML Metadata store holding `runs` runs of pipeline 'demo' (no executions)."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    mlmd = metadata_store.MetadataStore(config)
    pipeline_type = mlmd.put_context_type(pb.ContextType(name="pipeline"))
    run_type = mlmd.put_context_type(pb.ContextType(name="pipeline_run"))
    [pipeline] = mlmd.put_contexts([pb.Context(type_id=pipeline_type, name="demo")])
    for i in range(runs):
        [run] = mlmd.put_contexts([pb.Context(type_id=run_type, name=f"run-{i + 1}")])
        mlmd.put_parent_contexts([pb.ParentContext(child_id=run, parent_id=pipeline)])
    del mlmd
    return path


def start_holder(code: str) -> subprocess.Popen:
    """A child process running `code`, returned once it printed 'held'."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


def hold_sqlite_lock(path: str, mode: str, seconds: float) -> subprocess.Popen:
    """Another process holding the store's SQLite lock: 'SHARED' (a reader's), 'IMMEDIATE'
    (the write lock, readers still welcome, after a pending write) or 'EXCLUSIVE' (nobody
    else reads)."""
    begin, statement = (
        ("BEGIN", "SELECT count(*) FROM Context")
        if mode == "SHARED"
        else (
            f"BEGIN {mode}",
            "UPDATE Context SET name = name",  # a write, kept pending
        )
    )
    return start_holder(
        f"""
        import sqlite3, time
        connection = sqlite3.connect({path!r}, isolation_level=None)
        connection.execute({begin!r})
        connection.execute({statement!r}).fetchall()
        print("held", flush=True)
        time.sleep({seconds})
        connection.execute("ROLLBACK")
        """
    )


def hold_run_lock(metadata_db: str, pipeline: str, seconds: float) -> subprocess.Popen:
    """Another process holding the run lock of the store, through pipeline/store.py."""
    return start_holder(
        f"""
        import time
        from pipeline import store
        with store.exclusive_run({metadata_db!r}, {pipeline!r}, wait_s=0):
            print("held", flush=True)
            time.sleep({seconds})
        """
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def run_cli(*args, timeout: float = 300):
    """`python -m pipeline ...` in a child process: (result, seconds)."""
    result = run_module("pipeline", *args, env={"TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=timeout)
    return result, result.elapsed


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def integrity(path: str) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture
def db(tmp_path):
    return make_store(str(tmp_path / "metadata.db"))


# --- history ----------------------------------------------------------------------------------


def test_history_reads_while_another_process_holds_the_write_lock(db):
    holder = hold_sqlite_lock(db, "IMMEDIATE", 120)
    try:
        result, elapsed = run_cli("history", "--metadata", db, "--wait", "0")
    finally:
        stop(holder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("run run-1 ")
    assert elapsed < 30


def test_history_waits_a_stated_time_then_says_who_holds_the_store(db):
    # The reported case: 41 s, then a raw "RuntimeError: Concurrent writes aborted ...".
    holder = hold_sqlite_lock(db, "EXCLUSIVE", 120)
    try:
        result, elapsed = run_cli("history", "--metadata", db, "--wait", "2")
    finally:
        stop(holder)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert line.startswith(f"error: the ML Metadata store {db} is locked by pid {holder.pid} (")
    assert "stayed locked for 2 s" in line and "--wait SECONDS" in line
    assert "Traceback" not in result.stderr and "RuntimeError" not in result.stderr
    assert elapsed < 20  # 2 s of waiting and the interpreter's start
    assert integrity(db) == "ok"


def test_history_waits_out_a_short_lock(db):
    holder = hold_sqlite_lock(db, "EXCLUSIVE", 2)
    try:
        result, _ = run_cli("history", "--metadata", db, "--wait", "30")
    finally:
        stop(holder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("run run-1 ")


# --- one run per store ---------------------------------------------------------------------


def test_second_run_queues_behind_the_first(db):
    first = hold_run_lock(db, "scheduled", 2)
    said = []
    try:
        start = time.monotonic()
        with store.exclusive_run(db, "manual", wait_s=60, on_wait=said.append):
            waited = time.monotonic() - start
            assert store.run_owner(db).pid == os.getpid()  # the lock and its record are ours
    finally:
        stop(first)
    assert 0.5 < waited < 30
    [line] = said
    assert line.startswith(f"waiting for pipeline run 'scheduled' (pid {first.pid} on ")
    assert "one run of" in line and "waiting up to 60 s (--wait)" in line
    assert integrity(db) == "ok"


def test_second_run_refuses_after_its_wait_naming_the_first(db):
    first = hold_run_lock(db, "scheduled", 120)
    try:
        start = time.monotonic()
        with pytest.raises(StoreBusyError) as error:
            with store.exclusive_run(db, "manual", wait_s=0.5, on_wait=lambda line: None):
                pytest.fail("ran while another run held the store")
        assert time.monotonic() - start < 5
        owner = store.run_owner(db)
    finally:
        stop(first)
    message = str(error.value)
    assert f"pipeline run 'scheduled' (pid {first.pid} on " in message
    assert "nothing was run" in message and "--wait SECONDS" in message
    assert owner.pipeline == "scheduled" and owner.pid == first.pid
    assert store.run_owner(db) is None  # the lock went with its process


def test_a_lock_taken_during_a_run_is_reported_with_its_holder(db):
    said = []
    with store.watch_foreign_locks(db, said.append, every_s=0.2):
        reader = hold_sqlite_lock(db, "SHARED", 120)  # a reader: no one waits for it
        time.sleep(1.0)
        assert said == []
        stop(reader)
        holder = hold_sqlite_lock(db, "IMMEDIATE", 120)
        try:
            deadline = time.monotonic() + 10
            while not said and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop(holder)
    [line] = said
    assert line.startswith(f"waiting for the ML Metadata store {db}: pid {holder.pid} (")
    assert "holds its write lock" in line


def test_lock_errors_of_ml_metadata_name_the_store(db):
    with pytest.raises(StoreBusyError, match=f"the ML Metadata store {db} stayed locked"):
        with store.busy_errors(db):
            raise RuntimeError("Concurrent writes aborted after max number of retries.")
    with pytest.raises(KeyError):  # anything else passes through
        with store.busy_errors(db):
            raise KeyError("x")


@pytest.fixture
def run_config(tiny_demo, tmp_path):
    config = tiny_config_dict(tiny_demo, str(tmp_path / "root"), "store-test")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path), config


def components_started(pipeline_root: str) -> list[str]:
    """The component folders under a pipeline root (a refused run still writes its log
    to logs/, which is not a component)."""
    return sorted(
        n for n in os.listdir(pipeline_root) if not n.startswith("metadata.db") and n != "logs"
    )


def test_run_command_says_it_waits_for_the_store_and_on_what(run_config):
    path, config = run_config
    root = config["pipeline_root"]
    os.makedirs(root)
    db = make_store(os.path.join(root, "metadata.db"))
    holder = hold_sqlite_lock(db, "IMMEDIATE", 300)
    try:
        result, _ = run_cli("run", "--config", path, "--wait", "2")
    finally:
        stop(holder)
    assert result.returncode == 1, result.stderr[-3000:]
    [waiting] = [line for line in result.stderr.splitlines() if line.startswith("waiting for")]
    assert waiting.startswith(f"waiting for the ML Metadata store {db}: pid {holder.pid} (")
    assert waiting.endswith("holds its write lock; waiting up to 2 s (--wait)")
    [line] = error_lines(result.stderr)
    assert line.startswith(f"error: the ML Metadata store {db} is still locked by pid")
    assert "nothing was run" in line and "Traceback" not in result.stderr
    assert components_started(root) == []
    assert integrity(db) == "ok"


def test_run_command_refuses_while_another_run_holds_the_store(run_config):
    path, config = run_config
    root = config["pipeline_root"]
    db = os.path.join(root, "metadata.db")
    holder = hold_run_lock(db, "store-test", 300)
    try:
        result, _ = run_cli("run", "--config", path, "--wait", "0")
    finally:
        stop(holder)
    assert result.returncode == 1, result.stderr[-3000:]
    [line] = error_lines(result.stderr)
    assert line.startswith(f"error: another run of the ML Metadata store {db} is in progress: ")
    assert f"pipeline run 'store-test' (pid {holder.pid} on " in line
    assert "Traceback" not in result.stderr
    assert components_started(root) == []


@pytest.mark.slow
def test_two_overlapping_runs_of_one_pipeline_queue_and_the_store_stays_intact(run_config):
    # A scheduled run and a manual one: the second waits its turn, saying for whom, then
    # runs (from the cache); `history` reads meanwhile; the store passes SQLite's check.
    path, config = run_config
    db = os.path.join(config["pipeline_root"], "metadata.db")
    log = os.path.join(os.path.dirname(path), "first.log")  # a file: a pipe could fill up
    with open(log, "w") as out:
        first = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", "--config", path],
            cwd=REPO,
            env=ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while "VideoIngest ..." not in read(log):  # the run holds the store now
            assert first.poll() is None and time.monotonic() < deadline, read(log)
            time.sleep(0.5)
        second, _ = run_cli("run", "--config", path, "--wait", "900", timeout=1200)
        reading, _ = run_cli("history", "--metadata", db)
        first.wait(timeout=900)
    finally:
        stop(first)
    assert first.returncode == 0, read(log)[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    [waiting] = [line for line in second.stderr.splitlines() if line.startswith("waiting for")]
    assert waiting.startswith(f"waiting for pipeline run 'store-test' (pid {first.pid} on ")
    assert "reused from earlier runs (cached)" in second.stdout
    assert reading.returncode == 0 and reading.stdout.count("run ") >= 1
    assert integrity(db) == "ok"
    history, _ = run_cli("history", "--metadata", db, "--json")
    assert history.returncode == 0 and history.stdout.count('"run_id"') == 2
