"""Sampling by presentation time and honest header checks (components/ingest/video.py)
on files whose headers lie, variable-rate and rotated files, all made here."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from components.ingest import containers, video
from components.ingest.video import FrameSpec, VideoDecodeError
from tests.components.ingest.test_video import (
    _marker_frame,
    _marker_video,
    _read_marker,
    _spec,
    _write_video,
)


def _patch_avi(path, out, fps: int | None = None, frames: int | None = None) -> str:
    """A copy of an OpenCV AVI with its header's rate and/or frame count replaced."""
    data = bytearray(open(path, "rb").read())
    avih, strh = data.find(b"avih") + 8, data.find(b"strh") + 8
    if fps is not None:  # avih dwMicroSecPerFrame; strh dwScale/dwRate
        struct.pack_into("<I", data, avih, round(1e6 / fps))
        struct.pack_into("<II", data, strh + 20, 1, fps)
    if frames is not None:  # avih dwTotalFrames; strh dwLength
        struct.pack_into("<I", data, avih + 16, frames)
        struct.pack_into("<I", data, strh + 32, frames)
    out.write_bytes(bytes(data))
    return str(out)


def test_implausible_header_rate_is_not_trusted_and_said(tmp_path):
    honest = _marker_video(tmp_path / "honest.avi", num_frames=50)
    lying = _patch_avi(honest, tmp_path / "lying.avi", fps=1000)
    assert cv2.VideoCapture(lying).get(cv2.CAP_PROP_FPS) == 1000  # the lie is read
    spec = _spec(frames_per_video=10, target_fps=5.0)
    clip = video.decode_clip(lying, spec)
    # Today's stride of 200 kept frame 0 only; 25 fps is assumed instead.
    assert [_read_marker(f) for f in clip.frames] == list(range(0, 50, 5))
    assert clip.timestamps == pytest.approx([i / 25 for i in range(0, 50, 5)])
    assert any("1000 fps is not plausible" in w for w in clip.warnings)
    assert video.decode_clip(honest, spec).warnings == ()


def test_header_frame_count_above_the_frames_is_a_warning_not_truncation(tmp_path):
    honest = _marker_video(tmp_path / "honest.avi", num_frames=50)
    lying = _patch_avi(honest, tmp_path / "lying.avi", frames=70)
    assert cv2.VideoCapture(lying).get(cv2.CAP_PROP_FRAME_COUNT) == 70
    clip = video.decode_clip(lying, _spec(frames_per_video=10))
    assert clip.num_decoded == 50
    assert [_read_marker(f) for f in clip.frames] == list(range(0, 50, 5))
    assert any("announces 70 frames" in w for w in clip.warnings)


def test_containers_declare_their_own_size(tmp_path):
    for ext in ("avi", "mp4"):
        path = _marker_video(tmp_path / f"clip.{ext}", num_frames=10)
        assert containers.declared_size(path) == (tmp_path / f"clip.{ext}").stat().st_size
        assert containers.is_truncated(path) == (False, "")
    gif = tmp_path / "x.gif"
    gif.write_bytes(b"GIF89a" + bytes(20))
    assert containers.declared_size(str(gif)) is None


def _vfr_gif(path, delays_ms: list[int]) -> str:
    from PIL import Image

    images = [Image.fromarray(_marker_frame(i)[..., ::-1]) for i in range(len(delays_ms))]
    images[0].save(path, save_all=True, append_images=images[1:], duration=delays_ms, loop=0)
    return str(path)


