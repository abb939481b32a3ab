"""An evaluation as plain values: TFMA's output read once, per-class metrics derived.

`Evaluation` holds what the report and the CLI show; `class_metrics` is a pure
function of a confusion matrix, so per-class precision, recall (class accuracy)
and mean class accuracy are tested without TFMA.
"""

from __future__ import annotations

import dataclasses

import numpy as np

CANDIDATE = "candidate"
BASELINE = "baseline"


@dataclasses.dataclass
class Evaluation:
    """Attributes:
    metrics: {model name: {"output/metric": value}} for the unsliced data
      (model name 'candidate', and 'baseline' when a blessed model was compared).
    confusion: [actual, predicted] example counts (multi-clip) of the candidate.
    validation_ok: TFMA's verdict on the thresholds.
    failures: one line per failed threshold, saying which metric, its value and the bar.
    """

    metrics: dict[str, dict[str, float]]
    confusion: np.ndarray
    validation_ok: bool
    failures: list[str]

    @property
    def has_baseline(self) -> bool:
        return bool(self.metrics.get(BASELINE))

    def metric(self, key: str, model: str = CANDIDATE) -> float | None:
        return self.metrics.get(model, {}).get(key)


@dataclasses.dataclass(frozen=True)
class ClassMetrics:
    """Per-class figures from a confusion matrix (rows: actual, columns: predicted)."""

    support: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    accuracy: float
    mean_class_accuracy: float


def class_metrics(confusion: np.ndarray) -> ClassMetrics:
    """Precision, recall (= class accuracy) per class, overall and mean class accuracy.

    Classes with no eval examples are left out of the mean (their recall is NaN);
    a class never predicted has precision 0.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {confusion.shape}")
    correct = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, correct / support, np.nan)
        precision = np.where(predicted > 0, correct / predicted, 0.0)
    total = confusion.sum()
    return ClassMetrics(
        support=support.astype(np.int64),
        precision=precision,
        recall=recall,
        accuracy=float(correct.sum() / total) if total else float("nan"),
        mean_class_accuracy=float(np.nanmean(recall)) if np.any(support > 0) else float("nan"),
    )


def metric_name(key) -> str:
    """'output/name' or 'output/name/class_id=N' for a TFMA MetricKey proto."""
    name = f"{key.output_name}/{key.name}" if key.output_name else key.name
    if key.HasField("sub_key") and key.sub_key.HasField("class_id"):
        name += f"/class_id={key.sub_key.class_id.value}"
    if key.is_diff:
        name += "/diff"
    return name


def load_evaluation(
    evaluation_dir: str, num_classes: int, confusion_output: str = "probabilities"
) -> Evaluation:
    """Reads the Evaluator's output folder (metrics, plots, validations)."""
    import tensorflow_model_analysis as tfma

    metrics: dict[str, dict[str, float]] = {}
    for per_slice in tfma.load_metrics(evaluation_dir):
        if per_slice.slice_key.single_slice_keys:
            continue
        for entry in per_slice.metric_keys_and_values:
            model = entry.key.model_name or CANDIDATE
            value = entry.value
            if value.HasField("double_value"):
                metrics.setdefault(model, {})[metric_name(entry.key)] = value.double_value.value
    confusion = np.zeros([num_classes, num_classes], dtype=np.int64)
    for per_slice in tfma.load_plots(evaluation_dir):
        if per_slice.slice_key.single_slice_keys:
            continue
        for entry in per_slice.plot_keys_and_values:
            if entry.key.model_name not in ("", CANDIDATE):
                continue
            if entry.key.output_name != confusion_output:
                continue
            matrices = entry.value.multi_class_confusion_matrix_at_thresholds.matrices
            if not matrices:
                continue
            # Threshold 0 (TFMA's default) is the plain argmax confusion matrix.
            matrix = min(matrices, key=lambda m: m.threshold)
            for cell in matrix.entries:
                actual, predicted = cell.actual_class_id, cell.predicted_class_id
                if 0 <= actual < num_classes and 0 <= predicted < num_classes:
                    confusion[actual, predicted] += int(round(cell.num_weighted_examples))
    validation = tfma.load_validation_result(evaluation_dir)
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            failures.append(describe_failure(failure))
    if validation.missing_thresholds:
        failures.append("a threshold's metric was not computed, so it could not be checked")
    return Evaluation(metrics, confusion, bool(validation.validation_ok), failures)


def describe_failure(failure) -> str:
    """'accuracy 0.40 is below the bar 0.50' style text for a TFMA ValidationFailure."""
    name = metric_name(failure.metric_key)
    value = failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    if failure.metric_key.is_diff:
        change = threshold.change_threshold
        if not change.HasField("absolute"):
            return f"{name}: {failure.message}"
        # The bound is -(max_regression + 1e-9): ties pass; show the drop allowed.
        allowed = max(0.0, -change.absolute.value - 1e-9)
        return (
            f"{name}: {value:+.4f} against the served model "
            f"(a drop of at most {allowed:.4f} is allowed)"
        )
    bound = threshold.value_threshold
    if bound.HasField("lower_bound"):
        return f"{name}: {value:.4f} is below the bar {bound.lower_bound.value:.4f}"
    if bound.HasField("upper_bound"):
        return f"{name}: {value:.4f} is above the bar {bound.upper_bound.value:.4f}"
    return f"{name}: {failure.message}"
