"""A fingerprint of the data an ingest would read, for the ingest's cache key.

TFX keys a component's cache on its inputs and exec properties; VideoIngest has no
input artifact, so without this a rerun over replaced videos at the same path is
served the old Examples, and every component downstream with them. The fingerprint
is computed where the pipeline is built (an exec property), from what a listing says
without reading the videos: names, sizes and modification times for a folder or a
local zip; ETag, Last-Modified and size for http(s) and gs:// objects. Unchanged
data keeps the fingerprint (everything is reused); any change re-ingests.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from absl import logging

from components.ingest import spans


def source_fingerprint(source: str, split_lists: str, span: int, timeout_s: float = 30.0) -> str:
    """'sha256:<hex16>' of what the listing of the source (span resolved) and of the
    split lists says. A listing that fails gives a fingerprint of the current time
    (never a stale reuse), with a warning.
    """
    try:
        resolved = spans.resolve_span(source, span).source
        parts = {"source": _describe(resolved, timeout_s), "split_lists": ""}
        if split_lists:
            parts["split_lists"] = _describe(split_lists, timeout_s)
    except Exception as e:  # noqa: BLE001 - any failure must mean "re-ingest", not a crash
        logging.warning("cannot fingerprint %s (%s): the ingest will run again", source, e)
        parts = {"unavailable": time.time_ns()}
    text = json.dumps(parts, sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _describe(path: str, timeout_s: float) -> object:
    if path.startswith(("http://", "https://")):
        return _http_head(path, timeout_s)
    if path.startswith("gs://"):
        import tensorflow as tf

        stat = tf.io.gfile.stat(path)
        return {"path": path, "size": stat.length, "mtime_ns": stat.mtime_nsec}
    if os.path.isdir(path):
        listing = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                st = os.stat(full)
                listing.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
        return {"path": os.path.abspath(path), "files": listing}
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _http_head(url: str, timeout_s: float) -> dict:
    from components import fetch

    with fetch.session() as s:
        response = s.head(url, allow_redirects=True, timeout=timeout_s)
        response.raise_for_status()
    headers = response.headers
    return {
        "url": url,
        **{k: headers.get(k, "") for k in ("ETag", "Last-Modified", "Content-Length")},
    }
