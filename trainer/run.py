"""The TFX Trainer's entry point (`run_fn`) and the training it runs.

custom_config = {"trainer": TrainerConfig fields}. The label names come from
the Examples artifact the ingest wrote (`labels.txt` beside the splits).

Read top to bottom it is the training: `run_fn` -> `train_and_export` -> `train`
(build, fit: frozen features or end to end) -> `export`, each phase timed by
`PhaseTimer`; ~370 lines kept together for that reason.
"""

from __future__ import annotations

import contextlib
import math
import os
import time

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from components.config_loader import ConfigError
from components.ingest.constants import LABELS_FILE
from components.ingest.contract import read_contract
from components.served_model import versions
from components.training_summary import SUMMARY_FILE, WEIGHTS_HASH_FILE, TrainingSummary
from trainer import architecture, determinism, features, video_input
from trainer.config import TrainerConfig
from trainer.export import export_model
from trainer.model import VideoClassifier, build_head, feature_dim, load_backbone
from trainer.optimization import compile_classifier
from trainer.schedule import EpochLog, WarmupCosine, lr_schedule_callback


def run_fn(fn_args) -> None:
    """TFX Trainer entry point."""
    custom = dict(fn_args.custom_config or {})
    config = TrainerConfig.from_dict(custom.get("trainer", {}))
    labels = labels_of(fn_args.train_files)
    train_and_export(
        config,
        fn_args.train_files,
        fn_args.eval_files,
        labels,
        fn_args.serving_model_dir,
        fn_args.model_run_dir,
        base_model=served_base_model(fn_args) if config.warm_start else None,
    )


def served_base_model(fn_args) -> str | None:
    """The Trainer's `base_model` (ServedModel's output) when it holds a model.

    Before anything is served, ServedModel's artifact is empty: training then
    starts as configured.
    """
    base_model = getattr(fn_args, "base_model", None)
    if base_model and versions.is_saved_model(base_model):
        return base_model
    logging.info("warm start: no model served yet, training starts as configured")
    return None


def examples_dir_of(file_patterns: list[str]) -> str:
    """The Examples folder of the split file patterns (<dir>/Split-<name>/*)."""
    return os.path.dirname(os.path.dirname(file_patterns[0].rstrip("/")))


def labels_of(file_patterns: list[str]) -> list[str]:
    """Label names stored by the ingest beside the split folders.

    Raises:
      FileNotFoundError: there is no labels file (Examples not written by VideoIngest).
    """
    examples_dir = examples_dir_of(file_patterns)
    path = os.path.join(examples_dir, LABELS_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"{path} not found: the trainer reads Examples written by the VideoIngest component"
        )
    with tf.io.gfile.GFile(path) as f:
        return [line.strip() for line in f if line.strip()]


def choose_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over several GPUs; the default strategy otherwise."""
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        logging.info("MirroredStrategy over %d GPUs", len(gpus))
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


class PhaseTimer:
    """Wall time (s) of the training's phases, `<name>_s` in the order they ran."""

    def __init__(self):
        self.start = time.monotonic()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str):
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[f"{name}_s"] = time.monotonic() - start

    def total(self) -> float:
        return time.monotonic() - self.start


def train_and_export(
    config: TrainerConfig,
    train_files,
    eval_files,
    labels: list[str],
    serving_model_dir: str,
    model_run_dir: str,
    base_model: str | None = None,
) -> TrainingSummary:
    """Builds, fine-tunes and exports the classifier; returns the training summary
    (also written to `model_run_dir`, `SUMMARY_FILE`).

    `base_model`: an exported model to start from (warm start), or None.

    Raises:
      FileNotFoundError: the examples have no labels file (not VideoIngest's).
      ValueError: `base_model` does not fit these classes or this architecture.
    """
    timer = PhaseTimer()
    classifier, arch, fitted = train(
        config, train_files, eval_files, labels, model_run_dir, base_model, timer
    )
    with timer.phase("export"):
        export(classifier, arch, config, labels, train_files, serving_model_dir)
    summary = TrainingSummary(
        labels=tuple(labels),
        eval_multi_clip_accuracy=fitted["eval_multi_clip_accuracy"],
        eval_single_clip_accuracy=fitted["eval_single_clip_accuracy"],
        history=fitted["history"],
        phases=timer.seconds,
        seconds=timer.total(),
        weights_sha256=write_weights_hash(classifier, serving_model_dir),
        variant=arch.variant,
        checkpoint=config.checkpoint or "random_init",
        warm_start=base_model or "",
    )
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, SUMMARY_FILE), "w") as f:
        f.write(summary.to_json())
    logging.info(
        "trained in %.0f s; eval multi-clip accuracy %.3f",
        summary.seconds,
        summary.eval_multi_clip_accuracy,
    )
    return summary


