"""The data gate as a compiled Kubeflow step (tests/kfp_launcher.py): it refuses a span in
the cluster as it does locally, failing its step, so the Trainer never starts.

The config expects a class the span does not hold (`data.expected_classes`), so the
first run is refused without a previous span; only the steps up to the gate run.
"""

import json
import os

import pytest

from kubeflow import cli
from kubeflow.spec import load_pipeline_spec
from tests.kfp_launcher import StepFailed, run_step, task_order
from tests.span_runs import add_span
from tests.tiny_pipeline import tiny_config_dict

pytestmark = pytest.mark.slow
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_gate_step_refuses_before_the_trainer(tiny_demo, tmp_path):
    spans_dir = str(tmp_path / "spans")
    add_span(spans_dir, "span-1", tiny_demo.videos_zip)
    data = tiny_config_dict(tiny_demo, str(tmp_path), "tiny-kfp-gate")
    data["span"] = "latest"
    data["ingest"]["source"] = os.path.join(spans_dir, "span-{SPAN}", "UCF101_videos.zip")
    data["kubeflow"] = {"image": "registry.example.com/video-action:test"}
    data["data"] = {"expected_classes": ["SlideLeft", "SlideRight", "SlideUp", "Orbit"]}
    config_path = tmp_path / "kubeflow.yaml"
    config_path.write_text(json.dumps(data))
    package = str(tmp_path / "pipeline.yaml")
    assert cli.main(["compile", "--config", str(config_path), "--output", package]) == 0
    spec = load_pipeline_spec(package)
    order = task_order(spec)
    assert order.index("DataGate") < order.index("Trainer")
    env = dict(os.environ, PYTHONPATH=REPO, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    run_root = f"{spec['defaultPipelineRoot'].rstrip('/')}/run-1"
    values = {
        k: v["defaultValue"]
        for k, v in spec["root"].get("inputDefinitions", {}).get("parameters", {}).items()
        if "defaultValue" in v
    }
    steps = {}
    for name in ("SourceFingerprint", "VideoIngest", "StatisticsGen"):
        steps[name] = run_step(spec, name, run_root, values, steps, env, timeout=900)
    with pytest.raises(StepFailed) as failed:
        run_step(spec, "DataGate", run_root, values, steps, env, timeout=900)
    log = str(failed.value)
    assert "the data gate refused span 1 before training" in log
    assert "classes: missing from the train split: Orbit" in log
    assert "--set data.classes=warn" in log
    reference = os.path.join(spec["defaultPipelineRoot"], "data_gate_reference", "tiny-kfp-gate")
    assert not os.path.exists(reference)  # a refused span never becomes the reference
