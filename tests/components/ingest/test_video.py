"""Tests of components/ingest/video.py on small videos written here with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from components.ingest import video
from components.ingest.video import FrameSpec, VideoDecodeError

SRC_W, SRC_H = 160, 120  # 4:3 like UCF101's 320x240
CODECS = {"avi": "XVID", "mp4": "mp4v"}


def _marker_frame(index: int) -> np.ndarray:
    """A frame that carries its index: left half = tens, right half = units (steps of 20)."""
    frame = np.empty((SRC_H, SRC_W, 3), np.uint8)
    frame[:, : SRC_W // 2] = 20 * (index // 10) + 10
    frame[:, SRC_W // 2 :] = 20 * (index % 10) + 10
    return frame


def _read_marker(frame: np.ndarray) -> int:
    """The index a frame of `_marker_frame` carries (reads the outer quarters, away from
    the codec's blur at the middle edge)."""
    quarter = frame.shape[1] // 4
    tens = round((float(frame[:, :quarter].mean()) - 10) / 20)
    units = round((float(frame[:, -quarter:].mean()) - 10) / 20)
    return 10 * tens + units


def _write_video(path, frames, fps: float = 25.0) -> str:
    fourcc = CODECS[str(path).rsplit(".", 1)[-1]]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(path)


def _marker_video(path, num_frames: int, fps: float = 25.0) -> str:
    return _write_video(path, [_marker_frame(i) for i in range(num_frames)], fps)


def _spec(**kwargs) -> FrameSpec:
    defaults = {"height": 48, "width": 64, "resize_mode": "stretch"}  # same 4:3 aspect
    return FrameSpec(**{**defaults, **kwargs})


@pytest.mark.parametrize("ext", sorted(CODECS))
def test_decode_clip_samples_at_target_fps_and_keeps_the_centre_span(tmp_path, ext):
    path = _marker_video(tmp_path / f"clip.{ext}", num_frames=50)
    clip = video.decode_clip(path, _spec(frames_per_video=8, target_fps=5.0))
    assert clip.frames.shape == (8, 48, 64, 3)
    assert clip.frames.dtype == np.uint8
    assert clip.source_fps == pytest.approx(25.0)
    assert clip.sample_fps == 5.0
    assert clip.num_decoded == 50
    assert clip.timestamps == pytest.approx([i / 25 for i in range(5, 45, 5)])
    assert clip.num_real == 8
    # Kept every 5th frame (0, 5, ..., 45); the centre 8 of those 10 start at 5.
    assert [_read_marker(f) for f in clip.frames] == list(range(5, 45, 5))


def test_decode_clip_explicit_frame_step_overrides_target_fps(tmp_path):
    path = _marker_video(tmp_path / "clip.avi", num_frames=50)
    clip = video.decode_clip(path, _spec(frames_per_video=4, frame_step=3, target_fps=5.0))
    assert clip.sample_fps == pytest.approx(25 / 3)
    # 17 frames kept (0, 3, ..., 48); the centre 4 start at kept index 6 = frame 18.
    assert [_read_marker(f) for f in clip.frames] == [18, 21, 24, 27]


def test_decode_clip_of_a_long_video_takes_its_centre(tmp_path):
    path = _marker_video(tmp_path / "clip.avi", num_frames=100)
    clip = video.decode_clip(path, _spec(frames_per_video=4, frame_step=1))
    assert [_read_marker(f) for f in clip.frames] == [48, 49, 50, 51]
    assert clip.num_real == 4


def test_decode_clip_of_a_short_video_repeats_its_last_frame(tmp_path):
    path = _marker_video(tmp_path / "clip.avi", num_frames=12)
    clip = video.decode_clip(path, _spec(frames_per_video=5, target_fps=5.0))
    assert clip.frames.shape == (5, 48, 64, 3)
    assert clip.num_real == 3  # frames 0, 5, 10
    assert [_read_marker(f) for f in clip.frames] == [0, 5, 10, 10, 10]
    np.testing.assert_array_equal(clip.frames[2], clip.frames[4])


@pytest.mark.parametrize(
    "available, wanted, expected",
    [(10, 4, [3, 4, 5, 6]), (5, 5, [0, 1, 2, 3, 4]), (2, 5, [0, 1, 1, 1, 1]), (1, 3, [0, 0, 0])],
)
def test_choose_span(available, wanted, expected):
    assert video.choose_span(available, wanted) == expected


@pytest.fixture(scope="module")
def banded_video(tmp_path_factory):
    """A 4:3 grey video with a 16-pixel pure-blue band at its left edge."""
    frame = np.full((SRC_H, SRC_W, 3), 128, np.uint8)
    frame[:, :16] = (255, 0, 0)  # BGR blue
    return _write_video(tmp_path_factory.mktemp("video") / "band.avi", [frame] * 10)


def _decode_square(path: str, resize_mode: str) -> np.ndarray:
    return video.decode_clip(
        path, _spec(frames_per_video=2, height=64, width=64, resize_mode=resize_mode)
    ).frames


def _blueness(frames: np.ndarray) -> np.ndarray:
    """Per-column blue minus red, averaged over frames and rows."""
    return (frames[..., 0].astype(float) - frames[..., 2]).mean(axis=(0, 1))


def test_resize_pad_keeps_aspect_with_black_bars(banded_video):
    frames = _decode_square(banded_video, "pad")
    assert frames.shape == (2, 64, 64, 3)
    # 160x120 scaled by 0.4 is 64x48: 8 black rows above and below, none at the sides.
    assert frames[:, :8].max() == 0 and frames[:, 56:].max() == 0
    assert frames[:, 8:56].max(axis=-1).min() > 50  # every pixel of the picture is lit
    assert _blueness(frames[:, 8:56])[0] > 150  # the band is still there


def test_resize_crop_centre_crops_to_the_aspect(banded_video):
    frames = _decode_square(banded_video, "crop")
    assert frames.shape == (2, 64, 64, 3)
    assert frames.max(axis=-1).min() > 50  # no bars
    # 160x120 scaled to 85x64 loses ~19 source columns a side: the 16-column band is cut off.
    assert np.abs(_blueness(frames)).max() < 30


def test_resize_stretch_fills_the_frame_and_keeps_every_column(banded_video):
    frames = _decode_square(banded_video, "stretch")
    assert frames.shape == (2, 64, 64, 3)
    assert frames.max(axis=-1).min() > 50
    assert _blueness(frames)[0] > 150
    assert abs(_blueness(frames)[-1]) < 30


def test_resize_frame_to_a_wider_target_pads_at_the_sides():
    frame = np.full((120, 160, 3), 200, np.uint8)
    out = video.resize_frame(frame, FrameSpec(height=60, width=120, resize_mode="pad"))
    assert out.shape == (60, 120, 3)
    assert out[:, :20].max() == 0 and out[:, 100:].max() == 0  # 80 wide, centred
    assert out[:, 20:100].min() == 200


def test_truncated_avi_is_reported_as_truncated(tmp_path):
    # Cut bytes: the RIFF header declares more than the file holds.
    path = _marker_video(tmp_path / "full.avi", num_frames=120)
    data = open(path, "rb").read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match="truncated"):
        video.decode_clip(str(cut), _spec(frames_per_video=4))


