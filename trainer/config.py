"""TrainerConfig: the model and training settings, passed as the Trainer's custom_config."""

from __future__ import annotations

import dataclasses
import os

from components import renamed_keys
from components.config_loader import ConfigError, SectionConfig, require
from trainer.architecture import MODEL_IDS, VARIANTS

OPTIMIZERS = ("adam", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")
TFLITE_MODES = ("none", "float", "int8")  # trainer/tflite_model.py
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "video-action-pipeline", "ckpt")


@dataclasses.dataclass(frozen=True)
class TrainerConfig(SectionConfig):
    """How to build and fine-tune the classifier.

    Where Model Garden (official/vision/configs/video_classification.py) has its own
    name for a setting, the attribute says it: `window_frames` is its `num_frames`,
    `eval_views` its `num_test_clips`, `checkpoint` its task's `init_checkpoint`,
    `trainable_blocks: 0` its task's `freeze_backbone: true`; the ingest's
    `frames.frame_step` is its `temporal_stride`.

    Attributes:
      model_id: MoViNet size: a0 (default), a1, a2.
      variant: 'base' (non-causal 3D) or 'stream' (causal; exports streaming signatures).
      window_frames: frames per clip the model classifies, its temporal window
        (config key `trainer.window_frames`, formerly `num_frames`; Model Garden's
        and DMVR's `num_frames`, the first dimension of Model Garden's
        `feature_shape`). Clips are windows of the `ingest.frames.frames_per_video`
        frames stored per video.
      resolution: frames are resized to resolution x resolution.
      batch_size, epochs, learning_rate, optimizer: training (Adam 1e-3 as the tutorial).
      lr_schedule: 'constant', or 'cosine' (decays to 0 over the epochs, so the last
        epoch's weights, the ones exported, settle).
      warmup_epochs: epochs over which the rate rises linearly from ~0 (per step,
        when the backbone trains; a network from random weights needs it).
      dropout: dropout before the classifier's last layer.
      label_smoothing: of the cross-entropy loss.
      seed: seeds windows, shuffling and the head's initialisation.
      deterministic: TensorFlow's op determinism (same weights run after run on one
        machine; trainer/determinism.py). Turn it off on a GPU whose ops have no
        deterministic kernel (they raise) or to trade reproducibility for speed.
      checkpoint: Model Garden checkpoint: a directory, a .tar.gz, or an http(s)/gs URL
        (Model Garden's `init_checkpoint`; the backbone's weights are kept, the
        classifier head is new).
      random_init: train from random weights; must be set explicitly when no
        checkpoint is given (never a silent fallback).
      trainable_blocks: 0 freezes the backbone (Model Garden's `freeze_backbone`;
        features are cached and only the head trains); N > 0 unfreezes the last N
        blocks; -1 the whole backbone.
      train_views: random temporal windows per training video (augmentation),
        drawn anew each epoch.
      aug_min_area_ratio: each training window is cut from a random square crop
        of at least this share of the frame's area (the same crop over the
        window), then resized; 1.0 (default) trains on whole frames. Model
        Garden's video DataConfig has the same name (0.49 there, with aspect
        jitter we leave out).
      eval_views: windows spread over each eval video, averaged (multi-clip; Model
        Garden's `num_test_clips`).
      fast_3d: run the model's 3D convolutions as 2D ones (depthwise as sums of 2D
        depthwise convolutions over the temporal taps, 1x1x1 as matmuls); same weights.
      mixed_precision: float16 compute on GPU.
      serving_top_k: k of the `top_k_labels`, `top_k_probabilities` and
        `top_k_indices` every classifying signature returns, most probable first
        (capped at the class count; formerly `top_k`).
      warm_start: start from the weights of the model served now (the newest
        version in the pipeline's serving_dir, which only blessed models reach;
        the TFX Trainer's `base_model`) when there is one; it must have the same
        architecture and classes.
      tflite: stream models also export `model.tflite` beside the SavedModel
        (trainer/tflite_model.py): 'none', 'float' or 'int8' (post-training
        quantization calibrated on training frames).
      bn_momentum: momentum of the BatchNorm moving averages while training (Model
        Garden's 0.99 suits long runs; a short run from random weights needs a
        lower one, or the averages the eval uses still hold their initial values).
      checkpoint_cache_dir: where downloaded checkpoints are kept.
    """

    SECTION = "trainer"

    model_id: str = "a0"
    variant: str = "base"
    window_frames: int = 8
    resolution: int = 172
    batch_size: int = 8
    epochs: int = 10
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    warmup_epochs: float = 0.0
    optimizer: str = "adam"
    dropout: float = 0.0
    label_smoothing: float = 0.0
    seed: int = 42
    deterministic: bool = True
    checkpoint: str = ""
    random_init: bool = False
    trainable_blocks: int = 0
    train_views: int = 2
    aug_min_area_ratio: float = 1.0
    eval_views: int = 3
    fast_3d: bool = True
    mixed_precision: bool = False
    serving_top_k: int = 5
    bn_momentum: float = 0.99
    warm_start: bool = False
    tflite: str = "float"
    checkpoint_cache_dir: str = DEFAULT_CACHE

    RENAMED_KEYS = renamed_keys.TRAINER  # not a field: read by components/config_loader.py

    def __post_init__(self):
        checks = [
            (self.model_id in MODEL_IDS, "model_id", f"one of {MODEL_IDS}"),
            (self.variant in VARIANTS, "variant", f"one of {VARIANTS}"),
            (self.window_frames >= 1, "window_frames", ">= 1"),
            (self.resolution >= 32, "resolution", ">= 32"),
            (self.batch_size >= 1, "batch_size", ">= 1"),
            (self.epochs >= 1, "epochs", ">= 1"),
            (self.learning_rate > 0, "learning_rate", "> 0"),
            (self.optimizer in OPTIMIZERS, "optimizer", f"one of {OPTIMIZERS}"),
            (self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"one of {LR_SCHEDULES}"),
            (0.0 <= self.warmup_epochs <= self.epochs, "warmup_epochs", "in [0, epochs]"),
            (0.0 <= self.dropout < 1.0, "dropout", "in [0, 1)"),
            (0.0 <= self.label_smoothing < 1.0, "label_smoothing", "in [0, 1)"),
            (self.trainable_blocks >= -1, "trainable_blocks", ">= -1"),
            (self.train_views >= 1, "train_views", ">= 1"),
            (0.0 < self.aug_min_area_ratio <= 1.0, "aug_min_area_ratio", "in (0, 1]"),
            (self.eval_views >= 1, "eval_views", ">= 1"),
            (self.serving_top_k >= 1, "serving_top_k", ">= 1"),
            (0.0 <= self.bn_momentum < 1.0, "bn_momentum", "in [0, 1)"),
            (self.tflite in TFLITE_MODES, "tflite", f"one of {TFLITE_MODES}"),
        ]
        for ok, name, expected in checks:
            require(ok, name, expected, getattr(self, name))
        if not self.checkpoint and not self.random_init:
            raise ConfigError(
                "must be set: give a pretrained checkpoint (directory, .tar.gz or URL, "
                "e.g. Model Garden's movinet_a0_base.tar.gz) or set random_init: true to "
                "train from random weights",
                "checkpoint",
            )
        if self.checkpoint and self.random_init:
            raise ConfigError("and random_init exclude each other: give one", "checkpoint")

    @property
    def frozen(self) -> bool:
        return self.trainable_blocks == 0
