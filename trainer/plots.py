"""Plots of streamed predictions: probability curves over time, and an animation
with the video frame above them and a moving playhead (as TensorFlow's MoViNet
streaming tutorial draws it).

The animation is rendered in a second pass over the video, once every frame's
probabilities are known, so that the curves are complete from the first frame.
MP4 frames are written as they are drawn; a GIF is written at the end (Pillow
needs every frame), so prefer MP4 for long videos.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import cv2
import numpy as np
from absl import logging

ANIMATION_FORMATS = (".gif", ".mp4")
_FIGSIZE = (5.0, 6.0)  # inches; at _DPI, 400x480 pixels (even sizes, as MP4 needs)
_DPI = 80


def top_classes(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k classes with the highest peak probability, best first."""
    peaks = np.asarray(probabilities).max(axis=0)
    return np.argsort(-peaks, kind="stable")[: min(k, peaks.size)]


def _figure(rows: int):
    # Agg directly, without pyplot: no global backend switch, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=_FIGSIZE if rows == 2 else (_FIGSIZE[0] * 1.4, 3.5), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _draw_curves(ax, probabilities: np.ndarray, labels, fps: float, k: int) -> None:
    times = np.arange(len(probabilities)) / fps
    for index in top_classes(probabilities, k):
        ax.plot(times, probabilities[:, index], label=labels[index])
    ax.set_xlim(0, max(times[-1], 1.0 / fps))
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)


def plot_curves(probabilities: np.ndarray, labels, fps: float, path: str, shown: int = 5) -> str:
    """Writes a PNG of the `shown` most probable classes' probabilities over time
    (probabilities: float [frames, classes]; fps: frames per second); returns `path`."""
    probabilities = _checked(probabilities, labels)
    fig = _figure(rows=1)
    ax = fig.add_subplot(1, 1, 1)
    _draw_curves(ax, probabilities, labels, fps, shown)
    ax.set_title("class probabilities over time")
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_animation(
    frames: Iterable[np.ndarray],
    probabilities: np.ndarray,
    labels,
    fps: float,
    path: str,
    shown: int = 5,
    progress=None,
) -> int:
    """Writes the animation (GIF or MP4 by `path`'s suffix): each frame of `frames`
    (BGR uint8) above the probability curves of the `shown` most probable classes, with
    a playhead at its time.

    Args:
      progress: called with no argument after each frame (a progress bar's update).

    Returns:
      The number of frames written: one per probability row (extra frames are
      ignored; fewer frames end the animation early, with a warning).
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in ANIMATION_FORMATS:
        raise ValueError(f"animation {path!r}: the suffix must be one of {ANIMATION_FORMATS}")
    probabilities = _checked(probabilities, labels)
    fig = _figure(rows=2)
    image_ax = fig.add_subplot(2, 1, 1)
    image_ax.axis("off")
    curves_ax = fig.add_subplot(2, 1, 2)
    _draw_curves(curves_ax, probabilities, labels, fps, shown)
    playhead = curves_ax.axvline(0.0, color="black", linewidth=1)
    title = image_ax.set_title("frame 0")  # before the layout, which leaves room for it
    fig.tight_layout()
    image = None
    writer = _MP4Writer(path, fps) if suffix == ".mp4" else _GifWriter(path, fps)
    written = 0
    try:
        for index, frame in enumerate(frames):
            if index >= len(probabilities):
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if image is None:
                image = image_ax.imshow(rgb)
            image.set_data(rgb)
            best = int(np.argmax(probabilities[index]))
            # The frame number also keeps every GIF frame distinct: Pillow merges
            # identical consecutive frames, which would change the frame count.
            title.set_text(
                f"frame {index + 1}, {index / fps:.1f} s: {labels[best]} "
                f"{probabilities[index, best]:.2f}"
            )
            playhead.set_xdata([index / fps, index / fps])
            fig.canvas.draw()
            writer.write(np.asarray(fig.canvas.buffer_rgba())[..., :3])
            written += 1
            if progress:
                progress()
    finally:
        writer.close()
    if written < len(probabilities):
        logging.warning(
            "%s: %d frames for %d predictions; the video changed?",
            path,
            written,
            len(probabilities),
        )
    return written


def _checked(probabilities, labels) -> np.ndarray:
    probabilities = np.asarray(probabilities, np.float32)
    if probabilities.ndim != 2 or not len(probabilities):
        raise ValueError(f"probabilities must be [frames, classes], got {probabilities.shape}")
    if probabilities.shape[1] != len(labels):
        raise ValueError(f"{probabilities.shape[1]} classes but {len(labels)} labels")
    return probabilities


class _MP4Writer:
    def __init__(self, path: str, fps: float):
        self._path, self._fps, self._writer = path, fps, None

    def write(self, rgb: np.ndarray) -> None:
        if self._writer is None:
            h, w = rgb.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(self._path, fourcc, self._fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"OpenCV cannot write MP4 (mp4v) to {self._path!r}")
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()


class _GifWriter:
    def __init__(self, path: str, fps: float):
        self._path, self._fps, self._frames = path, fps, []

    def write(self, rgb: np.ndarray) -> None:
        from PIL import Image

        # Paletted frames: a quarter of RGB's memory until the GIF is written.
        self._frames.append(Image.fromarray(rgb).quantize(colors=256))

    def close(self) -> None:
        if not self._frames:
            return
        first, *rest = self._frames
        first.save(
            self._path,
            save_all=True,
            append_images=rest,
            duration=round(1000 / self._fps),
            loop=0,
            disposal=1,
        )
