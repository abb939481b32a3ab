"""Kubeflow Pipelines operations over the real `kfp.Client`: connect, upload, run.

Every call goes through `kfp.Client` (kfp 2.5.0, KFP's v2beta1 REST API) and
every failure becomes a `KubeflowError` that names the host and the operation
and says what to do: an unreachable host, refused credentials (HTTP 401/403),
a missing pipeline. Credentials are never logged or put in a message: any
secret the client holds is masked out of every error text.

kfp.Client prints links ("Run details: ...") to stdout; here they are logged
instead, so only the CLI writes to the console. Recurring runs (schedules) are
in `kubeflow_runner/schedule.py`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import kfp
import kfp_server_api
import yaml
from absl import logging

from kubeflow_runner.errors import AUTH_HINT, KubeflowError, kfp_call
from kubeflow_runner.spec import load_pipeline_spec, pipeline_name


@dataclasses.dataclass(frozen=True)
class Session:
    """A connected client. `secrets` are masked out of every message."""

    client: kfp.Client = dataclasses.field(repr=False)
    host: str
    namespace: str | None
    secrets: tuple[str, ...] = dataclasses.field(default=(), repr=False)

    def ui_link(self, fragment: str) -> str:
        """A link into the KFP UI, e.g. ui_link('runs/details/<id>')."""
        return f"{self.client._get_url_prefix()}/#/{fragment}"


@dataclasses.dataclass(frozen=True)
class Upload:
    """What upload_pipeline_or_version did: `new_pipeline` False means a new version."""

    pipeline_id: str
    version_id: str
    pipeline_name: str
    version_name: str
    new_pipeline: bool


@dataclasses.dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    link: str


class _SingleProbeClient(kfp.Client):
    """kfp.Client whose health check tries once, and not while it is being built.

    The stock check retries 5 times, 5 s apart, even on a 401 (a wrong token would
    take 25 s to report), and runs inside the constructor, before connect() can
    tell a missing kube config apart. connect() checks health itself, once.
    """

    def __init__(self, **kwargs):
        self._constructing = True
        super().__init__(**kwargs)
        self._constructing = False

    def get_kfp_healthz(self, sleep_duration: int = 5):
        if self._constructing:
            return kfp_server_api.V2beta1GetHealthzResponse(multi_user=False)
        return self._healthz_api.get_healthz()


def connect(
    host: str | None,
    namespace: str | None = None,
    token: str | None = None,
    sa_token_path: str | None = None,
    kube_context: str | None = None,
) -> Session:
    """Connects to the KFP API and checks it answers (GET healthz).

    Credentials, the way kfp users pass them: `token` (a bearer token, e.g. from
    `gcloud auth print-access-token` or a Dex session); `sa_token_path` (a
    projected service-account token file, read on every request); or neither,
    when the endpoint needs none (a port-forward). Without `host`, kfp finds the
    API itself: $KF_PIPELINES_ENDPOINT, in-cluster DNS, or the current kube config
    (`kube_context`) through the Kubernetes API server proxy, with its credentials.

    Raises:
      KubeflowError: bad URL, unreachable host, refused credentials, missing token file.
    """
    if host:
        parts = urllib.parse.urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise KubeflowError(
                f"--host {host!r} is not an http(s) URL: pass e.g. http://localhost:8080 "
                "(kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80)"
            )
    secrets = tuple(s for s in (token,) if s)
    credentials = None
    if sa_token_path and not token:
        if not os.path.isfile(sa_token_path):
            raise KubeflowError(
                f"service-account token file {sa_token_path!r} does not exist: mount the "
                "projected token there or pass --token"
            )
        with open(sa_token_path, encoding="utf-8") as f:
            secrets += (f.read().strip(),)
        credentials = kfp.client.ServiceAccountTokenVolumeCredentials(path=sa_token_path)
    where = host or "the endpoint from the kube config"
    with kfp_call(where, "set up the client", secrets) as captured:
        client = _SingleProbeClient(
            host=host,
            # kfp's `namespace` also names where KFP is deployed (its kube-proxy path);
            # the user's profile namespace is passed to each call instead.
            namespace="kubeflow",
            existing_token=token or None,
            credentials=credentials,
            kube_context=kube_context,
        )
    if not host and "Failed to load kube config" in captured.getvalue():
        raise KubeflowError(
            "no --host given and no kube config could be loaded: pass --host URL "
            "(or set $KF_PIPELINES_ENDPOINT), or configure kubectl"
        )
    config = client._existing_config
    secrets += tuple(str(v) for v in config.api_key.values() if v and v != "placeholder")
    session = Session(client, config.host, namespace, secrets)
    with kfp_call(session.host, "check the KFP API (GET healthz)", secrets):
        # Raw, because the generated client turns a non-JSON answer (an auth proxy's
        # login page, answered 200) into an empty health response without a word.
        raw = client._healthz_api.get_healthz(_preload_content=False)
    try:
        health = json.loads(raw.data)
    except ValueError:
        health = None
    if not isinstance(health, dict):
        raise KubeflowError(
            f"{session.host} did not answer as the KFP API (healthz is not JSON: a login "
            f"page?): pass the KFP API's URL; {AUTH_HINT}"
        )
    if health.get("multi_user") and not namespace:
        raise KubeflowError(
            f"Kubeflow Pipelines at {session.host} is multi-user: pass --namespace "
            "(your profile's namespace)"
        )
    logging.info(
        "connected to Kubeflow Pipelines at %s (multi-user: %s)",
        session.host,
        bool(health.get("multi_user")),
    )
    return session


def upload_pipeline_or_version(
    session: Session,
    package_path: str,
    name: str | None = None,
    version: str | None = None,
    description: str | None = None,
) -> Upload:
    """Uploads the compiled package as pipeline `name` or, if it exists, as a new version.

    `name` defaults to the spec's pipelineInfo.name; `version` to
    `<name>-<UTC time>-<spec hash>`. The spec is checked locally first and always
    sent as YAML (the server accepts .yaml, not TFX's PipelineJob .json).
    """
    spec = load_pipeline_spec(package_path)
    name = name or pipeline_name(spec)
    client = session.client
    with _yaml_package(package_path, spec) as upload_path:
        pipeline_id = find_pipeline(session, name)
        if pipeline_id is None:
            with kfp_call(session.host, f"upload pipeline {name!r}", session.secrets):
                pipeline = client.upload_pipeline(
                    upload_path,
                    pipeline_name=name,
                    description=description,
                    namespace=session.namespace,
                )
                versions = client.list_pipeline_versions(
                    pipeline.pipeline_id, page_size=1, sort_by="created_at desc"
                )
            if not versions.pipeline_versions:
                raise KubeflowError(
                    f"{session.host} created pipeline {name!r} ({pipeline.pipeline_id}) but "
                    "lists no version of it: check the pipeline in the KFP UI"
                )
            latest = versions.pipeline_versions[0]
            logging.info("uploaded new pipeline %r (%s)", name, pipeline.pipeline_id)
            return Upload(
                pipeline.pipeline_id, latest.pipeline_version_id, name, latest.display_name, True
            )
        version = version or _default_version_name(name, package_path)
        action = f"upload version {version!r} of pipeline {name!r}"
        with kfp_call(session.host, action, session.secrets):
            uploaded = client.upload_pipeline_version(
                upload_path, version, pipeline_id=pipeline_id, description=description
            )
    logging.info("uploaded version %r of pipeline %r", version, name)
    return Upload(pipeline_id, uploaded.pipeline_version_id, name, version, False)


def find_pipeline(session: Session, name: str) -> str | None:
    """The id of the pipeline called `name` (in the session's namespace), or None."""
    query = json.dumps(
        {"predicates": [{"operation": 1, "key": "display_name", "stringValue": name}]}
    )
    with kfp_call(session.host, f"look up pipeline {name!r}", session.secrets):
        found = session.client.list_pipelines(filter=query, namespace=session.namespace)
    pipelines = [p for p in (found.pipelines or []) if p.display_name == name]
    if len(pipelines) > 1:
        ids = ", ".join(p.pipeline_id for p in pipelines)
        raise KubeflowError(f"several pipelines are named {name!r} ({ids}): pass another name")
    return pipelines[0].pipeline_id if pipelines else None


def ensure_experiment(session: Session, experiment: str) -> str:
    """The id of the experiment called `experiment`, created if missing."""
    with kfp_call(session.host, f"get or create experiment {experiment!r}", session.secrets):
        return session.client.create_experiment(
            experiment, namespace=session.namespace
        ).experiment_id


def start_run(
    session: Session,
    experiment: str,
    upload: Upload,
    params: dict[str, Any] | None = None,
    run_name: str | None = None,
    pipeline_root: str | None = None,
    enable_caching: bool | None = None,
    service_account: str | None = None,
) -> RunInfo:
    """Starts a run of an uploaded pipeline version in `experiment` (created if missing)."""
    experiment_id = ensure_experiment(session, experiment)
    run_name = run_name or f"{upload.pipeline_name} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    with kfp_call(session.host, f"start run {run_name!r}", session.secrets):
        run = session.client.run_pipeline(
            experiment_id,
            run_name,
            params=params or {},
            pipeline_id=upload.pipeline_id,
            version_id=upload.version_id,
            pipeline_root=pipeline_root,
            enable_caching=enable_caching,
            service_account=service_account,
        )
    logging.info("started run %r (%s)", run_name, run.run_id)
    return RunInfo(run.run_id, experiment_id, session.ui_link(f"runs/details/{run.run_id}"))


def _default_version_name(name: str, package_path: str) -> str:
    with open(package_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:8]
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{digest}"


@contextlib.contextmanager
def _yaml_package(package_path: str, spec: dict[str, Any]) -> Iterator[str]:
    """The package itself when it is a YAML spec, else the spec written as a YAML file."""
    with open(package_path, encoding="utf-8") as f:
        first = next(yaml.safe_load_all(f), None)  # a YAML spec may carry a platform doc
    wrapped = isinstance(first, dict) and "pipelineSpec" in first
    if package_path.endswith((".yaml", ".yml")) and not wrapped:
        yield package_path
        return
    with tempfile.TemporaryDirectory(prefix="kfp-package-") as tmp:
        path = os.path.join(tmp, "pipeline.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(spec, f, sort_keys=True)
        yield path
