"""PipelineConfig: files, --set overrides, and errors that name the field."""

import json
import os

import pytest

from pipeline.config import (
    ConfigError,
    PipelineConfig,
    apply_overrides,
    load_config,
)
from tests import REPO

MINIMAL = {"ingest": {"source": "videos.zip"}, "trainer": {"random_init": True}}


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_yaml_file_with_overrides(tmp_path):
    path = write(
        tmp_path,
        """
name: ucf10
pipeline_root: /data/root
ingest:
  source: https://example.com/UCF101_videos.zip
  selection: {classes: 10, clips_per_class: 30, split: 2}
trainer:
  checkpoint: /ckpt/movinet_a0_base
  epochs: 3
evaluation: {min_accuracy: 0.6}
beam_args: [--runner=DirectRunner]
""",
    )
    config = load_config(path, ["trainer.epochs=7", "evaluation.max_regression=0.01", "workers=4"])
    assert config.name == "ucf10"
    assert config.ingest.selection.classes == 10 and config.ingest.selection.split == 2
    assert config.trainer.epochs == 7 and config.trainer.checkpoint == "/ckpt/movinet_a0_base"
    assert config.evaluation.min_accuracy == 0.6 and config.evaluation.max_regression == 0.01
    assert config.beam_args == ("--runner=DirectRunner",) and config.workers == 4
    assert config.metadata_db == "/data/root/metadata.db"


def test_json_file_round_trips(tmp_path):
    config = PipelineConfig.from_dict(MINIMAL)
    path = write(tmp_path, json.dumps(config.to_dict()), "config.json")
    assert load_config(path) == config


def test_demo_defaults_are_explicit_about_random_weights():
    config = load_config(None)
    assert config.trainer.random_init and not config.trainer.checkpoint
    assert config.ingest.source.endswith("UCF101_videos.zip")


def test_overrides_parse_values_as_yaml():
    data = apply_overrides(
        {"trainer": {}}, ["trainer.epochs=5", "trainer.random_init=true", "name=x", "span="]
    )
    assert data == {"trainer": {"epochs": 5, "random_init": True}, "name": "x", "span": ""}


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["trainer.epochs=0"], "epochs must be >= 1"),
        (["trainer.epoch=3"], "unknown"),
        (["evaluation.min_accuracy=1.5"], "evaluation.min_accuracy must be in [0, 1]"),
        (["evaluation.bar=1"], "evaluation.bar"),
        (["workers=0"], "workers must be >= 1"),
        (["workers=two"], "workers must be int"),
        (["trainer.learning_rate=fast"], "trainer.learning_rate must be float, got str 'fast'"),
        (["trainer.random_init=yes please"], "trainer.random_init must be bool"),
        (["ingest.frames.frames_per_video=1.5"], "ingest.frames.frames_per_video must be int"),
        (["ingest.frames.num_frames=1.5"], "ingest.frames.frames_per_video must be int"),
        (["trainer.num_frames=2", "trainer.window_frames=2"], "give trainer.window_frames only"),
        (["evaluation.accuracy_top_k=x"], "evaluation.accuracy_top_k must be int"),
        (["evaluation.gallery_size=-1"], "evaluation.gallery_size must be >= 0"),
        (
            ["evaluation.reference_source=/data/span-{SPAN}/ref.zip"],
            "evaluation.reference_source must not change with the span",
        ),
        (["name=has space"], "name must be"),
        (["ingest.source="], "source must be set"),
        (["trainer.random_init=false"], "random_init: true"),
        (["beam_args=--runner=X"], "beam_args must be a list"),
        (["colour=red"], "unknown config field(s) colour"),
        (["trainer"], "expected key=value"),
        (["ingest=3"], "ingest must be a mapping"),
    ],
)
def test_invalid_config_names_the_field(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    assert message in str(error.value)
    assert "configs/demo.yaml: " in str(error.value)


def test_float_fields_accept_exponents_yaml_reads_as_text(tmp_path):
    path = write(
        tmp_path, "ingest: {source: v.zip}\ntrainer: {random_init: true, learning_rate: 1e-4}\n"
    )
    assert load_config(path).trainer.learning_rate == 1e-4
    assert load_config(path, ["trainer.learning_rate=3e-9"]).trainer.learning_rate == 3e-9


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file .*missing.yaml"):
        load_config(str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "ingest: [unclosed"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match=r"bad.yaml: ingest must be set"):
        load_config(write(tmp_path, "name: x\n", "bad.yaml"))


def test_without_a_file_the_demo_file_is_used():
    config = load_config(None)
    assert config == load_config(os.path.join(REPO, "configs", "demo.yaml"))
    assert config.ingest.source == "demo_data/UCF101_videos.zip"  # what `make demo-data` writes
    assert config.pipeline_root == "runs/demo/pipeline"


@pytest.mark.parametrize(
    "name, suggestion",
    [
        ("UCF101_Actions", "ucf101-actions"),
        ("Demo", "demo"),
        ("video action", "video-action"),
        ("-video-", "video"),
        ("Café_Ü", "cafe-u"),
        ("__", "video-action"),
        ("a" * 64, "a" * 63),
        ("x" * 62 + "_y", "x" * 62),
    ],
)
def test_a_name_only_kubeflow_refuses_is_refused_when_loading(name, suggestion):
    with pytest.raises(ConfigError) as error:
        PipelineConfig.from_dict({**MINIMAL, "name": name})
    message = str(error.value)
    assert message.startswith("name must be lower-case letters, digits and '-'")
    assert "starting with a letter or digit, 1-63 characters" in message
    assert f"got {name!r}" in message and message.endswith(f"e.g. name: {suggestion}")
    assert PipelineConfig.from_dict({**MINIMAL, "name": suggestion}).name == suggestion


@pytest.mark.parametrize("name", ["video-action", "ucf101-10", "0-day", "a", "a" * 63])
def test_names_kubeflow_takes_are_taken(name):
    assert PipelineConfig.from_dict({**MINIMAL, "name": name}).name == name


def test_yaml_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, "ingest: [unclosed\n"))
    assert "\n" not in str(error.value) and "line 2" in str(error.value)


