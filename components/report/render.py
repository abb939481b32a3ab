"""The evaluation report as one self-contained HTML page (images embedded, no network)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence

from components.report.constants import MEAN_CLASS_ACCURACY
from components.report.data import DataSummary
from components.report.gallery import Gallery
from components.report.results import (
    BASELINE,
    CANDIDATE,
    ClassMetrics,
    Evaluation,
    class_metrics,
)
from components.training_summary import TrainingSummary

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.blessed { color: #17692b; font-weight: bold; } .rejected { color: #a31515; font-weight: bold; }
.muted { color: #666; } img { max-width: 100%; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; }
.clip { margin: 0; border: 1px solid #ccc; padding: 0.4em; }
.clip img { height: 96px; margin-right: 2px; image-rendering: pixelated; }
.clip figcaption { font-size: 0.9em; margin-top: 0.3em; }
"""


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return f'<p class="muted">({html.escape(alt)}: not available)</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _jpeg(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    alt = html.escape(alt)
    return f'<img alt="{alt}" title="{alt}" src="data:image/jpeg;base64,{encoded}">'


def data_section(data: DataSummary | None, absent: str = "", checks: Sequence[str] = ()) -> str:
    """The data section: videos per class and split, skipped videos and why,
    duplicates and the ingest's warnings.

    Args:
      data: the ingest report's content; None when it could not be read.
      absent: why it could not be read (shown instead of the section's tables).
      checks: HTML fragments (already escaped) appended to the section, for checks of
        the data made elsewhere (e.g. drift against the previous span).
    """
    if data is None:
        note = html.escape(absent or "no ingest report was given")
        return f'<h2>Data</h2>\n<p class="rejected">Data summary not available: {note}</p>'
    rows = [[n, str(data.count("train", n)), str(data.count("eval", n))] for n in data.class_names]
    rows.append(["total", str(data.count("train")), str(data.count("eval"))])
    parts = [
        "<h2>Data</h2>",
        f'<p class="muted">{data.selected} videos selected; {data.count("train")} written to '
        f"train and {data.count('eval')} to eval; {len(data.skipped)} skipped as unusable.</p>",
        "<h3>Videos per class</h3>",
        _table(["class", "train videos", "eval videos"], rows),
        "<h3>Skipped videos</h3>",
        _table(
            ["video", "split", "reason"],
            [
                [str(b.get("video", "?")), str(b.get("split", "?")), str(b.get("reason", "?"))]
                for b in data.skipped
            ],
        )
        if data.skipped
        else '<p class="muted">None: every selected video could be used.</p>',
        "<h3>Duplicates</h3>",
        _duplicates(data),
        "<h3>Warnings</h3>",
        _warnings(data),
        *checks,
    ]
    return "\n".join(parts)


def data_gate_section(verdict: str, findings: Sequence[str], drift: dict | None) -> str:
    """The data gate's fragment of the data section (an HTML string for `data_checks`).

    Args:
      verdict: the gate's verdict ('passed', 'passed with warnings').
      findings: its findings, one line each (warnings when it passed).
      drift: {"label_drift": L-infinity distance or None, "reference_span": the last
        accepted span or None, "max_label_drift": the threshold} (None: not recorded).
    """
    parts = ["<h3>Data gate</h3>", f"<p>Verdict: <b>{html.escape(verdict or 'unknown')}</b>.</p>"]
    if drift and drift.get("reference_span") is not None:
        parts.append(
            f"<p>Label drift against span {int(drift['reference_span'])} (the last accepted): "
            f"L-infinity {_fmt(drift.get('label_drift'))} (largest change of one class's share; "
            f"max_label_drift {_fmt(drift.get('max_label_drift'), 2)}).</p>"
        )
    elif drift:
        parts.append('<p class="muted">No earlier accepted span: no drift to measure.</p>')
    if findings:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in findings)
        parts.append(f"<ul>{items}</ul>")
    else:
        parts.append('<p class="muted">No findings.</p>')
    return "\n".join(parts)


def _duplicates(data: DataSummary) -> str:
    if not data.duplicates:
        return (
            '<p class="muted">None: no byte-identical videos under different labels '
            "or in both splits.</p>"
        )
    action = {
        "drop": "every video of these groups was left out",
        "fail": "the ingest failed on them",
    }.get(data.duplicates_policy, "they were kept (policy 'warn')")
    rows = [
        [
            str(g.get("sha256", ""))[:12],
            ", ".join(f"{v['video']} ({v['label']}, {v['split']})" for v in g.get("videos", ())),
        ]
        for g in data.duplicates
    ]
    note = f'<p class="muted">Identical files (SHA-256); {html.escape(action)}.</p>'
    return note + _table(["sha256", "videos (label, split)"], rows)


def _warnings(data: DataSummary) -> str:
    items = [*data.warnings]
    items += [f"{w.get('video', '?')}: {w.get('warning', '')}" for w in data.video_warnings]
    items += [f"refused source member: {name}" for name in data.refused]
    if not items:
        return '<p class="muted">None.</p>'
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def gallery_section(gallery: Gallery | None) -> str:
    """The misclassified eval clips: frames, true and predicted class, confidence."""
    title = "<h2>Misclassified eval clips</h2>"
    if gallery is None or gallery.size <= 0:
        return f'{title}\n<p class="muted">Gallery off (gallery_size 0).</p>'
    if not gallery.scored:
        return f'{title}\n<p class="muted">The eval split holds no clip to classify.</p>'
    if not gallery.wrong:
        return (
            f"{title}\n<p>The model classified all {gallery.scored} eval clips correctly: "
            "no misclassified clip to show.</p>"
        )
    shown = len(gallery.mistakes)
    intro = (
        f"<p>The model got {gallery.wrong} of {gallery.scored} eval clips wrong "
        f"(multi-clip, as the confusion matrix counts them); "
        f"{'all shown' if shown == gallery.wrong else f'the {shown} most confident shown'}, "
        "most confident first.</p>"
    )
    figures = []
    for m in gallery.mistakes:
        strip = "".join(
            _jpeg(frame, f"{m.media_id} at {t:.1f} s")
            for frame, t in zip(m.frames, m.times_s, strict=True)
        )
        caption = (
            f"<b>{html.escape(m.media_id)}</b><br>true: {html.escape(m.true_label)} "
            f"(p {_fmt(m.true_probability, 2)})<br>predicted: "
            f"{html.escape(m.predicted_label)} (p {_fmt(m.confidence, 2)})"
        )
        figures.append(
            f'<figure class="clip"><div>{strip}</div><figcaption>{caption}</figcaption></figure>'
        )
    return f'{title}\n{intro}\n<div class="gallery">{"".join(figures)}</div>'


