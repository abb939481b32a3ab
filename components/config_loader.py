"""One loader for every config: nested frozen dataclasses from dicts (YAML, JSON, --set).

The pipeline's config (pipeline/config.py) nests the components' own configs
(IngestConfig and its SelectionSpec, FrameSpec, HttpOptions; TrainerConfig;
DataGateConfig), and each component reads its own back from the JSON of its
exec properties. All of them are built here, by one set of rules:

- a field the dataclass does not have is refused, naming the known ones;
- `str`, `int`, `float` and `bool` fields must hold one (a float takes an int, and
  a string YAML 1.1 left unparsed such as `1e-3`); `tuple[str, ...]` takes a list
  of strings; a union takes any of its members; a dataclass field takes a mapping
  (or nothing, for all its defaults);
- a field without a default must be given;
- keys a dataclass lists in its `RENAMED_KEYS` class variable are read under
  their new name with a warning (components/renamed_keys.py);
- the dataclass' own `__post_init__` checks values with `require`.

Every failure is one ConfigError whose message starts with the dotted path of the
field (`trainer.window_frames must be >= 1, got 0`). Light on purpose: no
TensorFlow, no Beam, so any process may load a config.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from typing import Any, TypeVar

from absl import logging

T = TypeVar("T")


class ConfigError(ValueError):
    """A config that cannot be used: the dotted path of the field, and why.

    Attributes:
      field: the field's dotted path ('' when the error is about no one field).
      reason: the rest of the message.
    """

    def __init__(self, reason: str, field: str = ""):
        self.field = field
        self.reason = reason
        super().__init__(f"{field} {reason}" if field else reason)

    def within(self, section: str) -> ConfigError:
        """The same error, its field under `section` (`trainer` + `epochs`)."""
        if not section:
            return self
        if self.field:
            return ConfigError(self.reason, f"{section}.{self.field}")
        return ConfigError(f"{section}: {self.reason}")


class SectionConfig:
    """JSON in and out for a config dataclass that is one section of the pipeline's
    (`SECTION`, e.g. 'trainer'): a component stores it as a JSON exec property and its
    executor reads it back through `load`, so errors name the same dotted fields."""

    SECTION = ""  # not a field (no annotation)

    def to_json(self) -> str:
        """The config as JSON, keys sorted (stable: TFX caches on exec properties)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls: type[T], data: dict) -> T:
        """Raises: ConfigError naming the field (`<SECTION>.<field> ...`)."""
        return load(cls, data, cls.SECTION)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        """`from_dict` of JSON text (`to_json`'s, or an older release's)."""
        return cls.from_dict(json.loads(text))


def require(ok: bool, field: str, rule: str, value: Any) -> None:
    """Raises ConfigError `<field> must be <rule>, got <value>` unless `ok`."""
    if not ok:
        raise ConfigError(f"must be {rule}, got {value!r}", field)


# YAML 1.1 reads 1e-3 (no dot) as a string; float fields take it as the number it is.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_MISSING = object()


def load(cls: type[T], data: Any, section: str = "") -> T:
    """`cls` (a dataclass) built from `data` (a mapping of its fields), recursively.

    Args:
      cls: the dataclass.
      data: its fields as plain values (as `dataclasses.asdict` writes them, or YAML).
      section: the dotted path of `data` in the whole config, for error messages.

    Raises:
      ConfigError: an unknown, missing or mistyped field, or a value the
        dataclass' checks refuse; the message names the field's dotted path.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"must be a mapping, got {type(data).__name__}", section)
    renamed = getattr(cls, "RENAMED_KEYS", None)
    if renamed:
        data = take_renamed(data, renamed, section or cls.__name__)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f" in {section}" if section else ""
        raise ConfigError(
            f"unknown config field(s) {', '.join(_join(section, u) for u in unknown)}; "
            f"known{where}: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        path = _join(section, name)
        if name in data:
            values[name] = _convert(data[name], hints[name], path)
        elif _has_default(field):
            continue
        elif dataclasses.is_dataclass(hints[name]):
            values[name] = load(hints[name], {}, path)
        else:
            raise ConfigError("must be set", path)
    try:
        return cls(**values)
    except ConfigError as e:
        raise e.within(section) from None


def take_renamed(data: dict, renames: dict[str, str], where: str) -> dict:
    """A copy of `data` with each old key moved to its new name (one warning line each).

    Raises:
      ConfigError: both the old and the new key are given.
    """
    out = dict(data)
    for old, new in renames.items():
        if old not in out:
            continue
        if new in out:
            raise ConfigError(
                f"{where}.{old} and {where}.{new} are the same setting: give {where}.{new} only"
            )
        logging.warning(
            "config key %s.%s is deprecated, read as %s.%s (rename it: the old key goes "
            "in the next release)",
            where,
            old,
            where,
            new,
        )
        out[new] = out.pop(old)
    return out


def _join(section: str, name: str) -> str:
    return f"{section}.{name}" if section else name


def _has_default(field: dataclasses.Field) -> bool:
    return (
        field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING  # type: ignore[misc]
    )


def _convert(value: Any, kind: Any, path: str) -> Any:
    """`value` as a `kind`, or ConfigError naming `path`."""
    if dataclasses.is_dataclass(kind):  # an empty YAML section (`evaluation:`) is None
        return load(kind, {} if value is None else value, path)
    found = _as(value, kind)
    if found is _MISSING:
        raise ConfigError(f"must be {_describe(kind)}, got {type(value).__name__} {value!r}", path)
    return found


def _as(value: Any, kind: Any) -> Any:
    """`value` converted to `kind`, or _MISSING when it is not one."""
    if kind is Any:
        return value
    if kind is bool:
        return value if isinstance(value, bool) else _MISSING
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISSING
    if kind is float:
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            return float(value)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return value if ok else _MISSING  # an int stays one: the JSON, and so caching, keeps it
    if kind is str:
        return value if isinstance(value, str) else _MISSING
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        for member in args:
            found = _as(value, member)
            if found is not _MISSING:
                return found
        return _MISSING
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            return _MISSING
        items = [_as(item, args[0]) for item in value]
        return _MISSING if any(i is _MISSING for i in items) else tuple(items)
    return value  # a type these rules do not cover: the dataclass checks it


def _describe(kind: Any) -> str:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_describe(member) for member in typing.get_args(kind))
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        return "a list of strings" if item is str else f"a list of {_describe(item)}"
    return getattr(kind, "__name__", str(kind))
