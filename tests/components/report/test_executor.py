"""The ModelReport executor on real tiny artifacts: the data section's numbers are the
records' own, skipped videos and duplicates appear with their reasons, the gallery
shows exactly the eval clips the model gets wrong, every image inlined."""

from __future__ import annotations

import base64
import collections
import html
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components.ingest import beam_ingest, constants, records
from components.ingest.config import IngestConfig
from components.ingest.video import FrameSpec
from components.report import constants as report_constants
from components.report import executor, results
from pipeline import evaluation
from tests.builders import examples as examples_folder
from tests.builders.synthetic_video import write_video
from tests.builders.trained_model import patterns
from tests.pipeline.test_evaluation import evaluate_raw

pytestmark = pytest.mark.slow
IN_MEMORY = ["--runner=DirectRunner", "--direct_num_workers=1"]


def read_split(examples_dir: str, split: str) -> list[bytes]:
    paths = sorted(tf.io.gfile.glob(patterns(examples_dir, split)[0]))
    return [r.numpy() for r in tf.data.TFRecordDataset(paths)]


def artifact(kind, uri: str):
    a = kind()
    a.uri = uri
    return a


@pytest.fixture(scope="module")
def truth(examples_dir, stream_model):
    """The eval split scored one record at a time by the loaded model (not the
    executor's batched path): (records, probabilities [N, K])."""
    _, module = stream_model
    serve = module.signatures["serving_default"]
    data = read_split(examples_dir, "eval")
    probabilities = np.stack(
        [serve(examples=tf.constant([d]))["probabilities"][0].numpy() for d in data]
    )
    return [records.from_example_bytes(d) for d in data], probabilities


@pytest.fixture(scope="module")
def inputs(stream_model, truth, tmp_path_factory):
    """Everything but the examples: evaluation (TFMA on the truth), blessing, model
    run and the model as the Trainer's artifact (`Format-Serving/` inside)."""
    fn_args, _ = stream_model
    videos, probabilities = truth
    root = tmp_path_factory.mktemp("report_inputs")
    evaluate_raw(str(root / "evaluation"), np.array([v.label for v in videos]), probabilities)
    blessing = artifact(standard_artifacts.ModelBlessing, str(root / "blessing"))
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_string_custom_property("current_model", fn_args.serving_model_dir)
    (root / "model").mkdir()
    os.symlink(fn_args.serving_model_dir, root / "model" / "Format-Serving")
    return {
        "evaluation": [artifact(standard_artifacts.ModelEvaluation, str(root / "evaluation"))],
        "blessing": [blessing],
        "model_run": [artifact(standard_artifacts.ModelRun, fn_args.model_run_dir)],
        "model": [artifact(standard_artifacts.Model, str(root / "model"))],
    }


def run_report(inputs, examples_dir: str, out: Path, gallery_size: int = 12):
    """(report.html's text, metrics.json) of the executor on these artifacts."""
    report = artifact(standard_artifacts.Model, str(out))  # any artifact: only its uri
    input_dict = {**inputs, "examples": [artifact(standard_artifacts.Examples, examples_dir)]}
    executor.Executor().Do(
        input_dict,
        {"report": [report]},
        {
            "metric_names": json.dumps(evaluation.report_metric_names(5)),
            "accuracy_top_k": 5,
            "gallery_size": gallery_size,
        },
    )
    with open(out / report_constants.REPORT_FILE, encoding="utf-8") as f:
        page = f.read()
    with open(out / report_constants.METRICS_FILE, encoding="utf-8") as f:
        return page, json.load(f)


def section(page: str, title: str) -> str:
    """The HTML from the <h2> titled `title` to the next <h2>."""
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start : end if end > 0 else len(page)]


