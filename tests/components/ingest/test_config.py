"""Tests of components/ingest/config.py: IngestConfig as JSON, validated at load."""

from __future__ import annotations

import json
import re

import pytest

from components.config_loader import ConfigError
from components.fetch import HttpOptions
from components.ingest.config import IngestConfig
from components.ingest.selection import SelectionSpec
from components.ingest.video import FrameSpec


def _config() -> IngestConfig:
    return IngestConfig(
        source="https://example.com/UCF101.zip",
        split_lists="/data/UCF101TrainTestSplits-RecognitionTask.zip",
        selection=SelectionSpec(
            classes=("ApplyEyeMakeup", "YoYo"),
            clips_per_class=10,
            split=2,
            seed=3,
            allow_missing_listed=True,
        ),
        frames=FrameSpec(
            frames_per_video=16, frame_step=2, height=224, width=224, resize_mode="crop"
        ),
        http=HttpOptions(retries=2, backoff_s=0.1, timeout_s=5.0),
        jpeg_quality=80,
        num_shards=4,
        max_bad_fraction=0.1,
        cache_dir="/tmp/cache",
    )


def test_json_round_trip_keeps_every_field():
    config = _config()
    loaded = IngestConfig.from_json(config.to_json())
    assert loaded == config
    assert loaded.selection.classes == ("ApplyEyeMakeup", "YoYo")  # a tuple again, not a list
    assert isinstance(loaded.selection, SelectionSpec) and isinstance(loaded.frames, FrameSpec)


def test_json_round_trip_of_defaults_and_a_class_count():
    config = IngestConfig(source="videos.zip", selection=SelectionSpec(classes=5))
    loaded = IngestConfig.from_json(config.to_json())
    assert loaded == config
    assert loaded.selection.classes == 5


def test_json_is_plain_nested_data():
    data = json.loads(_config().to_json())
    assert data["selection"]["classes"] == ["ApplyEyeMakeup", "YoYo"]
    assert data["frames"]["resize_mode"] == "crop"
    assert data["http"]["retries"] == 2


def test_partial_dict_takes_defaults():
    config = IngestConfig.from_dict({"source": "videos.zip", "frames": {"frames_per_video": 8}})
    assert config.frames == FrameSpec(frames_per_video=8)
    assert config.selection == SelectionSpec()


def test_unknown_field_is_named():
    data = json.loads(_config().to_json())
    data["num_shard"] = 3
    with pytest.raises(ConfigError, match=r"unknown config field\(s\) ingest\.num_shard; known"):
        IngestConfig.from_dict(data)


def test_unknown_nested_field_is_named():
    data = json.loads(_config().to_json())
    data["frames"]["fps"] = 5
    with pytest.raises(ConfigError, match=r"unknown config field\(s\) ingest\.frames\.fps;"):
        IngestConfig.from_dict(data)


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("source",), "", "source"),
        (("jpeg_quality",), 0, "jpeg_quality"),
        (("jpeg_quality",), 101, "jpeg_quality"),
        (("num_shards",), -1, "num_shards"),
        (("max_bad_fraction",), 1.5, "max_bad_fraction"),
        (("selection", "split"), 5, "split"),
        (("selection", "eval_fraction"), 1.0, "eval_fraction"),
        (("frames", "frames_per_video"), 0, "frames_per_video"),
        (("frames", "resize_mode"), "zoom", "resize_mode"),
    ],
)
def test_invalid_values_are_rejected_with_the_field_name(path, value, field):
    data = json.loads(_config().to_json())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=re.escape(f"ingest.{'.'.join(path[:-1] + (field,))}")):
        IngestConfig.from_json(json.dumps(data))
