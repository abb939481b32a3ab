"""The Dockerfile gives the compiled pipeline what it needs (no Docker engine in CI).

Checked statically: the pinned stack from the same lock, CUDA-capable
TensorFlow at the lock's version, the project installed as a package, Keras 2
selected, and the entry point TFX's KubeflowV2DagRunner writes into every
container spec (read from the installed tfx, not copied here) importable.
"""

import ast
import fnmatch
import importlib.util
import os
import re
import shlex

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The packages the compiled pipeline's steps import (its components, the Trainer's
# run_fn, the pipeline definition, and the kubeflow tools).
PIPELINE_PACKAGES = ("components", "trainer", "pipeline", "kubeflow", "video_action")


def parse_dockerfile(path: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    instructions, current = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                current += line.rstrip()[:-1] + " "
                continue
            current += line
            keyword, _, args = current.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            current = ""
    return instructions


def tfx_container_command() -> tuple[str, ...]:
    """KUBEFLOW_TFX_CMD of the installed tfx, read from its source (importing it loads TF)."""
    tfx_dir = os.path.dirname(importlib.util.find_spec("tfx").origin)
    source = os.path.join(tfx_dir, "orchestration", "kubeflow", "v2", "kubeflow_v2_dag_runner.py")
    with open(source, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "KUBEFLOW_TFX_CMD" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"KUBEFLOW_TFX_CMD not found in {source}")


def locked_version(package: str) -> str:
    with open(os.path.join(REPO, "requirements", "lock.txt"), encoding="utf-8") as f:
        for line in f:
            name, sep, version = line.strip().partition("==")
            if sep and name.lower() == package:
                return version
    raise AssertionError(f"{package} is not pinned in requirements/lock.txt")


@pytest.fixture(scope="module")
def steps():
    return parse_dockerfile(os.path.join(REPO, "Dockerfile"))


def _index(steps, keyword: str, predicate) -> int:
    for i, (kw, args) in enumerate(steps):
        if kw == keyword and predicate(args):
            return i
    raise AssertionError(f"no {keyword} step matching {predicate.__doc__ or predicate}")


def _copied(steps, before: int) -> set[str]:
    """Sources COPY'd before step `before` (trailing slashes dropped)."""
    sources = set()
    for kw, args in steps[:before]:
        if kw == "COPY":
            sources.update(s.rstrip("/") for s in shlex.split(args)[:-1])
    return sources


def test_python_310_base_and_keras_2(steps):
    assert steps[0][0] == "FROM" and re.match(r"python:3\.10(\b|-)", steps[0][1]), steps[0]
    env = " ".join(args for kw, args in steps if kw == "ENV")
    assert re.search(r"\bTF_USE_LEGACY_KERAS=1\b", env)


def test_installs_the_locked_stack_with_cuda_tensorflow(steps):
    install = _index(steps, "RUN", lambda a: "requirements/lock.txt" in a)
    args = shlex.split(steps[install][1])
    assert args[:2] == ["pip", "install"]
    assert "-c" in args and args[args.index("-c") + 1] == "requirements/lock.txt"
    assert "-r" in args and args[args.index("-r") + 1] == "requirements/base.txt"
    assert f"tensorflow[and-cuda]=={locked_version('tensorflow')}" in args
    assert "requirements" in _copied(steps, install)


def test_installs_the_project_with_every_pipeline_package(steps):
    install = _index(steps, "RUN", lambda a: re.search(r"pip install --no-deps \.(\s|$)", a))
    copied = _copied(steps, install)
    assert "pyproject.toml" in copied
    for package in PIPELINE_PACKAGES:
        assert os.path.isfile(os.path.join(REPO, package, "__init__.py")), package
        assert package in copied, f"{package}/ is not copied into the image"


def test_tfx_entry_point_is_checked_in_the_image(steps):
    command = tfx_container_command()
    assert command[:2] == ("python", "-m"), command
    module = command[2]
    assert importlib.util.find_spec(module) is not None  # exists in the locked tfx
    check = _index(steps, "RUN", lambda a: "pip install --no-deps ." in a)
    imported = steps[check][1].split("python -c", 1)[1]
    for name in (module, *PIPELINE_PACKAGES):
        assert re.search(rf"\b{re.escape(name)}\b", imported), f"{name} is not import-checked"


def test_dockerignore_keeps_what_the_image_needs():
    with open(os.path.join(REPO, ".dockerignore"), encoding="utf-8") as f:
        patterns = [p.strip().rstrip("/") for p in f if p.strip() and not p.startswith("#")]
    assert ".venv" in patterns and ".git" in patterns
    for needed in (*PIPELINE_PACKAGES, "requirements", "pyproject.toml"):
        assert not any(fnmatch.fnmatch(needed, p) for p in patterns), needed


def test_make_image_builds_this_dockerfile():
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
        makefile = f.read()
    assert re.search(r"^IMAGE \?=", makefile, re.M)
    assert re.search(r"^image:.*\n\tdocker build -t \$\(IMAGE\) \.$", makefile, re.M)