def table_rows(fragment: str) -> list[list[str]]:
    return [
        [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", fragment)
        if "<td>" in row
    ]


def test_data_section_counts_are_the_records(inputs, examples_dir, tmp_path):
    page, _ = run_report(inputs, examples_dir, tmp_path / "report", gallery_size=0)
    data = section(page, "Data")
    per_class = data[data.index("<h3>Videos per class</h3>") : data.index("<h3>Skipped")]
    rows = {r[0]: (int(r[1]), int(r[2])) for r in table_rows(per_class)}
    counts = {
        split: collections.Counter(
            records.from_example_bytes(d).label_text for d in read_split(examples_dir, split)
        )
        for split in constants.SPLITS
    }
    labels = examples_folder.load_labels(examples_dir)
    assert set(rows) == {*labels, "total"}
    for name in labels:
        assert rows[name] == (counts["train"][name], counts["eval"][name]), name
    assert rows["total"] == (sum(counts["train"].values()), sum(counts["eval"].values()))
    assert "None: every selected video could be used" in data
    assert "Gallery off" in section(page, "Misclassified eval clips")


def test_a_model_not_blessed_on_the_reference_set_is_reported_not_blessed(
    inputs, examples_dir, tmp_path
):
    """The eval split blessed it, the reference set did not: the report's verdict is
    the Pusher's (not blessed), and metrics.json keeps the reference's own figures."""
    reference_blessing = artifact(standard_artifacts.ModelBlessing, str(tmp_path / "rb"))
    reference_blessing.set_int_custom_property("blessed", 0)
    with_reference = {
        **inputs,
        "reference_evaluation": inputs["evaluation"],
        "reference_blessing": [reference_blessing],
    }
    page, metrics = run_report(with_reference, examples_dir, tmp_path / "report", gallery_size=0)
    assert metrics["blessed"] is False
    assert metrics["reference"]["blessed"] is False
    labels = examples_folder.load_labels(examples_dir)
    evaluated = results.load_evaluation(inputs["evaluation"][0].uri, len(labels))
    assert metrics["reference"]["metrics"] == json.loads(json.dumps(evaluated.metrics))
    assert "Not blessed" in page and "Failed on the reference set" in page
    page, metrics = run_report(inputs, examples_dir, tmp_path / "plain", gallery_size=0)
    assert metrics["blessed"] is True and "reference" not in metrics
    assert "Reference set" not in page


def relabelled_copy(examples_dir: str, dest: Path, shift: int) -> str:
    """A copy of the examples whose eval records say class (label + shift) mod K: the
    model's outputs stay, so every clip it got right is wrong there."""
    shutil.copytree(examples_dir, dest)
    labels = examples_folder.load_labels(examples_dir)
    eval_dir = constants.split_dir(str(dest), "eval")
    data = read_split(examples_dir, "eval")
    shutil.rmtree(eval_dir)
    os.makedirs(eval_dir)
    with tf.io.TFRecordWriter(os.path.join(eval_dir, "data_tfrecord-00000-of-00001")) as w:
        for d in data:
            example = tf.train.Example.FromString(d)
            f = example.features.feature
            label = (f[records.LABEL_KEY].int64_list.value[0] + shift) % len(labels)
            f[records.LABEL_KEY].int64_list.value[:] = [label]
            f[records.LABEL_TEXT_KEY].bytes_list.value[:] = [labels[label].encode()]
            w.write(example.SerializeToString())
    return str(dest)


def assert_gallery_is_the_mistakes(page, metrics, videos, probabilities, labels, shift):
    """The gallery of `page` shows exactly the clips whose argmax is not their label
    shifted by `shift`; returns how many that is."""
    predicted = probabilities.argmax(axis=1)
    truth = [(v.label + shift) % len(labels) for v in videos]
    wrong = {v.media_id: i for i, v in enumerate(videos) if truth[i] != predicted[i]}
    gallery = section(page, "Misclassified eval clips")
    if not wrong:  # a model that gets everything right: the section says so
        assert "classified all" in gallery and "<figure" not in gallery
        return 0
    figures = re.findall(r'<figure class="clip">(.*?)</figure>', gallery)
    shown = [html.unescape(re.search(r"<b>(.*?)</b>", f).group(1)) for f in figures]
    assert sorted(shown) == sorted(wrong)  # fewer than 12: all of them, each once
    assert f"got {len(wrong)} of {len(videos)} eval clips wrong" in gallery
    confidences = []
    for media_id, figure in zip(shown, figures, strict=True):
        i = wrong[media_id]
        confidence = probabilities[i, predicted[i]]
        confidences.append(confidence)
        assert f"true: {labels[truth[i]]}" in figure
        assert f"predicted: {labels[predicted[i]]} (p {confidence:.2f})" in figure
        images = re.findall(r'<img [^>]*src="([^"]+)"', figure)
        assert 1 <= len(images) <= 4
        for src in images:
            assert src.startswith("data:image/jpeg;base64,")
            assert base64.b64decode(src.split(",", 1)[1]) in videos[i].jpeg_frames
    assert confidences == sorted(confidences, reverse=True)  # most confident first
    assert [m["media_id"] for m in metrics["misclassified"]] == shown
    return len(wrong)


def test_gallery_shows_exactly_the_misclassified_eval_clips(inputs, examples_dir, truth, tmp_path):
    videos, probabilities = truth
    labels = examples_folder.load_labels(examples_dir)
    shown = 0
    # As ingested, then relabelled: each clip is wrong in at least one of the two, so
    # the gallery is checked with mistakes whatever the tiny model learnt.
    for shift in (0, 1):
        examples = examples_dir
        if shift:
            examples = relabelled_copy(examples_dir, tmp_path / "relabelled", shift)
        report_dir = tmp_path / f"report{shift}"
        page, metrics = run_report(inputs, examples, report_dir, gallery_size=len(videos))
        shown += assert_gallery_is_the_mistakes(page, metrics, videos, probabilities, labels, shift)
        # Self-contained: every image inlined, nothing fetched.
        assert all(s.startswith("data:") for s in re.findall(r'src="([^"]+)"', page))
        assert "http://" not in page and "https://" not in page
    assert shown > 0


def test_gallery_keeps_the_most_confident_mistakes(inputs, examples_dir, truth, tmp_path):
    videos, probabilities = truth
    labels = examples_folder.load_labels(examples_dir)
    predicted = probabilities.argmax(axis=1)
    shift = 1  # relabelled: the clips the model gets right are the mistakes
    wrong = sorted(
        (-probabilities[i, predicted[i]], v.media_id)
        for i, v in enumerate(videos)
        if (v.label + shift) % len(labels) != predicted[i]
    )
    if len(wrong) < 2:
        pytest.skip("the tiny model gets fewer than 2 eval clips right")
    examples = relabelled_copy(examples_dir, tmp_path / "relabelled", shift)
    page, _ = run_report(inputs, examples, tmp_path / "report", gallery_size=1)
    gallery = section(page, "Misclassified eval clips")
    assert re.findall(r"<b>(.*?)</b>", gallery) == [html.escape(wrong[0][1])]
    assert "the 1 most confident shown" in gallery


def _faulty_folder(root: Path) -> Path:
    """Two classes of tiny clips, one unreadable file, one clip copied under the other
    class (a duplicate)."""
    for name in ("Left", "Right"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            write_video(
                root / name / f"{name}_{i}.avi", 10 + 5 * i + (name == "Right"), 25.0, 64, 48
            )
    (root / "Left" / "broken.avi").write_bytes(b"RIFF not really a video")
    shutil.copy(root / "Left" / "Left_0.avi", root / "Right" / "copy_of_left.avi")
    return root


def test_skipped_videos_duplicates_and_warnings_are_shown(inputs, tmp_path):
    config = IngestConfig(
        source=str(_faulty_folder(tmp_path / "videos")),
        frames=FrameSpec(frames_per_video=4, height=16, width=16),
        max_bad_fraction=0.5,
    )
    out = str(tmp_path / "examples")
    ingested = beam_ingest.run_ingest(config, out, IN_MEMORY)
    page, _ = run_report(inputs, out, tmp_path / "report", gallery_size=0)
    data = section(page, "Data")
    skipped = data[data.index("<h3>Skipped videos</h3>") : data.index("<h3>Duplicates")]
    assert [r[0] for r in table_rows(skipped)] == ["Left/broken.avi"]
    (bad,) = ingested.bad
    assert table_rows(skipped)[0] == [bad["video"], bad["split"], bad["reason"]]
    assert bad["reason"]  # the reason is shown, not just the name
    duplicates = data[data.index("<h3>Duplicates</h3>") : data.index("<h3>Warnings")]
    assert "Left/Left_0.avi (Left," in duplicates and "Right/copy_of_left.avi (Right," in duplicates
    assert "they were kept" in duplicates
    warnings = data[data.index("<h3>Warnings</h3>") :]
    assert "identical videos" in warnings
    rows = {r[0]: r[1:] for r in table_rows(data[: data.index("<h3>Skipped")])}
    written = ingested.written
    assert rows["Left"] == [str(written["train"]["Left"]), str(written["eval"]["Left"])]


@pytest.mark.parametrize(
    "content, message",
    [(None, "ingest_report.json not found"), ("{not json", "is not valid JSON")],
)
def test_without_a_readable_ingest_report_the_section_says_why(
    inputs, examples_dir, tmp_path, content, message
):
    copy = tmp_path / "examples"
    shutil.copytree(examples_dir, copy)
    report_file = copy / constants.REPORT_FILE
    report_file.unlink()
    if content is not None:
        report_file.write_text(content)
    page, _ = run_report(inputs, str(copy), tmp_path / "report", gallery_size=0)
    data = section(page, "Data")
    assert "Data summary not available" in data and message in data
    assert "re-run the ingest" in data
    assert "<h3>Videos per class</h3>" not in data
