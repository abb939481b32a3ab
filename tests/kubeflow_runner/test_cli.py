"""`python -m kubeflow_runner submit|schedule` as a user runs them, against a fake KFP API."""

import datetime
import os
import re
import subprocess
import sys
import time

import pytest

from kubeflow_runner.cli import main
from tests import REPO
from tests.builders.kfp_fixtures import API, TOKEN
from tests.fakes.http_server import closed_port_url

pytestmark = pytest.mark.usefixtures("kfp_isolated")


def test_submit_uploads_and_runs_with_typed_params(server, package, capsys, monkeypatch):
    monkeypatch.setenv("KFP_TOKEN", TOKEN)
    argv = ["submit", "--host", server.url, "--package", package, "--experiment", "exp"]
    code = main([*argv, "--param", "epochs=7", "--param", "augment=false"])
    assert code == 0
    [run] = server.requests_to("POST", f"{API}/runs")
    assert run.body["runtime_config"]["parameters"] == {"epochs": 7, "augment": False}
    out = capsys.readouterr().out
    assert "uploaded new pipeline 'video-action-test'" in out and "started run run-" in out
    assert main([*argv, "--version", "v2", "--no-cache"]) == 0
    assert server.requests_to("POST", f"{API}/pipelines/upload_version")[0].query["name"] == "v2"
    assert "new version of pipeline" in capsys.readouterr().out


def test_schedule_create_list_disable_enable(server, package, capsys):
    conn = ["--host", server.url, "--token", TOKEN]
    create = ["schedule", "--cron", "0 0 3 * * *", "--package", package, "--name", "nightly"]
    assert main([*create, "--param", "epochs=2", *conn]) == 0
    [request] = server.requests_to("POST", f"{API}/recurringruns")
    assert request.body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert request.body["max_concurrency"] == 1 and request.body["no_catchup"] is True
    assert main(["schedule", "--disable", "nightly", *conn]) == 0
    assert main(["schedule", "--list", *conn]) == 0
    out = capsys.readouterr().out
    assert "disabled recurring run 'nightly'" in out
    listed = [line.split() for line in out.splitlines() if line.startswith("recurring-")][-1]
    assert listed[1:3] == ["nightly", "disabled"] and "0 0 3 * * *" in out
    assert "nightly: disabled (no runs until --enable)" in out
    assert main(["schedule", "--enable", "nightly", *conn]) == 0
    rid = next(iter(server.recurring_runs))
    assert server.requests_to("POST", f"{API}/recurringruns/{rid}:enable")
    out, err = capsys.readouterr()
    assert TOKEN not in out + err


def test_bad_cron_fails_before_connecting(package, capsys):
    url = closed_port_url("").rstrip("/")
    code = main(["schedule", "--cron", "0 3 * * *", "--package", package, "--host", url])
    assert code == 1
    assert "5 fields" in capsys.readouterr().err


def test_auth_failure_is_clear_and_does_not_echo_the_token(server, package, capsys):
    wrong = "not-the-token-987"
    code = main(["submit", "--host", server.url, "--package", package, "--token", wrong])
    assert code == 1
    out, err = capsys.readouterr()
    assert "HTTP 401" in err and "check the token" in err
    assert wrong not in out + err


