"""Using an exported model: find it, load it, classify videos and stream them.

Videos are decoded by `components/ingest/video.py`, the ingest's own decoder, at
the model's resolution, so serving sees the frames training saw:
- `classify_video` samples a clip as the ingest does (`decode_clip`), writes the
  ingest's record and scores it with `serving_default`, the signature TFMA
  evaluates (several windows spread over the clip, averaged);
- `stream` feeds frames one at a time: through `stream_step` with the states
  carried between frames (causal models), or, for non-causal models, through
  `frames` on a sliding window of the last `num_frames` frames. Either way only
  the current frame, the states or the window are held, however long the video.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import json
import os
import re
from collections.abc import Iterable, Iterator

import cv2
import numpy as np
import tensorflow as tf
from absl import logging

from components.ingest import records
from components.ingest.video import FrameSpec, VideoDecodeError, decode_clip, encode_jpeg
from components.served_model import versions
from components.served_model.versions import is_saved_model
from trainer.export import CONFIG_FILE, LABELS_FILE

STREAM_MODES = ("auto", "states", "window")
OUTPUT_KEYS = ("probabilities", "top_k_probabilities", "top_k_indices", "top_k_labels")
# The ingest's defaults (pipeline ingest --num-frames/--fps/--jpeg-quality).
INGEST_NUM_FRAMES = 32
INGEST_FPS = 5.0
INGEST_JPEG_QUALITY = 90
_WHAT_A_MODEL_IS = (
    "give a SavedModel directory (holding saved_model.pb), a serving base directory "
    "(numbered versions, the newest is used) or a pipeline root (its newest "
    "Pusher/pushed_model/<id>/ or Trainer/model/<id>/Format-Serving/ is used)"
)


class InferenceError(Exception):
    """A model or an input that cannot be used for prediction."""


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """An exported model and what inference needs to know about it."""

    path: str
    module: object = dataclasses.field(repr=False)
    labels: tuple[str, ...]
    num_frames: int
    resolution: int

    @property
    def causal(self) -> bool:
        """Whether the model has the stream signatures (a causal 'stream' variant)."""
        return "stream_step" in self.module.signatures

    def frame_spec(
        self,
        num_frames: int = INGEST_NUM_FRAMES,
        fps: float = INGEST_FPS,
        resize_mode: str = "pad",
    ) -> FrameSpec:
        """The ingest's FrameSpec at this model's resolution."""
        return FrameSpec(
            num_frames=num_frames,
            target_fps=fps,
            height=self.resolution,
            width=self.resolution,
            resize_mode=resize_mode,
        )


@dataclasses.dataclass(frozen=True)
class VideoPrediction:
    """One video's class probabilities, or why it could not be classified."""

    path: str
    probabilities: np.ndarray | None = None
    error: str = ""

    def top(self, labels: tuple[str, ...], k: int) -> list[tuple[str, float]]:
        """The k most probable (label, probability) pairs, best first."""
        if self.probabilities is None:
            return []
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(labels[i], float(self.probabilities[i])) for i in order]


def resolve_model_dir(path: str) -> str:
    """The SavedModel directory `path` designates.

    `path` may be the SavedModel itself, a serving base directory (the highest
    numbered version holding a SavedModel) or a pipeline root: the newest
    (highest execution id) model the Pusher pushed, else the newest the Trainer
    wrote (with a warning: it may not have passed evaluation).

    Raises:
      InferenceError: nothing there is a model; the message says what was looked for.
    """
    if not tf.io.gfile.isdir(path):
        raise InferenceError(f"--model {path!r} is not a directory; {_WHAT_A_MODEL_IS}")
    if is_saved_model(path):
        return path
    version = _newest_version(path)
    if version:
        return version
    pushed = _newest_artifact(path, os.path.join("**", "Pusher", "pushed_model", "*"))
    if pushed:
        return pushed
    trained = _newest_artifact(path, os.path.join("**", "Trainer", "model", "*", "Format-Serving"))
    if trained:
        logging.warning(
            "no pushed model under %s; using the Trainer's newest model %s, which may not "
            "have passed evaluation",
            path,
            trained,
        )
        return trained
    raise InferenceError(f"no model found under {path!r}; {_WHAT_A_MODEL_IS}")


def _newest_version(base: str) -> str | None:
    newest = versions.newest_version(base)
    return newest[1] if newest else None


def _newest_artifact(root: str, pattern: str) -> str | None:
    """The model in the artifact folder matching `pattern` with the highest numeric
    id (the execution id TFX names artifact folders by)."""
    found = []
    for folder in glob.glob(os.path.join(root, pattern), recursive=True):
        match = re.search(r"[/\\](\d+)(?:[/\\]Format-Serving)?$", folder.rstrip("/\\"))
        model = folder if is_saved_model(folder) else _newest_version(folder)
        if match and model:
            found.append((int(match.group(1)), model))
    return max(found)[1] if found else None


