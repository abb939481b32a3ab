"""The data gate as a compiled Kubeflow step (tests/fakes/kfp_launcher.py): it refuses a span in
the cluster as it does locally, failing its step, so the Trainer never starts. Only the
steps up to the gate run.

- A missing class: the config expects a class the span does not hold
  (`data.expected_classes`), so the first run is refused without a previous span.
- Label drift against the span the gate accepted before, unreadable videos and short
  clips, refused together; and passed with warnings once the config says `warn`.
"""

import json
import os
import types

import pytest

from kubeflow_runner import cli
from kubeflow_runner.spec import load_pipeline_spec
from tests import REPO
from tests.builders import gate_spans
from tests.builders.span_runs import add_span
from tests.builders.tiny_pipeline import tiny_config_dict
from tests.fakes.kfp_launcher import StepFailed, run_step, task_order

pytestmark = pytest.mark.slow


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


def _compiled(tmp_path, data: dict, name: str) -> dict:
    config_path = tmp_path / f"{name}.yaml"
    config_path.write_text(json.dumps(data))
    package = str(tmp_path / f"{name}-pipeline.yaml")
    assert cli.main(["compile", "--config", str(config_path), "--output", package]) == 0
    return load_pipeline_spec(package)


def _before_the_gate(spec: dict, run: str, env: dict) -> tuple[str, dict, dict]:
    """(run root, parameter values, steps) after the steps that feed the DataGate."""
    run_root = f"{spec['defaultPipelineRoot'].rstrip('/')}/{run}"
    values = {
        k: v["defaultValue"]
        for k, v in spec["root"].get("inputDefinitions", {}).get("parameters", {}).items()
        if "defaultValue" in v
    }
    steps = {}
    for name in ("SourceFingerprint", "VideoIngest", "StatisticsGen"):
        steps[name] = run_step(spec, name, run_root, values, steps, env, timeout=900)
    return run_root, values, steps


def test_the_gate_step_refuses_drift_unreadable_and_short_clips_unless_told_to_warn(tmp_path):
    """Span 1 (normal) is accepted in the cluster and becomes the reference; span 2 is
    skewed against it, a sixth of its videos are not videos (the ingest lets them by
    under a raised ingest.max_bad_fraction) and its clips last 0.2 s: the gate step
    fails naming all three. Compiled again with those checks set to warn (what
    `--set data.<check>=warn` writes), the gate step on the same upstream outputs passes
    with warnings, each finding still named."""
    pool, short = gate_spans.write_pools(str(tmp_path / "data"))
    spans_dir = str(tmp_path / "spans")
    no_demo = types.SimpleNamespace(videos_zip="", lists_zip="")
    data = tiny_config_dict(no_demo, str(tmp_path), "tiny-kfp-gate-kinds")
    data["span"] = "latest"
    data["ingest"].update(
        source=os.path.join(spans_dir, "span-{SPAN}", gate_spans.VIDEOS),
        split_lists="",
        selection={"split": 0},
        max_bad_fraction=0.6,
    )
    data["kubeflow"] = {"image": "registry.example.com/video-action:test"}
    data["data"] = {"max_label_drift": 0.1}
    spec = _compiled(tmp_path, data, "strict")
    env = dict(os.environ, PYTHONPATH=REPO, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")

    gate_spans.write_span(pool, spans_dir, "span-1", gate_spans.normal(1))
    run_root, values, steps = _before_the_gate(spec, "run-1", env)
    gate = run_step(spec, "DataGate", run_root, values, steps, env, timeout=900)
    assert gate.outputs["anomalies"]["metadata"]["data_gate"] == "passed"

    span_2 = gate_spans.write_span(short, spans_dir, "span-2", gate_spans.short_skewed)
    unreadable = gate_spans.add_unreadable(span_2, per_class=1)
    run_root, values, steps = _before_the_gate(spec, "run-2", env)
    with pytest.raises(StepFailed) as failed:
        run_step(spec, "DataGate", run_root, values, steps, env, timeout=900)
    log = str(failed.value)
    assert "the data gate refused span 2 before training" in log
    drift = (
        "label_drift: L-infinity distance 0.167 between the label distributions of span 2 "
        "and span 1 (last accepted) > max_label_drift 0.1"
    )
    selected = 16 + unreadable  # SHORT: the first class 4 groups x 2 clips, the others x 1
    bad = (
        f"bad_videos: {unreadable} of {selected} videos unusable "
        f"({unreadable / selected:.1%} > max_bad_fraction 5.0%)"
    )
    short_clips = "clip_length: shortest clip 0.20 s < min_clip_seconds 0.5 s"
    for finding in (drift, bad, short_clips):
        assert finding in log
    for check in ("label_drift", "bad_videos", "clip_length"):
        assert f"--set data.{check}=warn" in log

    warned = {**data["data"], "label_drift": "warn", "bad_videos": "warn", "clip_length": "warn"}
    warn_spec = _compiled(tmp_path, {**data, "data": warned}, "warn")
    gate = run_step(warn_spec, "DataGate", run_root, values, steps, env, timeout=900)
    anomalies = gate.outputs["anomalies"]["metadata"]
    assert anomalies["data_gate"] == "passed with warnings"
    findings = " ".join(json.loads(anomalies["data_gate_findings"]))
    for finding in (drift, bad, short_clips):
        assert finding in findings
