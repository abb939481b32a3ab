"""`python -m pipeline` as a user runs it: demo-data, ingest, and its errors."""

import json
import os
import subprocess
import sys

import pytest

from components.ingest import constants
from pipeline.cli import main
from tests import REPO
from tests.builders.bad_names import BAD_NAMES, assert_one_line_name_error, config_named, run_module

SMALL = ["--frames-per-video", "4", "--height", "32", "--width", "32", "--workers", "1"]


def test_demo_data_command(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(
        [
            "demo-data",
            "--out",
            str(out),
            "--classes",
            "2",
            "--groups",
            "3",
            "--clips",
            "1",
            "--seconds",
            "0.5",
        ]
    )
    assert code == 0
    assert (out / "UCF101_videos.zip").stat().st_size > 0
    assert (out / "UCF101TrainTestSplits-RecognitionTask.zip").exists()
    assert "videos:" in capsys.readouterr().out


def test_ingest_command_prints_what_it_wrote(tiny_demo, tmp_path, capsys):
    out = tmp_path / "examples"
    code = main(
        [
            "ingest",
            "--source",
            tiny_demo.videos_zip,
            "--split-lists",
            tiny_demo.lists_zip,
            "--split",
            "3",
            "--classes",
            "SlideUp,SlideLeft",
            "--clips-per-class",
            "4",
            "--output",
            str(out),
            *SMALL,
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "SlideUp" in printed and "SlideLeft" in printed and "SlideRight" not in printed
    assert "8 videos written" in printed
    with open(out / constants.REPORT_FILE) as f:
        report = json.load(f)
    assert sum(report["written"]["train"].values()) + sum(report["written"]["eval"].values()) == 8


@pytest.mark.parametrize(
    "args, message",
    [
        (["--classes", "Juggling"], "unknown class names ['Juggling']"),
        (["--classes", "9"], "asked for 9 classes"),
        (["--split", "2"], "needs the official split lists"),
        (["--frames-per-video", "0"], "error: ingest.frames.frames_per_video must be >= 1, got 0"),
        (["--set", "ingest.frames.hieght=64"], "unknown config field(s) ingest.frames.hieght"),
        (["--set", "frames.height=64"], "the ingest command takes ingest.* keys only"),
        (["--num-frames", "0"], "warning: --num-frames is deprecated, read as --frames-per-video"),
    ],
)
def test_ingest_command_bad_input_is_a_clear_error(tiny_demo, tmp_path, capsys, args, message):
    code = main(
        ["ingest", "--source", tiny_demo.videos_zip, "--output", str(tmp_path / "o"), *SMALL, *args]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_ingest_command_keeps_an_earlier_output(tiny_demo, tmp_path, capsys):
    out = tmp_path / "examples"
    out.mkdir()
    (out / "precious.txt").write_text("earlier work")
    code = main(["ingest", "--source", tiny_demo.videos_zip, "--output", str(out), *SMALL])
    assert code == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "earlier work"


def test_ingest_flags_are_shortcuts_for_config_keys_with_the_dataclass_defaults(capsys):
    """A flag sets one key; every key not given keeps IngestConfig's default (one place)."""
    from components.ingest.config import IngestConfig
    from components.ingest.selection import SelectionSpec
    from components.ingest.video import FrameSpec

    args = ["ingest", "--source", "v.zip", "--classes", "A,B", "--fps", "3", "--print-config"]
    assert main([*args, "--set", "ingest.frames.resize_mode=crop"]) == 0
    printed = IngestConfig.from_dict(json.loads(capsys.readouterr().out))
    assert printed == IngestConfig(
        source="v.zip",
        selection=SelectionSpec(classes=("A", "B")),
        frames=FrameSpec(target_fps=3.0, resize_mode="crop"),
    )
    # The split lists' first official split, unless --split says another.
    assert main([*args, "--split-lists", "lists.zip"]) == 0
    assert json.loads(capsys.readouterr().out)["selection"]["split"] == 1
    assert main([*args, "--split-lists", "lists.zip", "--split", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["selection"]["split"] == 0


def test_a_value_error_from_inside_a_command_is_a_bug_not_a_usage_error(
    tiny_demo, tmp_path, capsys, monkeypatch
):
    """Only the errors a user can act on end with status 2; a stray ValueError is named."""
    from components.ingest import beam_ingest

    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast")

    monkeypatch.setattr(beam_ingest, "run_ingest", broken)
    code = main(["ingest", "--source", tiny_demo.videos_zip, "--output", str(tmp_path / "o")])
    assert code == 1
    err = capsys.readouterr().err
    assert "error: ValueError: operands could not be broadcast (run again with --verbose" in err


def test_missing_source_is_a_clear_error(tmp_path, capsys):
    code = main(["ingest", "--source", str(tmp_path / "nope.zip"), "--output", str(tmp_path / "o")])
    assert code == 2
    assert "nope.zip" in capsys.readouterr().err


@pytest.mark.slow
def test_module_entry_point_with_two_workers(tiny_demo, tmp_path):
    out = tmp_path / "examples"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "ingest",
            "--source",
            tiny_demo.videos_zip,
            "--split-lists",
            tiny_demo.lists_zip,
            "--output",
            str(out),
            "--frames-per-video",
            "4",
            "--height",
            "32",
            "--width",
            "32",
            "--workers",
            "2",
        ],
        cwd=REPO,
        # As a user's shell has it: TensorFlow's C++ log level is the entry point's choice.
        env={k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "VERBOSE")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "24 videos written" in result.stdout
    # Its first line is its own; no TF C++ registration lines, no Beam worker records.
    assert result.stderr.splitlines()[0].startswith("ingesting "), result.stderr[:2000]
    assert "factory" not in result.stderr and "apache_beam" not in result.stderr
    assert os.listdir(constants.split_dir(str(out), "train"))


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_ffmpeg_lines_about_a_damaged_video_only_with_verbose(tmp_path, verbose):
    """A truncated MP4 among the real clips of ../shared/videos: FFmpeg's own
    `[mov,mp4,...] moov atom not found` (av_log, ERROR) reaches the console only
    with --verbose; without it the ingest's own line names the file, once."""
    from tests.builders import cli_process
    from tests.components.ingest.test_realworld import (
        REAL_CLIPS,
        mp4_cut_before_its_index,
        real_clips_folder,
    )

    videos = real_clips_folder(tmp_path / "videos")
    mp4_cut_before_its_index(videos / "camera" / "broken.mp4")
    flags = ["--eval-fraction", "0.5", "--max-bad-fraction", "0.5", *SMALL]
    result = cli_process.run_module(
        "pipeline",
        *(["--verbose"] if verbose else []),
        "ingest",
        "--source",
        str(videos),
        "--output",
        str(tmp_path / "out"),
        *flags,
        env={"OPENCV_FFMPEG_LOGLEVEL": None},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{len(REAL_CLIPS)} videos written" in result.stdout
    skipped = [line for line in result.stdout.splitlines() if "broken.mp4" in line]
    assert len(skipped) == 1, result.stdout
    assert skipped[0].startswith(
        "skipped camera/broken.mp4: cannot open: truncated (the file ends at"
    )
    assert skipped[0].endswith("); copy or download it again")
    assert ("moov atom not found" in result.stderr) == verbose, result.stderr[-2000:]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "trainer.epochs=0"], "configs/demo.yaml: trainer.epochs must be >= 1, got 0"),
        (["--set", "evaluation.min_acc=0.5"], "unknown config field(s) evaluation.min_acc"),
        (["--config", "/no/such/config.yaml"], "cannot read config file /no/such/config.yaml"),
    ],
)
def test_run_command_config_errors_are_clear_and_run_nothing(tmp_path, capsys, args, message):
    root = tmp_path / "root"
    code = main(["run", "--set", f"pipeline_root={root}", *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not root.exists()


def test_run_command_prints_the_resolved_config(capsys):
    assert main(["run", "--set", "trainer.epochs=3", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "epochs: 3" in out and "random_init: true" in out


@pytest.mark.parametrize("name, suggestion", BAD_NAMES)
def test_run_refuses_a_bad_name_in_one_line(tmp_path, name, suggestion):
    config_path = config_named(tmp_path, name)
    result = run_module("pipeline", "run", "--config", config_path)
    assert_one_line_name_error(result, config_path, name, suggestion)
    assert not (tmp_path / "root").exists()
