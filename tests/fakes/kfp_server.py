"""A fake Kubeflow Pipelines API server for tests: the few v2beta1 endpoints kfp.Client uses.

It runs on 127.0.0.1 (a free port) in a background thread and keeps pipelines,
versions, experiments, runs and recurring runs in memory, answering with the
JSON the real server sends, so the real `kfp.Client` (kfp 2.5.0) talks to it
unchanged. Every request is recorded (method, path, query, JSON body, uploaded
files, Authorization header) for tests to assert what a client sent.

    with serve_kfp() as kfp_server:
        kfp_server.require_token("s3cret")     # 401 without "Bearer s3cret"
        ... kfp.Client(host=kfp_server.url, existing_token="s3cret") ...
        upload = kfp_server.requests_to("POST", "/apis/v2beta1/pipelines/upload")[0]

Endpoints (under /apis/v2beta1): GET healthz; POST pipelines/upload and
pipelines/upload_version (multipart `uploadfile`); GET pipelines (display_name
filter); GET pipelines/{id}/versions; GET/POST experiments; POST runs; GET/POST
recurringruns; POST recurringruns/{id}:enable and :disable; DELETE
recurringruns/{id}. Paths under the Kubernetes API server's proxy to the
ml-pipeline service are served too (the kube-config way of connecting).
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.parser
import email.policy
import http.server
import itertools
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import yaml

_API = "/apis/v2beta1"
# kfp.Client reaches KFP through the Kubernetes API server's service proxy when it
# takes the endpoint from a kube config; the server then sees the API path after it.
_KUBE_PROXY = re.compile(r"^/api/v1/namespaces/[^/]+/services/ml-pipeline:http/proxy/*")


@dataclasses.dataclass(frozen=True)
class KfpRequest:
    """One request as received. `query` maps each name to its last value."""

    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, or None
    files: dict[str, bytes]  # multipart file fields
    filenames: dict[str, str]  # their file names
    authorization: str | None
    status: int


class FakeKfpServer:
    """In-memory KFP state, the request log and injected faults. Thread-safe."""

    def __init__(self, multi_user: bool = False):
        self.multi_user = multi_user
        self.lock = threading.Lock()
        self.log: list[KfpRequest] = []
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, list[dict]] = {}
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
        self._token: str | None = None
        self._login_page = False
        self._fail: dict[str, tuple[int, bool]] = {}
        self._ids = itertools.count(1)
        self._httpd: http.server.ThreadingHTTPServer | None = None

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> FakeKfpServer:
        handler = type("_BoundKfpHandler", (_Handler,), {"state": self})
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # --- faults and inspection ----------------------------------------------------------

    def require_token(self, token: str | None) -> None:
        """Answer 401 to requests without `Authorization: Bearer <token>`; None: no auth."""
        with self.lock:
            self._token = token

    def fail_path(self, path_regex: str, status: int, echo_authorization: bool = False) -> None:
        """Answer `status` to every request whose path matches (re.search) the regex;
        echo_authorization puts the request's Authorization header in the error body,
        as a careless proxy might."""
        with self.lock:
            self._fail[path_regex] = (status, echo_authorization)

    def answer_login_page(self, on: bool = True) -> None:
        """Answer every request 200 with an HTML login page, as an auth proxy (Dex,
        IAP) does once it has followed its own redirect."""
        with self.lock:
            self._login_page = on

    def requests_to(self, method: str, path: str) -> list[KfpRequest]:
        """The requests received for one method and exact path (without the query)."""
        with self.lock:
            return [r for r in self.log if r.method == method and r.path == path]

    def add_pipeline(self, name: str, namespace: str = "") -> dict:
        """A pipeline (with one version) as if uploaded earlier."""
        with self.lock:
            return self._new_pipeline(name, "", namespace, {"pipelineInfo": {"name": name}})

    # --- the API (called with the lock held) ------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):04d}"

    def _now(self) -> str:
        return f"2026-01-01T00:00:{next(self._ids) % 60:02d}Z"

    def _new_pipeline(self, name: str, description: str, namespace: str, spec: Any) -> dict:
        if any(p["display_name"] == name for p in self.pipelines.values()):
            raise _Status(409, f"pipeline with name {name!r} already exists")
        pipeline = {
            "pipeline_id": self._id("pipeline"),
            "display_name": name,
            "description": description,
            "namespace": namespace,
            "created_at": self._now(),
        }
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        self.versions[pipeline["pipeline_id"]] = []
        self._new_version(pipeline["pipeline_id"], name, spec)
        return pipeline

    def _new_version(self, pipeline_id: str, name: str, spec: Any) -> dict:
        if pipeline_id not in self.pipelines:
            raise _Status(404, f"pipeline {pipeline_id!r} not found")
        if any(v["display_name"] == name for v in self.versions[pipeline_id]):
            raise _Status(409, f"version {name!r} of pipeline {pipeline_id!r} already exists")
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": self._id("version"),
            "display_name": name,
            "created_at": self._now(),
            "pipeline_spec": spec,
        }
        self.versions[pipeline_id].append(version)
        return version

    def _route(self, method: str, path: str, query: dict[str, str], body: Any, files: tuple):
        """(status, JSON answer) of one request."""
        if method == "GET" and path == f"{_API}/healthz":
            return {"multi_user": self.multi_user}
        if method == "POST" and path == f"{_API}/pipelines/upload":
            spec = _parse_spec(files)
            return self._new_pipeline(
                query.get("name") or spec["pipelineInfo"]["name"],
                query.get("description", ""),
                query.get("namespace", ""),
                spec,
            )
        if method == "POST" and path == f"{_API}/pipelines/upload_version":
            return self._new_version(query.get("pipelineid", ""), query["name"], _parse_spec(files))
        if method == "GET" and path == f"{_API}/pipelines":
            found = _filtered(self.pipelines.values(), query)
            return {"pipelines": found, "total_size": len(found)} if found else {}
        match = re.fullmatch(f"{_API}/pipelines/([^/]+)/versions", path)
        if method == "GET" and match:
            if match.group(1) not in self.versions:
                raise _Status(404, f"pipeline {match.group(1)!r} not found")
            found = list(self.versions[match.group(1)])
            if query.get("sort_by", "").endswith("desc"):
                found.reverse()
            found = found[: int(query.get("page_size") or len(found) or 1)]
            return {"pipeline_versions": found, "total_size": len(found)}
        if path == f"{_API}/experiments":
            if method == "POST":
                experiment = {**body, "experiment_id": self._id("experiment")}
                experiment.setdefault("namespace", "")
                self.experiments[experiment["experiment_id"]] = experiment
                return experiment
            found = _filtered(self.experiments.values(), query)
            return {"experiments": found, "total_size": len(found)} if found else {}
        if method == "POST" and path == f"{_API}/runs":
            run = {**body, "run_id": self._id("run"), "state": "PENDING"}
            self.runs[run["run_id"]] = run
            return run
        return self._route_recurring(method, path, query, body)

    def _route_recurring(self, method: str, path: str, query: dict[str, str], body: Any):
        if path == f"{_API}/recurringruns":
            if method == "POST":
                run = {**body, "recurring_run_id": self._id("recurring"), "status": "ENABLED"}
                if run.get("mode") == "DISABLE":
                    run["status"] = "DISABLED"
                self.recurring_runs[run["recurring_run_id"]] = run
                return run
            found = _filtered(self.recurring_runs.values(), query)
            if query.get("experiment_id"):
                found = [r for r in found if r.get("experiment_id") == query["experiment_id"]]
            return {"recurringRuns": found, "total_size": len(found)} if found else {}
        match = re.fullmatch(f"{_API}/recurringruns/([^/:]+)(:enable|:disable)?", path)
        if match and match.group(1) in self.recurring_runs:
            run = self.recurring_runs[match.group(1)]
            if method == "POST" and match.group(2):
                enable = match.group(2) == ":enable"
                run["mode"], run["status"] = (
                    ("ENABLE", "ENABLED") if enable else ("DISABLE", "DISABLED")
                )
                return {}
            if method == "DELETE" and not match.group(2):
                del self.recurring_runs[match.group(1)]
                return {}
            if method == "GET" and not match.group(2):
                return run
        if match:
            raise _Status(404, f"recurring run {match.group(1)!r} not found")
        raise _Status(404, f"no route for {method} {path}")


class _Status(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _parse_spec(upload: tuple[dict[str, bytes], dict[str, str]]) -> Any:
    """The uploaded spec, refused like the real server refuses it (by file name first)."""
    files, filenames = upload
    if "uploadfile" not in files:
        raise _Status(400, "missing uploadfile")
    if not filenames["uploadfile"].endswith((".yaml", ".yml", ".zip", ".tar.gz", ".tgz")):
        raise _Status(400, "Unexpected pipeline file format. Support .zip, .tar.gz or YAML.")
    try:
        return yaml.safe_load(files["uploadfile"])
    except yaml.YAMLError as e:
        raise _Status(400, f"invalid pipeline spec: {e}") from e


def _filtered(items, query: dict[str, str]) -> list[dict]:
    """Items matching the namespace and an EQUALS display_name filter, like the server."""
    found = list(items)
    if query.get("namespace"):
        found = [i for i in found if i.get("namespace", "") == query["namespace"]]
    if query.get("filter"):
        for predicate in json.loads(query["filter"]).get("predicates", []):
            assert predicate["operation"] in (1, "EQUALS"), predicate
            found = [i for i in found if i.get(predicate["key"]) == predicate["stringValue"]]
    return found


def _multipart_files(content_type: str, data: bytes) -> tuple[dict[str, bytes], dict[str, str]]:
    """({field: content}, {field: file name}) of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + data
    )
    files, filenames = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        files[name] = part.get_payload(decode=True)
        filenames[name] = part.get_filename() or ""
    return files, filenames


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    state: FakeKfpServer

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def do_GET(self):
        self._answer()

    def do_POST(self):
        self._answer()

    def do_DELETE(self):
        self._answer()

    def _answer(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        url = url._replace(path="/" + _KUBE_PROXY.sub("", url.path).lstrip("/"))
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = self.headers.get("Content-Type", "")
        body, files, filenames = None, {}, {}
        if content_type.startswith("multipart/form-data"):
            files, filenames = _multipart_files(content_type, data)
        elif data:
            body = json.loads(data)
        auth = self.headers.get("Authorization")
        state = self.state
        with state.lock:
            status, answer = 200, None
            try:
                if state._token is not None and auth != f"Bearer {state._token}":
                    raise _Status(401, "Unauthorized: a valid bearer token is required")
                for regex, (fail, echo) in state._fail.items():
                    if re.search(regex, url.path):
                        raise _Status(
                            fail, f"injected HTTP {fail}" + (f" for {auth}" if echo else "")
                        )
                answer = state._route(self.command, url.path, query, body, (files, filenames))
            except _Status as e:
                status, answer = e.status, {"error": str(e), "message": str(e), "code": 16}
            state.log.append(
                KfpRequest(self.command, url.path, query, body, files, filenames, auth, status)
            )
        payload, content_type = json.dumps(answer).encode(), "application/json"
        if state._login_page:
            payload, content_type = b"<html><body>Log in</body></html>", "text/html"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextlib.contextmanager
def serve_kfp(multi_user: bool = False) -> Iterator[FakeKfpServer]:
    """A fake KFP API server on 127.0.0.1 for the duration of the block."""
    server = FakeKfpServer(multi_user=multi_user).start()
    try:
        yield server
    finally:
        server.stop()


def isolate_kfp_client(monkeypatch, tmp_path) -> None:
    """Keeps kfp.Client off the user's kfp context, kube config and KFP environment variables.

    A test that wants a kube config calls use_kube_config(monkeypatch, path) after this.
    """
    import kfp.client.client

    monkeypatch.setattr(
        kfp.client.client.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json")
    )
    for name in (
        "KF_PIPELINES_ENDPOINT",
        "KF_PIPELINES_UI_ENDPOINT",
        "KFP_TOKEN",
        "KF_PIPELINES_SA_TOKEN_PATH",
        "KF_PIPELINES_IAP_OAUTH2_CLIENT_ID",
        "KF_PIPELINES_APP_OAUTH2_CLIENT_ID",
        "KF_PIPELINES_APP_OAUTH2_CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    use_kube_config(monkeypatch, str(tmp_path / "no-kube-config"))


def use_kube_config(monkeypatch, path: str) -> None:
    """Points the kubernetes client at this kube config file."""
    import kubernetes.config.kube_config

    monkeypatch.setenv("KUBECONFIG", path)
    # Read from $KUBECONFIG once, when kubernetes is first imported.
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", path)
