"""kubeflow_runner.client and .schedule through the real kfp.Client against a fake KFP API."""

import logging

import pytest
import yaml

from kubeflow_runner import client as kfp_client
from kubeflow_runner import schedule
from kubeflow_runner.errors import KubeflowError
from tests.builders.kfp_fixtures import API, TOKEN
from tests.builders.kfp_package import write_pipeline_job_json
from tests.fakes.http_server import closed_port_url
from tests.fakes.kfp_server import serve_kfp, use_kube_config

pytestmark = pytest.mark.usefixtures("kfp_isolated")


@pytest.fixture
def session(server):
    return kfp_client.connect(server.url, token=TOKEN)


def test_first_upload_creates_the_pipeline_with_the_spec(server, session, package):
    upload = kfp_client.upload_pipeline_or_version(session, package)
    assert upload.new_pipeline and upload.pipeline_name == "video-action-test"
    [request] = server.requests_to("POST", f"{API}/pipelines/upload")
    assert request.query["name"] == "video-action-test"
    assert request.authorization == f"Bearer {TOKEN}"
    with open(package, "rb") as f:
        assert request.files["uploadfile"] == f.read()
    versions = server.versions[upload.pipeline_id]
    assert [v["pipeline_version_id"] for v in versions] == [upload.version_id]


def test_second_upload_adds_a_version(server, session, package):
    first = kfp_client.upload_pipeline_or_version(session, package)
    second = kfp_client.upload_pipeline_or_version(session, package, version="v2")
    third = kfp_client.upload_pipeline_or_version(session, package)
    assert not second.new_pipeline and second.pipeline_id == first.pipeline_id
    assert second.version_name == "v2" and second.version_id != first.version_id
    assert third.version_name.startswith("video-action-test-")
    requests = server.requests_to("POST", f"{API}/pipelines/upload_version")
    assert [r.query["pipelineid"] for r in requests] == [first.pipeline_id] * 2
    assert requests[0].query["name"] == "v2"
    assert len(server.requests_to("POST", f"{API}/pipelines/upload")) == 1


def test_tfx_pipeline_job_json_is_uploaded_as_a_yaml_spec(server, session, tmp_path):
    package = write_pipeline_job_json(tmp_path)
    kfp_client.upload_pipeline_or_version(session, package, name="from-json")
    [request] = server.requests_to("POST", f"{API}/pipelines/upload")
    assert request.filenames["uploadfile"].endswith(".yaml")
    uploaded = yaml.safe_load(request.files["uploadfile"])
    assert (
        uploaded["pipelineInfo"]["name"] == "video-action-test" and "pipelineSpec" not in uploaded
    )


def test_run_gets_parameters_and_the_uploaded_version(server, session, package):
    upload = kfp_client.upload_pipeline_or_version(session, package)
    params = {"epochs": 5, "learning_rate": 0.001}
    run = kfp_client.start_run(session, "retraining", upload, params, run_name="r1")
    kfp_client.start_run(session, "retraining", upload, {})
    [first, _] = server.requests_to("POST", f"{API}/runs")
    assert first.body["display_name"] == "r1"
    assert first.body["runtime_config"]["parameters"] == params
    assert first.body["pipeline_version_reference"] == {
        "pipeline_id": upload.pipeline_id,
        "pipeline_version_id": upload.version_id,
    }
    assert first.body["experiment_id"] == run.experiment_id
    assert run.link.endswith(f"/#/runs/details/{run.run_id}")
    assert len(server.requests_to("POST", f"{API}/experiments")) == 1  # reused the second time


def test_schedule_is_one_run_at_a_time_without_catchup(server, session, package):
    upload = kfp_client.upload_pipeline_or_version(session, package)
    created = schedule.create_schedule(
        session, "retraining", upload, "nightly", "0 0 3 * * *", {"epochs": 2}
    )
    [request] = server.requests_to("POST", f"{API}/recurringruns")
    assert request.body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert request.body["max_concurrency"] == 1
    assert request.body["no_catchup"] is True
    assert request.body["mode"] == "ENABLE"
    assert request.body["runtime_config"]["parameters"] == {"epochs": 2}
    assert request.body["pipeline_version_reference"]["pipeline_version_id"] == upload.version_id
    assert created.enabled and created.cron == "0 0 3 * * *" and created.max_concurrency == 1


def test_schedule_catchup_and_disabled_on_request(server, session, package):
    upload = kfp_client.upload_pipeline_or_version(session, package)
    schedule.create_schedule(
        session, "e", upload, "weekly", "0 0 4 * * SUN", no_catchup=False, enabled=False
    )
    [request] = server.requests_to("POST", f"{API}/recurringruns")
    assert request.body["no_catchup"] is False and request.body["mode"] == "DISABLE"


