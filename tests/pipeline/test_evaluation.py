"""The Evaluator's multi-clip metrics as TFMA computes them, read as the report reads them.

TFMA runs in-process on made-up labels and probabilities (`tfma.analyze_raw_data`,
no model) with the multi-clip spec `eval_config` gives the Evaluator. The report's
per-class precision and recall come from the confusion matrix TFMA writes: it must be
the argmax count, and agree with TFMA's accuracy, whatever the class count and even
for a class the model never predicts (where TFMA's binarized per-class metrics go
wrong: see eval_config).
"""

import numpy as np
import pandas as pd
import pytest

from components.report import results
from pipeline import evaluation
from pipeline.config import EvalConfig


def evaluate_raw(folder: str, labels: np.ndarray, probabilities: np.ndarray):
    """results.Evaluation of TFMA run with the Evaluator's multi-clip spec."""
    import tensorflow_model_analysis as tfma

    num_classes = probabilities.shape[1]
    multi_clip = evaluation.eval_config(EvalConfig(), num_classes).metrics_specs[0]
    multi_clip.ClearField("output_names")  # one unnamed output in a raw-data run
    for metric in multi_clip.metrics:
        metric.ClearField("threshold")  # its change threshold needs a baseline model
    config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key="label", prediction_key="probabilities")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[multi_clip],
    )
    frame = pd.DataFrame({"label": labels, "probabilities": list(probabilities)})
    tfma.analyze_raw_data(frame, config, output_path=folder)
    return results.load_evaluation(folder, num_classes, confusion_output="")


@pytest.mark.parametrize("num_classes", [3, 7])
def test_report_figures_are_the_argmax_counts_of_tfmas_matrix(tmp_path, num_classes):
    rng = np.random.default_rng(num_classes)
    labels = rng.integers(0, num_classes, 60)
    # Flat probabilities, the highest often below 0.5; the last class is never the
    # argmax (TFMA's `top_k: 1` recall calls it 1.0 for its examples).
    probabilities = rng.dirichlet(np.ones(num_classes), len(labels))
    probabilities[:, -1] = 0.0
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    evaluated = evaluate_raw(str(tmp_path), labels, probabilities)

    expected = np.zeros([num_classes, num_classes], dtype=np.int64)
    np.add.at(expected, (labels, probabilities.argmax(axis=1)), 1)
    np.testing.assert_array_equal(evaluated.confusion, expected)
    classes = results.class_metrics(evaluated.confusion)
    assert classes.recall[-1] == 0.0 and classes.precision[-1] == 0.0
    assert classes.accuracy == pytest.approx(evaluated.metric(evaluation.ACCURACY), abs=1e-6)
    support = np.bincount(labels, minlength=num_classes)
    np.testing.assert_array_equal(classes.support, support)
    correct = np.diag(expected)
    assert classes.mean_class_accuracy == pytest.approx(np.mean(correct / support))
