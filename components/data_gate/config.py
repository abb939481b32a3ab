"""DataGateConfig: the data gate's checks, thresholds and policies (config section `data:`).

Light on purpose (no TensorFlow, no TFDV): the pipeline's config and the gate's
executor both read it, serialised as JSON in the component's parameter.
"""

from __future__ import annotations

import dataclasses

from components.config_loader import ConfigError, SectionConfig, require

FAIL, WARN, OFF = "fail", "warn", "off"
POLICIES = (FAIL, WARN, OFF)
# Every check the gate makes, by the name of its policy field (`data.<check>`).
CHECKS = (
    "classes",
    "label_drift",
    "bad_videos",
    "clip_length",
    "source_fps",
    "class_imbalance",
    "schema",
)


@dataclasses.dataclass(frozen=True)
class DataGateConfig(SectionConfig):
    """What the data gate refuses. Each check has a policy, 'fail' (refuse the span),
    'warn' (record it, train anyway) or 'off', and its threshold:

    Attributes:
      expected_classes: the class list a span must hold (label order); () takes the
        classes of the last span the gate accepted (the first span sets them).
      classes: policy for classes missing from the train split, or not expected.
      label_drift: policy for the train split's label distribution drifting from the
        last accepted span's.
      max_label_drift: the L-infinity distance allowed between the two distributions
        (largest difference of one class's share; TFDV's `infinity_norm` comparator).
      bad_videos: policy for too many videos the ingest could not use.
      max_bad_fraction: the share of selected videos allowed to be unusable (the
        ingest's own `ingest.max_bad_fraction` still stops the ingest itself).
      clip_length: policy for clips too short to fill the model's window.
      min_clip_seconds: the shortest sampled clip allowed, in seconds of video
        (real sampled frames / samples per second).
      source_fps: policy for source frame rates out of range.
      min_source_fps, max_source_fps: the range of the rate the videos' headers give
        (frames per second; a header's 1000 fps, as webcams write, is in range by default).
      class_imbalance: policy for one class outweighing another.
      max_class_imbalance: the largest ratio allowed between the train clips of the
        largest and the smallest class.
      schema: policy for records breaking the schema's other domains (frame size,
        stored frame count, a missing feature): a broken ingest more than odd data.
    """

    SECTION = "data"

    expected_classes: tuple[str, ...] = ()
    classes: str = FAIL
    label_drift: str = FAIL
    max_label_drift: float = 0.25
    bad_videos: str = FAIL
    max_bad_fraction: float = 0.05
    clip_length: str = FAIL
    min_clip_seconds: float = 0.5
    source_fps: str = FAIL
    min_source_fps: float = 1.0
    max_source_fps: float = 1000.0
    class_imbalance: str = FAIL
    max_class_imbalance: float = 10.0
    schema: str = FAIL

    def __post_init__(self):
        for check in CHECKS:
            require(
                getattr(self, check) in POLICIES,
                check,
                f"one of {', '.join(POLICIES)}",
                getattr(self, check),
            )
        require(
            0.0 <= self.max_label_drift <= 1.0, "max_label_drift", "in [0, 1]", self.max_label_drift
        )
        require(
            0.0 <= self.max_bad_fraction <= 1.0,
            "max_bad_fraction",
            "in [0, 1]",
            self.max_bad_fraction,
        )
        require(self.min_clip_seconds >= 0, "min_clip_seconds", ">= 0", self.min_clip_seconds)
        if not 0.0 <= self.min_source_fps <= self.max_source_fps:
            raise ConfigError(
                "and max_source_fps must satisfy 0 <= min <= max, got "
                f"{self.min_source_fps} and {self.max_source_fps}",
                "min_source_fps",
            )
        require(
            self.max_class_imbalance >= 1.0,
            "max_class_imbalance",
            ">= 1",
            self.max_class_imbalance,
        )
        if len(set(self.expected_classes)) != len(self.expected_classes):
            raise ConfigError(f"repeat a name: {list(self.expected_classes)}", "expected_classes")

    def policy(self, check: str) -> str:
        return getattr(self, check)
