"""TFLite for streaming: a causal model's frame step as `model.tflite`, and running it.

The recipe is Model Garden's (`official/projects/movinet/tools/export_saved_model.py`
with `batch_size=1, num_frames=1, bundle_input_init_states_fn=False`, converted as
`export_saved_model_test.test_movinet_export_a0_stream_with_tflite` does, and
`tools/quantize_movinet.py` for int8): one signature, `serving_default`, whose
inputs are `image` float32 [1, 1, R, R, 3] in [0, 1] and every state as an
explicit float32 tensor (initial value: zeros, as `init_states` gives), and whose
outputs are `logits` [1, K], `probabilities` [1, K] and the new states under the
same names. The labels are `labels.txt` beside the file (the SavedModel's
`assets.extra/labels.txt`, one per line, in label order).

Modes (`TrainerConfig.tflite`): 'none'; 'float' (float32 weights and ops);
'int8' (post-training quantization of weights and activations from a
representative sample of frames and states; float32 input and output tensors,
so the same runner serves both, as Model Garden's `int_float_fallback`; the
last layer and the softmax stay float, see `FLOAT_OUTPUTS`).

TensorFlow 2.16's converter writes the file; LiteRT (`ai_edge_litert`, the runtime
TensorFlow's own `tf.lite.Interpreter` now points users to: its
`_INTERPRETER_DELETION_WARNING` in `tensorflow/lite/python/interpreter.py`) runs it.
Its XNNPACK delegate takes A0-Stream's float frame step in 2 partitions where TF
2.16's cuts it into 17 with TFLite's own kernels between them, which made a second
thread cost more than it gave (README, Benchmarks: 12.3 ms a frame on 2 threads, 3.3
ms with LiteRT).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import tensorflow as tf
from absl import logging
from ai_edge_litert import interpreter as litert

from trainer.inference import InferenceError, model_input

TFLITE_FILE = "model.tflite"
SIGNATURE = "serving_default"


class TFLiteError(InferenceError):
    """A TFLite model that cannot be written or used (an `InferenceError`, so the
    CLI reports it as one)."""


def stream_step_function(classifier, resolution: int):
    """The frame step with fixed shapes: a concrete function of (image, **states).

    Args:
      classifier: a causal `VideoClassifier` (stream variant).
      resolution: R, the frame height and width the states are built for.

    Returns:
      (concrete function, initial states {name: float32 zeros}).
    """
    shape = [1, 1, resolution, resolution, 3]
    states = {k: v.numpy() for k, v in classifier.backbone.init_states(shape).items()}
    specs = {name: tf.TensorSpec(v.shape, v.dtype, name=name) for name, v in states.items()}
    specs["image"] = tf.TensorSpec(shape, tf.float32, name="image")

    @tf.function(autograph=False, input_signature=[specs])
    def step(inputs):
        inputs = dict(inputs)
        logits, new_states = classifier.stream_step(inputs.pop("image"), inputs)
        logits = tf.cast(logits, tf.float32)
        return {**new_states, "logits": logits, "probabilities": tf.nn.softmax(logits)}

    return step.get_concrete_function(), states


def convert_stream_model(
    classifier,
    resolution: int,
    mode: str = "float",
    representative_frames: Callable[[], Iterable[np.ndarray]] | None = None,
) -> bytes:
    """The causal classifier's frame step as a TFLite flatbuffer.

    Args:
      classifier: a causal `VideoClassifier`.
      resolution: frame size R.
      mode: 'float' or 'int8'.
      representative_frames: for 'int8', a callable giving videos, each an
        iterable of frames float32 [R, R, 3] in [0, 1]; each video is streamed
        through the float model from zero states so that the calibration sees
        the states real streams carry.

    Raises:
      TFLiteError: unknown mode, or 'int8' without representative frames.
    """
    if mode not in ("float", "int8"):
        raise TFLiteError(f"tflite mode must be 'float' or 'int8' to convert, got {mode!r}")
    function, init_states = stream_step_function(classifier, resolution)
    # The converter saves its trackable object first: handing it the Keras model
    # traces every layer's call (424 s for A0 at 32x32 here); a module that only
    # holds the variables takes seconds, as in trainer/export.py.
    holder = tf.Module()
    holder.variables_ = list(classifier.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], holder)
    if mode == "float":
        with _native_stderr_to_log("tflite converter"):
            return converter.convert()
    if representative_frames is None:
        raise TFLiteError("int8 quantization needs representative frames (training records)")
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: _calibration_inputs(
        function, init_states, representative_frames()
    )
    with _native_stderr_to_log("tflite converter"):
        return _quantize_with_float_outputs(converter, FLOAT_OUTPUTS)


# Computed in float in int8 models. An int8 `logits` tensor has steps of about
# range / 255 (0.02-0.05 on the tiny test model), and frames whose top two classes
# are closer than a step tie or swap: on the tiny model's 48 eval frames this alone
# flipped the top-1 of one frame more. It costs the classifier's weights in float
# (K x 2048 x 4 bytes: 4.9 MB at 600 classes).
FLOAT_OUTPUTS = ("logits", "probabilities")


def _quantize_with_float_outputs(converter, outputs: tuple[str, ...]) -> bytes:
    """Post-training quantization leaving the ops that make the signature's `outputs`
    in float (TFLite's selective quantization, `QuantizationDebugger` with
    `denylisted_nodes`); the calibration runs once."""
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=converter.representative_dataset
    )
    interpreter = litert.Interpreter(model_content=debugger.calibrated_model)
    details = interpreter.get_signature_runner(SIGNATURE).get_output_details()
    denylisted = [details[name]["name"] for name in outputs]
    debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denylisted)
    return debugger.get_nondebug_quantized_model()


@contextlib.contextmanager
def _native_stderr_to_log(source: str):
    """C++ lines printed to file descriptor 2 whatever TF_CPP_MIN_LOG_LEVEL says (the
    converter's `W0000 ... Ignored output_format.`, before absl's logging is
    initialised; LiteRT's `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`)
    go to the Python log under `source`, which the run's log file and `--verbose`
    get, not to the console."""
    with tempfile.TemporaryFile(mode="w+b") as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                logging.info("%s: %s", source, line)


def _calibration_inputs(function, init_states: dict, videos) -> Iterator[dict]:
    """Inputs of every step of every video, states carried (Model Garden's
    `stateful_representative_dataset_generator`)."""
    for video in videos:
        states = dict(init_states)
        for frame in video:
            image = np.asarray(frame, np.float32)[None, None]
            yield {**states, "image": image}
            tensors = {name: tf.constant(value) for name, value in states.items()}
            out = function(image=tf.constant(image), **tensors)
            states = {name: out[name].numpy() for name in init_states}


def write_stream_tflite(
    classifier,
    resolution: int,
    export_dir: str,
    mode: str = "float",
    representative_frames: Callable[[], Iterable[np.ndarray]] | None = None,
) -> str | None:
    """Writes `export_dir/model.tflite` (mode 'float' or 'int8'); 'none' writes nothing.

    Returns:
      The file's path, or None for 'none'.
    """
    if mode == "none":
        return None
    content = convert_stream_model(classifier, resolution, mode, representative_frames)
    path = os.path.join(export_dir, TFLITE_FILE)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(content)
    logging.info("wrote %s (%s, %.1f MB)", path, mode, len(content) / 1e6)
    return path


def zero_states(runner) -> dict[str, np.ndarray]:
    """The initial states of a stream model's signature runner (LiteRT's or
    `tf.lite`'s): every input but `image`, zeros of its shape and dtype."""
    inputs = runner.get_input_details()
    return {name: np.zeros(d["shape"], d["dtype"]) for name, d in inputs.items() if name != "image"}


class StreamInterpreter:
    """Runs `model.tflite` frame by frame on LiteRT (XNNPACK), carrying the states.

    Args:
      path: the .tflite file (or a directory holding `model.tflite`).
      num_threads: interpreter threads (None: LiteRT's default).

    Raises:
      TFLiteError: no such file, a file LiteRT cannot load (damaged, cut short), or
        not a stream model written by `write_stream_tflite`.
    """

    def __init__(self, path: str, num_threads: int | None = None):
        if os.path.isdir(path):
            path = os.path.join(path, TFLITE_FILE)
        if not os.path.isfile(path):
            raise TFLiteError(
                f"{path!r} not found: train a stream model with trainer.tflite 'float' or "
                "'int8' to export model.tflite beside the SavedModel"
            )
        self.path = path
        with _native_stderr_to_log("litert"):
            try:
                self.interpreter = litert.Interpreter(model_path=path, num_threads=num_threads)
                self.interpreter.allocate_tensors()  # where LiteRT applies XNNPACK
            except (ValueError, RuntimeError) as e:
                raise TFLiteError(
                    f"{path!r} is not a TFLite model LiteRT can load "
                    f"({str(e).splitlines()[0].strip()}); export it again (trainer.tflite)"
                ) from e
        if SIGNATURE not in self.interpreter.get_signature_list():
            raise TFLiteError(f"{path!r} has no {SIGNATURE!r} signature")
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        inputs = self.runner.get_input_details()
        if "image" not in inputs:
            raise TFLiteError(f"{path!r} has no 'image' input: not a stream model")
        self.image_shape = tuple(inputs["image"]["shape"])
        self.init_states = zero_states(self.runner)

    @property
    def resolution(self) -> int:
        return int(self.image_shape[2])

    def stream(self, frames: Iterable[np.ndarray]) -> Iterator[dict]:
        """Outputs after each frame (float32 [R, R, 3] in [0, 1]): `logits` and
        `probabilities` [K], states carried from zeros."""
        states = dict(self.init_states)
        for frame in frames:
            image = np.asarray(frame, np.float32).reshape(self.image_shape)
            out = self.runner(image=image, **states)
            states = {name: out[name] for name in self.init_states}
            yield {"logits": out["logits"][0], "probabilities": out["probabilities"][0]}


def stream_probabilities(
    model_dir: str, frames_bgr: Iterable[np.ndarray], num_threads: int | None = None
) -> Iterator[np.ndarray]:
    """Class probabilities [K] after each frame, with `model_dir/model.tflite`: the
    'states' stream of `inference.stream` on the TFLite runtime.

    Args:
      model_dir: the SavedModel directory holding `model.tflite`.
      frames_bgr: BGR uint8 frames at the model's resolution (e.g. a `FrameReader`),
        converted as the SavedModel path converts them (`inference.model_input`).
    """
    interpreter = StreamInterpreter(model_dir, num_threads)
    for out in interpreter.stream(model_input(frame) for frame in frames_bgr):
        yield out["probabilities"]


def representative_videos(
    train_files, window_frames: int, resolution: int, seed: int, videos: int = 32
) -> Iterator[list[np.ndarray]]:
    """Calibration videos for int8: one random window of `window_frames` frames
    [R, R, 3] float32 from each of the first `videos` training records (the
    Trainer asks for the stored video's length, so the states are calibrated on
    streams as long as the ones `stream` runs)."""
    from trainer import video_input

    dataset = video_input.clips_dataset(
        train_files, window=window_frames, resolution=resolution, views=1, training=True, seed=seed
    )
    for clips, _ in dataset.take(videos):
        yield list(clips.numpy()[0])
