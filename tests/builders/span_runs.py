"""Scheduled-style LocalDagRunner runs over five data spans (tests/builders/gate_spans.py),
shared by components/data_gate/test_runs, pipeline/test_retraining and
pipeline/test_history (one xdist_group: built once).

The source is `<spans>/span-{SPAN}/UCF101_videos.zip` with span 'latest' and one config,
so each run ingests the newest span present when it starts:
- span 1 (normal) is accepted, trained, blessed and pushed;
- span 2 (a class missing) and span 3 (skewed labels) are refused by the data gate
  before the Trainer (DataGateError), span 4 (0.2 s clips, a fifth of its videos
  unreadable under a raised ingest.max_bad_fraction) likewise through the command
  line (exit status 2);
- span 0005 (zero-padded; other clips of the normal distribution) passes, judged
  against span 1, the last accepted, and its model against the model span 1 pushed
  (TFMA baseline, handed over by ServedModel).
Every accepted run is also evaluated on a fixed reference set (evaluation.reference_source,
a folder that no span changes), candidate and served model alike.
"""

import contextlib
import dataclasses
import io
import os
import shutil
import types

import pytest
import yaml

from components.data_gate.checks import DataGateError
from pipeline import local_runner
from pipeline.cli import main
from pipeline.config import PipelineConfig
from pipeline.history import RunRecord
from tests.builders import gate_spans
from tests.builders.tiny_pipeline import tiny_config_dict

SPAN_RUNS = "span_runs"  # the xdist_group of the tests that use the fixture
LAST_SPAN_FOLDER = "span-0005"


@dataclasses.dataclass(frozen=True)
class SpanRuns:
    config: PipelineConfig
    config_path: str
    spans_dir: str
    first: RunRecord  # span 1, accepted
    refusals: dict  # span -> DataGateError message (2, 3) or CLI exit status (4)
    second: RunRecord  # span 5, accepted
    cli_stderr: str  # what the command line printed for span 4
    reference_dir: str  # the fixed reference set
    unreadable: int  # videos of span 4 that are not videos


def add_span(spans_dir: str, folder: str, videos_zip: str) -> str:
    os.makedirs(os.path.join(spans_dir, folder))
    return shutil.copy(videos_zip, os.path.join(spans_dir, folder, "UCF101_videos.zip"))


@pytest.fixture(scope="session")
def span_runs(tmp_path_factory) -> SpanRuns:
    root = str(tmp_path_factory.mktemp("span_runs"))
    pool, short = gate_spans.write_pools(os.path.join(root, "data"))
    reference = gate_spans.write_reference(os.path.join(root, "data"))
    spans = os.path.join(root, "spans")
    data = tiny_config_dict(types.SimpleNamespace(videos_zip="", lists_zip=""), root, "tiny-spans")
    data["span"] = "latest"
    data["ingest"].update(
        source=os.path.join(spans, "span-{SPAN}", gate_spans.VIDEOS),
        split_lists="",
        selection={"split": 0},  # group split: a span holds the classes it holds
        max_bad_fraction=0.6,  # the ingest lets span 4's unreadable videos by; the gate not
    )
    data["evaluation"]["reference_source"] = reference
    config = PipelineConfig.from_dict(data)
    config_path = os.path.join(root, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(config.to_dict(), f)

    gate_spans.write_span(pool, spans, "span-1", gate_spans.normal(1))
    first = local_runner.run_local(config)
    refusals = {}
    for span, keep in ((2, gate_spans.missing_class), (3, gate_spans.skewed)):
        gate_spans.write_span(pool, spans, f"span-{span}", keep)
        with pytest.raises(DataGateError) as refused:
            local_runner.run_local(config)
        refusals[span] = str(refused.value)
    # Span 4 through the command line: its last line is the refusal.
    span_4 = gate_spans.write_span(short, spans, "span-4", lambda class_name, clip: True)
    unreadable = gate_spans.add_unreadable(span_4, per_class=2)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        refusals[4] = main(["run", "--config", config_path])
    gate_spans.write_span(pool, spans, LAST_SPAN_FOLDER, gate_spans.normal(3))
    second = local_runner.run_local(config)
    return SpanRuns(
        config,
        config_path,
        spans,
        first,
        refusals,
        second,
        stderr.getvalue(),
        reference,
        unreadable,
    )
