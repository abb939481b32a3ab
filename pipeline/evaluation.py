"""The Evaluator's TFMA configuration: metrics, multi-clip vs single-clip, blessing bars.

The exported `serving_default` signature returns `probabilities` (the mean over
`eval_views` windows spread over each video: multi-clip) and
`single_clip_probabilities` (the centre window alone). TFMA evaluates both
outputs against `clip/label/index`, so the report puts the two accuracies side
by side. Blessing looks at multi-clip accuracy only.
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from components.ingest.records import LABEL_KEY
from pipeline.config import EvalConfig

MULTI_CLIP = "probabilities"
SINGLE_CLIP = "single_clip_probabilities"
ACCURACY = "sparse_categorical_accuracy"


def top_k_name(k: int) -> str:
    return f"top_{k}_accuracy"


def report_metric_names(accuracy_top_k: int) -> dict[str, str]:
    """ModelReport's `metric_names`: the metrics `eval_config` asks TFMA for, as
    `output/name`, under the keys the report knows (components/report/constants.py)."""
    return {
        "multi_clip_accuracy": f"{MULTI_CLIP}/{ACCURACY}",
        "single_clip_accuracy": f"{SINGLE_CLIP}/{ACCURACY}",
        "top_k_accuracy": f"{MULTI_CLIP}/{top_k_name(accuracy_top_k)}",
    }


def eval_config(evaluation: EvalConfig, num_classes: int | None) -> tfma.EvalConfig:
    """TFMA config; `num_classes` None means not known before the ingest runs.

    Top-k accuracy is computed unless the class count is known to be below k.
    Per-class precision and recall and mean class accuracy (the mean of the
    recalls) are not TFMA metrics: the report derives them from the multi-clip
    confusion matrix (MultiClassConfusionMatrixPlot; its threshold-0 matrix is the
    argmax), the same way for every class count, 0 (all) included. TFMA's own
    per-class Precision/Recall do not fit: binarized per class they compare the
    class's probability with 0.5 (not the argmax the accuracy uses); with
    `top_k: 1` they count every example as predicting a class that is never the
    argmax; and their macro average fails unless AggregationOptions lists every
    class in `class_weights` ("class_weights are required in order to compute
    macro average over all classes": TFMA does not take them from `binarize`).
    """
    outputs = (MULTI_CLIP, SINGLE_CLIP)
    model_spec = tfma.ModelSpec(
        signature_name="serving_default",
        # Said, not detected: without it TFMA tries `tf.keras.models.load_model` on the
        # SavedModel first (tfma/utils/model_util.py, `get_model_type`), which fails on
        # ours after ~6 s on 2 cores per model loaded, and logs a Keras warning.
        model_type=tfma.TF_GENERIC,
        label_keys={output: LABEL_KEY for output in outputs},
        prediction_keys={output: output for output in outputs},
    )
    accuracy = tfma.MetricConfig(
        class_name="SparseCategoricalAccuracy",
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(
                lower_bound={"value": evaluation.min_accuracy}
            ),
            # Ties pass: a retrained model as good as the blessed one replaces it.
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -evaluation.max_regression - 1e-9},
            ),
        ),
    )
    metrics = [
        accuracy,
        tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
        tfma.MetricConfig(class_name="ExampleCount"),
    ]
    k = evaluation.accuracy_top_k
    if num_classes is None or num_classes >= k:
        metrics.append(
            tfma.MetricConfig(
                class_name="SparseTopKCategoricalAccuracy",
                config=f'"k": {k}, "name": "{top_k_name(k)}"',
            )
        )
    specs = [
        tfma.MetricsSpec(metrics=metrics, output_names=[MULTI_CLIP]),
        tfma.MetricsSpec(
            metrics=[tfma.MetricConfig(class_name="SparseCategoricalAccuracy")],
            output_names=[SINGLE_CLIP],
        ),
    ]
    return tfma.EvalConfig(
        model_specs=[model_spec],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=specs,
    )
