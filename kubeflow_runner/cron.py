"""KFP's cron format, checked before anything is sent to the server, and when it fires.

Kubeflow Pipelines schedules with robfig/cron's six-field format, seconds first:
`second minute hour day-of-month month day-of-week`, e.g. `0 0 3 * * *` for
03:00:00 every day. A classic five-field crontab line is the most common
mistake (it would be read with minutes as seconds), so it gets its own message.

KFP's scheduler (the ml-pipeline-scheduledworkflow controller) evaluates the
expression in UTC unless its deployment sets another zone (`CRON_SCHEDULE_TIMEZONE`):
`0 0 3 * * *` is 03:00 UTC, 04:00 in Paris in winter, 22:00 the day before in New
York. `next_fire_times` follows robfig/cron's rules (as KFP's `cron.Parse` and
`Schedule.Next` do) so the CLI can show when a schedule will really run, in UTC and
in the local zone.
"""

from __future__ import annotations

import dataclasses
import datetime
import re

from kubeflow_runner.errors import KubeflowError

UTC = datetime.timezone.utc
ZONE_NOTE = (
    "KFP evaluates cron in UTC (unless its scheduledworkflow deployment sets "
    "CRON_SCHEDULE_TIMEZONE)"
)

_MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
_DAYS = "SUN MON TUE WED THU FRI SAT".split()

