"""The ModelReport executor: reads the evaluation, the ingest report and the eval
split, runs the candidate model on it, writes report.html and its figures."""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.data_gate import checks as gate_checks
from components.ingest import constants
from components.report import data, figures, gallery, results
from components.report.constants import (
    BLESSED_PROPERTY,
    HEADLINE_PROPERTY,
    HEATMAP_FILE,
    MEAN_CLASS_ACCURACY,
    METRIC_NAMES,
    METRICS_FILE,
    MODEL_PROPERTY,
    REASONS_PROPERTY,
    REFERENCE_ACCURACY,
    REPORT_FILE,
)
from components.report.render import data_gate_section, render_report
from components.training_summary import SUMMARY_FILE, TrainingSummary


def headline_keys(
    metric_names: dict[str, str], accuracy_top_k: int, num_classes: int
) -> dict[str, str]:
    """Report titles -> metric names (TFMA's `output/metric`).

    `metric_names` is what the Evaluator was asked to compute (ModelReport's
    `metric_names`, keys `METRIC_NAMES`);
    top-k accuracy is left out with fewer than `accuracy_top_k` classes, where it is always 1.

    Raises:
      ValueError: `metric_names` lacks one of those keys.
    """
    missing = sorted(set(METRIC_NAMES) - set(metric_names))
    if missing:
        raise ValueError(f"ModelReport's metric_names lack {missing}; the pipeline passes them")
    keys = {
        "accuracy (multi-clip)": metric_names["multi_clip_accuracy"],
        "accuracy (single-clip)": metric_names["single_clip_accuracy"],
    }
    if num_classes >= accuracy_top_k:
        keys[f"top-{accuracy_top_k} accuracy"] = metric_names["top_k_accuracy"]
    keys["mean class accuracy"] = MEAN_CLASS_ACCURACY
    return keys


def read_training_summary(model_run_uri: str) -> TrainingSummary:
    """The Trainer's summary in its ModelRun artifact.

    Raises:
      FileNotFoundError: there is none.
      components.training_summary.TrainingSummaryError: it cannot be parsed.
    """
    path = os.path.join(model_run_uri, SUMMARY_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} not found: the Trainer's run_fn writes it")
    with tf.io.gfile.GFile(path) as f:
        return TrainingSummary.from_json(f.read(), path)


def read_data_summary(examples_uri: str) -> data.DataSummary:
    """The ingest report of the Examples artifact at `examples_uri`.

    Raises:
      data.DataReportError: it is missing or cannot be read; the message says what to do.
    """
    path = os.path.join(examples_uri, constants.REPORT_FILE)
    if not tf.io.gfile.exists(path):
        raise data.DataReportError(
            f"{path} not found: these Examples were not written by VideoIngest (or by a "
            "version before it wrote the report); re-run the ingest to get the data section"
        )
    try:
        with tf.io.gfile.GFile(path) as f:
            text = f.read()
    except (OSError, tf.errors.OpError) as e:
        raise data.DataReportError(f"{path} cannot be read: {e}") from e
    return data.parse_ingest_report(text, path)


def data_or_why_not(examples_uri: str) -> tuple[data.DataSummary | None, str]:
    """(the data summary, '') or (None, why it is absent): the report is still worth
    writing without its data section, and says why that is missing."""
    try:
        return read_data_summary(examples_uri), ""
    except data.DataReportError as e:
        logging.warning("ModelReport: no data section: %s", e)
        return None, str(e)


def eval_shards(examples_uri: str) -> list[str]:
    """The eval split's TFRecord shards, sorted (the order the gallery numbers them)."""
    pattern = os.path.join(constants.split_dir(examples_uri, "eval"), "*")
    return sorted(tf.io.gfile.glob(pattern))


def misclassified_gallery(
    model_dir: str, labels: list[str], examples_uri: str, size: int
) -> gallery.Gallery:
    """The candidate model (SavedModel in `model_dir`, classes `labels`) run on the
    eval split through its `serving_default` signature; its `size` most confident
    mistakes.

    Raises:
      ValueError: `model_dir` holds no SavedModel with a `serving_default` signature
        that maps serialized `examples` to `probabilities`.
    """
    if size <= 0:
        return gallery.Gallery((), 0, 0, 0)
    try:
        serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    except (OSError, KeyError, tf.errors.OpError) as e:
        raise ValueError(
            f"ModelReport: {model_dir} holds no SavedModel with a serving_default signature "
            f"({e}); the Trainer's run_fn (trainer/run.py) exports one"
        ) from e
    shards = eval_shards(examples_uri)
    scored = gallery.score_split(
        lambda batch: serve(examples=tf.constant(batch))["probabilities"].numpy(), shards
    )
    found = gallery.build_gallery(scored, labels, shards, size)
    logging.info("ModelReport: the model got %d of %d eval clips wrong", found.wrong, found.scored)
    return found


