"""The ingest's Beam transform end to end: records, splits, bad videos, runners."""

import glob
import json
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from components.ingest import beam_ingest, constants, records, ucf101
from components.ingest.config import IngestConfig
from components.ingest.errors import IngestError
from components.ingest.selection import SelectionSpec
from components.ingest.video import FrameSpec
from pipeline.beam import direct_runner_args
from tests.builders import examples
from tests.conftest import TINY

pytestmark = pytest.mark.slow
FRAMES = FrameSpec(frames_per_video=6, target_fps=5, height=48, width=64)
IN_MEMORY = ["--runner=DirectRunner", "--direct_num_workers=1"]


def read_split(output_dir, split):
    paths = sorted(glob.glob(os.path.join(constants.split_dir(output_dir, split), "*")))
    assert paths, f"no shards for {split}"
    return [records.from_example_bytes(r.numpy()) for r in tf.data.TFRecordDataset(paths)]


def config_for(source, lists="", **selection):
    return IngestConfig(
        source=source, split_lists=lists, selection=SelectionSpec(**selection), frames=FRAMES
    )


def test_records_hold_frames_labels_and_official_split(tiny_demo, tmp_path):
    out = str(tmp_path / "out")
    config = config_for(tiny_demo.videos_zip, tiny_demo.lists_zip, split=2)
    report = beam_ingest.run_ingest(config, out, IN_MEMORY)

    lists = ucf101.read_split_lists(tiny_demo.lists_zip)
    _, test = lists.split(2)
    test_files = {ucf101.video_key(f) for _, f in test}
    train, evaluation = read_split(out, "train"), read_split(out, "eval")
    total = TINY.num_classes * TINY.groups_per_class * TINY.clips_per_group
    assert len(train) + len(evaluation) == total
    assert {ucf101.video_key(r.media_id) for r in evaluation} == test_files
    assert not {r.group for r in train} & {r.group for r in evaluation}
    assert examples.load_labels(out) == list(lists.class_names)
    for record in train + evaluation:
        frames = examples.decode_frames(record)
        assert frames.shape == (6, 48, 64, 3)
        assert record.label_text == lists.class_names[record.label]
        assert ucf101.parse_video_name(record.media_id).class_name == record.label_text
        assert record.sample_fps == 5.0
        assert np.diff(record.timestamps_us[: record.num_real_frames]).tolist() == [200_000] * (
            record.num_real_frames - 1
        )  # 25 fps sampled at 5 fps: every 5th frame
        assert record.num_real_frames == 6  # 40 frames / 5 = 8 sampled, centre 6 kept
    assert sum(report.written["eval"].values()) == len(evaluation)
    assert report.bad == ()


