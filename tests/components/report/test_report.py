"""The report's pure parts: per-class metrics, figures, the HTML page, failure text."""

import base64
import json
import re

import numpy as np
import pytest

from components.report import data, figures, gallery, render, results
from components.report.executor import headline_keys
from components.report.render import render_report
from components.training_summary import TrainingSummary
from pipeline.evaluation import report_metric_names

LABELS = ["SlideLeft", "SlideRight", "Grow"]
CONFUSION = np.array([[3, 1, 0], [0, 2, 2], [0, 0, 4]])
METRIC_NAMES = report_metric_names(5)


def summary(**fields) -> TrainingSummary:
    return TrainingSummary(
        labels=tuple(LABELS), eval_multi_clip_accuracy=0.75, eval_single_clip_accuracy=0.7, **fields
    )


def test_class_metrics_from_a_confusion_matrix():
    classes = results.class_metrics(CONFUSION)
    np.testing.assert_array_equal(classes.support, [4, 4, 4])
    np.testing.assert_allclose(classes.recall, [0.75, 0.5, 1.0])
    np.testing.assert_allclose(classes.precision, [1.0, 2 / 3, 4 / 6])
    assert classes.accuracy == pytest.approx(9 / 12)
    assert classes.mean_class_accuracy == pytest.approx(0.75)


def test_mean_class_accuracy_weighs_classes_not_videos():
    # 10 videos of class 0 all right, 2 of class 1 all wrong: accuracy 10/12, mean 0.5.
    classes = results.class_metrics(np.array([[10, 0], [2, 0]]))
    assert classes.accuracy == pytest.approx(10 / 12)
    assert classes.mean_class_accuracy == pytest.approx(0.5)
    assert classes.precision[1] == 0.0


def test_classes_without_eval_videos_are_left_out_of_the_mean():
    classes = results.class_metrics(np.array([[2, 0], [0, 0]]))
    assert np.isnan(classes.recall[1])
    assert classes.mean_class_accuracy == 1.0


def test_confusion_matrix_must_be_square():
    with pytest.raises(ValueError, match="square"):
        results.class_metrics(np.zeros([2, 3]))


def evaluation(baseline=False, failures=()):
    metrics = {
        results.CANDIDATE: {
            "probabilities/sparse_categorical_accuracy": 0.75,
            "single_clip_probabilities/sparse_categorical_accuracy": 0.5,
        }
    }
    if baseline:
        metrics[results.BASELINE] = {"probabilities/sparse_categorical_accuracy": 0.8}
    return results.Evaluation(metrics, CONFUSION, not failures, list(failures))


def page(evaluation_result, blessed=True, **more):
    return render_report(
        model_uri="/root/Trainer/model/7",
        blessed=blessed,
        evaluation=evaluation_result,
        classes=results.class_metrics(CONFUSION),
        labels=LABELS,
        headline_keys=headline_keys(METRIC_NAMES, 5, len(LABELS)),
        heatmap_png=figures.confusion_heatmap(CONFUSION, LABELS, "confusion"),
        curves_png=figures.training_curves({"loss": [2.0, 1.0], "val_accuracy": [0.3, 0.6]}),
        training=summary(checkpoint="random_init", variant="stream", phases={"fit_s": 3.0}),
        **more,
    )


def test_report_is_self_contained_with_metrics_and_images():
    html = page(evaluation())
    assert "Blessed" in html
    assert "accuracy (multi-clip)" in html and "0.750" in html
    assert "accuracy (single-clip)" in html and "0.500" in html
    assert "mean class accuracy" in html
    assert "top-5" not in html  # 3 classes: top-5 would be meaningless
    for label in LABELS:
        assert f"<td>{label}</td>" in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 2
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in html and "https://" not in html  # opens offline
    assert "No blessed model to compare with yet" in html


def test_report_compares_with_the_baseline_and_says_why_not_blessed():
    reason = "probabilities/sparse_categorical_accuracy: 0.7500 is below the bar 0.9000"
    html = page(evaluation(baseline=True, failures=[reason]), blessed=False)
    assert "Not blessed" in html and "is below the bar 0.9000" in html
    assert "served model (baseline)" in html
    assert "0.800" in html and "-0.050" in html


