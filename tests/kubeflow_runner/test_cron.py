"""KFP's six-field cron (seconds first) is checked before anything is sent, and its next
fire times are computed as KFP's scheduler does (robfig/cron, in UTC)."""

import datetime
from zoneinfo import ZoneInfo

import pytest

from kubeflow_runner.cron import describe_fire_times, next_fire_times, validate_cron
from kubeflow_runner.errors import KubeflowError

UTC = datetime.timezone.utc


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


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "expression, after, expected",
    [
        # The README's nightly schedule: 03:00 UTC, whatever the local zone.
        ("0 0 3 * * *", at(2026, 3, 28, 12), [at(2026, 3, 29, 3), at(2026, 3, 30, 3)]),
        ("0 0 3 * * *", at(2026, 3, 28, 3), [at(2026, 3, 29, 3), at(2026, 3, 30, 3)]),
        ("0 0 3 * * *", at(2026, 3, 28, 2, 59, 59), [at(2026, 3, 28, 3), at(2026, 3, 29, 3)]),
        # Weekdays only, every 15 minutes: from Saturday noon to Monday 00:00.
        ("0 */15 * * * MON-FRI", at(2026, 3, 28, 12), [at(2026, 3, 30), at(2026, 3, 30, 0, 15)]),
        # N/step means N..max: minutes 50 and 55 of each hour.
        ("0 50/5 * * * *", at(2026, 1, 1, 0, 52), [at(2026, 1, 1, 0, 55), at(2026, 1, 1, 1, 50)]),
        # A day that not every month has; a day only leap years have.
        ("0 0 0 31 * *", at(2026, 4, 1), [at(2026, 5, 31), at(2026, 7, 31)]),
        ("0 0 12 29 FEB ?", at(2026, 1, 1), [at(2028, 2, 29, 12), at(2032, 2, 29, 12)]),
        # Both day fields restricted: either matches (robfig/cron); with `?`: both must.
        ("0 0 12 1 * MON", at(2026, 6, 1, 13), [at(2026, 6, 8, 12), at(2026, 6, 15, 12)]),
        ("0 0 12 1 * MON", at(2026, 6, 22, 13), [at(2026, 6, 29, 12), at(2026, 7, 1, 12)]),
        ("0 0 12 ? * SUN", at(2026, 6, 1), [at(2026, 6, 7, 12), at(2026, 6, 14, 12)]),
        ("@daily", at(2026, 12, 31, 23), [at(2027, 1, 1), at(2027, 1, 2)]),
        ("@hourly", at(2026, 1, 1, 5, 30), [at(2026, 1, 1, 6), at(2026, 1, 1, 7)]),
    ],
)
def test_next_fire_times_in_utc(expression, after, expected):
    assert next_fire_times(expression, after, count=2) == expected


def test_impossible_date_never_fires_and_every_has_no_calendar():
    assert next_fire_times("0 0 0 30 2 *", at(2026, 1, 1)) == []
    assert next_fire_times("@every 6h", at(2026, 1, 1)) == []
    assert describe_fire_times("@every 6h") == [
        "@every 6h: every interval counted from when the recurring run starts"
    ]


def test_fire_times_are_shown_in_utc_and_in_the_local_zone_across_a_dst_change():
    # Paris moves to summer time at 01:00 UTC on 2026-03-29: 03:00 UTC is 04:00, then 05:00.
    lines = describe_fire_times("0 0 3 * * *", at(2026, 3, 27, 12), 3, ZoneInfo("Europe/Paris"))
    assert lines == [
        "2026-03-28 03:00:00 UTC = 2026-03-28 04:00:00 CET",
        "2026-03-29 03:00:00 UTC = 2026-03-29 05:00:00 CEST",
        "2026-03-30 03:00:00 UTC = 2026-03-30 05:00:00 CEST",
    ]
    # "03:00 daily" is the evening before in New York.
    [line] = describe_fire_times("0 0 3 * * *", at(2026, 7, 1, 12), 1, ZoneInfo("America/New_York"))
    assert line == "2026-07-02 03:00:00 UTC = 2026-07-01 23:00:00 EDT"


def test_invalid_expression_has_no_fire_times():
    with pytest.raises(KubeflowError, match="5 fields"):
        next_fire_times("0 3 * * *")
