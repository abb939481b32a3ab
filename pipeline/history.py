"""The pipeline's runs as ML Metadata recorded them: span, model, metrics, verdict, push.

The one reader of the metadata store: `python -m pipeline history` lists every
run with it, and the local runner summarises the run it just finished with it.
Each run is a `pipeline_run` context; what it produced are the OUTPUT events of
its executions (a cached execution re-publishes the artifacts it reused), read
per component: the run's model is the Trainer's, never ServedModel's copy of
the served model it was judged against.
"""

from __future__ import annotations

import dataclasses
import json
import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.report import constants as report_constants
from pipeline.store import READ_WAIT_S, busy_errors, wait_until_readable

_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


class HistoryError(ValueError):
    """No metadata store, or no run in it: the message names the store and what to do."""


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One pipeline run.

    Attributes:
      run_id: the pipeline run's id (its context name).
      pipeline: the pipeline's name ('' when MLMD does not say).
      started_ms: when the run started (ms since the epoch).
      span: the data span its Examples hold (None when the ingest did not finish).
      source: the data source the ingest read for that span.
      fingerprint: the source's fingerprint the ingest's cache key holds ('' if none).
      data_warnings: identical videos under two labels or splits (groups), and videos
        whose header the decoder did not trust, as the ingest counted them.
      examples: the Examples artifact's folder.
      model: the trained model's folder ('' when training did not finish).
      baseline: the served model it was judged against ('' when none was served).
      blessed: whether it was blessed: by the Evaluator, and by the ReferenceEvaluator
        too when the pipeline has a reference set (the report's verdict).
      reasons: why it was not blessed (failed thresholds; 'reference set: ...' for
        those on the reference set).
      headline: the report's headline metrics.
      report: the report page ('' when no report was written).
      pushed_to: where the Pusher put the model ('' when not pushed).
      already_served: the served version equal to this model, when the Pusher
        did not push it again for that reason ('' otherwise).
      executions: component id -> 'COMPLETE', 'CACHED', 'FAILED', ...
      data_gate: the data gate's verdict: 'passed', 'passed with warnings', 'refused'
        ('' when it did not run).
      data_findings: what it found (its refusal message when it refused).
    """

    run_id: str
    pipeline: str
    started_ms: int
    span: int | None
    source: str
    fingerprint: str
    data_warnings: dict[str, int]
    examples: str
    model: str
    baseline: str
    blessed: bool
    reasons: list[str]
    headline: dict[str, float]
    report: str
    pushed_to: str
    already_served: str
    executions: dict[str, str]
    data_gate: str = ""
    data_findings: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def open_store(metadata: str, wait_s: float = READ_WAIT_S) -> metadata_store.MetadataStore:
    """A read-only connection to a SQLite metadata file (a path or sqlite:///path).

    A running pipeline does not block it; a process holding the store's exclusive lock is
    waited for up to `wait_s`, then StoreBusyError names it (pipeline/store.py).
    """
    path = metadata.removeprefix("sqlite://") if metadata.startswith("sqlite://") else metadata
    if not os.path.isfile(path):
        raise HistoryError(
            f"no ML Metadata store at {path!r}: run the pipeline first, or pass "
            "--metadata FILE / --pipeline-root DIR / --config FILE of the runs to list"
        )
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    wait_until_readable(path, wait_s)
    with busy_errors(path):
        return metadata_store.MetadataStore(connection)


def read_history(store, pipeline_name: str | None = None) -> list[RunRecord]:
    """Every run (of `pipeline_name`, or of any pipeline when None), newest first."""
    records = []
    for run in store.get_contexts_by_type("pipeline_run"):
        pipeline = _pipeline_of(store, run)
        if pipeline_name is not None and pipeline not in (pipeline_name, None):
            continue
        records.append(_read_run(store, run, pipeline or ""))
    return sorted(records, key=lambda r: (r.started_ms, r.run_id), reverse=True)


def load_history(
    metadata: str, pipeline_name: str | None = None, wait_s: float = READ_WAIT_S
) -> list[RunRecord]:
    """read_history of the SQLite store at `metadata`; HistoryError when it holds no run,
    StoreBusyError when another process keeps it locked longer than `wait_s`."""
    with busy_errors(metadata):
        records = read_history(open_store(metadata, wait_s), pipeline_name)
    if not records:
        which = f"pipeline {pipeline_name!r}" if pipeline_name else "any pipeline"
        raise HistoryError(f"no run of {which} recorded in {metadata}")
    return records


def _read_run(store, run, pipeline: str) -> RunRecord:
    state_names = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
    executions = store.get_executions_by_context(run.id)
    states, node_of, last = {}, {}, {}
    for execution in executions:
        nodes = [c.name for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
        name = nodes[0].removeprefix(pipeline + ".") if nodes else execution.type
        states[name] = state_names.get(execution.last_known_state, "UNKNOWN")
        node_of[execution.id] = name
        last[name] = execution
    outputs = _output_artifacts(store, node_of)
    data_gate, data_findings = _data_gate(last.get("DataGate"), outputs)
    examples = outputs.get(("VideoIngest", "Examples"))
    model, served = outputs.get(("Trainer", "Model")), outputs.get(("ServedModel", "Model"))
    report = outputs.get(("ModelReport", report_constants.ARTIFACT_TYPE))
    pushed = outputs.get(("Pusher", "PushedModel"))
    return RunRecord(
        run_id=run.name,
        pipeline=pipeline,
        started_ms=run.create_time_since_epoch,
        span=examples.properties["span"].int_value
        if examples and "span" in examples.properties
        else None,
        source=_custom(examples, "source"),
        fingerprint=_custom(examples, "source_fingerprint"),
        data_warnings={
            k: int(_custom(examples, f"num_{k}", 0))
            for k in ("duplicate_groups", "video_warnings")
            if _custom(examples, f"num_{k}", 0)
        },
        examples=examples.uri if examples else "",
        model=model.uri if model else "",
        baseline=_custom(served, "served_from"),
        blessed=bool(_custom(report, report_constants.BLESSED_PROPERTY, 0)),
        reasons=json.loads(_custom(report, report_constants.REASONS_PROPERTY) or "[]"),
        headline=json.loads(_custom(report, report_constants.HEADLINE_PROPERTY) or "{}"),
        report=os.path.join(report.uri, report_constants.REPORT_FILE) if report else "",
        pushed_to=_custom(pushed, "pushed_destination") if _custom(pushed, "pushed", 0) else "",
        already_served=_custom(pushed, "already_served"),
        executions=states,
        data_gate=data_gate,
        data_findings=data_findings,
    )


def _data_gate(execution, outputs: dict) -> tuple[str, list[str]]:
    """(verdict, findings) of the run's DataGate step (components/data_gate/executor.py).

    A refusal fails the step, which leaves no output: its message is the execution's
    result, which TFX's launcher records as the `__execution_result__` custom property.
    """
    from components.data_gate import checks as gate

    if execution is None:
        return "", []
    if execution.last_known_state == metadata_store_pb2.Execution.FAILED:
        result = execution.custom_properties.get("__execution_result__")
        message = json.loads(result.string_value).get("resultMessage", "") if result else ""
        if gate.REFUSED_MARK in message:
            return gate.REFUSED, [message[message.index(gate.REFUSED_MARK) :]]
        return "", []
    anomalies = outputs.get(("DataGate", "ExampleAnomalies"))
    findings = json.loads(_custom(anomalies, gate.FINDINGS_PROPERTY) or "[]")
    return _custom(anomalies, gate.VERDICT_PROPERTY), findings


def _output_artifacts(store, node_of: dict[int, str]) -> dict:
    """(component id, type name) -> the newest artifact of that type the component
    output in these executions (execution id -> component id)."""
    if not node_of:
        return {}
    events = store.get_events_by_execution_ids(sorted(node_of))
    producer = {e.artifact_id: node_of[e.execution_id] for e in events if e.type in _OUTPUT_EVENTS}
    types = {t.id: t.name for t in store.get_artifact_types()}
    newest = {}
    for artifact in store.get_artifacts_by_id(sorted(producer)):
        key = (producer[artifact.id], types.get(artifact.type_id, ""))
        if key not in newest or artifact.id > newest[key].id:
            newest[key] = artifact
    return newest


def _custom(artifact, key: str, default=""):
    if artifact is None or key not in artifact.custom_properties:
        return default
    value = artifact.custom_properties[key]
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else default


def _pipeline_of(store, run_context) -> str | None:
    """The pipeline a run context belongs to (None when MLMD does not say)."""
    for parent in store.get_parent_contexts_by_context(run_context.id):
        if parent.type == "pipeline":
            return parent.name
    return None


def format_history(records: list[RunRecord]) -> str:
    """The runs as text, newest first: one block per run."""
    import datetime

    blocks = []
    for r in records:
        started = datetime.datetime.fromtimestamp(r.started_ms / 1000, datetime.timezone.utc)
        span = "-" if r.span is None else str(r.span)
        failed = sorted(n for n, s in r.executions.items() if s not in ("COMPLETE", "CACHED"))
        lines = [f"run {r.run_id}  {started:%Y-%m-%d %H:%M:%S} UTC  span {span}"]
        if r.source:
            lines.append(f"  data:    {r.source}")
        if r.fingerprint:
            lines.append(f"  data fingerprint: {r.fingerprint}")
        if r.data_warnings.get("duplicate_groups"):
            n = r.data_warnings["duplicate_groups"]
            lines.append(f"  warning: {n} group(s) of identical videos under two labels or splits")
        if r.data_warnings.get("video_warnings"):
            n = r.data_warnings["video_warnings"]
            lines.append(f"  warning: {n} video(s) with a header the decoder did not trust")
        if r.data_gate:
            lines.append(f"  data gate: {r.data_gate}")
            lines.extend(f"    {finding}" for finding in r.data_findings)
        lines.append(f"  model:   {r.model or '(not trained)'}")
        if r.baseline and r.model:
            lines.append(f"  judged against the served model {r.baseline}")
        for title, value in r.headline.items():
            lines.append(f"  {title + ':':<28} {value:.3f}")
        if r.blessed:
            lines.append("  blessed")
        elif r.report:
            lines.append("  not blessed: " + ("; ".join(r.reasons) or "no reason recorded"))
        if r.pushed_to:
            lines.append(f"  pushed:  {r.pushed_to}")
        elif r.already_served:
            lines.append(f"  not pushed: already served as {r.already_served}")
        else:
            lines.append("  not pushed")
        if failed:
            lines.append("  unfinished: " + ", ".join(f"{n} {r.executions[n]}" for n in failed))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
