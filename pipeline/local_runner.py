"""Runs the pipeline on this machine: LocalDagRunner, SQLite ML Metadata, Beam DirectRunner.

With caching on, a rerun reuses every component whose inputs and parameters did
not change, so a run killed halfway (say during training) picks up where it
stopped when started again.
"""

from __future__ import annotations

import dataclasses
import json
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
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from components.report.component import HtmlReport
    from components.report.executor import REPORT_FILE

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_db
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(connection)
    runs = [
        c
        for c in store.get_contexts_by_type("pipeline_run")
        if _pipeline_of(store, c) in (pipeline_name, None)
    ]
    if not runs:
        raise ValueError(f"no run of pipeline {pipeline_name!r} recorded in {metadata_db}")
    run = max(runs, key=lambda c: c.id)
    state_names = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
    executions = {}
    for execution in store.get_executions_by_context(run.id):
        nodes = [c.name for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
        name = nodes[0].removeprefix(pipeline_name + ".") if nodes else execution.type
        executions[name] = state_names.get(execution.last_known_state, "UNKNOWN")
    artifacts = store.get_artifacts_by_context(run.id)
    types = {t.id: t.name for t in store.get_artifact_types()}

    def newest(type_name):
        found = [a for a in artifacts if types.get(a.type_id) == type_name]
        return max(found, key=lambda a: a.id) if found else None

    def custom(artifact, key, default=""):
        if artifact is None or key not in artifact.custom_properties:
            return default
        value = artifact.custom_properties[key]
        return value.string_value or value.int_value

    model, report, pushed = newest("Model"), newest(HtmlReport.TYPE_NAME), newest("PushedModel")
    return RunSummary(
        run_id=run.name,
        model=model.uri if model else "",
        blessed=bool(custom(report, "blessed", 0)),
        reasons=json.loads(custom(report, "reasons", "[]") or "[]"),
        pushed_to=custom(pushed, "pushed_destination") if custom(pushed, "pushed", 0) else "",
        report=os.path.join(report.uri, REPORT_FILE) if report else "",
        headline=json.loads(custom(report, "headline", "{}") or "{}"),
        executions=executions,
    )


def _pipeline_of(store, run_context) -> str | None:
    """The pipeline a run context belongs to (None when MLMD does not say)."""
    parents = store.get_parent_contexts_by_context(run_context.id)
    for parent in parents:
        if parent.type == "pipeline":
            return parent.name
    return None
