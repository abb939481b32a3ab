"""The VideoIngest component: its executor on artifacts in a temp dir, and a real
LocalDagRunner pipeline whose standard StatisticsGen, SchemaGen and
ExampleValidator read what it wrote."""

import json
import os

import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from components.ingest import constants, executor
from components.ingest.component import VideoIngest
from components.ingest.config import IngestConfig
from components.ingest.errors import IngestError
from components.ingest.selection import SelectionSpec
from components.ingest.video import FrameSpec

pytestmark = pytest.mark.slow
FRAMES = FrameSpec(frames_per_video=4, target_fps=5, height=32, width=32)


def make_config(demo, **selection):
    return IngestConfig(
        source=demo.videos_zip,
        split_lists=demo.lists_zip,
        selection=SelectionSpec(split=1, **selection),
        frames=FRAMES,
    )


def test_executor_writes_examples_artifact(tiny_demo, tmp_path):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    config = make_config(tiny_demo, classes=2)
    executor.Executor().Do({}, {"examples": [examples]}, {"config": config.to_json(), "span": 7})

    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    assert examples.span == 7
    assert json.loads(examples.get_string_custom_property("label_names")) == [
        "SlideLeft",
        "SlideRight",
    ]
    n_train = examples.get_int_custom_property("num_train")
    n_eval = examples.get_int_custom_property("num_eval")
    assert n_train + n_eval == 2 * 4 * 2
    assert examples.get_int_custom_property("num_bad") == 0
    for split, expected in (("train", n_train), ("eval", n_eval)):
        files = tf.io.gfile.glob(os.path.join(constants.split_dir(examples.uri, split), "*"))
        assert sum(1 for _ in tf.data.TFRecordDataset(files)) == expected


def test_label_examples_fix_the_classes_and_their_order(tiny_demo, tmp_path):
    """A reference set ingested with the span's classes: their order, all of it eval;
    a class it lacks fails, naming the source and the classes."""
    span = standard_artifacts.Examples()
    span.set_string_custom_property("label_names", json.dumps(["SlideUp", "SlideLeft"]))
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "reference")
    config = IngestConfig(
        source=tiny_demo.videos_zip, selection=SelectionSpec(eval_only=True), frames=FRAMES
    )
    executor.Executor().Do(
        {"label_examples": [span]}, {"examples": [examples]}, {"config": config.to_json()}
    )
    assert json.loads(examples.get_string_custom_property("label_names")) == [
        "SlideUp",
        "SlideLeft",
    ]
    assert examples.get_int_custom_property("num_train") == 0
    assert examples.get_int_custom_property("num_eval") == 2 * 4 * 2
    span.set_string_custom_property("label_names", json.dumps(["SlideLeft", "Orbit"]))
    with pytest.raises(IngestError, match=r"must hold every class the model predicts .*Orbit"):
        executor.Executor().Do(
            {"label_examples": [span]}, {"examples": [examples]}, {"config": config.to_json()}
        )


def test_component_declares_spec():
    component = VideoIngest(config=IngestConfig(source="x.zip"), span=3)
    assert component.outputs["examples"].type == standard_artifacts.Examples
    assert IngestConfig.from_json(component.exec_properties["config"]).source == "x.zip"
    assert component.exec_properties["span"] == 3


def test_local_dag_runner_with_standard_validation(tiny_demo, tmp_path):
    from tfx import v1 as tfx

    root = str(tmp_path / "root")
    ingest = VideoIngest(config=make_config(tiny_demo))
    statistics = tfx.components.StatisticsGen(examples=ingest.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"])
    validator = tfx.components.ExampleValidator(
        statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"]
    )
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="ingest-test",
        pipeline_root=root,
        components=[ingest, statistics, schema, validator],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(root, "metadata.db")
        ),
        beam_pipeline_args=["--direct_num_workers=1"],
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)

    from ml_metadata.metadata_store import metadata_store
    from tfx.orchestration import metadata

    config = metadata.sqlite_metadata_connection_config(os.path.join(root, "metadata.db"))
    store = metadata_store.MetadataStore(config)
    by_type = {
        t: store.get_artifacts_by_type(t)
        for t in ("Examples", "ExampleStatistics", "Schema", "ExampleAnomalies")
    }
    assert all(len(v) == 1 for v in by_type.values()), {k: len(v) for k, v in by_type.items()}

    schema_uri = by_type["Schema"][0].uri
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.utils import io_utils

    parsed = io_utils.parse_pbtxt_file(
        os.path.join(schema_uri, "schema.pbtxt"), schema_pb2.Schema()
    )
    features = {f.name for f in parsed.feature}
    assert {"image/encoded", "clip/label/index", "clip/label/text"} <= features
    for split in ("train", "eval"):
        assert tf.io.gfile.exists(
            os.path.join(by_type["ExampleStatistics"][0].uri, f"Split-{split}", "FeatureStats.pb")
        )
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    for split in ("train", "eval"):
        path = os.path.join(by_type["ExampleAnomalies"][0].uri, f"Split-{split}", "SchemaDiff.pb")
        anomalies = anomalies_pb2.Anomalies.FromString(tf.io.gfile.GFile(path, "rb").read())
        assert not anomalies.anomaly_info, dict(anomalies.anomaly_info)
