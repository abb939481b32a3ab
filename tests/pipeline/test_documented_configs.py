"""The documented configurations (configs/*.yaml): what the README quotes is the file,
and each file runs end to end, through `python -m pipeline run`, to a pushed model and
a report with per-class metrics.

Every run uses the file itself with `--set` overrides for what cannot run here, and
nothing else (`tiny_overrides`):
- where: the generated demo data (pipeline.demo_data, 10 classes, 30 videos) instead
  of demo_data/, UCF101's URLs or gs://, and a temporary pipeline root and serving dir;
- size: tests/builders/tiny_pipeline.py's (8 stored frames of 32x32, clips of 4 frames, one
  epoch with half an epoch's warm-up, batch 4, 2 eval views, one Beam worker);
- weights: no checkpoint can be downloaded here, so `trainer.checkpoint=''` and
  `trainer.random_init=true` (the explicit choice the config demands);
- the accuracy bar: one epoch from random weights on 30 videos cannot reach a real
  bar (the demo's 0.5, UCF101's 0.7), so `evaluation.min_accuracy=0` lets the model be
  blessed and pushed; refusing a model below the bar is tested in
  tests/pipeline/test_local_runner.py;
- the Kubeflow file's Dataflow `beam_args` are emptied: the local runner's
  DirectRunner runs the Beam steps.

Together the runs cover every way of choosing classes: a number (`classes: 10` in
ucf101.yaml and kubeflow.yaml), a list of names (ucf101.yaml with three names, also
fewer classes than `evaluation.accuracy_top_k`), and 0 for all (demo.yaml).
"""

import dataclasses
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from kubeflow_runner.spec import load_pipeline_spec
from pipeline.config import CONFIGS_DIR, PipelineConfig, load_config
from pipeline.demo_data import MOTIONS, DemoSpec, write_demo_dataset
from pipeline.history import RunRecord, load_history

REPO = os.path.dirname(CONFIGS_DIR)
README = os.path.join(REPO, "README.md")
DOCUMENTED = sorted(name for name in os.listdir(CONFIGS_DIR) if name.endswith(".yaml"))
# 10 classes x 3 groups x 1 clip: split 1 holds group 1 out, 20 train and 10 eval videos.
TEN_CLASSES = DemoSpec(num_classes=10, groups_per_class=3, clips_per_group=1, seconds=1.6, seed=1)
THREE_NAMES = ["pulse", "SlideUp", "Grow"]  # matched case-insensitively, kept in this order


@dataclasses.dataclass(frozen=True)
class DocumentedRun:
    """One run of a documented config: the file, what the run changes beyond
    `tiny_overrides`, and the classes (label order) it must end with."""

    config: str
    extra: tuple[str, ...]
    labels: tuple[str, ...]


RUNS = {
    "ucf101-classes-10": DocumentedRun("ucf101.yaml", (), MOTIONS[:10]),
    "ucf101-three-names": DocumentedRun(
        "ucf101.yaml",
        (f"ingest.selection.classes=[{', '.join(THREE_NAMES)}]",),
        ("Pulse", "SlideUp", "Grow"),
    ),
    "kubeflow-span-latest": DocumentedRun("kubeflow.yaml", ("beam_args=[]",), MOTIONS[:10]),
    "demo-all-classes": DocumentedRun("demo.yaml", (), MOTIONS[:10]),
}


def readme_quotes(text: str) -> dict[str, str]:
    """configs/<file> -> the README's ```yaml block that opens with `# configs/<file>`
    (the rest of the block)."""
    quotes = {}
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        first, _, rest = block.partition("\n")
        match = re.fullmatch(r"# (configs/\S+\.yaml)", first.strip())
        if match:
            quotes[match.group(1)] = rest
    return quotes


def test_the_readme_quotes_the_files_as_they_are():
    with open(README) as f:
        readme = f.read()
    quotes = readme_quotes(readme)
    assert {"configs/ucf101.yaml", "configs/kubeflow.yaml"} <= set(quotes)
    for path, quoted in quotes.items():
        with open(os.path.join(REPO, path)) as f:
            assert quoted == f.read(), f"the README's copy of {path} differs from the file"
    for name in DOCUMENTED:
        assert f"configs/{name}" in readme, f"the README does not point at configs/{name}"


def test_every_documented_config_is_run_and_loads():
    assert sorted({run.config for run in RUNS.values()}) == DOCUMENTED
    for name in DOCUMENTED:
        load_config(os.path.join(CONFIGS_DIR, name))


def test_make_run_runs_the_demo_file():
    with open(os.path.join(REPO, "Makefile")) as f:
        makefile = f.read()
    assert "-m pipeline run --config configs/demo.yaml $(RUN_ARGS)" in makefile


def test_the_ucf101_file_is_the_real_thing():
    """Tests override these; the file keeps what a connected machine should fetch."""
    config = load_config(os.path.join(CONFIGS_DIR, "ucf101.yaml"))
    assert config.ingest.source == "https://storage.googleapis.com/thumos14_files/UCF101_videos.zip"
    assert config.ingest.split_lists.startswith("https://www.crcv.ucf.edu/data/UCF101/")
    assert config.trainer.checkpoint.endswith("/movinet/movinet_a0_base.tar.gz")
    assert config.ingest.selection.classes == 10 and not config.trainer.random_init


