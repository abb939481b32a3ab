"""The data gate end to end over the scheduled runs of tests/builders/span_runs.py.

Span 1 (normal) is accepted and trained; span 2 (a class missing), span 3 (skewed labels)
and span 4 (0.2 s clips, a fifth of them unreadable) are each refused before the Trainer
with a message naming each check, its value and its override, and nothing is trained or
pushed; span 5 (other clips of the normal distribution) passes, judged against span 1,
the last accepted.
"""

import re

import pytest

from components.served_model.versions import newest_version
from pipeline.history import format_history, load_history
from tests.builders import gate_spans
from tests.builders.span_runs import SPAN_RUNS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(SPAN_RUNS)]


def test_a_normal_span_is_accepted_trained_and_pushed(span_runs):
    first = span_runs.first
    assert first.span == 1 and first.data_gate == "passed" and first.data_findings == []
    assert first.model and first.pushed_to


def test_a_span_missing_a_class_is_refused_before_training(span_runs):
    message = span_runs.refusals[2]
    assert "the data gate refused span 2 before training, nothing was trained" in message
    assert f"classes: missing from the train split: {gate_spans.CLASSES[2]}" in message
    assert "--set data.classes=warn" in message


def test_a_skewed_span_is_refused_for_label_drift(span_runs):
    message = span_runs.refusals[3]
    # train shares 0.75 / 0.125 / 0.125 against 1/3 each (span 1): L-infinity 0.417
    assert (
        "label_drift: L-infinity distance 0.417 between the label distributions of span 3 "
        "and span 1 (last accepted) > max_label_drift 0.25" in message
    )
    assert "class_imbalance" not in message  # 6x, under the 10x threshold
    assert message.endswith("--set data.label_drift=warn")


def test_a_span_of_short_clips_is_refused_on_the_command_line(span_runs):
    assert span_runs.refusals[4] == 2
    last = span_runs.cli_stderr.strip().splitlines()[-1]
    assert last.startswith("error: run ") and "stopped: the data gate refused span 4" in last
    assert "clip_length: shortest clip 0.20 s < min_clip_seconds 0.5 s" in last
    assert "--set data.clip_length=warn" in last
    # The ingest let them by (ingest.max_bad_fraction 0.6); the gate's bar is 5%.
    selected = span_runs.unreadable + 24  # SHORT: 3 classes x 4 groups x 2 clips
    share = span_runs.unreadable / selected
    assert (
        f"bad_videos: {span_runs.unreadable} of {selected} videos unusable "
        f"({share:.1%} > max_bad_fraction 5.0%)" in last
    )
    assert "--set data.bad_videos=warn" in last


def test_refused_runs_train_and_push_nothing(span_runs):
    records = load_history(span_runs.config.metadata_db, span_runs.config.name)
    refused = [r for r in records if r.data_gate == "refused"]
    assert sorted(r.span for r in refused) == [2, 3, 4]
    for record in refused:
        assert "Trainer" not in record.executions and not record.model
        assert record.executions["DataGate"] == "FAILED"
        assert not record.pushed_to
        (finding,) = record.data_findings
        assert finding.startswith(f"the data gate refused span {record.span} before training")


def test_the_next_normal_span_passes_against_the_last_accepted(span_runs):
    nxt = span_runs.second
    assert nxt.span == 5 and nxt.data_gate == "passed" and nxt.model
    assert nxt.baseline == span_runs.first.pushed_to  # judged against span 1's model
    served = newest_version(span_runs.config.serving_dir)
    # The report shows the gate's verdict and the drift against span 1.
    with open(nxt.report) as f:
        page = f.read()
    assert "<h3>Data gate</h3>" in page and "Verdict: <b>passed</b>" in page
    assert re.search(r"Label drift against span 1 \(the last accepted\): L-infinity 0\.\d{3}", page)
    assert served is not None and served[1] in (nxt.pushed_to, span_runs.first.pushed_to)


def test_history_shows_each_verdict(span_runs):
    text = format_history(load_history(span_runs.config.metadata_db, span_runs.config.name))
    assert text.count("data gate: refused") == 3 and text.count("data gate: passed") == 2
    assert "label_drift: L-infinity distance 0.417" in text
