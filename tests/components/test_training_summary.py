"""components/training_summary.py: the Trainer's summary as the report reads it."""

import json

import pytest

from components.training_summary import TrainingSummary, TrainingSummaryError

SUMMARY = TrainingSummary(
    labels=("SlideLeft", "Grow"),
    eval_multi_clip_accuracy=0.75,
    eval_single_clip_accuracy=0.5,
    history={"loss": [1.5, 0.9], "accuracy": [0.4, 0.7]},
    phases={"build_s": 2.0, "fit_s": 30.5, "export_s": 9.0},
    seconds=41.5,
    weights_sha256="ab" * 32,
    variant="stream",
    checkpoint="random_init",
)


def test_json_round_trip_keeps_every_field_and_the_phase_order():
    again = TrainingSummary.from_json(SUMMARY.to_json())
    assert again == SUMMARY
    assert list(again.phases) == ["build_s", "fit_s", "export_s"]


def test_a_summary_written_before_the_dataclass_still_reads():
    # The keys trainer/run.py wrote as a plain dict (2026-12-03 and before).
    old = {**json.loads(SUMMARY.to_json()), "labels": ["SlideLeft", "Grow"], "extra": 1}
    assert TrainingSummary.from_json(json.dumps(old)) == SUMMARY


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "run/training_summary.json is not JSON"),
        ('{"labels": ["a"]}', "lacks eval_multi_clip_accuracy, eval_single_clip_accuracy"),
        ("[1, 2]", "lacks eval_multi_clip_accuracy, eval_single_clip_accuracy, labels"),
    ],
)
def test_bad_summaries_name_the_file_and_what_is_missing(text, message):
    with pytest.raises(TrainingSummaryError, match=message):
        TrainingSummary.from_json(text, "run/training_summary.json")
