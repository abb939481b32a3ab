"""Decoding and sampling video frames: the one module both ingest and inference use.

Each video is decoded once, sequentially: OpenCV's `CAP_PROP_POS_FRAMES` seeking
is not frame-exact on XviD/AVI, and decoding is cheap next to a seek's keyframe
replay. Frames we do not keep are only `grab()`bed (decoded, not converted).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import cv2
import numpy as np

RESIZE_MODES = ("pad", "crop", "stretch")
# Bilinear, as tf.image.resize (the tutorial's and Model Garden's preprocessing);
# INTER_AREA costs 8x more per frame here and made resizing dearer than decoding.
_INTERPOLATION = cv2.INTER_LINEAR


class VideoDecodeError(Exception):
    """A video that cannot be used: unreadable, empty or truncated."""


@dataclasses.dataclass(frozen=True)
class FrameSpec:
    """Which frames to keep and how to shape them.

    Attributes:
      num_frames: frames stored per video. Videos with fewer sampled frames are
        padded by repeating the last one; longer ones keep the centre span.
      target_fps: sampling rate; the stride is round(source fps / target_fps).
      frame_step: explicit stride in source frames; overrides target_fps when > 0.
      height, width: output size.
      resize_mode: 'pad' keeps the aspect ratio with black bars (as
        tf.image.resize_with_pad), 'crop' centre-crops to the aspect, 'stretch'.
      min_decoded_fraction: a video whose decoded frame count is below this share
        of the count its header announces is truncated.
    """

    num_frames: int = 32
    target_fps: float = 5.0
    frame_step: int = 0
    height: int = 172
    width: int = 172
    resize_mode: str = "pad"
    min_decoded_fraction: float = 0.9

    def __post_init__(self):
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.frame_step < 0 or (self.frame_step == 0 and self.target_fps <= 0):
            raise ValueError("give frame_step >= 1 or target_fps > 0")
        if self.height < 8 or self.width < 8:
            raise ValueError(f"height and width must be >= 8, got {self.height}x{self.width}")
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {self.resize_mode!r}")

    def stride(self, source_fps: float) -> int:
        if self.frame_step > 0:
            return self.frame_step
        if not source_fps or source_fps <= 0 or not np.isfinite(source_fps):
            source_fps = 25.0  # headers without a rate: assume UCF101's 25 fps
        return max(1, round(source_fps / self.target_fps))


@dataclasses.dataclass(frozen=True)
class Clip:
    """Sampled frames (BGR uint8, [n, h, w, 3]) and what the decode saw."""

    frames: np.ndarray
    num_decoded: int
    source_fps: float
    stride: int
    num_real: int


def decode_clip(path: str, spec: FrameSpec) -> Clip:
    """Decodes `path` once and returns `spec.num_frames` resized frames.

    Raises:
      VideoDecodeError: the file cannot be opened, holds no frame, or is truncated.
    """
    cap = _open(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        announced = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        stride = spec.stride(fps)
        counter = _Counter()
        kept = list(_sampled(cap, stride, counter))
    finally:
        cap.release()
    index = counter.decoded
    if index == 0:
        raise VideoDecodeError("no frame could be decoded (empty or corrupt)")
    if announced > 0 and index < spec.min_decoded_fraction * announced:
        raise VideoDecodeError(f"truncated: decoded {index} of {announced} frames")
    chosen = choose_span(len(kept), spec.num_frames)
    frames = np.stack([resize_frame(kept[i], spec) for i in chosen])
    return Clip(frames, index, fps, stride, min(len(kept), spec.num_frames))


class FrameReader:
    """A video's sampled, resized frames (BGR uint8 [h, w, 3]), one at a time.

    The streaming counterpart of `decode_clip`: the same sampling (`spec.stride`)
    and resizing (`resize_frame`), without `num_frames`' span or padding, and with
    one frame in memory however long the video. Iterate once; the file is closed
    at the end (or by `close()`, or on leaving a `with` block).

    Raises:
      VideoDecodeError: on opening, the file cannot be opened; on iterating, it
        holds no frame.
    """

    def __init__(self, path: str, spec: FrameSpec):
        self.path = path
        self.spec = spec
        self._cap = _open(path)
        self.source_fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.stride = spec.stride(self.source_fps)
        self.announced_frames = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.num_decoded = 0

    @property
    def sampled_fps(self) -> float:
        """Frames per second of the sampled frames (the source's rate / stride)."""
        return (self.source_fps if self.source_fps > 0 else 25.0) / self.stride

    @property
    def expected_frames(self) -> int:
        """Sampled frames the header announces (0 when it does not say)."""
        return -(-max(self.announced_frames, 0) // self.stride)

    def __iter__(self) -> Iterator[np.ndarray]:
        counter = _Counter()
        try:
            for frame in _sampled(self._cap, self.stride, counter):
                yield resize_frame(frame, self.spec)
        finally:
            self.num_decoded = counter.decoded
            self.close()
        if counter.decoded == 0:
            raise VideoDecodeError("no frame could be decoded (empty or corrupt)")

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Counter:
    decoded = 0


def _open(path: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise VideoDecodeError("cannot open (not a video, or an unsupported codec)")
    return cap


def _sampled(cap: cv2.VideoCapture, stride: int, counter: _Counter) -> Iterator[np.ndarray]:
    """Every `stride`-th decoded frame; counts every decoded frame in `counter`."""
    while cap.grab():
        keep = counter.decoded % stride == 0
        if keep:
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                break
        counter.decoded += 1
        if keep:
            yield frame


def choose_span(available: int, wanted: int) -> list[int]:
    """Indices of `wanted` frames: the centre span, the last frame repeated when short."""
    if available >= wanted:
        start = (available - wanted) // 2
        return list(range(start, start + wanted))
    return list(range(available)) + [available - 1] * (wanted - available)


def resize_frame(frame: np.ndarray, spec: FrameSpec) -> np.ndarray:
    """Resizes one frame to spec's size with its resize mode."""
    h, w = frame.shape[:2]
    out_h, out_w = spec.height, spec.width
    if spec.resize_mode == "stretch":
        return cv2.resize(frame, (out_w, out_h), interpolation=_INTERPOLATION)
    if spec.resize_mode == "crop":
        scale = max(out_h / h, out_w / w)
        new_h, new_w = max(out_h, round(h * scale)), max(out_w, round(w * scale))
        resized = cv2.resize(frame, (new_w, new_h), interpolation=_INTERPOLATION)
        top, left = (new_h - out_h) // 2, (new_w - out_w) // 2
        return resized[top : top + out_h, left : left + out_w]
    scale = min(out_h / h, out_w / w)
    new_h, new_w = min(out_h, round(h * scale)), min(out_w, round(w * scale))
    resized = cv2.resize(frame, (new_w, new_h), interpolation=_INTERPOLATION)
    canvas = np.zeros((out_h, out_w, 3), dtype=frame.dtype)
    top, left = (out_h - new_h) // 2, (out_w - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def encode_jpeg(frame_bgr: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of a BGR frame (standard RGB JPEG, as tf.io.decode_jpeg reads it)."""
    ok, buf = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise VideoDecodeError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg_rgb(data: bytes) -> np.ndarray:
    """RGB uint8 frame of JPEG bytes."""
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise VideoDecodeError("not a JPEG image")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
