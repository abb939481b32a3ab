"""The data gate end to end: LocalDagRunner runs over generated spans (tests/gate_spans.py),
scheduled style (span 'latest', one config).

Span 1 (normal) is accepted and trained; span 2 (a class missing), span 3 (skewed labels)
and span 4 (0.2 s clips) are each refused before the Trainer with a message naming the
check, its value and its override, and nothing is trained or pushed; span 5 (other clips
of the normal distribution) passes, judged against span 1, the last accepted.
"""

import contextlib
import dataclasses
import io
import os
import re
import types

import pytest
import yaml

from components.data_gate.checks import DataGateError
from components.served_model.versions import newest_version
from pipeline import local_runner
from pipeline.cli import main
from pipeline.config import PipelineConfig
from pipeline.history import RunRecord, format_history, load_history
from tests import gate_spans
from tests.tiny_pipeline import tiny_config_dict

pytestmark = pytest.mark.slow


@dataclasses.dataclass(frozen=True)
class GateRuns:
    config: PipelineConfig
    config_path: str
    accepted: RunRecord
    refusals: dict  # span -> (DataGateError message, CLI exit status or None)
    next_span: RunRecord
    cli_stderr: str


@pytest.fixture(scope="module")
def gate_runs(tmp_path_factory) -> GateRuns:
    root = str(tmp_path_factory.mktemp("data_gate_runs"))
    pool, short = gate_spans.write_pools(os.path.join(root, "data"))
    spans = os.path.join(root, "spans")
    data = tiny_config_dict(types.SimpleNamespace(videos_zip="", lists_zip=""), root, "tiny-gate")
    data["span"] = "latest"
    data["ingest"].update(
        source=os.path.join(spans, "span-{SPAN}", gate_spans.VIDEOS),
        split_lists="",
        selection={"split": 0},  # group split: a span holds the classes it holds
    )
    config = PipelineConfig.from_dict(data)
    config_path = os.path.join(root, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(config.to_dict(), f)

    gate_spans.write_span(pool, spans, 1, gate_spans.normal(1))
    accepted = local_runner.run_local(config)
    refusals = {}
    for span, keep in ((2, gate_spans.missing_class), (3, gate_spans.skewed)):
        gate_spans.write_span(pool, spans, span, keep)
        with pytest.raises(DataGateError) as refused:
            local_runner.run_local(config)
        refusals[span] = str(refused.value)
    # Span 4 through the command line: its last line is the refusal.
    gate_spans.write_span(short, spans, 4, lambda class_name, clip: True)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main(["run", "--config", config_path])
    refusals[4] = status
    gate_spans.write_span(pool, spans, 5, gate_spans.normal(3))
    next_span = local_runner.run_local(config)
    return GateRuns(config, config_path, accepted, refusals, next_span, stderr.getvalue())


def test_a_normal_span_is_accepted_trained_and_pushed(gate_runs):
    first = gate_runs.accepted
    assert first.span == 1 and first.data_gate == "passed" and first.data_findings == []
    assert first.model and first.pushed_to


def test_a_span_missing_a_class_is_refused_before_training(gate_runs):
    message = gate_runs.refusals[2]
    assert "the data gate refused span 2 before training, nothing was trained" in message
    assert f"classes: missing from the train split: {gate_spans.CLASSES[2]}" in message
    assert "--set data.classes=warn" in message


def test_a_skewed_span_is_refused_for_label_drift(gate_runs):
    message = gate_runs.refusals[3]
    # train shares 0.75 / 0.125 / 0.125 against 1/3 each (span 1): L-infinity 0.417
    assert (
        "label_drift: L-infinity distance 0.417 between the label distributions of span 3 "
        "and span 1 (last accepted) > max_label_drift 0.25" in message
    )
    assert "class_imbalance" not in message  # 6x, under the 10x threshold
    assert message.endswith("--set data.label_drift=warn")


def test_a_span_of_short_clips_is_refused_on_the_command_line(gate_runs):
    assert gate_runs.refusals[4] == 2
    last = gate_runs.cli_stderr.strip().splitlines()[-1]
    assert last.startswith("error: run ") and "stopped: the data gate refused span 4" in last
    assert "clip_length: shortest clip 0.20 s < min_clip_seconds 0.5 s" in last
    assert "--set data.clip_length=warn" in last


def test_refused_runs_train_and_push_nothing(gate_runs):
    records = load_history(gate_runs.config.metadata_db, gate_runs.config.name)
    refused = [r for r in records if r.data_gate == "refused"]
    assert sorted(r.span for r in refused) == [2, 3, 4]
    for record in refused:
        assert "Trainer" not in record.executions and not record.model
        assert record.executions["DataGate"] == "FAILED"
        assert not record.pushed_to
        (finding,) = record.data_findings
        assert finding.startswith(f"the data gate refused span {record.span} before training")


def test_the_next_normal_span_passes_against_the_last_accepted(gate_runs):
    nxt = gate_runs.next_span
    assert nxt.span == 5 and nxt.data_gate == "passed" and nxt.model
    assert nxt.baseline == gate_runs.accepted.pushed_to  # judged against span 1's model
    served = newest_version(gate_runs.config.serving_dir)
    # The report shows the gate's verdict and the drift against span 1.
    with open(nxt.report) as f:
        page = f.read()
    assert "<h3>Data gate</h3>" in page and "Verdict: <b>passed</b>" in page
    assert re.search(r"Label drift against span 1 \(the last accepted\): L-infinity 0\.\d{3}", page)
    assert served is not None and served[1] in (nxt.pushed_to, gate_runs.accepted.pushed_to)


def test_history_shows_each_verdict(gate_runs):
    text = format_history(load_history(gate_runs.config.metadata_db, gate_runs.config.name))
    assert text.count("data gate: refused") == 3 and text.count("data gate: passed") == 2
    assert "label_drift: L-infinity distance 0.417" in text
