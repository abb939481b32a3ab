"""What a ModelReport's HtmlReport artifact holds, by name.

Its files, and the custom properties that carry the verdict and the headline
figures to `python -m pipeline history` (pipeline/history.py) and Kubeflow's UI,
in the manner of TFX's `tfx/components/evaluator/constants.py`. Imports nothing,
so the readers of the artifact need neither TensorFlow nor Beam.
"""

# The output artifact's type (video_action.HtmlReport, whose TYPE_NAME this is).
ARTIFACT_TYPE = "video_action.HtmlReport"

REPORT_FILE = "report.html"  # the page, every figure inlined
HEATMAP_FILE = "confusion_matrix.png"
METRICS_FILE = "metrics.json"  # the page's figures as JSON

BLESSED_PROPERTY = "blessed"  # int: 1 when blessed on the eval split (and reference set)
HEADLINE_PROPERTY = "headline"  # JSON object: headline title -> value
REASONS_PROPERTY = "reasons"  # JSON list: why not blessed ([] when blessed)
MODEL_PROPERTY = "model"  # the candidate model's URI

# The keys of ModelReport's `metric_names`: the TFMA metric (`output/name`) behind
# each headline figure the Evaluator computes (pipeline/evaluation.py names them).
METRIC_NAMES = ("multi_clip_accuracy", "single_clip_accuracy", "top_k_accuracy")
# The headline's title for the reference set's multi-clip accuracy.
REFERENCE_ACCURACY = "reference accuracy (multi-clip)"
# The one headline figure the report computes itself (from the confusion matrix);
# the others are TFMA's, named by ModelReport's `metric_names`.
MEAN_CLASS_ACCURACY = "mean_class_accuracy"