# (name, lowest, highest, names for values or None, whether `?` is allowed)
_FIELDS = (
    ("second", 0, 59, None, False),
    ("minute", 0, 59, None, False),
    ("hour", 0, 23, None, False),
    ("day-of-month", 1, 31, None, True),
    ("month", 1, 12, _MONTHS, False),
    ("day-of-week", 0, 6, _DAYS, True),
)
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_EVERY = re.compile(r"^@every\s+(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_EXAMPLE = "'0 0 3 * * *' (every day at 03:00:00 UTC)"
# robfig/cron's descriptors as six-field expressions.
_DESCRIPTOR_FIELDS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_YEARS_AHEAD = 5  # robfig/cron gives up after five years (e.g. 30 February)


def validate_cron(expression: str) -> str:
    """Returns the expression, whitespace-normalised, if KFP's scheduler accepts it.

    Raises:
      KubeflowError: naming the field that is wrong and showing the expected format.
    """
    text = " ".join(expression.split())
    if not text:
        raise KubeflowError(f"cron expression is empty: expected six fields, e.g. {_EXAMPLE}")
    if text.startswith("@"):
        if text.lower() in _DESCRIPTORS or _EVERY.match(text):
            return text
        raise KubeflowError(
            f"cron expression {expression!r}: unknown descriptor; use six fields, e.g. {_EXAMPLE}"
        )
    fields = text.split(" ")
    if len(fields) == 5:
        raise KubeflowError(
            f"cron expression {expression!r} has 5 fields; KFP needs 6 with seconds first "
            f"(second minute hour day-of-month month day-of-week): did you mean '0 {text}'?"
        )
    if len(fields) != 6:
        raise KubeflowError(
            f"cron expression {expression!r} has {len(fields)} fields; KFP needs 6, seconds "
            f"first (second minute hour day-of-month month day-of-week), e.g. {_EXAMPLE}"
        )
    for value, field in zip(fields, _FIELDS, strict=True):
        problem = _field_problem(value, *field)
        if problem:
            raise KubeflowError(
                f"cron expression {expression!r}: {field[0]} field {value!r} {problem}; "
                f"expected second minute hour day-of-month month day-of-week, e.g. {_EXAMPLE}"
            )
    return text


def _field_problem(
    value: str, name: str, low: int, high: int, names: list[str] | None, question: bool
) -> str | None:
    """Why one field is invalid, or None."""
    if value == "?":
        return None if question else "may not be '?' (only day-of-month and day-of-week)"
    for part in value.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"has step {step!r}: expected a positive integer"
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(bounds):
            return f"has {part!r}: expected *, a value, a range a-b, or a list a,b"
        for bound in bounds:
            number = _number(bound, names)
            if number is None:
                allowed = f" or {names[0]}..{names[-1]}" if names else ""
                return f"has {bound!r}: expected a number {low}-{high}{allowed}"
            if not low <= number <= high:
                return f"has {bound!r}: out of range {low}-{high}"
    return None


def _number(text: str, names: list[str] | None) -> int | None:
    if text.isdigit():
        return int(text)
    if names and text.upper() in names:
        return names.index(text.upper()) + (1 if names is _MONTHS else 0)
    return None


# --- when a schedule fires ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Spec:
    """The values each field allows, and whether day fields were `*`/`?` (robfig's star)."""

    fields: tuple[frozenset[int], ...]  # second, minute, hour, day, month, weekday
    day_star: bool
    weekday_star: bool


def _parse(expression: str) -> _Spec | None:
    """The spec of a valid expression, None for `@every` (no calendar)."""
    text = validate_cron(expression)
    if text.startswith("@"):
        if text.lower() not in _DESCRIPTOR_FIELDS:
            return None
        text = _DESCRIPTOR_FIELDS[text.lower()]
    parsed = [
        _values(value, low, high, names)
        for value, (_, low, high, names, _) in zip(text.split(" "), _FIELDS, strict=True)
    ]
    return _Spec(tuple(v for v, _ in parsed), parsed[3][1], parsed[5][1])


def _values(value: str, low: int, high: int, names: list[str] | None) -> tuple[frozenset, bool]:
    """(allowed values, star) of one valid field, as robfig/cron's getRange reads it:
    `N/step` means N-high/step, and `*` or `?` anywhere in the field sets the star."""
    values, star = set(), False
    for part in value.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            start, end, star = low, high, True
        else:
            bounds = [_number(b, names) for b in base.split("-")]
            start = bounds[0]
            end = bounds[1] if len(bounds) == 2 else (high if step else start)
        values.update(range(start, end + 1, int(step) if step else 1))
    return frozenset(values), star


def next_fire_times(
    expression: str, after: datetime.datetime | None = None, count: int = 3
) -> list[datetime.datetime]:
    """The next `count` times (UTC, after `after`, default now) KFP starts a run of a
    schedule with this cron; [] for `@every` schedules (they count from their start).

    Raises:
      KubeflowError: the expression is invalid (see `validate_cron`).
    """
    spec = _parse(expression)
    if spec is None:
        return []
    after = (after or datetime.datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    seconds, minutes, hours, days, months, weekdays = (sorted(f) for f in spec.fields)
    found: list[datetime.datetime] = []
    day = after.date()
    # Each run's next is searched at most five years past it, as robfig/cron's Next does.
    while len(found) < count and day.year <= (found[-1] if found else after).year + _YEARS_AHEAD:
        if day.month in months and _day_matches(spec, day):
            for h in hours:
                for m in minutes:
                    for sec in seconds:
                        t = datetime.datetime(day.year, day.month, day.day, h, m, sec, tzinfo=UTC)
                        if t > after:
                            found.append(t)
                            if len(found) == count:
                                return found
        day += datetime.timedelta(days=1)
    return found


def _day_matches(spec: _Spec, day: datetime.date) -> bool:
    # robfig/cron: with either day field a star both must match, else either may.
    in_month = day.day in spec.fields[3]
    in_week = (day.weekday() + 1) % 7 in spec.fields[5]  # cron: Sunday is 0
    if spec.day_star or spec.weekday_star:
        return in_month and in_week
    return in_month or in_week


def describe_fire_times(
    expression: str,
    after: datetime.datetime | None = None,
    count: int = 3,
    local: datetime.tzinfo | None = None,
) -> list[str]:
    """The next fire times as lines 'YYYY-MM-DD HH:MM:SS UTC = YYYY-MM-DD HH:MM:SS <zone>'
    (`local`: default this machine's zone); for `@every`, one line saying how it counts."""
    times = next_fire_times(expression, after, count)
    if not times:
        every = " ".join(expression.split())
        return [f"{every}: every interval counted from when the recurring run starts"]
    lines = []
    for t in times:
        here = t.astimezone(local) if local is not None else t.astimezone()
        lines.append(f"{t:%Y-%m-%d %H:%M:%S} UTC = {here:%Y-%m-%d %H:%M:%S} {here.tzname()}")
    return lines
