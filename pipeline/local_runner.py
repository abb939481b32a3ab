"""Runs the pipeline on this machine: LocalDagRunner, SQLite ML Metadata, Beam DirectRunner.

With caching on, a rerun reuses every component whose inputs and parameters did
not change, so a run killed halfway (say during training) picks up where it
stopped when started again.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from tfx import v1 as tfx

from pipeline import store
from pipeline.beam import local_beam_args
from pipeline.config import PipelineConfig
from pipeline.history import RunRecord, load_history
from pipeline.pipeline import create_pipeline


def run_local(
    config: PipelineConfig,
    wait_s: float = store.RUN_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
) -> RunRecord:
    """Runs the pipeline to the end; returns what this run produced (from ML Metadata).

    One run per metadata store at a time: another run of it, or another process holding
    its lock, is waited for up to `wait_s` (`on_wait` is told on what), then
    StoreBusyError (pipeline/store.py).
    """
    os.makedirs(config.pipeline_root, exist_ok=True)
    with store.exclusive_run(config.metadata_db, config.name, wait_s, on_wait):
        metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_db)
        beam_args = local_beam_args(config.beam_args, config.workers)
        pipeline = create_pipeline(config, beam_args, metadata)
        tfx.orchestration.LocalDagRunner().run(pipeline)
        return summarize_latest_run(config.metadata_db, config.name)


def summarize_latest_run(metadata_db: str, pipeline_name: str) -> RunRecord:
    """The newest run of `pipeline_name` in the SQLite ML Metadata file."""
    return load_history(metadata_db, pipeline_name)[0]
