"""Export: one SavedModel that classifies serialized examples, raw frames and,
for causal models, a stream of frames carried by states.

Signatures:
- `serving_default(examples: string [B])`: records in the ingest format; the
  score averages `eval_views` windows spread over each video (multi-clip), as
  TFMA and a model server call it; `single_clip_probabilities` is the centre
  window's alone, so evaluation reports single-clip beside multi-clip accuracy;
- `frames(frames: float32 [B, T, H, W, 3] in [0, 1])`: one clip per row;
- `labels()`: the class names, in label order;
- `frame_contract()`: `frame_contract` string [], the JSON of the ingest's frame
  settings (components/ingest/contract.py; '' for a model trained on data from
  before the contract), also in `assets.extra/frame_contract.json`;
- causal models: `init_states(input_shape: int32 [5])` and
  `stream_step(image [B, T, H, W, 3], **states)`, which returns the
  probabilities after those frames and the new states.
Every classifying signature returns `probabilities` [B, K], `top_k_probabilities`,
`top_k_indices` and `top_k_labels` [B, k].
"""

from __future__ import annotations

import json
import os

import tensorflow as tf
from tensorflow.python.trackable.data_structures import NoDependency

from components.ingest.contract import FrameContract, write_contract
from trainer import video_input
from trainer.architecture import MovinetArch
from trainer.config import TrainerConfig
from trainer.model import VideoClassifier

LABELS_FILE = "labels.txt"
CONFIG_FILE = "trainer_config.json"