def test_variable_rate_gif_is_sampled_by_time(tmp_path):
    # 10 frames over the first 5 s, 100 over the last 2 s; each frame shows its index.
    delays = [500] * 10 + [20] * 100
    path = _vfr_gif(tmp_path / "vfr.gif", delays)
    starts = np.concatenate([[0], np.cumsum(delays)[:-1]]) / 1000
    # Sample k: the first frame presented at or after k / 5 s.
    expected = [int(np.argmax(starts >= k / 5 - 1e-6)) for k in range(35)]
    clip = video.decode_clip(path, _spec(frames_per_video=35))
    assert clip.num_real == 35  # 7 s at 5 fps (stride sampling made 60)
    assert [_read_marker(f) for f in clip.frames] == expected
    assert clip.timestamps == pytest.approx(starts[expected], abs=1e-3)
    # The last 2 s give 10 samples, not 50 as stride sampling did.
    assert len([i for i in expected if i > 10]) == 9 and expected[25] == 10
    reader = video.FrameReader(path, _spec())
    assert len(list(reader)) == 35 and max(reader.timestamps) < 7.0


@pytest.mark.parametrize("fps, num_frames", [(28.0, 100), (29.97, 60), (6.0, 30), (30.0, 31)])
def test_any_source_rate_gives_target_fps_samples(tmp_path, fps, num_frames):
    path = _marker_video(tmp_path / "clip.mp4", num_frames=num_frames, fps=fps)
    reader = video.FrameReader(path, _spec(target_fps=5.0))
    frames = [_read_marker(f) for f in reader]
    last = (num_frames - 1) / fps
    assert len(frames) == int(last * 5 + 1e-6) + 1  # one sample per 0.2 s of video
    for k, (index, time_s) in enumerate(zip(frames, reader.timestamps, strict=True)):
        assert time_s == pytest.approx(index / fps, abs=1e-3)
        assert k / 5 - 1e-3 <= time_s < k / 5 + 1 / fps  # the first frame at or after k/5


def _rotate_mp4(path, out) -> str:
    """A copy of an OpenCV mp4v file whose track matrix (tkhd) says 'rotate 90'."""
    data = bytearray(open(path, "rb").read())
    tkhd = data.find(b"tkhd")
    assert data[tkhd + 4] == 0, "expects a version 0 tkhd box"
    matrix = tkhd + 4 + 4 + 4 * 5 + 8 + 8  # after version/flags, times, id, duration...
    assert struct.unpack_from(">9i", data, matrix) == (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 1 << 30)
    struct.pack_into(">9i", data, matrix, 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 1 << 30)
    out.write_bytes(bytes(data))
    return str(out)


def test_rotation_metadata_is_applied(tmp_path):
    frame = np.full((48, 80, 3), 40, np.uint8)
    frame[:16, :16] = (0, 0, 255)  # red block at the top left of the stored picture
    stored = _write_video(tmp_path / "stored.mp4", [frame] * 10)
    rotated = _rotate_mp4(stored, tmp_path / "rotated.mp4")
    cap = cv2.VideoCapture(rotated)
    assert cap.get(cv2.CAP_PROP_ORIENTATION_META) == 90
    spec = FrameSpec(frames_per_video=2, height=80, width=48, resize_mode="stretch")
    frames = video.decode_clip(rotated, spec).frames
    # Turned a quarter clockwise: portrait, the block now at the top right.
    red = frames[0][..., 2].astype(int) - frames[0][..., 0]
    assert red[:12, -12:].mean() > 150 and red[:12, :12].mean() < 30
    streamed = list(video.FrameReader(rotated, spec))
    np.testing.assert_array_equal(streamed[0], frames[0])
    # The same as OpenCV's own (default) rotation, which nothing pins.
    ok, auto = cap.read()
    assert ok and auto.shape == (80, 48, 3)
    assert np.abs(auto.astype(int) - frames[0]).mean() < 2


def test_truncated_mp4_is_never_a_success(tmp_path):
    path = _marker_video(tmp_path / "clip.mp4", num_frames=50)
    data = open(path, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert containers.is_truncated(str(cut))[0]
    with pytest.raises(VideoDecodeError, match="truncated|cannot open"):
        video.decode_clip(str(cut), _spec(frames_per_video=4))