def test_the_reference_sets_figures_verdict_and_reasons_are_shown():
    drop = "probabilities/sparse_categorical_accuracy: -0.0500 against the served model"
    reference = evaluation(baseline=True, failures=[drop])
    html = page(evaluation(), blessed=False, reference=reference, reference_blessed=False)
    assert "Not blessed" in html and f"reference set: {drop}" in html
    part = html[html.index("<h2>Reference set") : html.index("<h2>Confusion matrix")]
    assert "Failed on the reference set" in part and drop in part
    assert f"{int(CONFUSION.sum())} videos" in part
    assert "served model (baseline)" in part and "0.800" in part and "-0.050" in part
    assert "Reference set" not in page(evaluation())  # none configured: no section


def test_report_escapes_names():
    html = render_report(
        model_uri="<script>",
        blessed=True,
        evaluation=evaluation(),
        classes=results.class_metrics(CONFUSION),
        labels=["<b>", "x", "y"],
        headline_keys=headline_keys(METRIC_NAMES, 5, 3),
        heatmap_png=b"",
        curves_png=None,
        training=summary(),
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<td>&lt;b&gt;</td>" in html


def test_top_k_in_the_headline_only_with_enough_classes():
    assert "top-5 accuracy" in headline_keys(METRIC_NAMES, 5, 6)
    assert "top-5 accuracy" not in headline_keys(METRIC_NAMES, 5, 4)


def test_heatmap_and_curves_are_pngs():
    assert (
        figures.confusion_heatmap(np.eye(12, dtype=int), list("abcdefghijkl"), "t")[:4]
        == b"\x89PNG"
    )
    assert figures.training_curves({}) is None


def failure(is_diff: bool, value: float):
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2

    from pipeline.config import EvalConfig
    from pipeline.evaluation import eval_config

    threshold = eval_config(EvalConfig(min_accuracy=0.5, max_regression=0.01), 6)
    threshold = threshold.metrics_specs[0].metrics[0].threshold
    result = validation_result_pb2.ValidationFailure(
        metric_key=metrics_for_slice_pb2.MetricKey(
            name="sparse_categorical_accuracy", output_name="probabilities", is_diff=is_diff
        ),
        metric_threshold=threshold,
    )
    result.metric_value.double_value.value = value
    return result


def test_failures_say_which_bar_and_by_how_much():
    below = results.describe_failure(failure(False, 0.25))
    assert below == "probabilities/sparse_categorical_accuracy: 0.2500 is below the bar 0.5000"
    worse = results.describe_failure(failure(True, -0.2083))
    assert worse == (
        "probabilities/sparse_categorical_accuracy/diff: -0.2083 against the served model "
        "(a drop of at most 0.0100 is allowed)"
    )


def test_mistakes_ranked_most_confident_first_then_by_media_id():
    probabilities = np.array(
        [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]]
    )
    labels = [0, 0, 1, 0, 0]  # 0 right; 1 (0.7), 2 (0.8), 3 and 4 (0.8) wrong
    media = ["a", "b", "z", "y", "c"]
    assert gallery.rank_mistakes(labels, probabilities, media) == [4, 3, 2, 1]
    assert gallery.rank_mistakes([], np.zeros([0, 3]), []) == []
    with pytest.raises(ValueError, match="probabilities must be"):
        gallery.rank_mistakes([0, 1], probabilities, media)


@pytest.mark.parametrize(
    "num_real, k, expected",
    [(8, 4, [0, 2, 5, 7]), (3, 4, [0, 1, 2]), (1, 4, [0]), (0, 4, []), (8, 1, [0])],
)
def test_strip_frames_spread_over_the_real_frames(num_real, k, expected):
    assert gallery.strip_indices(num_real, k) == expected


INGEST_REPORT = {
    "class_names": ["<b>", "x"],
    "written": {"train": {"<b>": 3, "x": 2}, "eval": {"<b>": 1, "x": 0}},
    "bad": [{"video": "x/bad.avi", "split": "eval", "reason": "cannot open <file>"}],
    "selected": 7,
    "warnings": ["identical videos (sha256 abc): ..."],
    "video_warnings": [{"video": "x/w.avi", "warning": "1000 fps is not plausible"}],
    "duplicates": [
        {
            "sha256": "abcdef0123456789",
            "videos": [
                {"video": "<b>/a.avi", "split": "train", "label": "<b>"},
                {"video": "x/a.avi", "split": "eval", "label": "x"},
            ],
            "labels": ["<b>", "x"],
            "splits": ["eval", "train"],
        }
    ],
    "duplicates_policy": "drop",
}