def _write(path: str, data: bytes | str) -> None:
    with tf.io.gfile.GFile(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def data_gate_fragment(anomalies: list[types.Artifact]) -> str:
    """The data gate's verdict, findings and label drift, from its anomalies artifact's
    custom properties (components/data_gate/checks.py); '' without the gate."""
    if not anomalies:
        return ""
    artifact = anomalies[0]
    verdict = artifact.get_string_custom_property(gate_checks.VERDICT_PROPERTY)
    findings = artifact.get_string_custom_property(gate_checks.FINDINGS_PROPERTY)
    drift = artifact.get_string_custom_property(gate_checks.DRIFT_PROPERTY)
    return data_gate_section(
        verdict, json.loads(findings) if findings else [], json.loads(drift) if drift else None
    )


def read_reference(
    input_dict: dict[str, list[types.Artifact]], num_classes: int
) -> tuple[results.Evaluation | None, bool]:
    """(the reference set's evaluation, blessed there), or (None, True) without one."""
    if not input_dict.get("reference_evaluation"):
        return None, True
    artifact = artifact_utils.get_single_instance(input_dict["reference_evaluation"])
    blessing = artifact_utils.get_single_instance(input_dict["reference_blessing"])
    reference = results.load_evaluation(artifact.uri, num_classes)
    return reference, bool(blessing.get_int_custom_property("blessed"))


class Executor(base_executor.BaseExecutor):
    """Builds the report from plain values (see `results`, `figures`, `render`)."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        evaluation_artifact = artifact_utils.get_single_instance(input_dict["evaluation"])
        blessing = artifact_utils.get_single_instance(input_dict["blessing"])
        model_run = artifact_utils.get_single_instance(input_dict["model_run"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        model = artifact_utils.get_single_instance(input_dict["model"])
        report = artifact_utils.get_single_instance(output_dict["report"])
        accuracy_top_k = int(exec_properties.get("accuracy_top_k") or 5)
        metric_names = json.loads(exec_properties["metric_names"])
        size = exec_properties.get("gallery_size")
        size = gallery.DEFAULT_SIZE if size is None else int(size)

        training = read_training_summary(model_run.uri)
        labels = list(training.labels)
        evaluation = results.load_evaluation(evaluation_artifact.uri, len(labels))
        classes = results.class_metrics(evaluation.confusion)
        reference, reference_blessed = read_reference(input_dict, len(labels))
        # The Pusher's rule (components/pusher/executor.py): blessed on both.
        blessed = bool(blessing.get_int_custom_property("blessed")) and reference_blessed
        reasons = list(evaluation.failures)
        if reference is not None:
            reasons += [f"reference set: {f}" for f in reference.failures]
        model_uri = blessing.get_string_custom_property("current_model") or "unknown"
        keys = headline_keys(metric_names, accuracy_top_k, len(labels))

        summary_of_data, data_absent = data_or_why_not(examples.uri)
        gate = data_gate_fragment(input_dict.get("data_gate") or [])
        mistakes = misclassified_gallery(
            path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model)),
            labels,
            examples.uri,
            size,
        )

        heatmap = figures.confusion_heatmap(
            evaluation.confusion, labels, "Confusion matrix (multi-clip, eval split)"
        )
        page = render_report(
            model_uri=model_uri,
            blessed=blessed,
            evaluation=evaluation,
            classes=classes,
            labels=labels,
            headline_keys=keys,
            heatmap_png=heatmap,
            curves_png=figures.training_curves(training.history),
            training=training,
            data=summary_of_data,
            data_absent=data_absent,
            gallery=mistakes,
            data_checks=[gate] if gate else [],
            reference=reference,
            reference_blessed=reference_blessed,
        )
        tf.io.gfile.makedirs(report.uri)
        _write(os.path.join(report.uri, REPORT_FILE), page)
        _write(os.path.join(report.uri, HEATMAP_FILE), heatmap)
        headline = {
            title: (classes.mean_class_accuracy if key == MEAN_CLASS_ACCURACY else value)
            for title, key in keys.items()
            if (value := evaluation.metric(key)) is not None or key == MEAN_CLASS_ACCURACY
        }
        multi_clip = keys["accuracy (multi-clip)"]
        if reference is not None and reference.metric(multi_clip) is not None:
            headline[REFERENCE_ACCURACY] = reference.metric(multi_clip)
        summary = {
            "model": model_uri,
            "blessed": blessed,
            "reasons": reasons,
            "headline": headline,
            "baseline": evaluation.metrics.get(results.BASELINE, {}),
            "per_class": {
                label: {
                    "support": int(classes.support[i]),
                    "precision": float(classes.precision[i]),
                    "recall": float(classes.recall[i]),
                }
                for i, label in enumerate(labels)
            },
            "confusion": evaluation.confusion.tolist(),
            "misclassified": [
                {
                    "media_id": m.media_id,
                    "label": m.true_label,
                    "predicted": m.predicted_label,
                    "confidence": m.confidence,
                }
                for m in mistakes.mistakes
            ],
        }
        if reference is not None:
            summary["reference"] = {
                "blessed": reference_blessed,
                "reasons": reference.failures,
                "metrics": reference.metrics,
                "videos": int(reference.confusion.sum()),
            }
        _write(os.path.join(report.uri, METRICS_FILE), json.dumps(summary, indent=2))
        report.set_int_custom_property(BLESSED_PROPERTY, int(blessed))
        report.set_string_custom_property(HEADLINE_PROPERTY, json.dumps(headline))
        report.set_string_custom_property(REASONS_PROPERTY, json.dumps(reasons))
        report.set_string_custom_property(MODEL_PROPERTY, model_uri)
        logging.info("ModelReport wrote %s", os.path.join(report.uri, REPORT_FILE))