def test_the_two_frame_counts_have_two_names_and_the_old_keys_still_read(caplog):
    """ingest.frames.frames_per_video (stored per video) and trainer.window_frames (the
    model's window) were both `num_frames`: the old keys are read for one release, each
    with a one-line warning naming the new key (components/renamed_keys.py)."""
    new = load_config(None, ["ingest.frames.frames_per_video=16", "trainer.window_frames=4"])
    assert (new.ingest.frames.frames_per_video, new.trainer.window_frames) == (16, 4)
    assert "deprecated" not in caplog.text
    old = load_config(None, ["ingest.frames.num_frames=16", "trainer.num_frames=4"])
    assert old == new
    said = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(said) == 2 and all("\n" not in line for line in said)
    said = sorted(said)
    assert (
        "ingest.frames.num_frames is deprecated, read as ingest.frames.frames_per_video" in said[0]
    )
    assert "trainer.num_frames is deprecated, read as trainer.window_frames" in said[1]
    assert all(r.levelname == "WARNING" for r in caplog.records if "deprecated" in r.getMessage())


def test_the_three_top_ks_have_three_names_and_the_old_keys_still_read(caplog):
    """`top_k` meant the labels the signatures return and the k of the top-k accuracy
    (and, in `predict`, the labels printed: `--show`)."""
    new = load_config(None, ["trainer.serving_top_k=3", "evaluation.accuracy_top_k=4"])
    assert (new.trainer.serving_top_k, new.evaluation.accuracy_top_k) == (3, 4)
    assert "deprecated" not in caplog.text
    assert load_config(None, ["trainer.top_k=3", "evaluation.top_k=4"]) == new
    said = sorted(r.getMessage() for r in caplog.records if "deprecated" in r.getMessage())
    assert "evaluation.top_k is deprecated, read as evaluation.accuracy_top_k" in said[0]
    assert "trainer.top_k is deprecated, read as trainer.serving_top_k" in said[1]
    with pytest.raises(ConfigError, match="give evaluation.accuracy_top_k only"):
        load_config(None, ["evaluation.top_k=4", "evaluation.accuracy_top_k=4"])


def test_stored_json_with_the_old_keys_still_reads():
    """Exec properties and custom_config written before the rename (an older compiled
    spec, a cached run) say num_frames."""
    from components.ingest.config import IngestConfig
    from trainer.config import TrainerConfig

    ingest = IngestConfig.from_dict({"source": "v.zip", "frames": {"num_frames": 8}})
    assert ingest.frames.frames_per_video == 8
    assert TrainerConfig.from_dict({"num_frames": 4, "random_init": True}).window_frames == 4
    with pytest.raises(ValueError, match="give trainer.window_frames only"):
        TrainerConfig.from_dict({"num_frames": 4, "window_frames": 4})
