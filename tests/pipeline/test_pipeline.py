"""create_pipeline's DAG: components, wiring and what flows from the config (no run)."""

import json

import pytest

from components.report import gallery
from pipeline import evaluation
from pipeline.config import load_config
from pipeline.pipeline import SERVED_MODEL_ID, create_pipeline, planned_class_count

ORDER = [
    "VideoIngest",
    "StatisticsGen",
    "DataGate",
    SERVED_MODEL_ID,
    "Trainer",
    "Evaluator",
    "ModelReport",
    "Pusher",
]


def components(*overrides):
    pipeline = create_pipeline(load_config(None, list(overrides)))
    return pipeline, {c.id: c for c in pipeline.components}


def test_components_and_their_inputs():
    pipeline, by_id = components("evaluation.min_accuracy=0.7")
    assert sorted(c.id for c in pipeline.components) == sorted(ORDER)
    trainer = by_id["Trainer"]
    assert trainer.exec_properties["run_fn"] == "trainer.run.run_fn"
    custom = json.loads(trainer.exec_properties["custom_config"])
    assert custom["trainer"]["random_init"] is True
    assert "base_model" not in trainer.inputs  # no warm start unless asked
    evaluator = by_id["Evaluator"]
    assert evaluator.inputs["baseline_model"].producer_component_id == SERVED_MODEL_ID
    assert by_id[SERVED_MODEL_ID].exec_properties["serving_dir"] == "runs/demo/serving_model"
    assert by_id["Pusher"].inputs["model_blessing"].producer_component_id == "Evaluator"
    assert by_id["ModelReport"].inputs["evaluation"].producer_component_id == "Evaluator"
    assert '"lower_bound": 0.7' in evaluator.exec_properties["eval_config"]


def test_warm_start_takes_the_served_model():
    _, by_id = components("trainer.warm_start=true")
    assert by_id["Trainer"].inputs["base_model"].producer_component_id == SERVED_MODEL_ID


def test_cache_and_paths_come_from_the_config(tmp_path):
    pipeline, _ = components(f"pipeline_root={tmp_path}", "enable_cache=false")
    assert pipeline.pipeline_info.pipeline_root == str(tmp_path)
    assert not pipeline.enable_cache


@pytest.mark.parametrize("classes, expected", [(0, None), (4, 4), (["SlideLeft", "Grow"], 2)])
def test_class_count_known_before_the_ingest(classes, expected):
    config = load_config(None, [f"ingest.selection.classes={json.dumps(classes)}"])
    assert planned_class_count(config) == expected


def test_eval_config_metrics_and_thresholds():
    config = load_config(None, ["evaluation.min_accuracy=0.6", "evaluation.max_regression=0.02"])
    tfma_config = evaluation.eval_config(config.evaluation, 6)
    multi, single = tfma_config.metrics_specs  # per-class figures: the report's (eval_config)
    assert list(multi.output_names) == [evaluation.MULTI_CLIP]
    names = [m.class_name for m in multi.metrics]
    assert names[0] == "SparseCategoricalAccuracy" and "MultiClassConfusionMatrixPlot" in names
    assert "SparseTopKCategoricalAccuracy" in names
    threshold = multi.metrics[0].threshold
    assert threshold.value_threshold.lower_bound.value == pytest.approx(0.6)
    assert threshold.change_threshold.absolute.value == pytest.approx(-0.02, abs=1e-6)
    assert list(single.output_names) == [evaluation.SINGLE_CLIP]
    assert not multi.HasField("binarize") and not multi.HasField("aggregate")
    # Fewer classes than k: no top-k metric; unknown count: top-k.
    few = evaluation.eval_config(config.evaluation, 3).metrics_specs[0]
    assert "SparseTopKCategoricalAccuracy" not in [m.class_name for m in few.metrics]
    unknown = evaluation.eval_config(config.evaluation, None).metrics_specs[0]
    assert "SparseTopKCategoricalAccuracy" in [m.class_name for m in unknown.metrics]


SIX_NAMES = ["SlideLeft", "SlideRight", "SlideUp", "SlideDown", "Grow", "Shrink"]


