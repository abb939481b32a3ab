"""A span's `SpanSummary` from what the ingest and StatisticsGen wrote.

Counts come from the ingest's report (exact: `ingest_report.json`); clip lengths and
source rates from the statistics' min/max, which TFDV computes over every record.
Light: tensorflow_metadata protos only.
"""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.data_gate.checks import SpanSummary
from components.ingest import records

TRAIN = "train"


def numeric_range(
    statistics: list[statistics_pb2.DatasetFeatureStatisticsList], name: str
) -> tuple[float, float] | None:
    """(min, max) of a numeric feature over every split's statistics; None without values."""
    lows, highs = [], []
    for stats_list in statistics:
        for dataset in stats_list.datasets:
            for feature in dataset.features:
                path = feature.path.step[0] if feature.path.step else feature.name
                if path == name and feature.HasField("num_stats"):
                    if feature.num_stats.common_stats.num_non_missing:
                        lows.append(feature.num_stats.min)
                        highs.append(feature.num_stats.max)
    return (min(lows), max(highs)) if lows else None


def summarize(
    span: int,
    report: dict,
    statistics: list[statistics_pb2.DatasetFeatureStatisticsList],
) -> SpanSummary:
    """The summary of one ingested span.

    Args:
      span: the span number.
      report: the ingest's `ingest_report.json` (IngestReport.to_dict()).
      statistics: StatisticsGen's statistics of each split.

    A clip's length is its real sampled frames over its samples per second; the
    shortest is taken as the fewest real frames over the highest sample rate (the
    same for every clip unless `frames.frame_step` samples by decoded frames).
    """
    real = numeric_range(statistics, records.NUM_REAL_FRAMES_KEY)
    sample = numeric_range(statistics, records.SAMPLE_FPS_KEY)
    rates = numeric_range(statistics, records.SOURCE_FPS_KEY)
    return SpanSummary(
        span=span,
        class_names=tuple(report["class_names"]),
        train_counts=dict(report["written"][TRAIN]),
        selected=int(report["selected"]),
        bad=len(report["bad"]),
        min_clip_seconds=real[0] / sample[1] if real and sample and sample[1] > 0 else None,
        min_source_fps=rates[0] if rates else None,
        max_source_fps=rates[1] if rates else None,
    )
