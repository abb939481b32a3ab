"""Decoding and sampling video frames: the one module both ingest and inference use.

Frames are chosen by presentation time, not by counting: sample k is the first
frame presented at or after k / target_fps seconds (a frame presented across several
sample times fills each of them), so 25, 28, 29.97 and 30 fps and variable-rate
sources all give target_fps samples per second of video. Times are OpenCV's
`CAP_PROP_POS_MSEC` after each `grab()`, which is the stream's presentation time
(GIF delays included) on the containers we read; a header rate outside
`PLAUSIBLE_FPS` (webcams write 1000 fps) is not trusted: the timestamps are used
when their spacing is plausible, else `ASSUMED_FPS` is assumed, and the clip says so
in its warnings.

Each video is decoded once, sequentially: OpenCV's `CAP_PROP_POS_FRAMES` seeking
is not frame-exact on XviD/AVI, and decoding is cheap next to a seek's keyframe
replay. Frames we do not keep are only `grab()`bed (decoded, not converted).
Rotation metadata (portrait phone video) is applied here, explicitly, not left to
OpenCV's `CAP_PROP_ORIENTATION_AUTO` default, which varies across versions.
Truncation is judged by the container's own size (`containers.py`), never by the
frame count a header announces; a header that disagrees is a warning.

One module of ~390 lines on purpose: the frame contract (FrameSpec), sampling by
time, rotation, resizing and JPEG encoding are what training and serving must do
alike, so they are read and changed in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import cv2
import numpy as np

from components import renamed_keys
from components.config_loader import ConfigError, require
from components.ingest import containers

RESIZE_MODES = ("pad", "crop", "stretch")
# Bilinear, as tf.image.resize (the tutorial's and Model Garden's preprocessing);
# INTER_AREA costs 8x more per frame here and made resizing dearer than decoding.
_INTERPOLATION = cv2.INTER_LINEAR
PLAUSIBLE_FPS = (1.0, 240.0)
ASSUMED_FPS = 25.0  # UCF101's rate, for headers without a plausible one
_TIME_TOLERANCE_S = 5e-4  # timestamps in ms with float rounding
# FFmpeg's MPEG-4 Part 2 decoder (XviD, DivX: UCF101's codec) is faster on one thread
# than with the frame threads OpenCV starts for every capture (one per core). 2 cores,
# 2026-12-07, 40 copies of ../shared/videos' 320x240 XviD clip: 0.43 s vs 1.23 s
# decoded one at a time, 0.23 s vs 0.68 s two at a time. H.264 keeps them: 4 copies
# of the four H.264 clips (340x256 and 1080p) took 1.75 s with them, 2.64 s without,
# one at a time (two at a time, 1.38 s vs 1.24 s). Tags: FFmpeg's
# libavformat/riff.c (AV_CODEC_ID_MPEG4) and isom.c ('mp4v'); OpenCV reports the tag.
SINGLE_THREAD_CODECS = frozenset(
    {"FMP4", "XVID", "XVIX", "DIVX", "DX50", "DIV1", "MP4S", "M4S2", "MP4V", "3IV2", "UMP4"}
)
_ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


class VideoDecodeError(Exception):
    """A video that cannot be used: unreadable, empty or truncated."""


def is_plausible_fps(fps: float) -> bool:
    """Whether a frame rate (frames/s) is one a real video has."""
    return bool(np.isfinite(fps)) and PLAUSIBLE_FPS[0] <= fps <= PLAUSIBLE_FPS[1]


@dataclasses.dataclass(frozen=True)
class FrameSpec:
    """Which frames to keep and how to shape them.

    Attributes:
      frames_per_video: frames stored per video (config key
        `ingest.frames.frames_per_video`, formerly `num_frames`; not the model's window,
        `trainer.window_frames`, which the trainer takes from these). Videos with fewer
        sampled frames are padded by repeating the last one; longer ones keep the
        centre span.
      target_fps: samples per second of video, chosen by presentation time.
      frame_step: explicit stride in decoded frames (Model Garden's and DMVR's
        `temporal_stride`); overrides target_fps when > 0.
      height, width: output size.
      resize_mode: 'pad' keeps the aspect ratio with black bars (as
        tf.image.resize_with_pad), 'crop' centre-crops to the aspect, 'stretch'.
      min_decoded_fraction: a video whose decoded frame count is below this share
        of the count its header announces gets a warning (not an error: the header
        count is no evidence of truncation; the container's size is).
    """

    frames_per_video: int = 32
    target_fps: float = 5.0
    frame_step: int = 0
    height: int = 172
    width: int = 172
    resize_mode: str = "pad"
    min_decoded_fraction: float = 0.9

    RENAMED_KEYS = renamed_keys.FRAMES  # not a field: read by components/config_loader.py

    def __post_init__(self):
        require(self.frames_per_video >= 1, "frames_per_video", ">= 1", self.frames_per_video)
        if self.frame_step < 0 or (self.frame_step == 0 and self.target_fps <= 0):
            raise ConfigError(
                f"give frame_step >= 1 or target_fps > 0, got frame_step {self.frame_step} "
                f"and target_fps {self.target_fps}"
            )
        require(self.height >= 8, "height", ">= 8", self.height)
        require(self.width >= 8, "width", ">= 8", self.width)
        require(
            self.resize_mode in RESIZE_MODES,
            "resize_mode",
            f"one of {RESIZE_MODES}",
            self.resize_mode,
        )


@dataclasses.dataclass(frozen=True)
class Clip:
    """Sampled frames and what the decode saw.

    Attributes:
      frames: BGR uint8 [frames_per_video, height, width, 3].
      timestamps: presentation time in seconds of each of `frames` (float, as many).
      num_decoded: frames decoded.
      source_fps: the rate the header announces (0 when none; may be implausible).
      sample_fps: samples per second of video (target_fps, or the clock's rate /
        frame_step).
      num_real: distinct sampled positions among `frames` (the rest repeat the last).
      warnings: what the header got wrong, in words (for the ingest report).
    """

    frames: np.ndarray
    timestamps: tuple[float, ...]
    num_decoded: int
    source_fps: float
    sample_fps: float
    num_real: int
    warnings: tuple[str, ...] = ()


def decode_clip(path: str, spec: FrameSpec) -> Clip:
    """Decodes `path` once and returns `spec.frames_per_video` resized frames with their times.

    Raises:
      VideoDecodeError: the file cannot be opened, holds no frame, or is truncated
        (shorter than its container declares).
    """
    cap, rotation = open_capture(path)
    try:
        header_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        announced = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        sampler = _Sampler(spec, header_fps)
        kept, times = [], []
        for frame, time_s, copies in _samples(cap, sampler, rotation):
            kept += [frame] * copies
            times += [time_s] * copies
    finally:
        cap.release()
    warnings = _judge(path, sampler, announced, spec, strict=True)
    chosen = choose_span(len(kept), spec.frames_per_video)
    resized: dict[int, np.ndarray] = {}  # a frame filling several samples is resized once
    frames = np.stack([_resized_once(kept[i], spec, resized) for i in chosen])
    return Clip(
        frames=frames,
        timestamps=tuple(times[i] for i in chosen),
        num_decoded=sampler.decoded,
        source_fps=header_fps,
        sample_fps=sampler.sample_fps,
        num_real=min(len(kept), spec.frames_per_video),
        warnings=tuple(warnings),
    )


def _resized_once(frame: np.ndarray, spec: FrameSpec, done: dict) -> np.ndarray:
    key = id(frame)
    if key not in done:
        done[key] = resize_frame(frame, spec)
    return done[key]


class FrameReader:
    """A video's sampled, resized frames (BGR uint8 [h, w, 3]), one at a time.

    The streaming counterpart of `decode_clip`: the same sampling (by presentation
    time) and resizing (`resize_frame`), without `frames_per_video`' span or padding, and
    with one frame in memory however long the video. Iterate once; the file is
    closed at the end (or by `close()`, or on leaving a `with` block).
    `timestamps[i]` is the time in seconds of the i-th frame yielded, set as it is
    yielded; `warnings` (header faults, truncation) is set at the end.

    Raises:
      VideoDecodeError: on opening, the file cannot be opened; on iterating, it
        holds no frame.
    """

    def __init__(self, path: str, spec: FrameSpec):
        self.path = path
        self.spec = spec
        self._cap, self._rotation = open_capture(path)
        self.source_fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.announced_frames = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self._sampler = _Sampler(spec, self.source_fps)
        self.timestamps: list[float] = []
        self.warnings: tuple[str, ...] = ()

    @property
    def num_decoded(self) -> int:
        return self._sampler.decoded

    @property
    def sampled_fps(self) -> float:
        """Samples per second of video (target_fps, or the clock's rate / frame_step)."""
        return self._sampler.sample_fps

    @property
    def expected_frames(self) -> int:
        """Samples the header's duration suggests (0 when the header is implausible)."""
        count, fps = self.announced_frames, self.source_fps
        if not (is_plausible_fps(fps) and 0 < count < 2**31):
            return 0
        if self.spec.frame_step:
            return -(-int(count) // self.spec.frame_step)
        return int(np.ceil(count / fps * self.spec.target_fps))

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            for frame, time_s, copies in _samples(self._cap, self._sampler, self._rotation):
                out = resize_frame(frame, self.spec)
                for _ in range(copies):
                    self.timestamps.append(time_s)
                    yield out
        finally:
            self.close()
        self.warnings = tuple(
            _judge(self.path, self._sampler, self.announced_frames, self.spec, strict=False)
        )

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Sampler:
    """Frame by frame as decoded: each frame's presentation time (s, from the first
    frame) and how many samples it fills (module docstring)."""

    def __init__(self, spec: FrameSpec, header_fps: float):
        self.spec = spec
        self.header_fps = header_fps
        self.warnings: list[str] = []
        self.decoded = 0
        self.time = 0.0
        # The clock: the timestamps, checked against the rate; 0.0 while undecided.
        self.clock_fps = header_fps if is_plausible_fps(header_fps) else 0.0
        self._use_pts = True
        self._first_pts = 0.0
        self._next_sample = 0

    @property
    def sample_fps(self) -> float:
        if self.spec.frame_step:
            return (self.clock_fps or ASSUMED_FPS) / self.spec.frame_step
        return self.spec.target_fps

    def advance(self, pts_ms: float) -> int:
        """Counts one decoded frame presented at `pts_ms` (OpenCV's POS_MSEC); returns
        the samples it fills (0 for a frame only grabbed)."""
        index = self.decoded
        self.decoded += 1
        self.time = self._time(index, pts_ms / 1000.0)
        if self.spec.frame_step:
            return int(index % self.spec.frame_step == 0)
        filled = 0
        while self._next_sample / self.spec.target_fps <= self.time + _TIME_TOLERANCE_S:
            filled += 1
            self._next_sample += 1
        return filled

    def _time(self, index: int, pts: float) -> float:
        if index == 0:
            self._first_pts = pts if np.isfinite(pts) else 0.0
            return 0.0
        if index == 1 and not self.clock_fps:
            self._choose_clock(pts - self._first_pts)
        if not self._use_pts:
            return index / self.clock_fps
        time_s = pts - self._first_pts
        if not np.isfinite(time_s) or time_s <= self.time:  # missing or out of order
            return self.time + 1.0 / self.clock_fps
        return time_s

    def _choose_clock(self, first_gap: float) -> None:
        said = f"the header's rate {self.header_fps:g} fps is not plausible"
        if first_gap > 0 and is_plausible_fps(1.0 / first_gap):
            self.clock_fps = 1.0 / first_gap
            self.warnings.append(f"{said}; sampled by the stream's timestamps")
        else:
            self._use_pts = False
            self.clock_fps = ASSUMED_FPS
            self.warnings.append(
                f"{said} and the timestamps follow it; assumed {ASSUMED_FPS:g} fps"
            )


def open_capture(path: str) -> tuple[cv2.VideoCapture, int | None]:
    """An OpenCV capture of `path`, with OpenCV's own rotation off, and the rotation to
    apply (a cv2.ROTATE_* code, or None). MPEG-4 Part 2 streams are decoded on one
    thread (`SINGLE_THREAD_CODECS`), others with FFmpeg's default threads.

    Raises:
      VideoDecodeError: the file cannot be opened.
    """
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise VideoDecodeError(_why_unopened(path))
    if cap.getBackendName() == "FFMPEG" and fourcc_of(cap).upper() in SINGLE_THREAD_CODECS:
        single = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if single.isOpened():
            cap.release()
            cap = single
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    degrees = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0)) % 360
    return cap, _ROTATIONS.get(degrees)


def _why_unopened(path: str) -> str:
    """Why OpenCV cannot open `path`, in a user's words: a file cut short (an MP4 whose
    index, the moov box, was in the lost end: FFmpeg's `moov atom not found`) or not
    a video it can read."""
    truncated, why = _truncation(path)
    if truncated:
        return f"cannot open: truncated ({why}); copy or download it again"
    return "cannot open (not a video, or an unsupported codec)"


def _truncation(path: str) -> tuple[bool, str]:
    """`containers.is_truncated`, or (False, "") when the file cannot be read."""
    try:
        return containers.is_truncated(path)
    except OSError:
        return False, ""


def fourcc_of(cap: cv2.VideoCapture) -> str:
    """The stream's codec tag as OpenCV reports it, e.g. 'XVID', 'FMP4', 'h264'
    ('' when it has none)."""
    code = int(cap.get(cv2.CAP_PROP_FOURCC) or 0) & 0xFFFFFFFF
    return code.to_bytes(4, "little").decode("latin-1").strip("\x00 ")


def _samples(
    cap: cv2.VideoCapture, sampler: _Sampler, rotation: int | None
) -> Iterator[tuple[np.ndarray, float, int]]:
    """(frame BGR upright, time s, samples it fills) of each frame that fills any."""
    while cap.grab():
        copies = sampler.advance(cap.get(cv2.CAP_PROP_POS_MSEC))
        if copies:
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                break
            if rotation is not None:
                frame = cv2.rotate(frame, rotation)
            yield frame, sampler.time, copies


def _judge(
    path: str, sampler: _Sampler, announced: float, spec: FrameSpec, strict: bool
) -> list[str]:
    """The clip's warnings; raises (strict) or warns when it holds nothing or is cut."""
    if sampler.decoded == 0:
        raise VideoDecodeError("no frame could be decoded (empty or corrupt)")
    warnings = list(sampler.warnings)
    truncated, why = _truncation(path)
    if truncated:
        if strict:
            raise VideoDecodeError(f"truncated: decoded {sampler.decoded} frames; {why}")
        warnings.append(f"truncated: {why}")
    if not 0 <= announced < 2**31:
        warnings.append(f"the header's frame count {announced:g} is not plausible")
    elif not truncated and sampler.decoded < spec.min_decoded_fraction * announced:
        warnings.append(
            f"the header announces {announced:g} frames; the intact file holds "
            f"{sampler.decoded}"
        )
    return warnings


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
