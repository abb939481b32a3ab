"""Two scheduled-style runs over two data spans, shared by test_retraining and test_history.

The source is `<spans>/span-{SPAN}/UCF101_videos.zip` with span 'latest': run 1
finds span 1 only; span 0002 (zero-padded) then lands, and run 2, with the same
config, ingests it and is judged against run 1's blessed model (TFMA baseline).
"""

import dataclasses
import os
import shutil

import pytest

from pipeline import local_runner
from pipeline.config import PipelineConfig
from pipeline.history import RunRecord
from tests.tiny_pipeline import tiny_config_dict


@dataclasses.dataclass(frozen=True)
class TwoSpanRuns:
    config: PipelineConfig
    spans_dir: str
    first: RunRecord
    second: RunRecord


def add_span(spans_dir: str, folder: str, videos_zip: str) -> str:
    os.makedirs(os.path.join(spans_dir, folder))
    return shutil.copy(videos_zip, os.path.join(spans_dir, folder, "UCF101_videos.zip"))


def span_config(tiny_demo, root: str, spans_dir: str) -> PipelineConfig:
    data = tiny_config_dict(tiny_demo, root, "tiny-retraining")
    data["span"] = "latest"
    data["ingest"]["source"] = os.path.join(spans_dir, "span-{SPAN}", "UCF101_videos.zip")
    return PipelineConfig.from_dict(data)


@pytest.fixture(scope="session")
def two_span_runs(tiny_demo, tmp_path_factory) -> TwoSpanRuns:
    root = str(tmp_path_factory.mktemp("retraining"))
    spans_dir = os.path.join(root, "spans")
    add_span(spans_dir, "span-1", tiny_demo.videos_zip)
    config = span_config(tiny_demo, root, spans_dir)
    first = local_runner.run_local(config)
    add_span(spans_dir, "span-0002", tiny_demo.videos_zip)
    second = local_runner.run_local(config)
    return TwoSpanRuns(config, spans_dir, first, second)