def _zip_with_bad_members(src_zip, dest_zip):
    """The demo zip plus a truncated, an empty and a garbage video."""
    with zipfile.ZipFile(src_zip) as src, zipfile.ZipFile(dest_zip, "w") as dst:
        names = src.namelist()
        for name in names:
            dst.writestr(name, src.read(name))
        good = src.read(names[0])
        dst.writestr("UCF101/v_SlideLeft_g01_c09.avi", good[: len(good) // 3])
        dst.writestr("UCF101/v_SlideRight_g02_c09.avi", b"")
        dst.writestr("UCF101/v_SlideUp_g03_c09.avi", os.urandom(5000))
    return [
        "UCF101/v_SlideLeft_g01_c09.avi",
        "UCF101/v_SlideRight_g02_c09.avi",
        "UCF101/v_SlideUp_g03_c09.avi",
    ]


def test_bad_videos_are_skipped_and_listed(tiny_demo, tmp_path):
    source = str(tmp_path / "with_bad.zip")
    bad_names = _zip_with_bad_members(tiny_demo.videos_zip, source)
    out = str(tmp_path / "out")
    config = IngestConfig(
        source=source,
        selection=SelectionSpec(split=0, seed=3),
        frames=FRAMES,
        max_bad_fraction=0.2,
    )
    report = beam_ingest.run_ingest(config, out, IN_MEMORY)

    assert sorted(b["video"] for b in report.bad) == sorted(bad_names)
    reasons = {b["video"]: b["reason"] for b in report.bad}
    assert "truncated" in reasons[bad_names[0]] or "no frame" in reasons[bad_names[0]]
    written = len(read_split(out, "train")) + len(read_split(out, "eval"))
    assert written == report.selected - 3
    with open(os.path.join(out, constants.REPORT_FILE)) as f:
        assert len(json.load(f)["bad"]) == 3


def test_too_many_bad_videos_fail_but_keep_what_was_written(tiny_demo, tmp_path):
    source = str(tmp_path / "with_bad.zip")
    _zip_with_bad_members(tiny_demo.videos_zip, source)
    out = str(tmp_path / "out")
    config = IngestConfig(
        source=source, selection=SelectionSpec(split=0), frames=FRAMES, max_bad_fraction=0.05
    )
    with pytest.raises(IngestError, match=r"3 of 27 videos could not be used"):
        beam_ingest.run_ingest(config, out, IN_MEMORY)
    assert len(read_split(out, "train")) + len(read_split(out, "eval")) == 24
    assert os.path.exists(os.path.join(out, constants.REPORT_FILE))


def test_folder_source_with_group_split(tiny_demo, tmp_path):
    folder = tmp_path / "videos"
    with zipfile.ZipFile(tiny_demo.videos_zip) as zf:
        for name in zf.namelist():
            parsed = ucf101.parse_video_name(os.path.basename(name))
            dest = folder / parsed.class_name / os.path.basename(name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(name))
    out = str(tmp_path / "out")
    config = config_for(str(folder), classes=("SlideUp", "slideleft"), clips_per_class=5, split=0)
    report = beam_ingest.run_ingest(config, out, IN_MEMORY)

    train, evaluation = read_split(out, "train"), read_split(out, "eval")
    assert report.class_names == ("SlideUp", "SlideLeft")
    assert len(train) + len(evaluation) == 10
    assert {r.label_text for r in train} == {"SlideUp", "SlideLeft"}
    assert not {r.group for r in train} & {r.group for r in evaluation}


@pytest.mark.parametrize(
    "beam_args",
    [
        ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
        [
            "--runner=DirectRunner",
            "--direct_num_workers=2",
            "--direct_running_mode=multi_processing",
        ],
        direct_runner_args(2),  # a local run's `workers: 2`: threads
    ],
    ids=["portable-embedded", "direct-2-processes", "direct-2-threads"],
)
def test_runs_on_runners_that_serialize_every_dofn(tiny_demo, tmp_path, beam_args):
    out = str(tmp_path / "out")
    config = config_for(tiny_demo.videos_zip, tiny_demo.lists_zip, classes=2, split=1)
    report = beam_ingest.run_ingest(config, out, beam_args)

    train, evaluation = read_split(out, "train"), read_split(out, "eval")
    assert len(train) == sum(report.written["train"].values()) > 0
    assert len(evaluation) == sum(report.written["eval"].values()) > 0
    assert {r.label for r in train + evaluation} == {0, 1}


def test_two_local_worker_threads_write_what_one_worker_writes(tiny_demo, tmp_path):
    """Local runs' workers are threads of one process (pipeline/beam.py), decoding
    side by side: the records must be those of one in-memory worker, byte for byte."""
    config = config_for(tiny_demo.videos_zip, tiny_demo.lists_zip, split=1)
    beam_ingest.run_ingest(config, str(tmp_path / "one"), IN_MEMORY)
    beam_ingest.run_ingest(config, str(tmp_path / "two"), direct_runner_args(2))
    for split in ("train", "eval"):
        one, two = (
            sorted(read_split(str(tmp_path / name), split), key=lambda r: r.media_id)
            for name in ("one", "two")
        )
        assert [r.media_id for r in one] == [r.media_id for r in two]
        assert one == two  # frames (JPEG bytes), labels, timestamps, counts
