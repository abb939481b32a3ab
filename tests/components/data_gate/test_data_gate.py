"""The data gate: its pure checks (each check, warn vs fail, the message), its schema,
and its executor on a real ingested span with StatisticsGen-like statistics.

End to end over generated spans with LocalDagRunner: tests/components/data_gate/test_runs.py
(the runs: tests/builders/span_runs.py).
"""

import dataclasses
import os
import re

import pytest

from components.data_gate import checks, reference
from components.data_gate.checks import DataGateError, SpanSummary
from components.data_gate.config import CHECKS, DataGateConfig
from pipeline.config import ConfigError, load_config

CLASSES = ("Grow", "Shrink", "SlideLeft")


def summary(counts=(6, 6, 6), span=2, **overrides) -> SpanSummary:
    values = {
        "span": span,
        "class_names": CLASSES,
        "train_counts": dict(zip(CLASSES, counts, strict=True)),
        "selected": 24,
        "bad": 0,
        "min_clip_seconds": 1.6,
        "min_source_fps": 25.0,
        "max_source_fps": 25.0,
        **overrides,
    }
    return SpanSummary(**values)


DEFAULT = DataGateConfig()


def judge(span, config=DEFAULT, reference_span=None, drift=None):
    return checks.evaluate(span, config, CLASSES, reference_span, drift)


def test_a_normal_span_passes_every_check():
    assert judge(summary(), reference_span=summary(span=1)) == []


def test_missing_and_unknown_classes():
    missing = summary(counts=(6, 6, 0))
    (finding,) = judge(missing)
    assert finding.check == "classes" and finding.severity == "fail"
    assert "missing from the train split: SlideLeft" in finding.text
    unknown = summary(class_names=(*CLASSES, "Orbit"))
    (finding,) = judge(unknown)
    assert "not expected: Orbit" in finding.text


def test_label_drift_uses_the_linf_distance_against_the_reference():
    skewed = summary(counts=(18, 3, 3))
    (finding,) = judge(skewed, reference_span=summary(span=1))
    # shares 0.75 / 0.125 / 0.125 against 1/3 each: the largest difference is 0.417
    assert finding.check == "label_drift"
    assert "0.417" in finding.text and "max_label_drift 0.25" in finding.text
    assert "span 2 and span 1" in finding.text
    assert checks.linf_distance({"a": 3, "b": 1}, {"a": 1, "b": 1}) == pytest.approx(0.25)
    # TFDV's measurement, when given, is the one judged
    assert judge(skewed, reference_span=summary(span=1), drift=0.1) == []
    # no reference (the first span): no drift check
    assert judge(skewed) == []


@pytest.mark.parametrize(
    "overrides, check, words",
    [
        ({"bad": 3}, "bad_videos", "3 of 24 videos unusable (12.5% > max_bad_fraction 5.0%)"),
        ({"min_clip_seconds": 0.2}, "clip_length", "shortest clip 0.20 s < min_clip_seconds 0.5"),
        ({"max_source_fps": 2000.0}, "source_fps", "source rates 25 to 2000 fps outside"),
        ({"min_source_fps": 0.5}, "source_fps", "outside [1, 1000]"),
        (
            {"train_counts": dict(zip(CLASSES, (33, 3, 3), strict=True))},
            "class_imbalance",
            "11.0x > ",
        ),
    ],
)
def test_each_threshold(overrides, check, words):
    found = [f for f in judge(summary(**overrides)) if f.check == check]
    assert len(found) == 1 and words in found[0].text, found


def test_warn_records_a_finding_without_refusing_and_off_skips_the_check():
    short = summary(min_clip_seconds=0.2)
    (failed,) = judge(short)
    assert checks.refused([failed])
    (warned,) = judge(short, DataGateConfig(clip_length="warn"))
    assert warned.severity == "warn" and not checks.refused([warned])
    assert judge(short, DataGateConfig(clip_length="off")) == []
    assert judge(short, DataGateConfig(min_clip_seconds=0.1)) == []


def test_the_refusal_names_each_finding_its_value_and_the_override():
    bad = summary(counts=(6, 6, 0), min_clip_seconds=0.2, bad=3)
    findings = judge(bad, DataGateConfig(bad_videos="warn"))
    message = checks.refusal(2, findings)
    assert message.startswith(checks.REFUSED_MARK + " 2 before training")
    assert "nothing was trained or pushed" in message
    assert "classes: missing from the train split: SlideLeft" in message
    assert "clip_length: shortest clip 0.20 s" in message
    assert "warnings: bad_videos: 3 of 24" in message
    assert "change data.expected_classes or data.min_clip_seconds or make" in message
    assert message.endswith("--set data.classes=warn --set data.clip_length=warn")


def test_config_section_is_validated_with_field_names():
    config = load_config(None, ["data.label_drift=warn", "data.max_class_imbalance=4"])
    assert config.data.label_drift == "warn" and config.data.max_class_imbalance == 4.0
    assert config.data.policy("classes") == "fail"
    for override, words in (
        ("data.label_drift=maybe", "data.label_drift must be one of fail, warn, off"),
        ("data.max_label_drift=2", "data.max_label_drift must be in [0, 1]"),
        ("data.bogus=1", "unknown config field(s) data.bogus"),
        ("data.expected_classes=Grow", "data.expected_classes must be a list of strings"),
        ("data.max_class_imbalance=0.5", "data.max_class_imbalance must be >= 1"),
    ):
        with pytest.raises(ConfigError, match=re.escape(words)):
            load_config(None, [override])
    assert set(CHECKS) <= {f.name for f in dataclasses.fields(DataGateConfig)}
    round_trip = DataGateConfig.from_json(DataGateConfig(expected_classes=CLASSES).to_json())
    assert round_trip.expected_classes == CLASSES