@pytest.mark.slow  # a fresh process loads TFX and TensorFlow: 20 s
def test_the_kubeflow_file_compiles(tmp_path):
    """`python -m kubeflow_runner compile` on the file as it is (gs:// paths and all)."""
    output = tmp_path / "pipeline.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "kubeflow_runner", "compile", "--config", "configs/kubeflow.yaml",
         "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    spec = load_pipeline_spec(str(output))
    assert spec["pipelineInfo"]["name"] == "video-action"
    assert spec["defaultPipelineRoot"] == "gs://my-bucket/video-action/root"
    assert "Evaluator" in spec["root"]["dag"]["tasks"]


@pytest.fixture(scope="module")
def ten_class_data(tmp_path_factory) -> str:
    """The demo generator's data in `<folder>/span-1/`, so one copy serves the
    Kubeflow file's `span-{SPAN}` source too."""
    folder = str(tmp_path_factory.mktemp("ten_classes"))
    write_demo_dataset(os.path.join(folder, "span-1"), TEN_CLASSES)
    return folder


def tiny_overrides(run: DocumentedRun, data: str, root: str) -> list[str]:
    """The --set list of a documented run (see the module docstring for each part)."""
    with open(os.path.join(CONFIGS_DIR, run.config)) as f:
        spans = "{SPAN}" in yaml.safe_load(f)["ingest"]["source"]
    videos = os.path.join(data, "span-{SPAN}" if spans else "span-1", "UCF101_videos.zip")
    lists = os.path.join(data, "span-1", "UCF101TrainTestSplits-RecognitionTask.zip")
    return [
        f"ingest.source={videos}",
        f"ingest.split_lists={lists}",
        f"pipeline_root={os.path.join(root, 'pipeline')}",
        f"serving_dir={os.path.join(root, 'serving')}",
        "workers=1",
        "ingest.frames.frames_per_video=8",
        "ingest.frames.height=32",
        "ingest.frames.width=32",
        "trainer.window_frames=4",
        "trainer.resolution=32",
        "trainer.epochs=1",
        "trainer.warmup_epochs=0.5",  # within the one epoch (the demo warms up over 2)
        "trainer.batch_size=4",
        "trainer.eval_views=2",
        "trainer.checkpoint=",
        "trainer.random_init=true",
        "evaluation.min_accuracy=0",
        *run.extra,
    ]


@dataclasses.dataclass(frozen=True)
class Finished:
    """A documented run that exited: its config (as loaded with the overrides), its
    record in ML Metadata and the report's metrics.json."""

    run: DocumentedRun
    config: PipelineConfig
    record: RunRecord
    metrics: dict


@pytest.fixture(scope="module")
def documented_run(ten_class_data, tmp_path_factory):
    """run id -> Finished; each run once per module, when a test first asks for it."""
    done: dict[str, Finished] = {}

    def run(run_id: str) -> Finished:
        if run_id not in done:
            documented = RUNS[run_id]
            root = str(tmp_path_factory.mktemp(run_id))
            overrides = tiny_overrides(documented, ten_class_data, root)
            argv = ["run", "--config", f"configs/{documented.config}"]
            for item in overrides:
                argv += ["--set", item]
            result = subprocess.run(
                [sys.executable, "-m", "pipeline", *argv],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=1200,
            )
            assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
            assert "pushed: " in result.stdout, result.stdout
            config = load_config(os.path.join(CONFIGS_DIR, documented.config), overrides)
            record = load_history(config.metadata_db, config.name)[0]
            with open(os.path.join(os.path.dirname(record.report), "metrics.json")) as f:
                metrics = json.load(f)
            done[run_id] = Finished(documented, config, record, metrics)
        return done[run_id]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("run_id", RUNS)
def test_documented_config_runs_to_a_pushed_model_and_a_report(documented_run, run_id):
    finished = documented_run(run_id)
    record, config = finished.record, finished.config
    assert record.pipeline == config.name
    for name in ("VideoIngest", "Trainer", "Evaluator", "ModelReport", "Pusher"):
        assert record.executions[name] == "COMPLETE", record.executions
    assert record.blessed and not record.reasons
    assert record.pushed_to.startswith(config.serving_dir)
    assert os.path.isfile(os.path.join(record.pushed_to, "saved_model.pb"))


@pytest.mark.slow
@pytest.mark.parametrize("run_id", RUNS)
def test_report_has_per_class_metrics_and_mean_class_accuracy(documented_run, run_id):
    finished = documented_run(run_id)
    labels = finished.run.labels
    per_class, headline = finished.metrics["per_class"], finished.metrics["headline"]
    assert list(per_class) == list(labels)
    recall = np.array([per_class[label]["recall"] for label in labels])
    precision = np.array([per_class[label]["precision"] for label in labels])
    assert all(per_class[label]["support"] == 1 for label in labels)  # group 1, one clip
    # The table comes from TFMA's confusion matrix; TFMA's own accuracy must agree.
    confusion = np.array(finished.metrics["confusion"])
    assert confusion.shape == (len(labels), len(labels))
    assert np.trace(confusion) / confusion.sum() == pytest.approx(
        headline["accuracy (multi-clip)"], abs=1e-6
    )
    assert np.all((0 <= recall) & (recall <= 1)) and np.all((0 <= precision) & (precision <= 1))
    assert headline["mean class accuracy"] == pytest.approx(recall.mean())
    top_k = finished.config.evaluation.accuracy_top_k
    assert (f"top-{top_k} accuracy" in headline) == (len(labels) >= top_k)
    with open(finished.record.report) as f:
        page = f.read()
    assert "recall (class accuracy)" in page and "mean class accuracy" in page
    for label in labels:
        assert f"<td>{label}</td>" in page