def test_bad_schedules_are_refused_before_any_request(server, session, package):
    upload = kfp_client.upload_pipeline_or_version(session, package)
    with pytest.raises(KubeflowError, match="5 fields"):
        schedule.create_schedule(session, "e", upload, "n", "0 3 * * *")
    with pytest.raises(KubeflowError, match="max_concurrency 0"):
        schedule.create_schedule(session, "e", upload, "n", "0 0 3 * * *", max_concurrency=0)
    assert not server.requests_to("POST", f"{API}/recurringruns")
    schedule.create_schedule(session, "e", upload, "n", "0 0 3 * * *")
    with pytest.raises(KubeflowError, match="named 'n' already exists"):
        schedule.create_schedule(session, "e", upload, "n", "0 0 5 * * *")
    assert len(server.requests_to("POST", f"{API}/recurringruns")) == 1


def test_enable_disable_and_list_by_name_or_id(server, session, package):
    upload = kfp_client.upload_pipeline_or_version(session, package)
    created = schedule.create_schedule(session, "e", upload, "nightly", "0 0 3 * * *")
    schedule.set_schedule_enabled(session, "nightly", False)
    assert server.requests_to("POST", f"{API}/recurringruns/{created.recurring_run_id}:disable")
    [listed] = schedule.list_schedules(session)
    assert listed.name == "nightly" and not listed.enabled and listed.no_catchup
    schedule.set_schedule_enabled(session, created.recurring_run_id, True)
    assert server.requests_to("POST", f"{API}/recurringruns/{created.recurring_run_id}:enable")
    assert schedule.list_schedules(session)[0].enabled
    with pytest.raises(KubeflowError, match="no recurring run has the id or name 'nope'"):
        schedule.set_schedule_enabled(session, "nope", True)
    schedule.delete_schedule(session, "nightly")
    assert schedule.list_schedules(session) == []


def test_refused_token_is_explained_and_never_shown(server, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-abcdef"
    with pytest.raises(KubeflowError) as raised:
        kfp_client.connect(server.url, token=wrong)
    message = str(raised.value)
    assert "HTTP 401" in message and "check the token" in message and server.url in message
    out, err = capsys.readouterr()
    for text in (message, out, err, caplog.text):
        assert wrong not in text and TOKEN not in text


def test_token_masked_even_if_the_server_echoes_it(server, session, package, caplog):
    caplog.set_level(logging.DEBUG)
    server.fail_path("/pipelines/upload$", 500, echo_authorization=True)
    with pytest.raises(
        KubeflowError, match=r"HTTP 500.*injected HTTP 500 for Bearer \*\*\*"
    ) as raised:
        kfp_client.upload_pipeline_or_version(session, package)
    assert TOKEN not in str(raised.value) and TOKEN not in caplog.text


def test_unreachable_host_names_the_url():
    url = closed_port_url("").rstrip("/")
    with pytest.raises(KubeflowError, match=f"cannot reach Kubeflow Pipelines at {url}.*refused"):
        kfp_client.connect(url)


def test_not_a_url_and_missing_token_file(tmp_path):
    with pytest.raises(KubeflowError, match="not an http"):
        kfp_client.connect("localhost:8080")
    with pytest.raises(KubeflowError, match="token file .*missing.*does not exist"):
        kfp_client.connect("http://127.0.0.1:1", sa_token_path=str(tmp_path / "missing"))


def test_login_page_instead_of_the_api(server):
    server.answer_login_page()
    with pytest.raises(KubeflowError, match="did not answer as the KFP API.*login page"):
        kfp_client.connect(server.url, token=TOKEN)


def test_not_found_says_to_check_the_endpoint(server, session, package):
    server.fail_path("/pipelines$", 404)
    with pytest.raises(KubeflowError, match="not found.*KFP API"):
        kfp_client.upload_pipeline_or_version(session, package)


def test_service_account_token_file(server, package, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    session = kfp_client.connect(server.url, sa_token_path=str(token_file))
    kfp_client.upload_pipeline_or_version(session, package)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in server.log)


def test_kube_config_credentials_through_the_api_server_proxy(
    server, package, tmp_path, monkeypatch
):
    kube_config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server.url}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kube_config))
    use_kube_config(monkeypatch, str(path))
    session = kfp_client.connect(None, namespace="team-a")
    kfp_client.upload_pipeline_or_version(session, package)
    assert "/namespaces/kubeflow/services/ml-pipeline:http/proxy" in session.host
    [upload] = server.requests_to("POST", f"{API}/pipelines/upload")
    assert upload.authorization == f"Bearer {TOKEN}" and upload.query["namespace"] == "team-a"


def test_no_host_and_no_kube_config():
    with pytest.raises(KubeflowError, match="no --host given and no kube config"):
        kfp_client.connect(None)


def test_multi_user_needs_a_namespace(package):
    with serve_kfp(multi_user=True) as server:
        with pytest.raises(KubeflowError, match="multi-user: pass --namespace"):
            kfp_client.connect(server.url)
        session = kfp_client.connect(server.url, namespace="team-a")
        upload = kfp_client.upload_pipeline_or_version(session, package)
        kfp_client.start_run(session, "e", upload)
        [request] = server.requests_to("POST", f"{API}/pipelines/upload")
        assert request.query["namespace"] == "team-a"
        assert (
            server.experiments[server.runs[next(iter(server.runs))]["experiment_id"]]["namespace"]
            == "team-a"
        )
