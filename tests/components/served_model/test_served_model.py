"""ServedModel, and the Evaluator and Pusher executors that read what it outputs.

The executors run on artifacts in a temporary folder, as TFX's executor tests do;
the SavedModels are stand-ins (a saved_model.pb and a variables file), since
only the serving directory's layout and file contents matter here.
"""

import json
import os

import pytest
from tfx.types import standard_artifacts

from components.evaluator.executor import BASELINE_KEY, without_empty_baseline
from components.pusher import executor as pusher_executor
from components.served_model import executor, versions


def fake_saved_model(path, weights: bytes = b"w1") -> str:
    os.makedirs(os.path.join(path, "variables"), exist_ok=True)
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(b"graph")
    with open(os.path.join(path, "variables", "variables.data-00000-of-00001"), "wb") as f:
        f.write(weights)
    return str(path)


def run_served_model(serving_dir, tmp_path):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "ServedModel" / "model" / "7")
    executor.Executor().Do({}, {"model": [model]}, {"serving_dir": str(serving_dir)})
    return model


def test_newest_complete_version_is_served(tmp_path):
    serving = tmp_path / "serving"
    fake_saved_model(serving / "20", b"old")
    fake_saved_model(serving / "100", b"new")
    os.makedirs(serving / "200")  # a push that did not finish: no saved_model.pb
    fake_saved_model(serving / "tmp-300")  # not a version
    assert versions.newest_version(str(serving)) == (100, str(serving / "100"))
    model = run_served_model(serving, tmp_path)
    assert model.get_string_custom_property(executor.SERVED_VERSION) == "100"
    assert model.get_string_custom_property(executor.SERVED_FROM) == str(serving / "100")
    copy = versions.artifact_model_dir(model.uri)
    assert versions.artifact_holds_model(model.uri)
    assert versions.same_model(copy, str(serving / "100"))
    assert not versions.same_model(copy, str(serving / "20"))


@pytest.mark.parametrize("make", [False, True], ids=["missing", "empty"])
def test_nothing_served_gives_an_empty_model(tmp_path, make):
    serving = tmp_path / "serving"
    if make:
        os.makedirs(serving)
    model = run_served_model(serving, tmp_path)
    assert model.get_string_custom_property(executor.SERVED_VERSION) == ""
    assert not versions.artifact_holds_model(model.uri)


def test_evaluator_drops_an_empty_baseline_only(tmp_path):
    empty, served = standard_artifacts.Model(), standard_artifacts.Model()
    empty.uri, served.uri = str(tmp_path / "empty"), str(tmp_path / "served")
    fake_saved_model(versions.artifact_model_dir(served.uri))
    candidate = [standard_artifacts.Model()]
    inputs = {"model": candidate, BASELINE_KEY: [empty]}
    assert without_empty_baseline(inputs) == {"model": candidate}
    assert inputs[BASELINE_KEY] == [empty]  # the caller's dict is left as it was
    inputs = {"model": candidate, BASELINE_KEY: [served]}
    assert without_empty_baseline(inputs) == inputs
    assert without_empty_baseline({"model": candidate}) == {"model": candidate}


def _blessing(path, blessed: int):
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(path)
    blessing.set_int_custom_property("blessed", blessed)
    return blessing


def push(tmp_path, serving, weights: bytes, blessed: int = 1, reference: int | None = None):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "Trainer" / "model" / weights.decode())
    fake_saved_model(versions.artifact_model_dir(model.uri), weights)
    inputs = {"model": [model], "model_blessing": [_blessing(tmp_path / "blessing", blessed)]}
    if reference is not None:
        inputs[pusher_executor.REFERENCE_BLESSING_KEY] = [
            _blessing(tmp_path / "reference_blessing", reference)
        ]
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "Pusher" / weights.decode())
    destination = json.dumps({"filesystem": {"base_directory": str(serving)}})
    pusher_executor.Executor().Do(
        inputs,
        {"pushed_model": [pushed]},
        {"push_destination": destination, "custom_config": "null"},
    )
    return pushed


def test_pusher_does_not_push_the_served_model_again(tmp_path, monkeypatch):
    serving = tmp_path / "serving"
    first = push(tmp_path, serving, b"a")
    assert first.get_int_custom_property("pushed") == 1
    (version,) = os.listdir(serving)
    again = push(tmp_path, serving, b"a")
    assert again.get_int_custom_property("pushed") == 0
    assert again.get_string_custom_property("already_served") == str(serving / version)
    assert os.listdir(serving) == [version]
    # A retrained model (other weights) is pushed as a new version.
    monkeypatch.setattr("time.time", lambda: int(version) + 10)
    other = push(tmp_path, serving, b"b")
    assert other.get_int_custom_property("pushed") == 1
    assert sorted(os.listdir(serving)) == [version, str(int(version) + 10)]
    # Not blessed: not pushed, and not "already served" either.
    assert not push(tmp_path, serving, b"a", blessed=0).has_custom_property("already_served")


@pytest.mark.parametrize(
    "blessed, reference, pushed",
    [(1, 1, 1), (1, 0, 0), (0, 1, 0)],
    ids=["both", "eval split only", "reference set only"],
)
def test_pusher_needs_the_reference_sets_blessing_too(tmp_path, blessed, reference, pushed):
    serving = tmp_path / "serving"
    result = push(tmp_path, serving, b"a", blessed=blessed, reference=reference)
    assert result.get_int_custom_property("pushed") == pushed
    assert len(os.listdir(serving) if os.path.isdir(serving) else []) == pushed
