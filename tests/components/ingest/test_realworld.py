"""The ingest on real camera clips and on data that lies: sample times and counts,
header warnings and duplicate videos in the ingest report."""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from components.ingest import beam_ingest, constants, video
from components.ingest.config import IngestConfig
from components.ingest.errors import IngestError
from components.ingest.selection import SelectionSpec
from components.ingest.video import FrameSpec
from tests.builders.synthetic_video import write_video
from tests.components.ingest.test_beam_ingest import IN_MEMORY, read_split
from tests.components.ingest.test_video_timing import _patch_avi

pytestmark = pytest.mark.slow
# ../shared/videos beside the repository (CI has it): real clips no one here wrote.
from tests import REPO  # noqa: E402

REAL_VIDEOS = Path(REPO).parent / "shared" / "videos"
# name -> (decoded frames, source fps, samples at 5 fps): OpenCV 4.10's decode here.
REAL_CLIPS = {
    "xvid_320x240_25fps.avi": (164, 25.0, 33),
    "h264_340x256_30fps_short.mp4": (32, 30.0, 6),
    "h264_340x256_30fps_10s.mp4": (300, 30.0, 50),
    "h264_340x256_6fps.mp4": (57, 6.0, 47),
    "h264_1920x1080_30fps.avi": (103, 30.0, 18),
}
FRAMES = FrameSpec(frames_per_video=64, target_fps=5.0, height=32, width=32)


def real_clips_folder(dest: Path) -> Path:
    """The real clips copied into `dest/<class>/` (two classes, as the ingest needs)."""
    if not REAL_VIDEOS.is_dir():
        pytest.fail(f"{REAL_VIDEOS} is missing: the real-video tests need ../shared/videos")
    for i, name in enumerate(sorted(REAL_CLIPS)):
        folder = dest / ("camera" if i % 2 else "phone")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(REAL_VIDEOS / name, folder / name)
    return dest


def assert_sampled_at_5fps(timestamps_us, num_real: int, fps: float) -> None:
    """Sample k is the first frame presented at or after k / 5 s."""
    times = [t / 1e6 for t in timestamps_us[:num_real]]
    for k, t in enumerate(times):
        assert k / 5 - 1e-3 <= t < k / 5 + 1 / fps + 1e-3, (k, t)


@pytest.fixture(scope="module")
def real_examples(tmp_path_factory) -> tuple[str, beam_ingest.IngestReport]:
    """The real clips ingested (two classes, group split, FRAMES): (folder, report)."""
    root = tmp_path_factory.mktemp("real")
    folder = real_clips_folder(root / "videos")
    config = IngestConfig(
        source=str(folder), selection=SelectionSpec(eval_fraction=0.5), frames=FRAMES
    )
    out = str(root / "out")
    return out, beam_ingest.run_ingest(config, out, IN_MEMORY)


def test_real_clips_are_ingested_with_their_sample_times(real_examples):
    out, report = real_examples
    assert report.bad == () and report.video_warnings == () and report.duplicates == ()
    found = {r.media_id: r for s in constants.SPLITS for r in read_split(out, s)}
    assert sorted(found) == sorted(REAL_CLIPS)
    for name, (_, fps, samples) in REAL_CLIPS.items():
        record = found[name]
        assert record.num_real_frames == samples, name
        assert record.sample_fps == 5.0 and record.source_fps == pytest.approx(fps)
        assert len(record.timestamps_us) == FRAMES.frames_per_video
        assert_sampled_at_5fps(record.timestamps_us, samples, fps)


def test_the_data_gate_accepts_real_camera_clips_and_records_their_range(real_examples, tmp_path):
    """Our schema (components/data_gate/schema.py) on clips no one here wrote: 6 to 30 fps,
    320x240 to 1920x1080, 6 to 50 samples; TFDV finds no anomaly and the gate keeps
    their real range as the next span's reference."""
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions

    from components.data_gate import checks, reference
    from tests.components.data_gate.test_data_gate import run_gate

    examples, _ = real_examples
    statistics = tmp_path / "statistics"
    for split in constants.SPLITS:
        stats = tfdv.generate_statistics_from_tfrecord(
            os.path.join(constants.split_dir(examples, split), "*"),
            pipeline_options=PipelineOptions(IN_MEMORY),
        )
        (statistics / f"Split-{split}").mkdir(parents=True)
        (statistics / f"Split-{split}" / "FeatureStats.pb").write_bytes(stats.SerializeToString())
    _, anomalies = run_gate(examples, str(statistics), str(tmp_path / "gate"))
    findings = anomalies.get_string_custom_property(checks.FINDINGS_PROPERTY)
    assert anomalies.get_string_custom_property(checks.VERDICT_PROPERTY) == checks.PASSED, findings
    accepted, _ = reference.read_reference(str(tmp_path / "accepted"))
    assert accepted.min_source_fps == pytest.approx(6.0)
    assert accepted.max_source_fps == pytest.approx(30.0)
    # The 32-frame 30 fps clip holds 6 samples at 5 fps: 1.2 s, the shortest.
    assert accepted.min_clip_seconds == pytest.approx(6 / 5.0)