def load_model(path: str) -> LoadedModel:
    """Resolves `path` (see `resolve_model_dir`) and loads the SavedModel there.

    Raises:
      InferenceError: no model, not loadable, or not one this pipeline's Trainer exported.
    """
    model_dir = resolve_model_dir(path)
    logging.info("loading model %s", model_dir)
    try:
        module = tf.saved_model.load(model_dir)
    except (OSError, ValueError, tf.errors.OpError) as e:
        raise InferenceError(f"cannot load the SavedModel in {model_dir!r}: {e}") from e
    missing = {"frames", "labels"} - set(module.signatures)
    config_file = os.path.join(model_dir, "assets.extra", CONFIG_FILE)
    if missing or not tf.io.gfile.exists(config_file):
        raise InferenceError(
            f"{model_dir!r} is not a model this pipeline's Trainer exported (signatures "
            f"{sorted(module.signatures)}, expected 'frames' and 'labels' and "
            f"assets.extra/{CONFIG_FILE}); export it with trainer.run.run_fn"
        )
    with tf.io.gfile.GFile(config_file) as f:
        trainer_config = json.load(f)["trainer"]
    labels = tuple(x.decode() for x in module.signatures["labels"]()["labels"].numpy())
    labels_file = os.path.join(model_dir, "assets.extra", LABELS_FILE)
    if tf.io.gfile.exists(labels_file):
        with tf.io.gfile.GFile(labels_file) as f:
            if tuple(f.read().splitlines()) != labels:
                logging.warning(
                    "%s differs from the model's labels; using the model's", labels_file
                )
    return LoadedModel(
        path=model_dir,
        module=module,
        labels=labels,
        num_frames=int(trainer_config["num_frames"]),
        resolution=int(trainer_config["resolution"]),
    )


def video_example(path: str, spec: FrameSpec) -> bytes:
    """The serialized record the ingest would write for the video at `path`
    (label unknown: 0).

    Raises:
      VideoDecodeError: the video cannot be used.
    """
    clip = decode_clip(path, spec)
    record = records.VideoRecord(
        jpeg_frames=tuple(encode_jpeg(f, INGEST_JPEG_QUALITY) for f in clip.frames),
        label=0,
        label_text="",
        media_id=os.path.basename(path),
        group="",
        num_real_frames=clip.num_real,
        frame_stride=clip.stride,
        source_fps=float(clip.source_fps or 0.0),
        height=spec.height,
        width=spec.width,
    )
    return records.to_example_bytes(record)


def classify_video(model: LoadedModel, path: str, spec: FrameSpec) -> VideoPrediction:
    """Class probabilities of one video; an unusable video gives a prediction with
    `error` set instead of raising, so one bad file never stops a batch."""
    try:
        example = video_example(path, spec)
    except (VideoDecodeError, OSError, cv2.error) as e:
        logging.warning("cannot classify %s: %s", path, e)
        return VideoPrediction(path, error=str(e) or type(e).__name__)
    out = model.module.signatures["serving_default"](examples=tf.constant([example]))
    return VideoPrediction(path, probabilities=out["probabilities"][0].numpy())


def classify_videos(
    model: LoadedModel, paths: Iterable[str], spec: FrameSpec
) -> Iterator[VideoPrediction]:
    """`classify_video` over `paths`, lazily, in order."""
    for path in paths:
        yield classify_video(model, path, spec)


def model_input(frame_bgr: np.ndarray) -> np.ndarray:
    """A BGR uint8 frame as the model reads it: RGB float32 in [0, 1] (as the
    trainer's `tf.image.convert_image_dtype` of the decoded JPEG)."""
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def stream_mode(model: LoadedModel, mode: str = "auto") -> str:
    """'states' (stream signatures) or 'window' (sliding window) for `mode` and `model`."""
    if mode not in STREAM_MODES:
        raise InferenceError(f"stream mode must be one of {STREAM_MODES}, got {mode!r}")
    if mode == "auto":
        return "states" if model.causal else "window"
    if mode == "states" and not model.causal:
        raise InferenceError(
            f"{model.path!r} is a non-causal (base) model without the stream signatures "
            "(init_states, stream_step); train variant 'stream' for frame-by-frame "
            "streaming, or use the sliding-window mode"
        )
    return mode


def stream(
    model: LoadedModel, frames: Iterable[np.ndarray], mode: str = "auto", window: int = 0
) -> Iterator[np.ndarray]:
    """Class probabilities [K] after each frame of `frames` (BGR uint8, at the
    model's resolution, e.g. a `FrameReader`), as they come.

    'states' runs `stream_step` on each frame with the states of the frames before
    it: the last output equals the `frames` signature on the whole clip. 'window'
    runs `frames` on the last `window` frames (default: the model's `num_frames`),
    fewer at the start.
    """
    if stream_mode(model, mode) == "window":
        yield from _stream_window(model, frames, window or model.num_frames)
        return
    signatures = model.module.signatures
    shape = tf.constant([1, 1, model.resolution, model.resolution, 3], tf.int32)
    states = signatures["init_states"](input_shape=shape)
    step = signatures["stream_step"]
    for frame in frames:
        out = step(image=tf.constant(model_input(frame)[None, None]), **states)
        states = {name: out[name] for name in states}
        yield out["probabilities"][0].numpy()


def _stream_window(
    model: LoadedModel, frames: Iterable[np.ndarray], window: int
) -> Iterator[np.ndarray]:
    recent = collections.deque(maxlen=window)
    classify = model.module.signatures["frames"]
    for frame in frames:
        recent.append(model_input(frame))
        out = classify(frames=tf.constant(np.stack(recent)[None]))
        yield out["probabilities"][0].numpy()