def test_schema_holds_the_class_list_ranges_and_drift_comparator():
    from components.data_gate.schema import video_schema
    from components.ingest import records

    schema = video_schema(CLASSES, 8, 32, 48, DataGateConfig(max_label_drift=0.3))
    features = {f.name: f for f in schema.feature}
    text = features[records.LABEL_TEXT_KEY]
    assert list(text.string_domain.value) == list(CLASSES)
    assert text.drift_comparator.infinity_norm.threshold == pytest.approx(0.3)
    assert features[records.LABEL_KEY].int_domain.max == 2
    assert features[records.NUM_FRAMES_KEY].int_domain.min == 8
    assert features[records.WIDTH_KEY].int_domain.max == 48
    assert features[records.SOURCE_FPS_KEY].float_domain.max == pytest.approx(1000.0)


# --- the executor on a real ingested span -------------------------------------------


@pytest.fixture(scope="module")
def span_statistics(examples_dir, tmp_path_factory):
    """StatisticsGen's layout (Split-<split>/FeatureStats.pb) for the tiny ingested demo."""
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions

    from components.ingest import constants
    from tests.builders.trained_model import patterns

    out = str(tmp_path_factory.mktemp("statistics"))
    for split in constants.SPLITS:
        stats = tfdv.generate_statistics_from_tfrecord(
            patterns(examples_dir, split)[0],
            pipeline_options=PipelineOptions(["--runner=DirectRunner"]),
        )
        os.makedirs(os.path.join(out, f"Split-{split}"))
        with open(os.path.join(out, f"Split-{split}", "FeatureStats.pb"), "wb") as f:
            f.write(stats.SerializeToString())  # as StatisticsGen's WriteStatisticsToBinaryFile
    return out


def run_gate(examples_dir, statistics_dir, out, config=DEFAULT):
    """Runs the executor with its outputs under `out`, its reference in `out/../accepted`."""
    from tfx.types import standard_artifacts

    from components.data_gate.executor import Executor

    examples = standard_artifacts.Examples()
    examples.uri, examples.span = examples_dir, 3
    stats = standard_artifacts.ExampleStatistics()
    stats.uri = statistics_dir
    schema, anomalies = standard_artifacts.Schema(), standard_artifacts.ExampleAnomalies()
    schema.uri, anomalies.uri = os.path.join(out, "schema"), os.path.join(out, "anomalies")
    os.makedirs(schema.uri, exist_ok=True)
    Executor().Do(
        {"examples": [examples], "statistics": [stats]},
        {"schema": [schema], "anomalies": [anomalies]},
        {
            "config": config.to_json(),
            "reference_dir": os.path.join(os.path.dirname(out), "accepted"),
        },
    )
    return schema, anomalies


def test_executor_accepts_a_span_then_refuses_its_skewed_copy(
    examples_dir, span_statistics, tmp_path
):
    schema, anomalies = run_gate(examples_dir, span_statistics, str(tmp_path / "first"))
    assert anomalies.get_string_custom_property(checks.VERDICT_PROPERTY) == checks.PASSED
    assert os.path.isfile(os.path.join(schema.uri, "schema.pbtxt"))
    assert os.path.isfile(os.path.join(anomalies.uri, "Split-train", "SchemaDiff.pb"))
    accepted, stats = reference.read_reference(str(tmp_path / "accepted"))
    assert accepted.span == 3 and stats is not None and sum(accepted.train_counts.values()) > 0
    # 1.6 s demo clips at 25 fps, sampled at 5 fps: 8 real frames, 1.6 s (the statistics' min)
    assert accepted.min_clip_seconds == pytest.approx(1.6)
    assert accepted.min_source_fps == accepted.max_source_fps == pytest.approx(25.0)
    # The reference's statistics become a span whose train split held one class mostly
    # (its summary keeps the counts: the drift judged must be TFDV's, from the statistics).
    skewed = {name: 1 for name in accepted.class_names}
    skewed[accepted.class_names[0]] = 30
    reference.write_reference(
        str(tmp_path / "accepted"),
        dataclasses.replace(accepted, span=1),
        _statistics_with_label_counts(stats, skewed),
    )
    with pytest.raises(DataGateError, match=r"label_drift: L-infinity distance 0\.\d+ between"):
        run_gate(examples_dir, span_statistics, str(tmp_path / "again"))
    # the same span passes when drift is only a warning
    _, warned = run_gate(
        examples_dir, span_statistics, str(tmp_path / "warn"), DataGateConfig(label_drift="warn")
    )
    assert warned.get_string_custom_property(checks.VERDICT_PROPERTY) == checks.PASSED_WITH_WARNINGS
    assert "label_drift" in warned.get_string_custom_property(checks.FINDINGS_PROPERTY)


def _statistics_with_label_counts(stats, counts):
    """A copy of `stats` whose label text histogram holds `counts`."""
    from components.ingest import records

    stats = type(stats).FromString(stats.SerializeToString())
    for feature in stats.datasets[0].features:
        if feature.path.step and feature.path.step[0] == records.LABEL_TEXT_KEY:
            histogram = feature.string_stats.rank_histogram
            del histogram.buckets[:]
            for rank, (name, n) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1])):
                histogram.buckets.add(low_rank=rank, high_rank=rank, label=name, sample_count=n)
            del feature.string_stats.top_values[:]
            for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
                feature.string_stats.top_values.add(value=name, frequency=n)
    return stats