def export(classifier, arch, config: TrainerConfig, labels, train_files, serving_model_dir: str):
    """The SavedModel in `serving_model_dir`, carrying the ingest's frame contract
    (components/ingest/contract.py); stream models also get `model.tflite`."""
    contract = read_contract(examples_dir_of(train_files))
    export_model(classifier, labels, config, arch, serving_model_dir, contract)
    if arch.causal:
        _write_tflite(classifier, config, train_files, serving_model_dir, contract)


def write_weights_hash(classifier, serving_model_dir: str) -> str:
    """`WEIGHTS_HASH_FILE` beside the SavedModel (in TFX: the Model artifact's folder),
    for the run summary; returns the hash (64 hex digits)."""
    weights = determinism.weights_hash(classifier.variables)
    model_dir = os.path.dirname(serving_model_dir.rstrip("/"))
    with tf.io.gfile.GFile(os.path.join(model_dir, WEIGHTS_HASH_FILE), "w") as f:
        f.write(weights + "\n")
    return weights


def build_classifier(
    config: TrainerConfig, labels: list[str], base_model: str | None = None
) -> tuple[VideoClassifier, architecture.MovinetArch, tf.distribute.Strategy]:
    """The backbone (restored, or random with `random_init`) under a new head, in the
    strategy's scope; from `base_model`'s weights when given (warm start).

    Raises:
      ValueError: `base_model` does not fit these classes or this architecture.
    """
    arch = architecture.arch_for(config.model_id, config.variant)
    if config.mixed_precision and tf.config.list_logical_devices("GPU"):
        tf_keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = choose_strategy()
    with strategy.scope():
        backbone = load_backbone(config, arch)
        head = build_head(
            arch,
            feature_dim(backbone),
            backbone.head_filters,
            len(labels),
            config.dropout,
            config.seed,
        )
        classifier = VideoClassifier(backbone, head, arch)
        if base_model:
            warm_start(classifier, labels, base_model)
    return classifier, arch, strategy


def train(
    config: TrainerConfig,
    train_files,
    eval_files,
    labels: list[str],
    model_run_dir: str,
    base_model: str | None = None,
    timer: PhaseTimer | None = None,
) -> tuple[VideoClassifier, architecture.MovinetArch, dict]:
    """Builds and fine-tunes the classifier (no export): (classifier, arch, summary).

    Deterministic (unless `config.deterministic` is false): the same config and
    records (in any shard layout) give the same weights on one machine
    (`determinism.seed_everything`, records in a canonical order). The summary
    holds the history, the eval accuracies and `phases` (s, `timer`'s so far).

    Raises:
      ValueError: `base_model` does not fit these classes or this architecture.
    """
    timer = timer or PhaseTimer()
    with timer.phase("build"):
        determinism.seed_everything(config.seed, config.deterministic)
        classifier, arch, strategy = build_classifier(config, labels, base_model)
        window = dict(window=config.window_frames, resolution=config.resolution, seed=config.seed)
        train_ds = video_input.clips_dataset(
            train_files,
            views=config.train_views,
            training=True,
            crop_min_area=config.aug_min_area_ratio,
            **window,
        )
        eval_records = video_input.records_of(eval_files)  # read and sorted once
        eval_ds = video_input.clips_dataset(
            eval_records, views=config.eval_views, training=False, **window
        )
        callbacks = [tf_keras.callbacks.TensorBoard(log_dir=model_run_dir)]
    backbone, head = classifier.backbone, classifier.head
    if config.frozen:
        with timer.phase("features"):
            forward = features.feature_function(
                backbone, arch, config.window_frames, config.resolution
            )
            clips = config.batch_size * config.train_views  # per call, both splits
            train_features = features.extract_features(
                backbone, arch, train_ds, clips, "train", forward
            )
            eval_features = features.extract_features(
                backbone, arch, eval_ds, clips, "eval", forward
            )
        schedule = lr_schedule_callback(config)  # per epoch: the head is quick
        with timer.phase("fit"), strategy.scope():
            summary = features.train_head(
                head,
                train_features,
                eval_features,
                config,
                len(labels),
                callbacks + ([schedule] if schedule else []),
            )
    else:
        # Keras' per-epoch validation (the report's curve) takes each eval video's
        # centre window only: all `eval_views` of them cost the demo ~40 s of its
        # ~230 s fit. The summary's accuracies still average every view, once, after.
        centre_ds = video_input.clips_dataset(eval_records, views=1, training=False, **window)
        with timer.phase("fit"), strategy.scope():
            summary = _train_end_to_end(
                classifier, train_ds, centre_ds, eval_ds, config, len(labels), callbacks
            )
    summary["phases"] = dict(timer.seconds)
    return classifier, arch, summary


