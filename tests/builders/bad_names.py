"""Pipeline names Kubeflow refuses, and the one-line error every CLI must give for them."""

import subprocess

from tests.builders import cli_process


def run_module(*argv: str) -> subprocess.CompletedProcess:
    """`python -m ...` as a user types it (without TF_CPP_MIN_LOG_LEVEL: nothing may
    load TensorFlow before a bad config is refused)."""
    return cli_process.run_module(*argv, env={"TF_CPP_MIN_LOG_LEVEL": None})


# (name, the valid name the error suggests)
BAD_NAMES = [("UCF101_Actions", "ucf101-actions"), ("Demo", "demo"), ("a" * 64, "a" * 63)]


def config_named(folder, name: str) -> str:
    """A config file that is fine but for its name."""
    path = folder / "bad.yaml"
    path.write_text(
        f"name: {name}\npipeline_root: {folder / 'root'}\n"
        "ingest: {source: videos.zip}\ntrainer: {random_init: true}\n"
    )
    return str(path)


def assert_one_line_name_error(result, config_path: str, name: str, suggestion: str) -> None:
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {config_path}: name must be lower-case letters, digits")
    assert f"got {name!r}" in line and line.endswith(f"e.g. name: {suggestion}")
