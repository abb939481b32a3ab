"""Runs the pipeline on this machine: LocalDagRunner, SQLite ML Metadata, Beam DirectRunner.

With caching on, a rerun reuses every component whose inputs and parameters did
not change, so a run killed halfway (say during training) picks up where it
stopped when started again.
"""

from __future__ import annotations

import dataclasses
import os

from tfx import v1 as tfx

from pipeline.beam import local_beam_args
from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What a finished run produced (read back from ML Metadata).

    Attributes:
      run_id: the pipeline run's id.
      model: the trained model's folder ('' when training did not run).
      blessed: whether the Evaluator blessed it.
      reasons: why it was not blessed (failed thresholds).
      pushed_to: where the Pusher put it ('' when not pushed).
      report: the report page's path ('' when no report was written).
      headline: the report's headline metrics.
      executions: component id -> 'COMPLETE' or 'CACHED' (or another state).
    """

    run_id: str
    model: str
    blessed: bool
    reasons: list[str]
    pushed_to: str
    report: str
    headline: dict[str, float]
    executions: dict[str, str]


def run_local(config: PipelineConfig) -> RunSummary:
    """Runs the pipeline to the end and summarises what this run produced."""
    os.makedirs(config.pipeline_root, exist_ok=True)
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_db)
    pipeline = create_pipeline(config, local_beam_args(config.beam_args, config.workers), metadata)
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return summarize_latest_run(config.metadata_db, config.name)


def summarize_latest_run(metadata_db: str, pipeline_name: str) -> RunSummary:
    """Reads the newest run of `pipeline_name` from the SQLite ML Metadata file."""
    from pipeline.history import load_history

    run = load_history(metadata_db, pipeline_name)[0]
    return RunSummary(
        run_id=run.run_id,
        model=run.model,
        blessed=run.blessed,
        reasons=run.reasons,
        pushed_to=run.pushed_to,
        report=run.report,
        headline=run.headline,
        executions=run.executions,
    )
