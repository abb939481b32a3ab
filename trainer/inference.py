"""Using an exported model: find it, load it, classify videos and stream them.

Videos are decoded by `components/ingest/video.py`, the ingest's own decoder, at
the model's resolution, so serving sees the frames training saw:
- `classify_video` samples a clip as the ingest does (`decode_clip`), writes the
  ingest's record and scores it with `serving_default`, the signature TFMA
  evaluates (several windows spread over the clip, averaged);
- `stream` classifies a video frame by frame, as it comes, in one of three modes
  (`STREAM_MODES`), each the answer to another question:
  - 'states' ("what is the whole video so far?"): `stream_step` with the states
    carried from frame 0, so the output after frame t is the whole-clip answer on
    frames 0..t. Cheapest (one model frame per frame) and exact for a clip of one
    action, but it never forgets: an action that changes late barely moves it.
    Causal (stream) models only.
  - 'window' ("what are the last W frames?"): the `frames` signature on the last W
    frames alone (default W: the model's window_frames). It follows a change within W
    frames but rests on W frames only, so it flickers between close classes.
  - 'smooth' ("what is happening now?", the default): the mean of the last K window
    outputs (default K = W): a label that follows a change and is steadier on one
    action, as K windows must agree to move it. After a cut it changes within
    W + K - 2 frames once the model labels the new action's windows right (about
    (W + K) / 2 when both actions' evidence is alike; 14 and 8 frames, 2.8 s and 1.6 s
    at 5 fps, for W = K = 8). Costs W model frames per frame.
  Only the current frame and the states, or the last W frames and K outputs, are
  held, however long the video.

~400 lines kept together: finding and loading a model, checking the frame options
against its frame contract, and both ways of using it share `LoadedModel`.
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
from components.ingest.contract import FrameContract, read_contract
from components.ingest.video import FrameSpec, VideoDecodeError, decode_clip, encode_jpeg
from components.served_model import versions
from trainer.export import CONFIG_FILE, LABELS_FILE

STREAM_MODES = ("auto", "states", "window", "smooth")
DEFAULT_STREAM_MODE = "smooth"  # `stream` is for videos of several actions: see above
OUTPUT_KEYS = ("probabilities", "top_k_probabilities", "top_k_indices", "top_k_labels")
# The ingest's defaults, for models exported before they carried their frame contract.
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
    window_frames: int  # frames per clip it classifies (TrainerConfig.window_frames), not
    # the frames the ingest stores per video (`frame_contract().frames_per_video`)
    resolution: int
    contract: FrameContract | None = None

    def frame_contract(self) -> FrameContract:
        """The ingest's frame settings the model was trained on; for a model from
        before the contract, the ingest's defaults at the model's resolution."""
        if self.contract is not None:
            return self.contract
        return FrameContract(
            target_fps=INGEST_FPS,
            frame_step=0,
            frames_per_video=INGEST_NUM_FRAMES,
            height=self.resolution,
            width=self.resolution,
            resize_mode="pad",
            jpeg_quality=INGEST_JPEG_QUALITY,
        )

    @property
    def causal(self) -> bool:
        """Whether the model has the stream signatures (a causal 'stream' variant)."""
        return "stream_step" in self.module.signatures

    def frame_spec(
        self,
        frames_per_video: int | None = None,
        fps: float | None = None,
        resize_mode: str | None = None,
        at_model_resolution: bool = False,
    ) -> FrameSpec:
        """The ingest's FrameSpec by the model's frame contract; arguments given
        replace the contract's values (library use: the CLI refuses contradictions,
        see `check_frame_options`). `at_model_resolution`: frames at the model's
        input size (streaming) instead of the stored size (records)."""
        c = self.frame_contract()
        size = (self.resolution,) * 2 if at_model_resolution else (c.height, c.width)
        return FrameSpec(
            frames_per_video=c.frames_per_video if frames_per_video is None else frames_per_video,
            target_fps=c.target_fps if fps is None else fps,
            frame_step=c.frame_step if fps is None else 0,
            height=size[0],
            width=size[1],
            resize_mode=c.resize_mode if resize_mode is None else resize_mode,
        )


@dataclasses.dataclass(frozen=True)
class VideoPrediction:
    """One video's class probabilities, or why it could not be classified; `warnings`
    are what the decoder found wrong with the file (a header's implausible rate, a
    frame count that disagrees), as the ingest report lists them."""

    path: str
    probabilities: np.ndarray | None = None
    error: str = ""
    warnings: tuple[str, ...] = ()

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
    if versions.is_saved_model(path):
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
        model = folder if versions.is_saved_model(folder) else _newest_version(folder)
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
        # Models exported before the rename say num_frames.
        window_frames=int(trainer_config.get("window_frames", trainer_config.get("num_frames"))),
        resolution=int(trainer_config["resolution"]),
        contract=_read_contract(module, model_dir),
    )


def _read_contract(module, model_dir: str) -> FrameContract | None:
    """The frame contract the model carries (its signature, else assets.extra/);
    None, with a warning, for a model exported before models carried one."""
    text = ""
    if "frame_contract" in module.signatures:
        text = module.signatures["frame_contract"]()["frame_contract"].numpy().decode()
    if not text:
        found = read_contract(os.path.join(model_dir, "assets.extra"))
        text = found.to_json() if found else ""
    if not text:
        logging.warning(
            "%s carries no frame contract (exported before models did): assuming the "
            "ingest's defaults (%g fps, %d frames, pad)",
            model_dir,
            INGEST_FPS,
            INGEST_NUM_FRAMES,
        )
        return None
    try:
        return FrameContract.from_json(text)
    except ValueError as e:
        raise InferenceError(f"{model_dir!r}: its frame contract cannot be read: {e}") from e


def check_frame_options(
    model: LoadedModel,
    fps: float | None = None,
    resize_mode: str | None = None,
    frames_per_video: int | None = None,
) -> None:
    """Refuses options that contradict the model's frame contract (None: not given).

    Raises:
      InferenceError: naming the option, the model's value and what to do.
    """
    if model.contract is None:
        return
    c = model.contract
    given = {
        "--fps": (fps, c.target_fps if not c.frame_step else None),
        "--resize-mode": (resize_mode, c.resize_mode),
        "--frames-per-video": (frames_per_video, c.frames_per_video),
    }
    for option, (value, trained) in given.items():
        if value is not None and value != trained:
            raise InferenceError(
                f"{option} {value} contradicts the model's frame contract ({option} "
                f"{trained}, how its training frames were made: {c.to_json()}); leave "
                f"{option} out to use the model's"
            )


def video_example(path: str, spec: FrameSpec, jpeg_quality: int = INGEST_JPEG_QUALITY) -> bytes:
    """The serialized record the ingest would write for the video at `path`
    (label unknown: 0).

    Raises:
      VideoDecodeError: the video cannot be used.
    """
    return _video_example(path, spec, jpeg_quality)[0]


def _video_example(path: str, spec: FrameSpec, jpeg_quality: int) -> tuple[bytes, tuple[str, ...]]:
    """`video_example` and the decoder's warnings about the file."""
    clip = decode_clip(path, spec)
    record = records.VideoRecord(
        jpeg_frames=tuple(encode_jpeg(f, jpeg_quality) for f in clip.frames),
        label=0,
        label_text="",
        media_id=os.path.basename(path),
        group="",
        num_real_frames=clip.num_real,
        timestamps_us=records.timestamps_us(clip.timestamps),
        sample_fps=clip.sample_fps,
        source_fps=float(clip.source_fps or 0.0),
        height=spec.height,
        width=spec.width,
    )
    return records.to_example_bytes(record), clip.warnings