def test_unreachable_host(package, capsys):
    url = closed_port_url("").rstrip("/")
    assert main(["submit", "--host", url, "--package", package]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach Kubeflow Pipelines at {url}" in err
    assert "Retrying" not in err  # urllib3's retry warnings stay quiet


def test_unknown_param_is_refused_before_uploading(server, package, capsys):
    argv = ["submit", "--host", server.url, "--token", TOKEN, "--package", package]
    assert main([*argv, "--param", "epoch=3"]) == 1
    assert "'epoch' is not a runtime parameter" in capsys.readouterr().err
    assert not server.requests_to("POST", f"{API}/pipelines/upload")


def test_module_entry_point_reads_the_token_from_the_environment(server, package, tmp_path):
    env = {**os.environ, "KFP_TOKEN": TOKEN, "HOME": str(tmp_path), "KUBECONFIG": "/nonexistent"}
    env.pop("KF_PIPELINES_ENDPOINT", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubeflow_runner",
            "submit",
            "--host",
            server.url,
            "--package",
            package,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "started run" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    assert server.requests_to("POST", f"{API}/runs")[0].authorization == f"Bearer {TOKEN}"


def test_runs_get_the_compiled_pipeline_root(server, package, monkeypatch):
    """Open-source KFP ignores the spec's defaultPipelineRoot (its driver takes the run's
    pipeline_root, else the cluster default, kubeflow/pipelines backend/src/v2/driver/
    driver.go RootDAG): submit and schedule pass it with each run."""
    import yaml

    monkeypatch.setenv("KFP_TOKEN", TOKEN)
    with open(package) as f:
        spec = yaml.safe_load(f)
    spec["defaultPipelineRoot"] = "gs://bucket/root"
    with open(package, "w") as f:
        yaml.safe_dump(spec, f)
    argv = ["--host", server.url, "--package", package]
    assert main(["submit", *argv, "--version", "v1"]) == 0
    assert main(["submit", *argv, "--version", "v2", "--pipeline-root", "gs://other/root"]) == 0
    assert main(["schedule", "--cron", "0 0 3 * * *", "--name", "n", "--version", "v3", *argv]) == 0
    runs = server.requests_to("POST", f"{API}/runs")
    roots = [r.body["runtime_config"]["pipeline_root"] for r in runs]
    assert roots == ["gs://bucket/root", "gs://other/root"]
    [recurring] = server.requests_to("POST", f"{API}/recurringruns")
    assert recurring.body["runtime_config"]["pipeline_root"] == "gs://bucket/root"


def _next_runs(out: str) -> list[tuple[datetime.datetime, datetime.datetime, str]]:
    """(UTC time, local time, zone name) of each "next runs" line printed."""
    found = []
    for line in out.splitlines():
        match = re.fullmatch(r"\s+(\S+ \S+) UTC = (\S+ \S+) (\S+)", line)
        if match:
            utc, local = (datetime.datetime.fromisoformat(g) for g in match.groups()[:2])
            found.append((utc, local, match.group(3)))
    return found


@pytest.mark.parametrize("zone, offset, name", [("Asia/Kolkata", 5.5, "IST"), ("UTC", 0, "UTC")])
def test_schedule_says_the_zone_and_prints_the_next_runs_in_utc_and_local_time(
    server, package, capsys, monkeypatch, zone, offset, name
):
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        conn = ["--host", server.url, "--token", TOKEN]
        create = ["schedule", "--cron", "0 0 3 * * *", "--package", package, "--name", "n"]
        assert main([*create, *conn]) == 0
        created = capsys.readouterr().out
        assert main(["schedule", "--list", *conn]) == 0
        listed = capsys.readouterr().out
    finally:
        monkeypatch.undo()
        time.tzset()
    for out in (created, listed):
        assert "cron (UTC)" in out and "KFP evaluates cron in UTC" in out
        runs = _next_runs(out)
        assert len(runs) == 3
        for utc, local, zone_name in runs:
            assert (utc.hour, utc.minute, utc.second) == (3, 0, 0)
            assert local - utc == datetime.timedelta(hours=offset) and zone_name == name
        day = datetime.timedelta(days=1)
        assert runs[1][0] - runs[0][0] == runs[2][0] - runs[1][0] == day
        now = datetime.datetime.utcnow()
        assert now < runs[0][0] <= now + datetime.timedelta(days=1)


def test_schedule_help_says_the_cron_is_utc(capsys):
    with pytest.raises(SystemExit):
        main(["schedule", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "evaluated by KFP in UTC" in out and "03:00 UTC daily" in out
