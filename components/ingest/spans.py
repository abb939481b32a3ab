"""Data spans: which dated version of the source a run ingests, resolved at run time.

`IngestConfig.source` may hold a `{SPAN}` placeholder, e.g.
`gs://bucket/ucf/span-{SPAN}/videos.zip` or `/data/ucf/span-{SPAN}`. The span is a
number (the folder may zero-pad it: `span-0003` is span 3) or LATEST_SPAN (-1): the
highest span the storage holds when the run starts. Resolving at run time, inside
the ingest's executor, is what lets a scheduled run compiled once pick up new data.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from components.ingest.errors import IngestError

SPAN_PLACEHOLDER = "{SPAN}"
LATEST_SPAN = -1


@dataclasses.dataclass(frozen=True)
class ResolvedSpan:
    """The span a run ingests and the source it reads."""

    span: int
    source: str


def has_span_placeholder(source: str) -> bool:
    return SPAN_PLACEHOLDER in source


def parse_span(value: int | str) -> int:
    """A config's span: a number >= 0, or 'latest' / -1 for the newest span."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "latest":
            return LATEST_SPAN
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(f"span must be a number >= 0 or 'latest', got {value!r}")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < LATEST_SPAN:
        raise ValueError(f"span must be a number >= 0 or 'latest' (-1), got {value!r}")
    return value


def resolve_span(source: str, span: int, glob: Callable[[str], list[str]] | None = None):
    """The span and concrete source a run reads.

    Args:
      source: the configured source, with or without a `{SPAN}` placeholder.
      span: a span number, or LATEST_SPAN.
      glob: lists paths matching a `*` pattern (default tf.io.gfile.glob: local
        paths and gs:// alike).

    Returns:
      ResolvedSpan. Without a placeholder the source is used as it is and the span
      only recorded.

    Raises:
      IngestError: 'latest' without a placeholder, an http(s) source asked for
        'latest' (it cannot be listed), or no path matching the span.
    """
    if not has_span_placeholder(source):
        if span == LATEST_SPAN:
            raise IngestError(
                f"span 'latest' needs a {SPAN_PLACEHOLDER} placeholder in the source "
                f"{source!r} (e.g. gs://bucket/data/span-{SPAN_PLACEHOLDER}/videos.zip); "
                "or set a span number"
            )
        return ResolvedSpan(span, source)
    if source.startswith(("http://", "https://")):
        if span == LATEST_SPAN:
            raise IngestError(
                f"source {source!r} is an http(s) URL, which cannot be listed to find the "
                "latest span: set a span number, or keep the spans in a bucket or folder"
            )
        return ResolvedSpan(span, source.replace(SPAN_PLACEHOLDER, str(span)))
    if glob is None:
        import tensorflow as tf

        glob = tf.io.gfile.glob
    found = available_spans(source, glob)
    if not found:
        raise IngestError(
            f"no data span matches the source pattern {source!r} "
            f"({SPAN_PLACEHOLDER} = digits): write a span there or fix ingest.source"
        )
    if span == LATEST_SPAN:
        span = max(found)
    elif span not in found:
        raise IngestError(
            f"span {span} not found for the source pattern {source!r}; "
            f"spans there: {', '.join(map(str, sorted(found)))}"
        )
    return ResolvedSpan(span, found[span])


def available_spans(source: str, glob: Callable[[str], list[str]]) -> dict[int, str]:
    """span -> path of every path matching the source pattern (the shortest padding wins)."""
    parts = source.split(SPAN_PLACEHOLDER)
    pattern = re.compile(r"(\d+)".join(re.escape(p) for p in parts).rstrip("/") + r"/?")
    found: dict[int, str] = {}
    for path in sorted(glob("*".join(_glob_escape(p) for p in parts).rstrip("/")), key=len):
        match = pattern.fullmatch(path)
        if not match or len(set(int(g) for g in match.groups())) != 1:
            continue
        found.setdefault(int(match.group(1)), path)
    return found


def _glob_escape(text: str) -> str:
    """Glob metacharacters in the fixed parts of a pattern, taken literally."""
    return re.sub(r"([*?\[])", r"[\1]", text)
