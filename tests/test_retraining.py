"""Retraining over spans: the LocalDagRunner runs of tests/span_runs.py, span 'latest'.

Each run ingests the newest span present when it starts; the second accepted run's
model (span 5) is evaluated against the model served then (span 1's, pushed) and
pushed only when it passes.
"""

import os

import pytest
from tfx.components.evaluator.constants import (
    ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY as BASELINE_URI,
)

from components.served_model.versions import same_model
from pipeline.history import open_store
from pipeline.pipeline import SERVED_MODEL_ID
from tests.span_runs import LAST_SPAN_FOLDER, SPAN_RUNS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(SPAN_RUNS)]


def test_each_run_ingests_the_newest_span(span_runs):
    runs = span_runs
    for summary in (runs.first, runs.second):
        assert summary.executions["VideoIngest"] == "COMPLETE"  # never a stale cache hit
    store = open_store(runs.config.metadata_db)
    examples = sorted(store.get_artifacts_by_type("Examples"), key=lambda a: a.id)
    assert [a.properties["span"].int_value for a in examples] == [1, 2, 3, 4, 5]
    sources = [a.custom_properties["source"].string_value for a in examples]
    folders = ["span-1", "span-2", "span-3", "span-4", LAST_SPAN_FOLDER]
    assert sources == [os.path.join(runs.spans_dir, f, "UCF101_videos.zip") for f in folders]


def test_first_model_is_blessed_and_pushed(span_runs):
    first = span_runs.first
    assert first.blessed and not first.reasons
    assert first.pushed_to.startswith(span_runs.config.serving_dir)
    assert os.path.isfile(os.path.join(first.pushed_to, "saved_model.pb"))


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
    blessing = store.get_artifacts_by_type("ModelBlessing")[-1]
    assert blessing.custom_properties[BASELINE_URI].string_value == baseline.uri
    # Pushed exactly when it passed (no regression against the first model), unless
    # it is byte for byte the model served.
    served = runs.second.pushed_to or runs.second.already_served
    assert bool(served) == runs.second.blessed
    assert not (runs.second.pushed_to and runs.second.already_served)
    if not runs.second.blessed:
        assert runs.second.reasons
