"""The one exception type of the Kubeflow tools, and how kfp's failures become it.

`kfp_call` wraps calls into kfp.Client: HTTP errors, connection failures and
kfp's own checks become a `KubeflowError` that names the host and the operation
and says what to do; any secret (a token) is masked out of the text; what kfp
prints to stdout (links) is logged instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from collections.abc import Iterator
from typing import Any

import kfp_server_api
import urllib3
from absl import logging


class KubeflowError(Exception):
    """A Kubeflow Pipelines operation failed; the message names the input and what to do."""


AUTH_HINT = (
    "check the token (--token or $KFP_TOKEN) or your kube credentials; for a multi-user "
    "deployment also pass --namespace with a profile namespace you may use"
)
_MAX_DETAIL = 300


@contextlib.contextmanager
def kfp_call(host: str, action: str, secrets: tuple[str, ...]) -> Iterator[io.StringIO]:
    """Runs kfp calls with their stdout logged and their errors made KubeflowErrors."""
    captured = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured):
            warnings.simplefilter("ignore", FutureWarning)
            yield captured
    except kfp_server_api.ApiException as e:
        raise KubeflowError(_mask(_http_message(host, action, e), secrets)) from None
    except (urllib3.exceptions.HTTPError, OSError) as e:
        # urllib3 puts the connection object's repr before the reason: drop it.
        reason = re.sub(r"<[^>]*>: ", "", str(getattr(e, "reason", None) or e))
        raise KubeflowError(
            _mask(
                f"cannot reach Kubeflow Pipelines at {host} to {action} ({reason}): check the "
                "URL and port, that the API is up, and any port-forward or proxy",
                secrets,
            )
        ) from None
    except ValueError as e:  # kfp's own checks, e.g. several experiments of one name
        raise KubeflowError(_mask(f"could not {action} at {host}: {e}", secrets)) from None
    finally:
        for line in captured.getvalue().splitlines():
            if line.strip():
                logging.info("kfp: %s", _mask(line, secrets))


def _http_message(host: str, action: str, error: kfp_server_api.ApiException) -> str:
    status = f"HTTP {error.status} {error.reason or ''}".strip()
    if error.status == 0:
        return f"could not {action} at {host}: {error.reason}; check TLS (https, certificates)"
    detail = _server_detail(error.body)
    if error.status in (401, 403):
        return f"Kubeflow Pipelines at {host} refused to {action} ({status}): {AUTH_HINT}"
    if error.status == 404:
        return (
            f"could not {action}: not found at {host} ({status}{detail}); check that the "
            "URL is the KFP API (the UI's address or ml-pipeline's port 8888) and the names"
        )
    return f"Kubeflow Pipelines at {host} failed to {action} ({status}{detail})"


def _server_detail(body: Any) -> str:
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    with contextlib.suppress(ValueError, AttributeError):
        text = json.loads(text).get("message") or text
    text = " ".join(text.split())
    return f": {text[:_MAX_DETAIL]}" if text else ""


def _mask(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