class VideoModelModule(tf.Module):
    """What the SavedModel holds: the classifier, its labels and its signatures."""

    def __init__(
        self,
        classifier: VideoClassifier,
        labels: list[str],
        config: TrainerConfig,
        arch: MovinetArch,
        contract: FrameContract | None = None,
    ):
        super().__init__()
        self.contract_json = tf.constant(contract.to_json() if contract else "")
        # Track the variables, not the Keras objects: saving Keras layers traces a
        # call function for every layer (minutes for MoViNet), none of which the
        # signatures need.
        self.classifier = NoDependency(classifier)
        # The classifier's one eval-mode trace (`inference_logits`), as a concrete
        # function: the signatures are traced inside `tf.saved_model.save`, whose
        # context is part of tf.function's cache key, so calling the tf.function
        # there would trace the forward pass again.
        self._logits = NoDependency(classifier.inference_logits.get_concrete_function())
        self.model_variables = list(classifier.variables)
        self.label_names = tf.constant(labels)
        self._window = config.window_frames
        self._resolution = config.resolution
        self._views = config.eval_views
        self._top_k = min(config.serving_top_k, len(labels))
        self._causal = arch.causal

    def _outputs(self, probabilities: tf.Tensor) -> dict[str, tf.Tensor]:
        top = tf.math.top_k(probabilities, k=self._top_k)
        return {
            "probabilities": probabilities,
            "top_k_probabilities": top.values,
            "top_k_indices": top.indices,
            "top_k_labels": tf.gather(self.label_names, top.indices),
        }

    def _probabilities(self, clips: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(tf.cast(self._logits(clips), tf.float32))

    @tf.function(
        autograph=False, input_signature=[tf.TensorSpec([None], tf.string, name="examples")]
    )
    def serve_examples(self, examples):
        parsed = video_input.parse_examples(examples)
        window, resolution, views = self._window, self._resolution, self._views
        # With an odd view count the middle view is the centre window; otherwise the
        # centre window is decoded as one extra view.
        centre = views // 2 if views % 2 else views
        decoded = views if views % 2 else views + 1

        def windows(i):
            num_real = parsed["num_real"][i]
            starts = video_input.spread_starts(num_real, window, views)
            if decoded > views:
                starts = tf.concat([starts, video_input.spread_starts(num_real, window, 1)], 0)
            return video_input.decode_windows(parsed["encoded"][i], starts, window, resolution)

        clips = tf.map_fn(
            windows,
            tf.range(tf.shape(examples)[0]),
            fn_output_signature=tf.TensorSpec(
                [decoded, window, resolution, resolution, 3], tf.float32
            ),
        )
        flat = tf.reshape(clips, [-1, window, resolution, resolution, 3])
        probabilities = tf.reshape(self._probabilities(flat), [tf.shape(examples)[0], decoded, -1])
        outputs = self._outputs(tf.reduce_mean(probabilities[:, :views], axis=1))
        outputs["single_clip_probabilities"] = probabilities[:, centre]
        return outputs

    # Any shape is accepted at the boundary so that `_check_frames` can say what is wrong.
    @tf.function(autograph=False, input_signature=[tf.TensorSpec(None, tf.float32, name="frames")])
    def serve_frames(self, frames):
        return self._outputs(self._probabilities(_check_frames(frames)))

    @tf.function(autograph=False, input_signature=[])
    def labels(self):
        return {"labels": self.label_names}

    @tf.function(autograph=False, input_signature=[])
    def frame_contract(self):
        return {"frame_contract": self.contract_json}

    def stream_signatures(self, input_shape) -> dict:
        """`init_states` and `stream_step` concrete functions (causal models)."""
        backbone = self.classifier.backbone

        @tf.function(
            autograph=False, input_signature=[tf.TensorSpec([5], tf.int32, name="input_shape")]
        )
        def init_states(shape):
            return backbone.init_states(shape)

        specs = {
            name: tf.TensorSpec(spec.shape, spec.dtype, name=name)
            for name, spec in backbone.initial_state_specs(input_shape).items()
        }
        specs["image"] = tf.TensorSpec(None, tf.float32, name="image")

        @tf.function(autograph=False, input_signature=[specs])
        def stream_step(inputs):
            inputs = dict(inputs)
            frames = _check_frames(inputs.pop("image"))
            # The states fix the frame size; saying so lets TF plan every op for it
            # (p90 latency 20 -> 15 ms per 172x172 frame on 2 cores).
            size = input_shape[2:]
            frames = tf.ensure_shape(frames, [None, None, *size])
            logits, states = self.classifier.stream_step(frames, inputs)
            return {**states, **self._outputs(tf.nn.softmax(tf.cast(logits, tf.float32)))}

        self._init_states_fn, self._stream_step_fn = init_states, stream_step
        return {"init_states": init_states, "stream_step": stream_step}


def _check_frames(frames: tf.Tensor) -> tf.Tensor:
    """`frames`, once checked: fails at the signature, with a message, on input a
    convolution would choke on.

    A loaded SavedModel does not enforce the signature's static shape, so rank,
    channels and emptiness are checked here, before anything reads the frames.
    """
    expected = "frames must be float [batch, frames, height, width, 3] in [0, 1]"
    shape = tf.shape(frames)
    checks = [tf.debugging.assert_equal(tf.size(shape), 5, message=f"{expected}: wrong rank")]
    with tf.control_dependencies(checks):
        shape = tf.pad(shape, [[0, tf.maximum(5 - tf.size(shape), 0)]])
        checks.append(
            tf.debugging.assert_equal(shape[4], 3, message=f"{expected}: need 3 (RGB) channels")
        )
        checks.append(tf.debugging.assert_positive(shape[:4], message=f"{expected}: empty clip"))
    with tf.control_dependencies(checks):
        return tf.ensure_shape(tf.identity(frames), [None, None, None, None, 3])


def export_model(
    classifier: VideoClassifier,
    labels: list[str],
    config: TrainerConfig,
    arch: MovinetArch,
    export_dir: str,
    contract: FrameContract | None = None,
) -> str:
    """Writes the SavedModel (plus labels.txt, the trainer config and the ingest's
    frame contract beside it, in assets.extra/)."""
    module = VideoModelModule(classifier, labels, config, arch, contract)
    signatures = {
        "serving_default": module.serve_examples,
        "frames": module.serve_frames,
        "labels": module.labels,
        "frame_contract": module.frame_contract,
    }
    if arch.causal:
        # Build the stream path's variables and state shapes once before tracing.
        shape = [1, 1, config.resolution, config.resolution, 3]
        states = classifier.backbone.init_states(shape)
        classifier.stream_step(tf.zeros(shape), states)
        signatures.update(
            module.stream_signatures([None, None, config.resolution, config.resolution, 3])
        )
    tf.saved_model.save(module, export_dir, signatures=signatures)
    extra = os.path.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, LABELS_FILE), "w") as f:
        f.write("\n".join(labels) + "\n")
    with tf.io.gfile.GFile(os.path.join(extra, CONFIG_FILE), "w") as f:
        f.write(json.dumps({"trainer": json.loads(config.to_json()), "variant": arch.variant}))
    if contract is not None:
        write_contract(contract, extra)
    return export_dir
