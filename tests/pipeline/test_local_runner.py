"""The whole pipeline under LocalDagRunner on tiny demo data.

One sequence, shared by the tests (each step costs minutes on 2 cores):
1. `python -m pipeline run` in a subprocess, killed once the Trainer has started;
2. the same config run again: finished components are reused from the cache, the
   rest runs, a model is blessed, pushed and reported;
3. the same config once more: everything up to the Trainer comes from the cache,
   ServedModel and what reads it run again, and the model, already served, is not
   pushed a second time;
4. a run with a deliberately worse model (near-untrained, against a bar it
   cannot reach): not blessed, not pushed, and the run says why.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from pipeline import local_runner
from pipeline.config import load_config
from pipeline.pipeline import SERVED_MODEL_ID
from tests import REPO
from tests.builders.tiny_pipeline import tiny_config_dict

pytestmark = pytest.mark.slow

UPSTREAM = ["VideoIngest", "StatisticsGen", "DataGate"]


def run_until_trainer_starts(config_path: str, root: str, timeout: float = 600) -> None:
    """Starts `python -m pipeline run` and kills it (SIGKILL) once the Trainer runs."""
    trainer_dir = os.path.join(root, "Trainer")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", "--config", config_path],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while not os.path.isdir(trainer_dir):
            assert process.poll() is None, "the pipeline exited before the Trainer started"
            assert time.monotonic() < deadline, "the Trainer did not start in time"
            time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def runs(tiny_demo, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("pipeline_runs"))
    data = tiny_config_dict(tiny_demo, root, "tiny-pipeline")
    config_path = os.path.join(root, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(data, f)
    config = load_config(config_path)
    run_until_trainer_starts(config_path, config.pipeline_root)
    first = local_runner.run_local(config)
    again = local_runner.run_local(config)
    worse = load_config(
        config_path,
        ["trainer.learning_rate=1e-9", "evaluation.min_accuracy=1.0", "evaluation.gallery_size=0"],
    )
    second = local_runner.run_local(worse)
    return config, first, second, again


def test_resumed_run_reuses_what_finished_before_the_kill(runs):
    first = runs[1]
    for name in UPSTREAM:
        assert first.executions[name] == "CACHED", first.executions
    for name in (SERVED_MODEL_ID, "Trainer", "Evaluator", "ModelReport", "Pusher"):
        assert first.executions[name] == "COMPLETE", first.executions
    assert first.baseline == ""  # nothing was served before this run


def test_unchanged_rerun_does_not_push_the_served_model_again(runs):
    config, first, _, again = runs
    for name in (*UPSTREAM, "Trainer"):
        assert again.executions[name] == "CACHED", again.executions
    # The serving directory may have changed: ServedModel never comes from the cache.
    assert again.executions[SERVED_MODEL_ID] == "COMPLETE", again.executions
    assert again.model == first.model and again.baseline == first.pushed_to
    assert again.blessed and not again.pushed_to
    assert again.already_served == first.pushed_to
    assert os.listdir(config.serving_dir) == [os.path.basename(first.pushed_to)]


def test_every_component_ran_and_the_model_was_pushed(runs):
    config, first = runs[:2]
    assert set(first.executions) >= set(UPSTREAM) | {
        "Trainer",
        SERVED_MODEL_ID,
        "Evaluator",
        "ModelReport",
        "Pusher",
    }
    assert first.blessed and not first.reasons
    assert first.pushed_to.startswith(config.serving_dir)
    assert os.path.isfile(os.path.join(first.pushed_to, "saved_model.pb"))
    assert os.path.isfile(os.path.join(first.pushed_to, "assets.extra", "labels.txt"))


def test_report_holds_the_metrics(runs):
    first = runs[1]
    assert os.path.isfile(first.report)
    folder = os.path.dirname(first.report)
    with open(os.path.join(folder, "metrics.json")) as f:
        metrics = json.load(f)
    headline = metrics["headline"]
    assert set(headline) == {
        "accuracy (multi-clip)",
        "accuracy (single-clip)",
        "mean class accuracy",
    }
    assert headline == pytest.approx(first.headline)
    assert all(0.0 <= v <= 1.0 for v in headline.values())
    confusion = metrics["confusion"]
    assert len(confusion) == 3 and sum(map(sum, confusion)) == 6  # 3 classes x 2 eval clips
    assert sum(confusion[i][i] for i in range(3)) / 6 == pytest.approx(
        headline["accuracy (multi-clip)"]
    )
    assert set(metrics["per_class"]) == {"SlideLeft", "SlideRight", "SlideUp"}
    with open(first.report) as f:
        html = f.read()
    assert "Confusion matrix" in html and "SlideRight" in html and "data:image/png" in html
    assert "Misclassified eval clips" in html and "Gallery off" not in html
    with open(os.path.join(folder, "confusion_matrix.png"), "rb") as f:
        assert f.read(4) == b"\x89PNG"


def test_worse_model_is_not_blessed_nor_pushed_and_the_run_says_why(runs):
    config, first, second, _ = runs
    assert second.executions["VideoIngest"] == "CACHED"
    assert second.executions["Trainer"] == "COMPLETE"
    assert second.model != first.model
    assert not second.blessed and not second.pushed_to
    assert any("below the bar 1.0000" in reason for reason in second.reasons), second.reasons
    versions = os.listdir(config.serving_dir)
    assert len(versions) == 1 and first.pushed_to.endswith(versions[0])
    with open(second.report) as f:
        html = f.read()
    assert "Not blessed" in html and "served model (baseline)" in html
    assert "Gallery off (gallery_size 0)" in html  # --set evaluation.gallery_size=0