def classify_video(model: LoadedModel, path: str, spec: FrameSpec) -> VideoPrediction:
    """Class probabilities of one video; an unusable video gives a prediction with
    `error` set instead of raising, so one bad file never stops a batch."""
    try:
        example, warnings = _video_example(path, spec, model.frame_contract().jpeg_quality)
    except (VideoDecodeError, OSError, cv2.error) as e:
        logging.warning("cannot classify %s: %s", path, e)
        return VideoPrediction(path, error=str(e) or type(e).__name__)
    out = model.module.signatures["serving_default"](examples=tf.constant([example]))
    return VideoPrediction(path, out["probabilities"][0].numpy(), warnings=warnings)


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
    """The mode `stream` runs for `mode` ('auto': DEFAULT_STREAM_MODE) and `model`."""
    if mode not in STREAM_MODES:
        raise InferenceError(f"stream mode must be one of {STREAM_MODES}, got {mode!r}")
    if mode == "auto":
        return DEFAULT_STREAM_MODE
    if mode == "states" and not model.causal:
        raise InferenceError(
            f"{model.path!r} is a non-causal (base) model without the stream signatures "
            "(init_states, stream_step); train variant 'stream' for the states mode, or use "
            "the smooth or window mode"
        )
    return mode


def stream(
    model: LoadedModel,
    frames: Iterable[np.ndarray],
    mode: str = "auto",
    window: int = 0,
    smooth: int = 0,
) -> Iterator[np.ndarray]:
    """Class probabilities [K] after each frame of `frames` (BGR uint8, at the
    model's resolution, e.g. a `FrameReader`), as they come (modes: module docstring).

    Args:
      mode: 'states', 'window', 'smooth' or 'auto' (DEFAULT_STREAM_MODE).
      window: W, frames per window ('window', 'smooth'; default the model's window_frames);
        fewer at the start.
      smooth: K, window outputs averaged ('smooth'; default W); fewer at the start.
    """
    mode = stream_mode(model, mode)
    if window < 0 or smooth < 0:
        raise InferenceError(f"window and smooth must be >= 0 (0: default), got {window}, {smooth}")
    if mode != "states":
        outputs = _stream_window(model, frames, window or model.window_frames)
        if mode == "smooth":
            outputs = moving_average(outputs, smooth or window or model.window_frames)
        yield from outputs
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


def moving_average(outputs: Iterable[np.ndarray], k: int) -> Iterator[np.ndarray]:
    """The mean of the last `k` arrays of `outputs` (of all of them at the start)."""
    if k < 1:
        raise InferenceError(f"the number of outputs averaged must be >= 1, got {k}")
    recent = collections.deque(maxlen=k)
    for output in outputs:
        recent.append(output)
        yield np.mean(recent, axis=0)