def _folder_with_faults(root: Path) -> Path:
    """Two classes of tiny clips; one clip byte-identical under both; one whose header
    says 1000 fps."""
    for cls in ("Left", "Right"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            write_video(root / cls / f"{cls}_{i}.avi", 10 + 5 * i + (cls == "Right"), 25.0, 64, 48)
    shutil.copy(root / "Left" / "Left_0.avi", root / "Right" / "copy_of_left.avi")
    _patch_avi(root / "Left" / "Left_2.avi", root / "Left" / "webcam.avi", fps=1000)
    return root


def test_header_warnings_and_duplicates_reach_the_report(tmp_path):
    folder = _folder_with_faults(tmp_path / "videos")
    frames = FrameSpec(frames_per_video=4, height=16, width=16)
    config = IngestConfig(source=str(folder), frames=frames)
    out = str(tmp_path / "warn")
    report = beam_ingest.run_ingest(config, out, IN_MEMORY)
    assert [w["video"] for w in report.video_warnings] == ["Left/webcam.avi"]
    assert "1000 fps is not plausible" in report.video_warnings[0]["warning"]
    (group,) = report.duplicates
    assert [v["video"] for v in group["videos"]] == ["Left/Left_0.avi", "Right/copy_of_left.avi"]
    assert group["labels"] == ["Left", "Right"]
    assert any("identical videos" in w for w in report.warnings)
    written = sum(len(read_split(out, s)) for s in constants.SPLITS)
    assert written == 8

    dropped = str(tmp_path / "drop")
    report = beam_ingest.run_ingest(
        dataclasses.replace(config, duplicates="drop"), dropped, IN_MEMORY
    )
    kept = {r.media_id for s in constants.SPLITS for r in read_split(dropped, s)}
    assert len(kept) == 6 and not {"Left_0.avi", "copy_of_left.avi"} & kept
    assert sum(sum(c.values()) for c in report.written.values()) == 6

    selection, refused = beam_ingest.plan_ingest(config)
    with pytest.raises(IngestError, match="identical videos.*copy_of_left"):
        beam_ingest.finish_ingest(
            selection, refused, dataclasses.replace(config, duplicates="fail"), out
        )
    assert os.path.exists(os.path.join(out, constants.REPORT_FILE))
    assert glob.glob(os.path.join(out, constants.NOTES_PREFIX + "*"))


@pytest.mark.parametrize("name", sorted(REAL_CLIPS))
def test_xvid_decodes_on_one_thread_to_the_same_frames(name):
    """MPEG-4 Part 2 (XviD) on one FFmpeg thread, H.264 on FFmpeg's default threads
    (video.SINGLE_THREAD_CODECS): every frame and time as OpenCV's default capture."""
    path = str(REAL_VIDEOS / name)
    ours, _ = video.open_capture(path)
    default = cv2.VideoCapture(path)
    try:
        xvid = name.startswith("xvid")
        assert (video.fourcc_of(ours).upper() in video.SINGLE_THREAD_CODECS) == xvid
        expected_threads = 1 if xvid else default.get(cv2.CAP_PROP_N_THREADS)
        assert ours.get(cv2.CAP_PROP_N_THREADS) == expected_threads
        count = 0
        while True:
            ok, frame = ours.read()
            ok_default, frame_default = default.read()
            assert ok == ok_default, f"frame {count}"
            if not ok:
                break
            np.testing.assert_array_equal(frame, frame_default, err_msg=f"frame {count}")
            assert ours.get(cv2.CAP_PROP_POS_MSEC) == default.get(cv2.CAP_PROP_POS_MSEC)
            count += 1
        assert count == REAL_CLIPS[name][0]
    finally:
        ours.release()
        default.release()


def mp4_cut_before_its_index(path: Path) -> Path:
    """The first 20,000 bytes of a real MP4 whose index (the moov box) follows its
    frames, written to `path`: no decoder opens it (FFmpeg: `moov atom not found`)."""
    path.write_bytes((REAL_VIDEOS / "h264_340x256_6fps.mp4").read_bytes()[:20_000])
    return path


def test_an_mp4_cut_before_its_index_is_named_truncated(tmp_path):
    """The error says the file was cut, as the container's own sizes show, not that
    it is no video."""
    cut = mp4_cut_before_its_index(tmp_path / "cut.mp4")
    message = r"^cannot open: truncated \(the file ends at byte 20000, its container declares \d+\)"
    with pytest.raises(video.VideoDecodeError, match=message):
        video.decode_clip(str(cut), FRAMES)
    with pytest.raises(video.VideoDecodeError, match=message):
        video.FrameReader(str(cut), FRAMES)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00garbage, not a video\xff" * 100)
    with pytest.raises(video.VideoDecodeError, match=r"^cannot open \(not a video"):
        video.decode_clip(str(garbage), FRAMES)
