"""A small real pipeline package for the Kubeflow tests, compiled with the kfp SDK.

It has the shape of the project's compiled pipeline where the tests look: a
PipelineSpec YAML with tasks and typed runtime parameters at the root.
"""

# No `from __future__ import annotations`: kfp reads the component's annotations as types.
import json
import os

import yaml
from kfp import compiler, dsl


@dsl.component(base_image="python:3.10-slim")
def _train(epochs: int, learning_rate: float, data_root: str, augment: bool) -> str:
    return f"{epochs} {learning_rate} {data_root} {augment}"


@dsl.pipeline(name="video-action-test")
def _pipeline(
    epochs: int = 3, learning_rate: float = 0.01, data_root: str = "gs://b/d", augment: bool = True
):
    _train(epochs=epochs, learning_rate=learning_rate, data_root=data_root, augment=augment)


def write_package(folder: str | os.PathLike, name: str = "pipeline.yaml") -> str:
    """Compiles the test pipeline to `folder/name` (YAML); returns the path."""
    path = os.path.join(folder, name)
    compiler.Compiler().compile(_pipeline, package_path=path)
    return path


def write_pipeline_job_json(folder: str | os.PathLike, name: str = "pipeline.json") -> str:
    """The same spec wrapped as TFX's KubeflowV2DagRunner writes JSON: a PipelineJob."""
    with open(write_package(folder, "spec-for-json.yaml"), encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(
            {
                "displayName": "video-action-test",
                "pipelineSpec": spec,
                "runtimeConfig": {"gcsOutputDirectory": "gs://b/root"},
            },
            f,
        )
    return path
