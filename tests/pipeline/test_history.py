"""`python -m pipeline history` and pipeline.history on the store of the scheduled runs
over spans (tests/builders/span_runs.py: spans 1 and 5 accepted, 2 to 4 refused), and its errors."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from pipeline import local_runner
from pipeline.cli import main
from pipeline.history import HistoryError, load_history
from tests import REPO
from tests.builders.span_runs import LAST_SPAN_FOLDER, SPAN_RUNS

span_runs_group = pytest.mark.xdist_group(SPAN_RUNS)


@pytest.mark.slow
@span_runs_group
def test_runs_newest_first_with_span_model_verdict_and_push(span_runs):
    runs = span_runs
    records = load_history(runs.config.metadata_db, runs.config.name)
    assert [r.span for r in records] == [5, 4, 3, 2, 1]
    second, first = records[0], records[-1]
    assert [first.run_id, second.run_id] == [runs.first.run_id, runs.second.run_id]
    assert second.started_ms >= first.started_ms
    assert (first.model, second.model) == (runs.first.model, runs.second.model)
    assert first.source.endswith(os.path.join("span-1", "UCF101_videos.zip"))
    assert second.source.endswith(os.path.join(LAST_SPAN_FOLDER, "UCF101_videos.zip"))
    assert first.blessed and first.pushed_to == runs.first.pushed_to
    assert second.pushed_to == runs.second.pushed_to
    assert first.headline and all(isinstance(v, float) for v in first.headline.values())
    assert first.pipeline == runs.config.name


@pytest.mark.slow
@span_runs_group
def test_latest_run_summary_is_the_newest_record(span_runs):
    runs = span_runs
    summary = local_runner.summarize_latest_run(runs.config.metadata_db, runs.config.name)
    assert summary == runs.second


@pytest.mark.slow
@span_runs_group
def test_history_command_text(span_runs, capsys):
    runs = span_runs
    assert main(["history", "--metadata", runs.config.metadata_db]) == 0
    out = capsys.readouterr().out
    assert out.index(f"run {runs.second.run_id}") < out.index(f"run {runs.first.run_id}")
    assert "span 5" in out and "span 1" in out
    assert f"model:   {runs.first.model}" in out
    assert f"pushed:  {runs.first.pushed_to}" in out
    assert f"judged against the served model {runs.first.pushed_to}" in out
    for title in runs.first.headline:
        assert title in out


@pytest.mark.slow
@span_runs_group
def test_history_command_json_from_root_or_config(span_runs, capsys, tmp_path):
    runs = span_runs
    assert main(["history", "--pipeline-root", runs.config.pipeline_root, "--json"]) == 0
    by_root = json.loads(capsys.readouterr().out)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(runs.config.to_dict()))
    assert main(["history", "--config", str(config_path), "--json"]) == 0
    by_config = json.loads(capsys.readouterr().out)
    assert by_root == by_config
    assert [r["span"] for r in by_root] == [5, 4, 3, 2, 1]
    assert by_root[-1]["blessed"] is True
    assert by_root[0]["executions"]["Pusher"] == "COMPLETE"


@pytest.mark.slow
@span_runs_group
def test_history_command_imports_neither_beam_nor_keras(span_runs):
    """An ML Metadata reader: `python -m pipeline history` on a store of real runs
    (their report artifacts included) loads no Beam, Keras or TensorFlow."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['pipeline', 'history', '--metadata', {span_runs.config.metadata_db!r}]\n"
        "try:\n"
        "    runpy.run_module('pipeline', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "heavy = ('apache_beam', 'tf_keras', 'tensorflow')\n"
        "print('loaded:', sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert "span 5" in out and "model:" in out  # it did list the runs
    assert out.strip().splitlines()[-1] == "loaded: []"


def test_missing_store_says_what_to_do(tmp_path, capsys):
    with pytest.raises(HistoryError, match="run the pipeline first"):
        load_history(str(tmp_path / "metadata.db"))
    assert main(["history", "--pipeline-root", str(tmp_path)]) == 2
    assert str(tmp_path / "metadata.db") in capsys.readouterr().err