@pytest.mark.parametrize("content", [b"", b"\x00garbage, not a video\xff" * 100])
def test_empty_or_garbage_file_fails(tmp_path, content):
    path = tmp_path / "bad.avi"
    path.write_bytes(content)
    with pytest.raises(VideoDecodeError):
        video.decode_clip(str(path), _spec(frames_per_video=4))


def test_missing_file_fails(tmp_path):
    with pytest.raises(VideoDecodeError, match="cannot open"):
        video.decode_clip(str(tmp_path / "absent.avi"), _spec(frames_per_video=4))


def test_gif_decodes(tmp_path):
    from PIL import Image

    path = str(tmp_path / "clip.gif")
    images = [Image.fromarray(_marker_frame(i)[..., ::-1]) for i in range(20)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=40, loop=0)
    cap = cv2.VideoCapture(path)
    readable = cap.isOpened() and cap.read()[0]
    cap.release()
    if not readable:
        pytest.skip("this OpenCV build cannot read GIF files")
    clip = video.decode_clip(path, _spec(frames_per_video=4, frame_step=2))
    assert clip.num_decoded == 20
    assert clip.frames.shape == (4, 48, 64, 3)
    # 10 kept (0, 2, ..., 18); the centre 4 start at kept index 3 = frame 6.
    assert [_read_marker(f) for f in clip.frames] == [6, 8, 10, 12]


def test_jpeg_round_trip_gives_rgb():
    red_bgr = np.zeros((32, 48, 3), np.uint8)
    red_bgr[..., 2] = 255
    rgb = video.decode_jpeg_rgb(video.encode_jpeg(red_bgr, quality=95))
    assert rgb.shape == (32, 48, 3) and rgb.dtype == np.uint8
    assert rgb[..., 0].min() > 240  # red first
    assert rgb[..., 1:].max() < 15


def test_jpeg_round_trip_is_close_on_a_natural_frame():
    noise = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)
    frame = cv2.GaussianBlur(noise, (7, 7), 0)
    rgb = video.decode_jpeg_rgb(video.encode_jpeg(frame, quality=95))
    # Loose: JPEG subsamples chroma, which costs a few levels on a noisy frame.
    assert np.abs(rgb[..., ::-1].astype(int) - frame).mean() < 5.0


def test_jpeg_encode_quality_changes_size():
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)
    assert len(video.encode_jpeg(frame, quality=30)) < len(video.encode_jpeg(frame, quality=95))


def test_decode_jpeg_rgb_rejects_non_jpeg():
    with pytest.raises(VideoDecodeError, match="not a JPEG"):
        video.decode_jpeg_rgb(b"definitely not a jpeg")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"frames_per_video": 0}, "frames_per_video"),
        ({"frame_step": -1}, "frame_step"),
        ({"frame_step": 0, "target_fps": 0.0}, "target_fps"),
        ({"height": 4}, "height"),
        ({"width": 7}, "width"),
        ({"resize_mode": "zoom"}, "resize_mode"),
    ],
)
def test_frame_spec_rejects_invalid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FrameSpec(**kwargs)


@pytest.mark.parametrize("ext", sorted(CODECS))
def test_frame_reader_samples_and_resizes_as_decode_clip(tmp_path, ext):
    path = _marker_video(tmp_path / f"clip.{ext}", num_frames=50)
    spec = _spec(frames_per_video=10, target_fps=5.0)
    reader = video.FrameReader(path, spec)
    assert reader.expected_frames == 10
    assert reader.sampled_fps == pytest.approx(5.0)
    frames = list(reader)
    assert reader.num_decoded == 50
    assert reader.timestamps == pytest.approx([i / 25 for i in range(0, 50, 5)])
    assert [_read_marker(f) for f in frames] == list(range(0, 50, 5))
    np.testing.assert_array_equal(np.stack(frames), video.decode_clip(path, spec).frames)


def test_frame_reader_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video")
    with pytest.raises(VideoDecodeError, match="cannot open"):
        video.FrameReader(str(bad), _spec())
