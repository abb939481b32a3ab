"""Pytest fixtures shared by the KFP client and CLI tests (registered in conftest.py).

Modules using them mark `pytestmark = pytest.mark.usefixtures("kfp_isolated")`.
"""

import pytest

from tests.builders.kfp_package import write_package
from tests.fakes.kfp_server import isolate_kfp_client, serve_kfp

TOKEN = "s3cret-token-value"
API = "/apis/v2beta1"


@pytest.fixture
def kfp_isolated(monkeypatch, tmp_path):
    """Keeps kfp.Client off this machine's kfp context, kube config and environment."""
    isolate_kfp_client(monkeypatch, tmp_path)


@pytest.fixture
def server():
    """A fake KFP API on 127.0.0.1 that wants TOKEN."""
    with serve_kfp() as kfp_server:
        kfp_server.require_token(TOKEN)
        yield kfp_server


@pytest.fixture
def package(tmp_path):
    """A small compiled pipeline package."""
    return write_package(tmp_path)
