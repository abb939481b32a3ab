"""Runs the pipeline on this machine: LocalDagRunner, SQLite ML Metadata, Beam DirectRunner.

With caching on, a rerun reuses every component whose inputs and parameters did
not change, so a run killed halfway (say during training) picks up where it
stopped when started again. ServedModel is the exception (it reads the serving
directory, which changes between runs), so it and what consumes it (Evaluator,
ModelReport, Pusher) run each time; the Kubeflow compiler does the same. The
ingest's cache key holds a fingerprint of the source (file names, sizes and
modification times; ETag/Last-Modified/size for URLs) taken here, so replaced or
added videos at the same path re-ingest and re-run everything downstream.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from tfx.dsl.compiler import compiler
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.proto.orchestration import pipeline_pb2

from components.data_gate.checks import REFUSED, DataGateError
from components.ingest.fingerprint import source_fingerprint
from pipeline import store
from pipeline.beam import local_beam_args
from pipeline.config import PipelineConfig
from pipeline.history import HistoryError, RunRecord, load_history
from pipeline.pipeline import ALWAYS_RUN, create_pipeline


def run_local(
    config: PipelineConfig,
    wait_s: float = store.RUN_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
) -> RunRecord:
    """Runs the pipeline to the end; returns what this run produced (from ML Metadata).

    One run per metadata store at a time: another run of it, or another process holding
    its lock, is waited for up to `wait_s` (`on_wait` is told on what), then
    StoreBusyError (pipeline/store.py).

    Raises:
      DataGateError: the data gate refused the span (components/data_gate): nothing
        was trained or pushed; the message names each finding and its override.
    """
    os.makedirs(config.pipeline_root, exist_ok=True)
    with store.exclusive_run(config.metadata_db, config.name, wait_s, on_wait):
        metadata = tfx_metadata.sqlite_metadata_connection_config(config.metadata_db)
        beam_args = local_beam_args(config.beam_args, config.workers)
        # Keys the ingest's cache on the data: replaced or added videos re-ingest.
        fingerprint = source_fingerprint(
            config.ingest.source, config.ingest.split_lists, config.span
        )
        reference = config.evaluation.reference_source
        pipeline = create_pipeline(
            config,
            beam_args,
            metadata,
            source_fingerprint=fingerprint,
            reference_fingerprint=source_fingerprint(reference, "", 0) if reference else "",
        )
        try:
            LocalDagRunner().run_with_ir(compile_local(pipeline))
        except Exception:
            refusal = _data_gate_refusal(config)
            if refusal is None:
                raise
            raise refusal from None
        return summarize_latest_run(config.metadata_db, config.name)


def _data_gate_refusal(config: PipelineConfig) -> DataGateError | None:
    """The run's end in one line when its data gate refused the span (None otherwise)."""
    try:
        record = summarize_latest_run(config.metadata_db, config.name)
    except (HistoryError, OSError):
        return None
    if record.data_gate != REFUSED:
        return None
    return DataGateError(f"run {record.run_id} stopped: {' '.join(record.data_findings)}")


def compile_local(pipeline) -> pipeline_pb2.Pipeline:
    """The pipeline's IR, with caching off for the ALWAYS_RUN nodes."""
    ir = compiler.Compiler().compile(pipeline)
    for node in ir.nodes:
        if node.pipeline_node.node_info.id in ALWAYS_RUN:
            node.pipeline_node.execution_options.caching_options.enable_cache = False
    return ir


def summarize_latest_run(metadata_db: str, pipeline_name: str) -> RunRecord:
    """The newest run of `pipeline_name` in the SQLite ML Metadata file."""
    return load_history(metadata_db, pipeline_name)[0]
