"""The data gate's checks: plain functions on a span's summary and the last accepted one's.

Pure (no TensorFlow, no TFDV, no TFX): the executor builds a `SpanSummary` from the
ingest's report and StatisticsGen's statistics, takes the label drift TFDV measured,
and asks `evaluate` for the findings; `refusal` words the one message a refused run
ends with.
"""

from __future__ import annotations

import dataclasses

from components.data_gate.config import CHECKS, FAIL, OFF, WARN, DataGateConfig

# The verdict as ML Metadata records it (the anomalies artifact's custom properties;
# pipeline/history.py reads them), and the words a refusal message starts with.
VERDICT_PROPERTY = "data_gate"
FINDINGS_PROPERTY = "data_gate_findings"
# JSON {"label_drift": L-infinity distance or null, "reference_span": the last accepted
# span or null, "max_label_drift": the threshold}: the report shows it.
DRIFT_PROPERTY = "data_gate_label_drift"
PASSED, PASSED_WITH_WARNINGS, REFUSED = "passed", "passed with warnings", "refused"
REFUSED_MARK = "the data gate refused span"


class DataGateError(ValueError):
    """A span the data gate refused: the message names each failed check, its value,
    its threshold and how to override it."""


@dataclasses.dataclass(frozen=True)
class SpanSummary:
    """What the gate judges of one span (from the ingest report and the statistics).

    Attributes:
      span: the span number.
      class_names: the ingest's class list, in label order.
      train_counts: clips written per class name in the train split.
      selected: videos the ingest selected.
      bad: videos of those it could not use.
      min_clip_seconds: the shortest sampled clip, seconds of video (real sampled
        frames / samples per second); None without clips.
      min_source_fps, max_source_fps: the range of the headers' frame rates (frames
        per second); None without clips.
    """

    span: int
    class_names: tuple[str, ...]
    train_counts: dict[str, int]
    selected: int
    bad: int
    min_clip_seconds: float | None = None
    min_source_fps: float | None = None
    max_source_fps: float | None = None

    @property
    def bad_fraction(self) -> float:
        return self.bad / self.selected if self.selected else 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SpanSummary:
        return cls(**{**data, "class_names": tuple(data["class_names"])})


@dataclasses.dataclass(frozen=True)
class Finding:
    """One check that did not pass.

    Attributes:
      check: the check's name (its policy field, `data.<check>`).
      severity: 'fail' (refuses the span) or 'warn' (recorded only).
      text: what was found, with the value and the threshold.
    """

    check: str
    severity: str
    text: str

    def line(self) -> str:
        return f"{self.check}: {self.text}"


def label_distribution(counts: dict[str, int]) -> dict[str, float]:
    """Each class's share of the clips (0 shares when there is none)."""
    total = sum(counts.values())
    return {name: (n / total if total else 0.0) for name, n in counts.items()}


def linf_distance(first: dict[str, int], second: dict[str, int]) -> float:
    """L-infinity distance between two label distributions given as counts: the largest
    difference of one class's share (TFDV's `infinity_norm` drift comparator)."""
    p, q = label_distribution(first), label_distribution(second)
    return max((abs(p.get(c, 0.0) - q.get(c, 0.0)) for c in set(p) | set(q)), default=0.0)


