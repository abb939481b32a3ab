"""The ingest's cache key sees the data: fingerprints of folders, zips and URLs, and
the local runner puts the fingerprint in the ingest's exec properties (which TFX's
cache key hashes: tfx/orchestration/portable/cache_utils.get_cache_context)."""

from __future__ import annotations

import os
import shutil

from components.ingest.fingerprint import source_fingerprint
from pipeline import local_runner
from pipeline.config import PipelineConfig
from tests.builders.synthetic_video import write_video
from tests.builders.tiny_pipeline import tiny_config_dict
from tests.fakes.http_server import closed_port_url, serve_folder


def _folder(root):
    for cls in ("Left", "Right"):
        os.makedirs(root / cls)
        write_video(root / cls / "a.avi", 5, 25.0, 32, 32)
    return str(root)


def test_folder_fingerprint_follows_names_sizes_and_times(tmp_path):
    folder = _folder(tmp_path / "v")
    first = source_fingerprint(folder, "", 0)
    assert first.startswith("sha256:") and source_fingerprint(folder, "", 0) == first
    write_video(tmp_path / "v" / "Left" / "a.avi", 7, 25.0, 32, 32)  # replaced in place
    replaced = source_fingerprint(folder, "", 0)
    assert replaced != first
    shutil.copy(tmp_path / "v" / "Left" / "a.avi", tmp_path / "v" / "Left" / "b.avi")
    added = source_fingerprint(folder, "", 0)
    assert added not in (first, replaced)
    os.utime(tmp_path / "v" / "Left" / "b.avi", ns=(1, 1))  # same bytes, touched
    assert source_fingerprint(folder, "", 0) != added


def test_latest_span_fingerprints_the_span_it_resolves_to(tmp_path):
    """Caching stays on with span 'latest' (PipelineConfig.cache_enabled): a new span
    must change the fingerprint, an unchanged newest span keep it."""
    _folder(tmp_path / "span-1")
    pattern = str(tmp_path / "span-{SPAN}")
    first = source_fingerprint(pattern, "", -1)
    assert first == source_fingerprint(pattern, "", -1) == source_fingerprint(pattern, "", 1)
    _folder(tmp_path / "span-2")  # the same files in a new span
    assert source_fingerprint(pattern, "", -1) == source_fingerprint(pattern, "", 2) != first


def test_zip_lists_and_url_fingerprints(tiny_demo, tmp_path):
    videos = str(tmp_path / "videos.zip")
    shutil.copy(tiny_demo.videos_zip, videos)
    with_lists = source_fingerprint(videos, tiny_demo.lists_zip, 0)
    assert with_lists != source_fingerprint(videos, "", 0)
    os.utime(videos, ns=(10**9, 10**9))
    assert source_fingerprint(videos, tiny_demo.lists_zip, 0) != with_lists
    with serve_folder(tmp_path) as server:
        url = server.url_for("videos.zip")
        remote = source_fingerprint(url, "", 0)
        assert source_fingerprint(url, "", 0) == remote
        with open(videos, "ab") as f:
            f.write(b"more")  # another size
        assert source_fingerprint(url, "", 0) != remote
    # A source that cannot be listed never reuses a stale ingest.
    down = closed_port_url()
    assert source_fingerprint(down, "", 0) != source_fingerprint(down, "", 0)


def test_local_runner_keys_the_ingest_on_the_data(tiny_demo, tmp_path, monkeypatch):
    folder = _folder(tmp_path / "videos")
    data = tiny_config_dict(tiny_demo, str(tmp_path), "fingerprint")
    data["ingest"] = {"source": folder}
    config = PipelineConfig.from_dict(data)
    compiled = []

    class Runner:
        def run_with_ir(self, ir):
            compiled.append(ir)

    monkeypatch.setattr(local_runner, "LocalDagRunner", Runner)
    monkeypatch.setattr(local_runner, "summarize_latest_run", lambda *a: None)

    def ingest_fingerprint() -> str:
        local_runner.run_local(config)
        (node,) = [n for n in compiled[-1].nodes if n.pipeline_node.node_info.id == "VideoIngest"]
        params = node.pipeline_node.parameters.parameters
        return params["source_fingerprint"].field_value.string_value

    first = ingest_fingerprint()
    assert first == source_fingerprint(folder, "", 0)
    assert ingest_fingerprint() == first  # unchanged data: the same cache key
    write_video(tmp_path / "videos" / "Right" / "new.avi", 5, 25.0, 32, 32)
    assert ingest_fingerprint() != first  # a clip added: a new key


def test_history_shows_the_fingerprint_and_data_warnings():
    from pipeline.history import RunRecord, format_history

    record = RunRecord(
        run_id="r1",
        pipeline="p",
        started_ms=0,
        span=0,
        source="videos/",
        fingerprint="sha256:0123456789abcdef",
        data_warnings={"duplicate_groups": 1, "video_warnings": 2},
        examples="",
        model="",
        baseline="",
        blessed=False,
        reasons=[],
        headline={},
        report="",
        pushed_to="",
        already_served="",
        executions={},
    )
    text = format_history([record])
    assert "data fingerprint: sha256:0123456789abcdef" in text
    assert "1 group(s) of identical videos" in text and "2 video(s) with a header" in text
