"""The DataGate executor: validates the span against our schema, judges it, refuses or passes."""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.proto.orchestration import execution_result_pb2
from tfx.types import artifact_utils

from components.data_gate import checks, reference, schema, summary
from components.data_gate.config import OFF, DataGateConfig
from components.ingest import constants, contract, records

ANOMALIES_FILE = "SchemaDiff.pb"  # ExampleValidator's layout: Split-<name>/SchemaDiff.pb
STATISTICS_FILE = "FeatureStats.pb"  # StatisticsGen's
# Schema anomalies our own checks judge (with a value and a threshold in their message).
_JUDGED = {
    records.LABEL_KEY,
    records.LABEL_TEXT_KEY,
    records.NUM_REAL_FRAMES_KEY,
    records.SOURCE_FPS_KEY,
}
_FAILED_PRECONDITION = 9  # google.rpc.Code


def _refusal_error(message: str) -> Exception:
    """A DataGateError that the local launcher records in ML Metadata.

    TFX's launcher stores an execution's result message (`__execution_result__`) only
    when the exception carries an ExecutorOutput, as its private _ExecutionFailedError
    does; `python -m pipeline history` reads the refusal from there. On Kubeflow the
    exception fails the step as any other, with the message in the step's log.
    """
    output = execution_result_pb2.ExecutorOutput(
        execution_result=execution_result_pb2.ExecutionResult(
            code=_FAILED_PRECONDITION, result_message=message
        )
    )
    try:
        from tfx.orchestration.portable.launcher import _ExecutionFailedError
    except ImportError:  # a TFX without it: the refusal still stops the run
        return checks.DataGateError(message)

    class DataGateRefusal(checks.DataGateError, _ExecutionFailedError):
        def __init__(self, text):
            _ExecutionFailedError.__init__(self, text, output)

    return DataGateRefusal(message)


def read_statistics(statistics_uri: str, split: str):
    """StatisticsGen's DatasetFeatureStatisticsList of one split."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import statistics_pb2

    path = os.path.join(statistics_uri, f"Split-{split}", STATISTICS_FILE)
    with tf.io.gfile.GFile(path, "rb") as f:
        return statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())


def label_drift(anomalies) -> float | None:
    """The L-infinity distance TFDV measured on the label text, if it compared."""
    for info in anomalies.drift_skew_info:
        if list(info.path.step) == [records.LABEL_TEXT_KEY]:
            for measurement in info.drift_measurements:
                return float(measurement.value)
    return None


def validate(stats: dict, video_schema, ref_stats, anomalies_artifact) -> tuple:
    """TFDV's validation of each split against the schema, the train split also against
    the last accepted span's statistics; writes each split's anomalies into the artifact.

    Returns:
      (the label drift TFDV measured or None, the anomalies no check of ours judges,
      as 'split feature: description' lines).
    """
    import tensorflow as tf
    import tensorflow_data_validation as tfdv

    anomalies_artifact.split_names = artifact_utils.encode_split_names(list(stats))
    other, drift = [], None
    for split, split_stats in stats.items():
        # Drift is judged on the train split, what the model learns from.
        against = ref_stats if split == summary.TRAIN else None
        anomalies = tfdv.validate_statistics(split_stats, video_schema, previous_statistics=against)
        folder = os.path.join(anomalies_artifact.uri, f"Split-{split}")
        tf.io.gfile.makedirs(folder)
        with tf.io.gfile.GFile(os.path.join(folder, ANOMALIES_FILE), "wb") as f:
            f.write(anomalies.SerializeToString())
        if split == summary.TRAIN:
            drift = label_drift(anomalies)
        other += [
            f"{split} {name}: {info.description or info.short_description}"
            for name, info in sorted(anomalies.anomaly_info.items())
            if name not in _JUDGED
        ]
    return drift, other


class Executor(base_executor.BaseExecutor):
    """Writes the schema and TFDV's anomalies, then passes the span or raises DataGateError."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        import tensorflow as tf
        import tensorflow_data_validation as tfdv

        config = DataGateConfig.from_json(exec_properties["config"])
        reference_dir = exec_properties["reference_dir"]
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        statistics = artifact_utils.get_single_instance(input_dict["statistics"])
        with tf.io.gfile.GFile(os.path.join(examples.uri, constants.REPORT_FILE)) as f:
            report = json.load(f)
        frames = contract.read_contract(examples.uri)  # the ingest writes it beside the splits
        span = int(examples.span or 0)
        stats = {split: read_statistics(statistics.uri, split) for split in constants.SPLITS}
        span_summary = summary.summarize(span, report, list(stats.values()))
        previous = reference.read_reference(reference_dir)
        ref_summary, ref_stats = previous if previous else (None, None)
        expected = config.expected_classes or (
            ref_summary.class_names if ref_summary else span_summary.class_names
        )

        video_schema = schema.video_schema(
            expected, frames.frames_per_video, frames.height, frames.width, config
        )
        schema_artifact = artifact_utils.get_single_instance(output_dict["schema"])
        tf.io.gfile.makedirs(schema_artifact.uri)  # KFP's launcher does not make it
        tfdv.write_schema_text(video_schema, os.path.join(schema_artifact.uri, schema.SCHEMA_FILE))
        anomalies_artifact = artifact_utils.get_single_instance(output_dict["anomalies"])
        drift, other = validate(stats, video_schema, ref_stats, anomalies_artifact)
        findings = checks.evaluate(span_summary, config, tuple(expected), ref_summary, drift)
        # What the checks above do not judge: frame size, stored frame count, a
        # missing feature (TFDV's words).
        if config.schema != OFF:
            findings += [checks.Finding("schema", config.schema, text) for text in other]
        lines = [f.line() + ("" if f.severity == checks.FAIL else " (warning)") for f in findings]
        anomalies_artifact.set_string_custom_property(checks.FINDINGS_PROPERTY, json.dumps(lines))
        anomalies_artifact.set_string_custom_property(
            checks.DRIFT_PROPERTY,
            json.dumps(
                {
                    "label_drift": drift
                    if drift is not None or ref_summary is None
                    else checks.linf_distance(span_summary.train_counts, ref_summary.train_counts),
                    "reference_span": ref_summary.span if ref_summary else None,
                    "max_label_drift": config.max_label_drift,
                }
            ),
        )
        for finding in findings:
            logging.warning("DataGate span %d: %s (%s)", span, finding.line(), finding.severity)
        if checks.refused(findings):
            raise _refusal_error(checks.refusal(span, findings))
        anomalies_artifact.set_string_custom_property(
            checks.VERDICT_PROPERTY, checks.PASSED_WITH_WARNINGS if findings else checks.PASSED
        )
        reference.write_reference(reference_dir, span_summary, stats[summary.TRAIN])
        logging.info("DataGate: span %d accepted (%d warnings)", span, len(findings))
