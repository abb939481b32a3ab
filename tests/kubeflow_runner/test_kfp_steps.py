"""Every step of the compiled Kubeflow pipeline runs as compiled (tests/fakes/kfp_launcher.py).

`python -m kubeflow_runner compile` writes the spec of a tiny pipeline whose source
has a `{SPAN}` placeholder; each task's container command then runs with the
ExecutorInput KFP's launcher would give it, under a local pipeline root, with
KFP's cache emulated (tests/fakes/kfp_launcher.py `cache_key`), three times under the
same parameters (span 'latest', the default), as a recurring run would:
run 1 on span 1, with nothing served yet; run 1b on the same data, where the
ingest and all it alone feeds come from the cache; run 2 after span 2 arrived,
where SourceFingerprint's new output re-ingests and re-runs everything
downstream, judged against the model run 1 pushed, which ServedModel hands over.
Every run also evaluates on a fixed reference set (evaluation.reference_source: the
tiny demo's zip, all of it as eval), through the ReferenceFingerprint,
ReferenceIngest and ReferenceEvaluator steps, and pushes only what both Evaluators bless.
"""

import json
import os
import sys

import pytest
from tfx.components.evaluator.constants import (
    ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY as BASELINE_URI,
)

from components.report.executor import REFERENCE_ACCURACY
from kubeflow_runner import cli
from kubeflow_runner.spec import load_pipeline_spec
from tests import REPO
from tests.builders.span_runs import add_span
from tests.builders.tiny_pipeline import tiny_config_dict
from tests.fakes.kfp_launcher import run_pipeline, task_order
from tests.kubeflow_runner.test_compile import COMPONENTS

pytestmark = pytest.mark.slow

REFERENCE_TASKS = {"ReferenceFingerprint", "ReferenceIngest", "ReferenceEvaluator"}
# Every component of the pipeline, as test_compile lists them, and the reference set's.
TASKS = set(COMPONENTS) | REFERENCE_TASKS
# Fed by the ingest alone (and by each other): reused when the data is unchanged.
DATA_KEYED = {"VideoIngest", "StatisticsGen", "DataGate", "Trainer", "ReferenceIngest"}


@pytest.fixture(scope="module")
def kfp_runs(tiny_demo, tmp_path_factory):
    root = tmp_path_factory.mktemp("kfp_steps")
    spans_dir = str(root / "spans")
    add_span(spans_dir, "span-1", tiny_demo.videos_zip)
    data = tiny_config_dict(tiny_demo, str(root), "tiny-kfp")
    data["span"] = "latest"
    data["ingest"]["source"] = os.path.join(spans_dir, "span-{SPAN}", "UCF101_videos.zip")
    data["kubeflow"] = {"image": "registry.example.com/video-action:test"}
    data["evaluation"]["reference_source"] = tiny_demo.videos_zip
    config_path = root / "kubeflow.yaml"
    config_path.write_text(json.dumps(data))
    package = str(root / "pipeline.yaml")
    assert cli.main(["compile", "--config", str(config_path), "--output", package]) == 0
    spec = load_pipeline_spec(package)
    env = dict(
        os.environ,
        PYTHONPATH=REPO,
        TF_USE_LEGACY_KERAS="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
    )
    pipeline_root = spec["defaultPipelineRoot"]
    cache = {}  # KFP's cache, shared by the runs of the pipeline
    first = run_pipeline(spec, pipeline_root, "run-1", env=env, cache=cache)
    again = run_pipeline(spec, pipeline_root, "run-1b", env=env, cache=cache)
    add_span(spans_dir, "span-0002", tiny_demo.videos_zip)
    second = run_pipeline(spec, pipeline_root, "run-2", env=env, cache=cache)
    return data, spec, first, second, again


def test_every_task_is_a_container_step_run_in_dependency_order(kfp_runs):
    _, spec, first, second, _ = kfp_runs
    assert set(spec["root"]["dag"]["tasks"]) == TASKS
    order = task_order(spec)
    assert order.index("SourceFingerprint") < order.index("VideoIngest")
    assert order.index("ServedModel") < order.index("Evaluator") < order.index("Pusher")
    # The data gate judges the span before the Trainer, which takes its schema.
    assert order.index("StatisticsGen") < order.index("DataGate") < order.index("Trainer")
    assert order.index("DataGate") < order.index("ReferenceIngest")
    assert order.index("ReferenceIngest") < order.index("ReferenceEvaluator")
    assert order.index("ReferenceEvaluator") < order.index("Pusher")
    for steps in (first, second):
        assert set(steps) == TASKS
        for step in steps.values():
            assert step.argv[0] == sys.executable and "{{$}}" not in step.argv
            assert "kubeflow_v2_run_executor" in " ".join(step.argv[:3])
            assert "artifacts" in step.executor_output or not step.outputs, step.task
            assert not step.cached, step.task


def test_unchanged_data_reuses_the_ingest_and_what_it_alone_feeds(kfp_runs):
    _, _, first, second, again = kfp_runs
    fingerprint = first["SourceFingerprint"].parameters["fingerprint"]
    assert fingerprint.startswith("sha256:")
    assert again["SourceFingerprint"].parameters["fingerprint"] == fingerprint
    ingest_input = first["VideoIngest"].executor_input["inputs"]["parameterValues"]
    assert ingest_input["source_fingerprint"] == fingerprint
    assert first["VideoIngest"].outputs["examples"]["metadata"]["source_fingerprint"] == (
        fingerprint
    )
    assert {n for n, s in again.items() if s.cached} == DATA_KEYED
    for name in DATA_KEYED:
        assert again[name].outputs == first[name].outputs, name  # the same artifacts
    # ServedModel reads the serving directory: it, and what it feeds, run every time.
    assert not again["SourceFingerprint"].cached and not again["ServedModel"].cached
    assert not again["ReferenceFingerprint"].cached and not again["ReferenceEvaluator"].cached
    assert (
        again["Evaluator"].executor_input["inputs"]["artifacts"]["examples"]
        == (first["Evaluator"].executor_input["inputs"]["artifacts"]["examples"])
    )
    assert not again["Pusher"].outputs["pushed_model"]["metadata"]["pushed"]


