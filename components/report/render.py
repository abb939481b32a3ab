"""The evaluation report as one self-contained HTML page (images embedded, no network)."""

from __future__ import annotations

import base64
import html
import math

from components.report.results import BASELINE, CANDIDATE, ClassMetrics, Evaluation

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.blessed { color: #17692b; font-weight: bold; } .rejected { color: #a31515; font-weight: bold; }
.muted { color: #666; } img { max-width: 100%; }
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


def headline_rows(
    evaluation: Evaluation, classes: ClassMetrics, keys: dict[str, str]
) -> list[list[str]]:
    """[metric, candidate, (baseline, change)] rows; `keys` maps titles to metric names."""
    rows = []
    for title, key in keys.items():
        value = evaluation.metric(key)
        if key == "mean_class_accuracy":
            value = classes.mean_class_accuracy
        if value is None:
            continue
        row = [title, _fmt(value)]
        if evaluation.has_baseline:
            base = evaluation.metric(key, BASELINE)
            row += [_fmt(base), _fmt(value - base) if base is not None else "n/a"]
        rows.append(row)
    return rows


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
    training: dict,
) -> str:
    """The report page; every value is escaped, every image inlined."""
    verdict = (
        '<p class="blessed">Blessed: passed every threshold; the Pusher publishes it.</p>'
        if blessed
        else '<p class="rejected">Not blessed: the Pusher skips it.</p>'
    )
    reasons = "".join(f"<li>{html.escape(f)}</li>" for f in evaluation.failures)
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
    phases = training.get("phases", {})
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
<h2>Confusion matrix (multi-clip)</h2>
{_img(heatmap_png, "confusion matrix")}
<h2>Per class</h2>
{_table(["class", "eval videos", "precision", "recall (class accuracy)"], per_class)}
<h2>Training</h2>
<p class="muted">Weights: {html.escape(str(training.get("checkpoint", "unknown")))};
variant {html.escape(str(training.get("variant", "?")))}; {html.escape(timing)}</p>
{_img(curves_png, "training curves")}
</body></html>
"""
