"""KFP's cron format, checked before anything is sent to the server.

Kubeflow Pipelines schedules with robfig/cron's six-field format, seconds first:
`second minute hour day-of-month month day-of-week`, e.g. `0 0 3 * * *` for
03:00:00 every day. A classic five-field crontab line is the most common
mistake (it would be read with minutes as seconds), so it gets its own message.
"""

from __future__ import annotations

import re

from kubeflow.errors import KubeflowError

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
_EXAMPLE = "'0 0 3 * * *' (every day at 03:00:00)"


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
