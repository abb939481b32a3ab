"""What the Trainer's `run_fn` (trainer/run.py) leaves for the steps after it.

In the Trainer's ModelRun artifact, `training_summary.json`: a `TrainingSummary`.
Beside the exported SavedModel (in the Model artifact's folder), `weights.sha256`:
a hash of the exported variables (trainer/determinism.py `weights_hash`).
ModelReport, `python -m pipeline run`'s closing summary and `bench.finetune` read
them. This module imports neither TensorFlow nor Beam, so its readers need neither.
"""

from __future__ import annotations

import dataclasses
import json

SUMMARY_FILE = "training_summary.json"
WEIGHTS_HASH_FILE = "weights.sha256"


class TrainingSummaryError(ValueError):
    """A training summary that is not JSON or lacks a field; the message names the file."""


@dataclasses.dataclass(frozen=True)
class TrainingSummary:
    """One training run, as `run_fn` wrote it.

    Attributes:
      labels: the class names, in label-index order.
      eval_multi_clip_accuracy: fraction (0-1) of eval videos whose views' averaged
        probabilities put the true class first (Model Garden's multi-clip evaluation,
        `num_test_clips` there; `trainer.eval_views` here).
      eval_single_clip_accuracy: the same with each view scored alone.
      history: Keras' per-epoch history, metric name (`loss`, `accuracy`, `val_loss`,
        `val_accuracy`) -> one value per epoch.
      phases: seconds per phase, in the order they ran: `build_s`, `features_s`
        (frozen backbones only), `fit_s`, `export_s`.
      seconds: the whole `run_fn`, wall time (s).
      weights_sha256: hash of the exported variables, 64 hex digits.
      variant: the MoViNet variant, `base` or `stream`.
      checkpoint: the checkpoint the backbone was restored from, or `random_init`.
      warm_start: the exported model training started from ('' for none).
    """

    labels: tuple[str, ...]
    eval_multi_clip_accuracy: float
    eval_single_clip_accuracy: float
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    phases: dict[str, float] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    weights_sha256: str = ""
    variant: str = ""
    checkpoint: str = ""
    warm_start: str = ""

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "labels": list(self.labels)}, indent=2)

    @classmethod
    def from_json(cls, text: str, source: str = "training summary") -> TrainingSummary:
        """Parses `to_json`'s output; fields it does not know are ignored.

        Raises:
          TrainingSummaryError: `text` is not a JSON object with every required field.
        """
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as e:
            raise TrainingSummaryError(f"{source} is not JSON ({e}); train again") from e
        known = {f.name: f for f in dataclasses.fields(cls)}
        required = {
            name
            for name, f in known.items()
            if f.default is f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - set(fields)) if isinstance(fields, dict) else sorted(required)
        if missing:
            raise TrainingSummaryError(
                f"{source} lacks {', '.join(missing)}: it was not written by this pipeline's "
                "Trainer (trainer/run.py run_fn); train again"
            )
        values = {name: value for name, value in fields.items() if name in known}
        return cls(**{**values, "labels": tuple(values["labels"])})
