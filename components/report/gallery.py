"""The misclassified eval clips the report shows: which ones, and a few frames of each.

The candidate model's `serving_default` signature (the one TFMA evaluates: the
multi-clip mean over `eval_views` windows) scores every eval record, so the gallery
agrees with the report's confusion matrix. The mistakes are ranked most confident
first (then by media id and record order), the first `size` kept, and a strip of
`frames_per_clip` stored JPEG frames, spread over each clip's real frames, is read
back for each. `rank_mistakes` and `strip_indices` are plain functions; `score_split`
and `read_strips` read TFRecords with TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_SIZE = 12
FRAMES_PER_CLIP = 4
BATCH_SIZE = 8


@dataclasses.dataclass(frozen=True)
class Scored:
    """One eval record as the model saw it: `position` is its index in the split
    (shards in sorted order), `probabilities` [K] the model's multi-clip output."""

    position: int
    media_id: str
    label: int
    label_text: str
    probabilities: np.ndarray


@dataclasses.dataclass(frozen=True)
class Mistake:
    """A misclassified clip: JPEG frames (`frames`, at `times_s` seconds into the
    video), its true class and the model's choice with its probability."""

    media_id: str
    true_label: str
    predicted_label: str
    confidence: float
    true_probability: float
    frames: tuple[bytes, ...]
    times_s: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class Gallery:
    """Attributes:
    mistakes: the clips shown, most confident mistake first (at most `size`).
    scored: eval clips the model classified.
    wrong: how many of them it got wrong (may exceed len(mistakes)).
    size: the most clips the gallery shows (0: gallery off).
    """

    mistakes: tuple[Mistake, ...]
    scored: int
    wrong: int
    size: int


def rank_mistakes(
    labels: Sequence[int], probabilities: np.ndarray, media_ids: Sequence[str]
) -> list[int]:
    """Indices of the misclassified examples, most confident mistake first.

    Args:
      labels: true class index per example, [N].
      probabilities: [N, K] class probabilities.
      media_ids: per example, the tie-break after confidence (then the index).

    Returns:
      indices i with argmax(probabilities[i]) != labels[i], ordered by the predicted
      class's probability (descending), media id, then i: the same on every run.
    """
    probabilities = np.asarray(probabilities)
    if len(probabilities) == 0:
        return []
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(
            f"probabilities must be [N, K] with N = {len(labels)} labels, "
            f"got shape {probabilities.shape}"
        )
    predicted = probabilities.argmax(axis=1)
    wrong = [i for i in range(len(labels)) if predicted[i] != labels[i]]
    return sorted(wrong, key=lambda i: (-float(probabilities[i, predicted[i]]), media_ids[i], i))


def strip_indices(num_real: int, k: int) -> list[int]:
    """k frame indices spread evenly over a clip's `num_real` real frames (first and
    last included; fewer when the clip has fewer frames)."""
    if num_real <= 0 or k <= 0:
        return []
    if k == 1 or num_real == 1:
        return [0]
    return sorted({round(x) for x in np.linspace(0, num_real - 1, min(k, num_real))})


def score_split(
    serve: Callable[[list[bytes]], np.ndarray], paths: Sequence[str], batch_size: int = BATCH_SIZE
) -> list[Scored]:
    """Every record of the TFRecord files `paths` (in that order), scored.

    Args:
      serve: serialized examples -> probabilities [B, K] (the model's serving_default).
      paths: TFRecord shards of one split.
    """
    import tensorflow as tf

    from components.ingest import records

    scored: list[Scored] = []
    batch: list[bytes] = []

    def flush():
        if not batch:
            return
        probabilities = np.asarray(serve(batch))
        for data, p in zip(batch, probabilities, strict=True):
            f = tf.train.Example.FromString(data).features.feature
            scored.append(
                Scored(
                    position=len(scored),
                    media_id=f[records.MEDIA_ID_KEY].bytes_list.value[0].decode(),
                    label=int(f[records.LABEL_KEY].int64_list.value[0]),
                    label_text=f[records.LABEL_TEXT_KEY].bytes_list.value[0].decode(),
                    probabilities=p,
                )
            )
        batch.clear()

    for record in tf.data.TFRecordDataset(list(paths)):
        batch.append(record.numpy())
        if len(batch) == batch_size:
            flush()
    flush()
    return scored


def read_strips(
    paths: Sequence[str], positions: Sequence[int], frames_per_clip: int = FRAMES_PER_CLIP
) -> dict[int, tuple[tuple[bytes, ...], tuple[float, ...]]]:
    """{position: (JPEG frames, their times in seconds)} of the records at
    `positions` of `paths` (as `score_split` numbers them)."""
    import tensorflow as tf

    from components.ingest import records

    wanted = set(positions)
    strips = {}
    for position, record in enumerate(tf.data.TFRecordDataset(list(paths))):
        if position not in wanted:
            continue
        video = records.from_example_bytes(record.numpy())
        chosen = strip_indices(video.num_real_frames or len(video.jpeg_frames), frames_per_clip)
        chosen = [i for i in chosen if i < len(video.jpeg_frames)]
        times = tuple(
            video.timestamps_us[i] / 1e6 if i < len(video.timestamps_us) else float("nan")
            for i in chosen
        )
        strips[position] = (tuple(video.jpeg_frames[i] for i in chosen), times)
        if len(strips) == len(wanted):
            break
    return strips


def build_gallery(
    scored: Sequence[Scored],
    labels: Sequence[str],
    paths: Sequence[str],
    size: int = DEFAULT_SIZE,
    frames_per_clip: int = FRAMES_PER_CLIP,
) -> Gallery:
    """The gallery of `scored` (from `score_split` over `paths`).

    Args:
      labels: the model's class names, in label order (names the predictions).
      size: the most clips shown.
    """
    if not scored:
        return Gallery((), 0, 0, size)
    order = rank_mistakes(
        [s.label for s in scored],
        np.stack([s.probabilities for s in scored]),
        [s.media_id for s in scored],
    )
    shown = [scored[i] for i in order[:size]]
    strips = read_strips(paths, [s.position for s in shown], frames_per_clip)
    mistakes = []
    for s in shown:
        predicted = int(np.argmax(s.probabilities))
        frames, times = strips.get(s.position, ((), ()))
        mistakes.append(
            Mistake(
                media_id=s.media_id,
                true_label=s.label_text,
                predicted_label=labels[predicted] if predicted < len(labels) else str(predicted),
                confidence=float(s.probabilities[predicted]),
                true_probability=float(s.probabilities[s.label])
                if s.label < len(s.probabilities)
                else float("nan"),
                frames=frames,
                times_s=times,
            )
        )
    return Gallery(tuple(mistakes), len(scored), len(order), size)