def headline_rows(
    evaluation: Evaluation, classes: ClassMetrics, keys: dict[str, str]
) -> list[list[str]]:
    """[metric, candidate, (baseline, change)] rows; `keys` maps titles to metric names."""
    rows = []
    for title, key in keys.items():
        value = evaluation.metric(key)
        if key == MEAN_CLASS_ACCURACY:
            value = classes.mean_class_accuracy
        if value is None:
            continue
        row = [title, _fmt(value)]
        if evaluation.has_baseline:
            base = evaluation.metric(key, BASELINE)
            row += [_fmt(base), _fmt(value - base) if base is not None else "n/a"]
        rows.append(row)
    return rows


def reference_section(
    reference: Evaluation | None, blessed: bool, headline_keys: dict[str, str]
) -> str:
    """The reference set's evaluation (evaluation.reference_source): candidate against
    the served model, its verdict and why; '' without a reference set."""
    if reference is None:
        return ""
    classes = class_metrics(reference.confusion)
    header = ["metric", CANDIDATE]
    if reference.has_baseline:
        header += ["served model (baseline)", "change"]
    verdict = (
        '<p class="blessed">Passed every threshold on the reference set.</p>'
        if blessed
        else '<p class="rejected">Failed on the reference set:</p>'
    )
    reasons = "".join(f"<li>{html.escape(f)}</li>" for f in reference.failures)
    if reasons:
        verdict += f"<ul>{reasons}</ul>"
    videos = int(reference.confusion.sum())
    return f"""<h2>Reference set (fixed, the same every run)</h2>
<p class="muted">{videos} videos of a set that does not change with the spans, judged
with the same bars as the eval split; a model is pushed only when it passes both.</p>
{verdict}
{_table(header, headline_rows(reference, classes, headline_keys))}"""


def render_report(
    *,
    model_uri: str,
    blessed: bool,
    evaluation: Evaluation,
    classes: ClassMetrics,
    labels: list[str],
    headline_keys: dict[str, str],
    heatmap_png: bytes,
    curves_png: bytes | None,
    training: TrainingSummary,
    data: DataSummary | None = None,
    data_absent: str = "",
    data_checks: Sequence[str] = (),
    gallery: Gallery | None = None,
    reference: Evaluation | None = None,
    reference_blessed: bool = False,
) -> str:
    """The report page; every value is escaped, every image inlined.

    `data`, `data_absent` and `data_checks` make the data section (`data_section`),
    `gallery` the misclassified clips (`gallery_section`), `reference` and
    `reference_blessed` the reference set's evaluation (`reference_section`);
    `blessed` is the verdict on both.
    """
    verdict = (
        '<p class="blessed">Blessed: passed every threshold; the Pusher publishes it.</p>'
        if blessed
        else '<p class="rejected">Not blessed: the Pusher skips it.</p>'
    )
    failures = list(evaluation.failures)
    if reference is not None:
        failures += [f"reference set: {f}" for f in reference.failures]
    reasons = "".join(f"<li>{html.escape(f)}</li>" for f in failures)
    if reasons:
        verdict += f"<ul>{reasons}</ul>"
    header = ["metric", CANDIDATE]
    if evaluation.has_baseline:
        header += ["served model (baseline)", "change"]
    per_class = [
        [
            label,
            str(int(classes.support[i])),
            _fmt(classes.precision[i]),
            _fmt(classes.recall[i]),
        ]
        for i, label in enumerate(labels)
    ]
    phases = training.phases
    timing = ", ".join(f"{k.removesuffix('_s')} {v:.0f} s" for k, v in phases.items())
    baseline_note = (
        ""
        if evaluation.has_baseline
        else '<p class="muted">No blessed model to compare with yet.</p>'
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Evaluation report</title><style>{_STYLE}</style></head>
<body>
<h1>Evaluation report</h1>
<p class="muted">Model: {html.escape(model_uri)}</p>
{verdict}
<h2>Headline metrics (eval split)</h2>
{_table(header, headline_rows(evaluation, classes, headline_keys))}
{baseline_note}
<p class="muted">Multi-clip averages windows spread over each video; single-clip scores
the centre window alone. Mean class accuracy is the mean of the per-class recalls.</p>
{reference_section(reference, reference_blessed, headline_keys)}
<h2>Confusion matrix (multi-clip)</h2>
{_img(heatmap_png, "confusion matrix")}
<h2>Per class</h2>
{_table(["class", "eval videos", "precision", "recall (class accuracy)"], per_class)}
{gallery_section(gallery)}
{data_section(data, data_absent, data_checks)}
<h2>Training</h2>
<p class="muted">Weights: {html.escape(training.checkpoint or "unknown")};
variant {html.escape(training.variant or "?")}; {html.escape(timing)}</p>
{_img(curves_png, "training curves")}
</body></html>
"""
