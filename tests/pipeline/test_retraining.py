"""Retraining over spans: the LocalDagRunner runs of tests/builders/span_runs.py, span 'latest'.

Each run ingests the newest span present when it starts; the second accepted run's
model (span 5) is evaluated against the model served then (span 1's, pushed) and
pushed only when it passes.
"""

import json
import os

import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.components.evaluator.constants import (
    ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY as BASELINE_URI,
)

from components.report.constants import METRICS_FILE, REFERENCE_ACCURACY
from components.served_model.versions import same_model
from pipeline.history import open_store
from pipeline.pipeline import SERVED_MODEL_ID
from tests.builders.span_runs import LAST_SPAN_FOLDER, SPAN_RUNS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(SPAN_RUNS)]


def test_each_run_ingests_the_newest_span(span_runs):
    runs = span_runs
    for summary in (runs.first, runs.second):
        assert summary.executions["VideoIngest"] == "COMPLETE"  # never a stale cache hit
    store = open_store(runs.config.metadata_db)
    examples = sorted(store.get_artifacts_by_type("Examples"), key=lambda a: a.id)
    examples = [  # the reference set's Examples aside (test_the_reference_set_...)
        a for a in examples if a.custom_properties["source"].string_value != runs.reference_dir
    ]
    assert [a.properties["span"].int_value for a in examples] == [1, 2, 3, 4, 5]
    sources = [a.custom_properties["source"].string_value for a in examples]
    folders = ["span-1", "span-2", "span-3", "span-4", LAST_SPAN_FOLDER]
    assert sources == [os.path.join(runs.spans_dir, f, "UCF101_videos.zip") for f in folders]


def test_first_model_is_blessed_and_pushed(span_runs):
    first = span_runs.first
    assert first.blessed and not first.reasons
    assert first.pushed_to.startswith(span_runs.config.serving_dir)
    assert os.path.isfile(os.path.join(first.pushed_to, "saved_model.pb"))


def blessings_of(store, pipeline_name: str, component: str) -> list:
    """The ModelBlessing artifacts `component` output, oldest first."""
    node = store.get_context_by_type_and_name("node", f"{pipeline_name}.{component}")
    executions = sorted(store.get_executions_by_context(node.id), key=lambda e: e.id)
    ids = {
        event.artifact_id
        for event in store.get_events_by_execution_ids([e.id for e in executions])
        if event.type == metadata_store_pb2.Event.OUTPUT
    }
    return [a for a in store.get_artifacts_by_id(sorted(ids)) if a.type == "ModelBlessing"]


def test_second_model_is_judged_against_the_first(span_runs):
    runs = span_runs
    store = open_store(runs.config.metadata_db)
    assert runs.second.model != runs.first.model
    assert runs.second.executions[SERVED_MODEL_ID] == "COMPLETE"
    assert runs.first.baseline == "" and runs.second.baseline == runs.first.pushed_to
    evaluator = store.get_context_by_type_and_name("node", f"{runs.config.name}.Evaluator")
    evaluations = sorted(store.get_executions_by_context(evaluator.id), key=lambda e: e.id)
    assert len(evaluations) == 2
    baseline_ids = {
        event.artifact_id
        for event in store.get_events_by_execution_ids([evaluations[-1].id])
        if any(step.key == "baseline_model" for step in event.path.steps)
    }
    (baseline,) = store.get_artifacts_by_id(sorted(baseline_ids))
    # ServedModel's copy of the version the first run pushed.
    assert baseline.custom_properties["served_from"].string_value == runs.first.pushed_to
    assert same_model(os.path.join(baseline.uri, "Format-Serving"), runs.first.pushed_to)
    blessing = blessings_of(store, runs.config.name, "Evaluator")[-1]
    assert blessing.custom_properties[BASELINE_URI].string_value == baseline.uri
    # Pushed exactly when it passed (no regression against the first model), unless
    # it is byte for byte the model served.
    served = runs.second.pushed_to or runs.second.already_served
    assert bool(served) == runs.second.blessed
    assert not (runs.second.pushed_to and runs.second.already_served)
    if not runs.second.blessed:
        assert runs.second.reasons


def test_the_reference_set_judges_every_accepted_run_and_gates_the_push(span_runs):
    """Both accepted runs ingest the fixed reference folder with the span's classes, all
    of it as eval, and evaluate the candidate (and the served model) on it; a model is
    pushed only when both Evaluators bless it."""
    runs = span_runs
    store = open_store(runs.config.metadata_db)
    references = sorted(
        (
            a
            for a in store.get_artifacts_by_type("Examples")
            if a.custom_properties["source"].string_value == runs.reference_dir
        ),
        key=lambda a: a.id,
    )
    assert len(references) == 2  # read after the data gate: never for a refused span
    reference_videos = sum(len(files) for _, _, files in os.walk(runs.reference_dir))
    assert reference_videos == 9
    for summary in (runs.first, runs.second):
        assert summary.executions["ReferenceIngest"] == "COMPLETE"
        assert summary.executions["ReferenceEvaluator"] == "COMPLETE"
        assert 0.0 <= summary.headline[REFERENCE_ACCURACY] <= 1.0
        with open(os.path.join(os.path.dirname(summary.report), METRICS_FILE)) as f:
            reference = json.load(f)["reference"]
        assert reference["videos"] == reference_videos
        assert ("baseline" in reference["metrics"]) == (summary is runs.second)
    span_examples = {
        a.uri: a for a in store.get_artifacts_by_type("Examples") if a not in references
    }
    for summary, reference in zip((runs.first, runs.second), references, strict=False):
        span = span_examples[summary.examples]
        assert reference.custom_properties["label_names"] == span.custom_properties["label_names"]
        assert reference.custom_properties["num_train"].int_value == 0
        assert reference.custom_properties["num_eval"].int_value == reference_videos
    evaluator, reference_evaluator = (
        blessings_of(store, runs.config.name, c) for c in ("Evaluator", "ReferenceEvaluator")
    )
    assert len(evaluator) == len(reference_evaluator) == 2
    assert reference_evaluator[-1].custom_properties[BASELINE_URI].string_value == (
        evaluator[-1].custom_properties[BASELINE_URI].string_value
    )
    for summary, on_split, on_reference in zip(
        (runs.first, runs.second), evaluator, reference_evaluator, strict=False
    ):
        both = all(b.custom_properties["blessed"].int_value for b in (on_split, on_reference))
        assert summary.blessed == both
        assert bool(summary.pushed_to or summary.already_served) == both
