"""KFP's cache on the compiled pipeline, by the rules the open-source backend applies
(kubeflow/pipelines backend/src/v2/cacheutils/cache.go `GenerateCacheKey`, driver.go
`getFingerPrint`), emulated in tests/fakes/kfp_launcher.py `cache_key`; and the
SourceFingerprint step run as compiled, feeding the ingest's cache key: unchanged
data, the same key; a file added, another. The whole pipeline run three times under
the cache is tests/kubeflow_runner/test_kfp_steps.py."""

import copy
import os

import pytest

from components.ingest.fingerprint import source_fingerprint
from kubeflow_runner.compile import compile_config
from kubeflow_runner.spec import load_pipeline_spec
from pipeline.config import load_config
from tests import REPO
from tests.fakes.kfp_launcher import build_executor_input, cache_key, run_step, task_parts


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """A pipeline over a local folder with a `{SPAN}` placeholder, span 'latest'."""
    root = tmp_path_factory.mktemp("kfp_cache")
    spans_dir = root / "spans"
    (spans_dir / "span-1" / "Jump").mkdir(parents=True)
    (spans_dir / "span-1" / "Jump" / "v_Jump_g01_c01.avi").write_bytes(b"not a video")
    config = load_config(
        None,
        [
            "name=cache-test",
            f"pipeline_root={root / 'root'}",
            f"serving_dir={root / 'serving'}",
            "span=latest",
            f"ingest.source={spans_dir}/span-{{SPAN}}",
            "ingest.split_lists=",
            "kubeflow.image=registry.example.com/video-action:test",
        ],
    )
    package = compile_config(config, str(root / "pipeline.yaml"))
    return spans_dir, config, load_pipeline_spec(package)


def ingest_key(spec, steps, run_root):
    values = {"span": spec["root"]["inputDefinitions"]["parameters"]["span"]["defaultValue"]}
    executor_input = build_executor_input(spec, "VideoIngest", run_root, values, steps)
    _, component, container = task_parts(spec, "VideoIngest")
    return executor_input, cache_key(executor_input, component, container)


def test_cache_key_rules(compiled):
    """What cache.go's GenerateCacheKey keeps and drops, on the ingest's real inputs."""
    _, _, spec = compiled
    step = type("Step", (), {"parameters": {"fingerprint": "sha256:aaaa"}})
    executor_input, key = ingest_key(spec, {"SourceFingerprint": step}, "/root/run-1")
    _, component, container = task_parts(spec, "VideoIngest")

    def key_of(change):
        changed = copy.deepcopy(executor_input)
        change(changed)
        return cache_key(changed, component, container)

    # Output artifact URIs differ from run to run: wiped ("outputArtifactWithUriWiped").
    assert key == ingest_key(spec, {"SourceFingerprint": step}, "/root/run-2")[1]
    # The output metadata file's path is not in the key either.
    assert key_of(lambda e: e["outputs"].update(outputFile="/elsewhere")) == key
    # Resolved input parameter values are ("InputParameterValues").
    step.parameters = {"fingerprint": "sha256:bbbb"}
    assert ingest_key(spec, {"SourceFingerprint": step}, "/root/run-1")[1] != key
    assert key_of(lambda e: e["inputs"]["parameterValues"].update(span=2)) != key
    # Input artifacts count by name (their ML Metadata id) only ("InputArtifactNames").
    artifact = {"name": "7", "uri": "gs://a", "metadata": {"span": 1}}
    with_input = key_of(lambda e: e["inputs"]["artifacts"].update(x={"artifacts": [artifact]}))
    moved = dict(artifact, uri="gs://b", metadata={"span": 2})
    assert key_of(lambda e: e["inputs"]["artifacts"].update(x={"artifacts": [moved]})) == (
        with_input
    )
    renamed = dict(artifact, name="8")
    assert key_of(lambda e: e["inputs"]["artifacts"].update(x={"artifacts": [renamed]})) != (
        with_input
    )
    # The container's command and arguments as written, placeholders and all
    # ("ContainerSpec": image and cmdArgs).
    assert "{{$}}" in container["args"]
    other = dict(container, image="registry.example.com/video-action:other")
    assert cache_key(executor_input, component, other) != key


def test_fingerprint_step_feeds_the_ingest_cache_key(compiled, tmp_path, caplog):
    """SourceFingerprint runs as compiled (TFX's entry point, its output parameter in
    the executor output): the same data, the same ingest key; a clip added, a new key."""
    spans_dir, config, spec = compiled
    env = dict(os.environ, PYTHONPATH=REPO, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    values = {"span": -1}

    def run(run_id):
        run_root = str(tmp_path / run_id)
        steps = {}
        steps["SourceFingerprint"] = run_step(
            spec, "SourceFingerprint", run_root, values, steps, env, 300, cache={}
        )
        return steps["SourceFingerprint"], ingest_key(spec, steps, run_root)

    first, (ingest_input, first_key) = run("run-1")
    expected = source_fingerprint(config.ingest.source, config.ingest.split_lists, -1)
    assert "cannot fingerprint" not in first.log and "cannot fingerprint" not in caplog.text
    assert first.parameters == {"fingerprint": expected}
    assert first.executor_output["parameterValues"] == {"fingerprint": expected}
    assert ingest_input["inputs"]["parameterValues"]["source_fingerprint"] == expected
    assert not first.cached and not first.cache_key  # never cached, never looked up
    again, (_, again_key) = run("run-2")
    assert again.parameters == first.parameters and again_key == first_key
    (spans_dir / "span-1" / "Jump" / "v_Jump_g01_c02.avi").write_bytes(b"another")
    changed, (_, changed_key) = run("run-3")
    assert changed.parameters != first.parameters and changed_key != first_key