def _write_tflite(classifier, config: TrainerConfig, train_files, serving_model_dir: str, contract):
    """`model.tflite` beside the SavedModel (stream models; `config.tflite`); `contract`:
    the ingest's frame contract of `train_files` (None for Examples without one)."""
    from trainer import tflite_model

    # int8 calibration streams whole stored videos, not training windows: a state
    # (stream buffer, pooled sum) at frame t only reaches its range after t frames,
    # and `stream` runs over whole videos. 8 frames instead of 4 on the tiny test
    # model: largest logit error 0.18 -> 0.05.
    frames = max(config.window_frames, contract.frames_per_video if contract else 0)

    def representative():
        return tflite_model.representative_videos(
            train_files, frames, config.resolution, config.seed
        )

    tflite_model.write_stream_tflite(
        classifier, config.resolution, serving_model_dir, config.tflite, representative
    )


_WARM_START = "trainer.warm_start"  # the field warm_start's errors name


def warm_start(classifier: VideoClassifier, labels: list[str], base_model: str) -> None:
    """Copies an exported model's weights into `classifier` (same architecture, classes).

    Raises:
      ConfigError (`trainer.warm_start ...`): `base_model` is not this trainer's
        export, or has other classes or another architecture.
    """
    exported = tf.saved_model.load(base_model)
    if not hasattr(exported, "model_variables"):
        raise ConfigError(
            f"cannot start from {base_model}: not a model this trainer exported", _WARM_START
        )
    base_labels = [label.decode() for label in exported.signatures["labels"]()["labels"].numpy()]
    if base_labels != list(labels):
        raise ConfigError(
            f"cannot start from {base_model}: it was trained on classes {base_labels}, "
            f"these examples have {list(labels)}; set trainer.warm_start: false to train anew",
            _WARM_START,
        )
    source, target = list(exported.model_variables), classifier.variables
    shapes = [tuple(v.shape) for v in source], [tuple(v.shape) for v in target]
    if shapes[0] != shapes[1]:
        raise ConfigError(
            f"cannot start from {base_model}: it has another architecture "
            f"({len(source)} variables vs {len(target)}, or other shapes); train with the "
            "same model_id and variant, or set warm_start: false",
            _WARM_START,
        )
    for variable, value in zip(target, source, strict=True):
        variable.assign(value)
    logging.info("warm start from %s (%d variables)", base_model, len(source))


def _train_end_to_end(
    classifier, train_ds, centre_ds, eval_ds, config: TrainerConfig, num_classes: int, callbacks
) -> dict:
    """Unfrozen blocks: every epoch decodes windows and runs the backbone.

    Validates each epoch on `centre_ds` (one window per eval video); the summary's
    single- and multi-clip accuracies come from every view of `eval_ds` after the fit.
    """

    def single_views(clips, label):
        views = tf.shape(clips)[0]
        return clips, tf.repeat(tf.one_hot(label, num_classes)[None], views, axis=0)

    train = train_ds.map(single_views).unbatch().shuffle(256, seed=config.seed)
    evaluation = centre_ds.map(single_views).unbatch()
    steps = math.ceil(train_ds.cardinality().numpy() * config.train_views / config.batch_size)
    rate = WarmupCosine(
        config.learning_rate,
        round(config.warmup_epochs * steps),
        config.epochs * steps,
        cosine=config.lr_schedule == "cosine",
    )
    compile_classifier(classifier, config, rate)
    history = classifier.fit(
        train.batch(config.batch_size).prefetch(2),
        validation_data=evaluation.batch(config.batch_size).prefetch(2),
        epochs=config.epochs,
        callbacks=[*callbacks, EpochLog(config.epochs)],
        verbose=0,
    )

    # One traced forward over batches of videos, not an eager call per video
    # (72 eager calls took over a minute of the demo's 2 cores); the forward pass is
    # the one the validation traced (`inference_logits`).
    @tf.function(reduce_retracing=True, autograph=False)
    def view_probabilities(clips):  # [B, V, T, H, W, 3] -> [B, V, K]
        shape = tf.shape(clips)
        flat = tf.reshape(clips, tf.concat([[-1], shape[2:]], 0))
        probabilities = tf.nn.softmax(classifier.inference_logits(flat))
        return tf.reshape(probabilities, [shape[0], shape[1], -1])

    probabilities, labels = [], []
    for clips, label in eval_ds.batch(config.batch_size):
        probabilities.append(view_probabilities(clips).numpy())
        labels.append(label.numpy())
    return features.training_summary(history, np.concatenate(probabilities), np.concatenate(labels))