def evaluate(
    summary: SpanSummary,
    config: DataGateConfig,
    expected_classes: tuple[str, ...],
    reference: SpanSummary | None = None,
    label_drift: float | None = None,
) -> list[Finding]:
    """The checks `summary` fails, each with the severity its policy gives.

    Args:
      summary: the span under test.
      config: thresholds and policies ('off' checks are not made).
      expected_classes: the class list the span must hold.
      reference: the last span the gate accepted (None on the first run: no drift check).
      label_drift: the L-infinity distance TFDV measured between the train splits'
        label distributions (None: computed here from the counts, when a reference is).

    Returns:
      The findings, in the order of config.CHECKS.
    """
    found: list[tuple[str, str]] = []
    present = {c for c, n in summary.train_counts.items() if n > 0}
    missing = [c for c in expected_classes if c not in present]
    unknown = [c for c in summary.class_names if c not in expected_classes]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing from the train split: {', '.join(missing)}")
        if unknown:
            parts.append(f"not expected: {', '.join(unknown)}")
        found.append(("classes", f"{'; '.join(parts)} (expected {len(expected_classes)} classes)"))
    if reference is not None:
        drift = (
            linf_distance(summary.train_counts, reference.train_counts)
            if label_drift is None
            else label_drift
        )
        if drift > config.max_label_drift:
            found.append(
                (
                    "label_drift",
                    f"L-infinity distance {drift:.3f} between the label distributions of "
                    f"span {summary.span} and span {reference.span} (last accepted) "
                    f"> max_label_drift {config.max_label_drift:g}; "
                    f"shares now {_shares(summary.train_counts)}, "
                    f"were {_shares(reference.train_counts)}",
                )
            )
    if summary.bad_fraction > config.max_bad_fraction:
        found.append(
            (
                "bad_videos",
                f"{summary.bad} of {summary.selected} videos unusable "
                f"({summary.bad_fraction:.1%} > max_bad_fraction {config.max_bad_fraction:.1%})",
            )
        )
    if summary.min_clip_seconds is not None and summary.min_clip_seconds < config.min_clip_seconds:
        found.append(
            (
                "clip_length",
                f"shortest clip {summary.min_clip_seconds:.2f} s "
                f"< min_clip_seconds {config.min_clip_seconds:g} s",
            )
        )
    low, high = summary.min_source_fps, summary.max_source_fps
    if low is not None and (low < config.min_source_fps or high > config.max_source_fps):
        found.append(
            (
                "source_fps",
                f"source rates {low:g} to {high:g} fps outside "
                f"[{config.min_source_fps:g}, {config.max_source_fps:g}] "
                "(min_source_fps, max_source_fps)",
            )
        )
    counts = {c: n for c, n in summary.train_counts.items() if n > 0}
    if len(counts) > 1:
        largest, smallest = max(counts, key=counts.get), min(counts, key=counts.get)
        ratio = counts[largest] / counts[smallest]
        if ratio > config.max_class_imbalance:
            found.append(
                (
                    "class_imbalance",
                    f"{largest} has {counts[largest]} train clips, {smallest} "
                    f"{counts[smallest]} ({ratio:.1f}x > max_class_imbalance "
                    f"{config.max_class_imbalance:g}x)",
                )
            )
    findings = [Finding(check, config.policy(check), text) for check, text in found]
    return [f for f in findings if f.severity != OFF]


def refused(findings: list[Finding]) -> bool:
    return any(f.severity == FAIL for f in findings)


def refusal(span: int, findings: list[Finding]) -> str:
    """The one message of a refused span: each failed check with its value and threshold,
    that nothing was trained, and how to override."""
    failed = [f for f in findings if f.severity == FAIL]
    checks = sorted({f.check for f in failed}, key=CHECKS.index)
    override = " ".join(f"--set data.{c}={WARN}" for c in checks)
    warned = [f for f in findings if f.severity == WARN]
    also = f" (warnings: {'; '.join(f.line() for f in warned)})" if warned else ""
    thresholds = [THRESHOLDS[c] for c in checks if c in THRESHOLDS]
    change = f"change {' or '.join(thresholds)} or " if thresholds else ""
    return (
        f"{REFUSED_MARK} {span} before training, nothing was trained or pushed: "
        + "; ".join(f.line() for f in failed)
        + also
        + f". If the data is right, {change}make the check(s) warnings: {override}"
    )


# The settings each check compares with (what a user changes to accept more).
THRESHOLDS = {
    "classes": "data.expected_classes",
    "label_drift": "data.max_label_drift",
    "bad_videos": "data.max_bad_fraction",
    "clip_length": "data.min_clip_seconds",
    "source_fps": "data.min_source_fps/max_source_fps",
    "class_imbalance": "data.max_class_imbalance",
}


def _shares(counts: dict[str, int]) -> str:
    return ", ".join(f"{c} {s:.0%}" for c, s in sorted(label_distribution(counts).items()))
