"""KFP's six-field cron (seconds first) is checked before anything is sent."""

import pytest

from kubeflow.cron import validate_cron
from kubeflow.errors import KubeflowError


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 3 * * *",
        "0 */15 * * * MON-FRI",
        "0 0 3 ? * SUN",
        "30 0 0 1,15 JAN-JUN *",
        "0 0 0 * * 0-6/2",
        "@daily",
        "@every 6h",
    ],
)
def test_accepts_what_kfp_schedules(expression):
    assert validate_cron(expression) == expression


def test_normalises_whitespace():
    assert validate_cron("  0  0 3 * *   * ") == "0 0 3 * * *"


def test_five_field_crontab_is_refused_with_the_fix():
    with pytest.raises(KubeflowError, match=r"5 fields.*seconds first.*'0 0 3 \* \* \*'"):
        validate_cron("0 3 * * *")


@pytest.mark.parametrize(
    "expression, field",
    [
        ("0 0 24 * * *", "hour"),
        ("60 0 3 * * *", "second"),
        ("0 0 3 0 * *", "day-of-month"),
        ("0 0 3 * 13 *", "month"),
        ("0 0 3 * * 7", "day-of-week"),
        ("0 0 3 L * *", "day-of-month"),
        ("0 */0 3 * * *", "minute"),
        ("? 0 3 * * *", "second"),
        ("0 0 3-1- * * *", "hour"),
    ],
)
def test_names_the_bad_field(expression, field):
    with pytest.raises(KubeflowError, match=f"{field} field"):
        validate_cron(expression)


@pytest.mark.parametrize("expression", ["", "0 0 0 3 * * * *", "@sometimes"])
def test_refuses_wrong_shapes(expression):
    with pytest.raises(KubeflowError, match="cron expression"):
        validate_cron(expression)
