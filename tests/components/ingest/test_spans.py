"""Data spans: `{SPAN}` in the source, resolved against local folders with tf.io.gfile."""

import pytest

from components.ingest.errors import IngestError
from components.ingest.spans import LATEST_SPAN, parse_span, resolve_span
from pipeline.config import ConfigError, load_config


def make_spans(root, names, member="videos.zip"):
    for name in names:
        (root / name).mkdir()
        (root / name / member).write_bytes(b"zip")
    return str(root)


def test_latest_is_the_highest_span_whatever_the_padding(tmp_path):
    root = make_spans(tmp_path, ["span-1", "span-0002", "span-10", "span-x", "other-99"])
    resolved = resolve_span(f"{root}/span-{{SPAN}}/videos.zip", LATEST_SPAN)
    assert resolved.span == 10
    assert resolved.source == f"{root}/span-10/videos.zip"


def test_a_span_number_matches_its_zero_padded_folder(tmp_path):
    root = make_spans(tmp_path, ["span-0001", "span-0002"])
    resolved = resolve_span(f"{root}/span-{{SPAN}}", 2)
    assert resolved == resolved.__class__(2, f"{root}/span-0002")


def test_folder_sources_and_a_trailing_slash(tmp_path):
    root = make_spans(tmp_path, ["3", "7"])
    assert resolve_span(f"{root}/{{SPAN}}/", LATEST_SPAN).span == 7


def test_repeated_placeholders_must_agree(tmp_path):
    for name in ("v1", "v2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"data-{name[1]}.zip").write_bytes(b"zip")
    (tmp_path / "v2" / "data-9.zip").write_bytes(b"zip")
    resolved = resolve_span(f"{tmp_path}/v{{SPAN}}/data-{{SPAN}}.zip", LATEST_SPAN)
    assert resolved.span == 2 and resolved.source.endswith("v2/data-2.zip")


def test_no_matching_span_names_the_pattern(tmp_path):
    pattern = f"{tmp_path}/span-{{SPAN}}/videos.zip"
    with pytest.raises(IngestError, match="no data span matches the source pattern") as e:
        resolve_span(pattern, LATEST_SPAN)
    assert pattern in str(e.value)
    make_spans(tmp_path, ["span-1", "span-3"])
    with pytest.raises(IngestError, match=r"span 2 not found .*spans there: 1, 3"):
        resolve_span(pattern, 2)


def test_without_placeholder_the_span_is_only_recorded():
    assert resolve_span("data/videos.zip", 4) == resolve_span("data/videos.zip", 4)
    assert resolve_span("data/videos.zip", 4).source == "data/videos.zip"
    with pytest.raises(IngestError, match="needs a {SPAN} placeholder"):
        resolve_span("data/videos.zip", LATEST_SPAN)


def test_http_sources_take_a_number_not_latest():
    url = "https://example.com/ucf/span-{SPAN}.zip"
    assert resolve_span(url, 5).source == "https://example.com/ucf/span-5.zip"
    with pytest.raises(IngestError, match="cannot be listed"):
        resolve_span(url, LATEST_SPAN)


def test_parse_span():
    assert parse_span("latest") == parse_span(-1) == LATEST_SPAN
    assert parse_span("3") == parse_span(3) == 3
    for bad in ("newest", -2, True, 1.5):
        with pytest.raises(ValueError, match="span must be"):
            parse_span(bad)


def test_config_span_latest_needs_a_placeholder():
    config = load_config(None, ["span=latest", "ingest.source=gs://b/span-{SPAN}/v.zip"])
    assert config.span == LATEST_SPAN
    # The ingest's cache key holds the fingerprint of the resolved span's data
    # (tests/components/ingest/test_fingerprint.py): a new span re-ingests, an unchanged one
    # is reused.
    assert config.cache_enabled and load_config(None, ["span=2"]).cache_enabled
    assert not load_config(None, ["enable_cache=false"]).cache_enabled
    with pytest.raises(ConfigError, match=r"needs a \{SPAN\} placeholder in ingest.source"):
        load_config(None, ["span=latest"])
    with pytest.raises(ConfigError, match="span must be"):
        load_config(None, ["span=newest"])
