"""The last span the gate accepted, kept at a stable place under the pipeline root.

`<pipeline_root>/data_gate_reference/<pipeline name>/` holds `summary.json` (the
span's SpanSummary) and `FeatureStats.pb` (its train split's statistics, for TFDV's
drift comparator). The gate rewrites it each time it accepts a span.

Why a folder and not a resolver or ML Metadata: TFX's `Resolver` (say, the latest
statistics) compiles to a KFP resolver executor, which open-source Kubeflow cannot run
(see components/served_model/component.py), and a step on Kubeflow has no connection
to ML Metadata. A folder under the pipeline root (local or gs://, read through
tf.io.gfile) is reachable from every runner's steps, as the serving directory is for
ServedModel. It means "the last span accepted", not "the span the served model was
trained on": a span that passes the gate but whose model is not blessed still becomes
the reference, so the next span is compared with the data seen most recently.
"""

from __future__ import annotations

import json
import os

from components.data_gate.checks import SpanSummary

SUMMARY_FILE = "summary.json"
STATISTICS_FILE = "FeatureStats.pb"


def reference_dir(pipeline_root: str, pipeline_name: str) -> str:
    """Where the last accepted span of a pipeline is kept."""
    # Beside the components' folders, not in DataGate's (its outputs' ids live there).
    return os.path.join(pipeline_root, "data_gate_reference", pipeline_name)


def read_reference(folder: str):
    """(SpanSummary, DatasetFeatureStatisticsList or None) of the last accepted span, or
    None when no span was accepted yet."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import statistics_pb2

    path = os.path.join(folder, SUMMARY_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        summary = SpanSummary.from_dict(json.load(f))
    stats_path = os.path.join(folder, STATISTICS_FILE)
    statistics = None
    if tf.io.gfile.exists(stats_path):
        with tf.io.gfile.GFile(stats_path, "rb") as f:
            statistics = statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
    return summary, statistics


def write_reference(folder: str, summary: SpanSummary, train_statistics) -> None:
    """Records `summary` and its train statistics as the last accepted span (statistics
    first, summary last: a reader never sees a summary without its statistics)."""
    import tensorflow as tf

    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(os.path.join(folder, STATISTICS_FILE), "wb") as f:
        f.write(train_statistics.SerializeToString())
    with tf.io.gfile.GFile(os.path.join(folder, SUMMARY_FILE), "w") as f:
        json.dump(summary.to_dict(), f, indent=2, sort_keys=True)