@pytest.mark.parametrize(
    "classes", [0, 3, 10, json.dumps(["SlideUp", "Grow"]), json.dumps(SIX_NAMES)]
)
def test_tfma_builds_the_metrics_for_every_way_of_choosing_classes(classes):
    """What the Evaluator does first with the config: TFMA turns it into computations.
    A per-class macro average failed right here ("class_weights are required in
    order to compute macro average over all classes") for any fixed count."""
    from tensorflow_model_analysis.metrics import metric_specs

    config = load_config(None, [f"ingest.selection.classes={classes}"])
    num_classes = planned_class_count(config)
    tfma_config = evaluation.eval_config(config.evaluation, num_classes)
    computations = metric_specs.to_computations(tfma_config.metrics_specs, eval_config=tfma_config)
    keys = [key for computation in computations for key in computation.keys]
    names = {key.name for key in keys}
    # The report's per-class figures all come from the confusion matrix.
    assert "multi_class_confusion_matrix_plot" in names
    assert not any(key.sub_key or key.aggregation_type for key in keys)
    k = config.evaluation.accuracy_top_k
    has_top_k = evaluation.top_k_name(k) in names
    assert has_top_k == (num_classes is None or num_classes >= k)


def test_report_reads_the_examples_and_the_candidate_model():
    _, by_id = components()
    report = by_id["ModelReport"]
    assert report.inputs["examples"].producer_component_id == "VideoIngest"
    assert report.inputs["model"].producer_component_id == "Trainer"
    assert report.exec_properties["gallery_size"] == gallery.DEFAULT_SIZE == 12
    _, by_id = components("evaluation.gallery_size=0")
    assert by_id["ModelReport"].exec_properties["gallery_size"] == 0
    assert report.inputs["data_gate"].producer_component_id == "DataGate"


def test_the_data_gate_stands_between_the_statistics_and_the_trainer():
    _, by_id = components("data.label_drift=warn", "pipeline_root=/runs/root")
    gate = by_id["DataGate"]
    assert gate.inputs["statistics"].producer_component_id == "StatisticsGen"
    assert gate.inputs["examples"].producer_component_id == "VideoIngest"
    # The Trainer's schema is the gate's output: it cannot run before, or after a refusal.
    assert by_id["Trainer"].inputs["schema"].producer_component_id == "DataGate"
    assert json.loads(gate.exec_properties["config"])["label_drift"] == "warn"
    reference = gate.exec_properties["reference_dir"]
    assert reference == "/runs/root/data_gate_reference/video-action-demo"


def test_a_reference_set_is_ingested_with_the_spans_classes_and_judged_like_the_span():
    _, by_id = components("evaluation.reference_source=/data/reference.zip")
    reference = by_id["ReferenceIngest"]
    assert reference.inputs["label_examples"].producer_component_id == "VideoIngest"
    assert "DataGate" in {node.id for node in reference.upstream_nodes}  # accepted spans only
    ingested = json.loads(reference.exec_properties["config"])
    assert ingested["source"] == "/data/reference.zip" and ingested["split_lists"] == ""
    assert ingested["selection"]["eval_only"] is True
    span = json.loads(by_id["VideoIngest"].exec_properties["config"])
    assert ingested["frames"] == span["frames"]  # what the model was trained on
    assert ingested["jpeg_quality"] == span["jpeg_quality"]
    evaluator = by_id["ReferenceEvaluator"]
    assert evaluator.inputs["examples"].producer_component_id == "ReferenceIngest"
    assert evaluator.inputs["model"].producer_component_id == "Trainer"
    assert evaluator.inputs["baseline_model"].producer_component_id == SERVED_MODEL_ID
    assert (
        evaluator.exec_properties["eval_config"]
        == by_id["Evaluator"].exec_properties["eval_config"]
    )
    pusher = by_id["Pusher"]
    assert pusher.inputs["model_blessing"].producer_component_id == "Evaluator"
    assert pusher.inputs["reference_blessing"].producer_component_id == "ReferenceEvaluator"
    report = by_id["ModelReport"]
    assert report.inputs["reference_evaluation"].producer_component_id == "ReferenceEvaluator"
    assert report.inputs["reference_blessing"].producer_component_id == "ReferenceEvaluator"


def test_without_a_reference_set_the_pusher_needs_one_blessing():
    _, by_id = components()
    assert "reference_blessing" not in by_id["Pusher"].inputs
    assert "reference_evaluation" not in by_id["ModelReport"].inputs


def test_a_local_run_does_not_import_tfxs_cloud_extensions():
    """`tfx.v1` imports every TFX extension, Google Cloud AI Platform's among them
    (~4 s of a local run's start on 2 cores): the pipeline and its runners import
    TFX's own modules instead."""
    import subprocess
    import sys

    code = (
        "import sys, pipeline.local_runner, kubeflow_runner.compile, pipeline.cli;"
        "print(sorted(m for m in sys.modules if m.startswith(('tfx.v1', 'tfx.extensions'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