def test_data_section_from_an_ingest_report():
    summary = data.parse_ingest_report(json.dumps(INGEST_REPORT), "r.json")
    assert summary.count("train") == 5 and summary.count("eval", "<b>") == 1
    section = render.data_section(summary, checks=["<p>drift: none</p>"])
    assert "<tr><td>&lt;b&gt;</td><td>3</td><td>1</td></tr>" in section
    assert "<tr><td>total</td><td>5</td><td>1</td></tr>" in section
    assert "<td>x/bad.avi</td><td>eval</td><td>cannot open &lt;file&gt;</td>" in section
    assert "every video of these groups was left out" in section
    assert "&lt;b&gt;/a.avi (&lt;b&gt;, train), x/a.avi (x, eval)" in section
    assert "x/w.avi: 1000 fps is not plausible" in section
    assert section.endswith("<p>drift: none</p>")  # room for checks made elsewhere


@pytest.mark.parametrize(
    "text, message",
    [("[1", "not valid JSON"), ('{"class_names": []}', "lacks \\['written', 'bad', 'selected'\\]")],
)
def test_unreadable_ingest_reports_are_named(text, message):
    with pytest.raises(data.DataReportError, match=message):
        data.parse_ingest_report(text, "/x/ingest_report.json")


def test_page_says_when_data_is_absent_and_when_nothing_was_misclassified():
    html = render_report(
        model_uri="m",
        blessed=True,
        evaluation=evaluation(),
        classes=results.class_metrics(CONFUSION),
        labels=LABELS,
        headline_keys=headline_keys(METRIC_NAMES, 5, 3),
        heatmap_png=b"",
        curves_png=None,
        training=summary(),
        data_absent="/x/ingest_report.json not found",
        gallery=gallery.Gallery((), scored=12, wrong=0, size=12),
    )
    assert "Data summary not available: /x/ingest_report.json not found" in html
    assert "classified all 12 eval clips correctly" in html


def test_gallery_of_an_empty_eval_split_says_so():
    section = render.gallery_section(gallery.Gallery((), scored=0, wrong=0, size=12))
    assert "holds no clip" in section and "<figure" not in section


def test_data_gate_fragment_from_the_gates_anomalies_artifact():
    from tfx.types import standard_artifacts

    from components.data_gate import checks
    from components.report.executor import data_gate_fragment

    assert data_gate_fragment([]) == ""  # no gate in the pipeline: no fragment
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.set_string_custom_property(checks.VERDICT_PROPERTY, checks.PASSED_WITH_WARNINGS)
    artifact.set_string_custom_property(
        checks.FINDINGS_PROPERTY, json.dumps(["class_imbalance: 12x <b> (warning)"])
    )
    artifact.set_string_custom_property(
        checks.DRIFT_PROPERTY,
        json.dumps({"label_drift": 0.0833, "reference_span": 3, "max_label_drift": 0.25}),
    )
    fragment = data_gate_fragment([artifact])
    assert "<b>passed with warnings</b>" in fragment
    assert "against span 3 (the last accepted): L-infinity 0.083" in fragment
    assert "max_label_drift 0.25" in fragment
    assert "<li>class_imbalance: 12x &lt;b&gt; (warning)</li>" in fragment

    first = standard_artifacts.ExampleAnomalies()
    first.set_string_custom_property(checks.VERDICT_PROPERTY, checks.PASSED)
    first.set_string_custom_property(
        checks.DRIFT_PROPERTY,
        json.dumps({"label_drift": None, "reference_span": None, "max_label_drift": 0.25}),
    )
    fragment = data_gate_fragment([first])
    assert "No earlier accepted span" in fragment and "No findings." in fragment


def test_headline_keys_refuse_metric_names_without_a_role():
    with pytest.raises(ValueError, match=r"metric_names lack \['top_k_accuracy'\]"):
        headline_keys({k: v for k, v in METRIC_NAMES.items() if k != "top_k_accuracy"}, 5, 6)