def test_changed_data_reingests_and_reruns_downstream(kfp_runs):
    _, _, first, second, _ = kfp_runs
    before = first["VideoIngest"].executor_input["inputs"]["parameterValues"]
    after = second["VideoIngest"].executor_input["inputs"]["parameterValues"]
    # The same run parameters (span 'latest'); only the data's fingerprint differs.
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"source_fingerprint"}
    assert after["source_fingerprint"] == second["SourceFingerprint"].parameters["fingerprint"]
    assert first["VideoIngest"].cache_key != second["VideoIngest"].cache_key
    for name in DATA_KEYED:
        assert not second[name].cached, name
        assert second[name].outputs != first[name].outputs, name


def test_first_run_ingests_span_1_and_pushes_with_nothing_served(kfp_runs):
    data, _, first, _, _ = kfp_runs
    examples = first["VideoIngest"].outputs["examples"]["metadata"]
    assert examples["span"] == 1 and json.loads(examples["split_names"]) == ["train", "eval"]
    assert first["ServedModel"].outputs["model"]["metadata"]["served_version"] == ""
    blessing = first["Evaluator"].outputs["blessing"]["metadata"]
    assert blessing["blessed"] == 1 and BASELINE_URI not in blessing
    pushed = first["Pusher"].outputs["pushed_model"]["metadata"]
    assert pushed["pushed"] == 1
    assert pushed["pushed_destination"].startswith(data["serving_dir"])
    assert os.path.isfile(os.path.join(pushed["pushed_destination"], "saved_model.pb"))
    report = first["ModelReport"].outputs["report"]
    assert os.path.isfile(os.path.join(report["uri"], "report.html"))
    assert json.loads(report["metadata"]["headline"])[REFERENCE_ACCURACY] >= 0.0


def test_the_reference_set_is_ingested_as_eval_and_judged_like_the_span(kfp_runs):
    data, _, first, second, _ = kfp_runs
    reference = first["ReferenceIngest"].outputs["examples"]["metadata"]
    span = first["VideoIngest"].outputs["examples"]["metadata"]
    assert reference["source"] == data["evaluation"]["reference_source"]
    assert reference["label_names"] == span["label_names"]
    assert reference["num_train"] == 0 and reference["num_eval"] == 24  # the whole zip
    fingerprint = first["ReferenceFingerprint"].parameters["fingerprint"]
    assert (
        first["ReferenceIngest"].executor_input["inputs"]["parameterValues"]["source_fingerprint"]
        == fingerprint
    )
    for steps in (first, second):
        evaluated = steps["ReferenceEvaluator"].executor_input["inputs"]["artifacts"]
        assert (
            evaluated["examples"]["artifacts"][0]["uri"]
            == (steps["ReferenceIngest"].outputs["examples"]["uri"])
        )
        assert steps["ReferenceEvaluator"].outputs["blessing"]["metadata"]["blessed"] == 1
        pusher_input = steps["Pusher"].executor_input["inputs"]["artifacts"]
        assert (
            pusher_input["reference_blessing"]["artifacts"][0]["uri"]
            == (steps["ReferenceEvaluator"].outputs["blessing"]["uri"])
        )
    served = second["ServedModel"].outputs["model"]["uri"]
    blessing = second["ReferenceEvaluator"].outputs["blessing"]["metadata"]
    assert blessing.get(BASELINE_URI) == served


def test_second_run_is_judged_against_the_served_model(kfp_runs):
    data, _, first, second, _ = kfp_runs
    assert second["VideoIngest"].executor_input["inputs"]["parameterValues"]["span"] == -1
    assert second["VideoIngest"].outputs["examples"]["metadata"]["span"] == 2
    pushed_first = first["Pusher"].outputs["pushed_model"]["metadata"]["pushed_destination"]
    served = second["ServedModel"].outputs["model"]
    assert served["metadata"]["served_from"] == pushed_first
    assert os.path.isfile(os.path.join(served["uri"], "Format-Serving", "saved_model.pb"))
    evaluator_input = second["Evaluator"].executor_input["inputs"]["artifacts"]
    assert evaluator_input["baseline_model"]["artifacts"][0]["uri"] == served["uri"]
    blessing = second["Evaluator"].outputs["blessing"]["metadata"]
    assert blessing.get(BASELINE_URI) == served["uri"], second["Evaluator"].log[-6000:]
    # Span 2 holds span 1's videos and training is deterministic (trainer/
    # determinism.py): the same model, blessed as not worse than itself, and not
    # pushed again (components/pusher: already served).
    assert blessing["blessed"], second["Evaluator"].log[-6000:]
    pushed = second["Pusher"].outputs["pushed_model"]["metadata"]
    assert not pushed["pushed"]
    assert os.path.normpath(pushed["already_served"]) == os.path.normpath(pushed_first)
    assert len(os.listdir(data["serving_dir"])) == 1
    assert not json.loads(second["ModelReport"].outputs["report"]["metadata"]["reasons"])
