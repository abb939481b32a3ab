"""components/config_loader.py: one set of rules for every config, dotted paths in errors."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest

from components.config_loader import ConfigError, load, require


@dataclasses.dataclass(frozen=True)
class Inner:
    size: int = 1
    rate: float = 0.5
    names: tuple[str, ...] = ()
    pick: int | tuple[str, ...] = 0
    RENAMED_KEYS = {"old_size": "size"}

    def __post_init__(self):
        require(self.size >= 1, "size", ">= 1", self.size)


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = Inner()
    on: bool = False


def test_nested_values_are_converted_and_checked():
    config = load(Outer, {"name": "x", "inner": {"rate": "1e-3", "names": ["a", "b"]}})
    assert config == Outer("x", Inner(rate=1e-3, names=("a", "b")))
    assert load(Outer, {"name": "x", "inner": None}) == Outer("x")  # an empty YAML section
    assert load(Outer, {"name": "x", "inner": {"pick": 3}}).inner.pick == 3
    assert load(Outer, {"name": "x", "inner": {"pick": ["a"]}}).inner.pick == ("a",)
    # An int stays an int in a float field: the JSON it is written back as is unchanged.
    assert load(Inner, {"rate": 2}).rate == 2 and isinstance(load(Inner, {"rate": 2}).rate, int)


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "top.name must be set"),
        (
            {"name": "x", "bogus": 1},
            "unknown config field(s) top.bogus; known in top: inner, name, on",
        ),
        ({"name": "x", "inner": {"sise": 2}}, "unknown config field(s) top.inner.sise;"),
        ({"name": "x", "inner": {"size": 0}}, "top.inner.size must be >= 1, got 0"),
        ({"name": "x", "inner": {"size": "2"}}, "top.inner.size must be int, got str '2'"),
        ({"name": "x", "inner": {"size": True}}, "top.inner.size must be int, got bool True"),
        ({"name": "x", "on": "yes"}, "top.on must be bool, got str 'yes'"),
        ({"name": "x", "inner": {"rate": "fast"}}, "top.inner.rate must be float, got str"),
        ({"name": "x", "inner": {"names": "a"}}, "top.inner.names must be a list of strings"),
        ({"name": "x", "inner": {"pick": [1]}}, "top.inner.pick must be int or a list of strings"),
        ({"name": "x", "inner": 3}, "top.inner must be a mapping, got int"),
        ({"name": "x", "inner": {"size": 2, "old_size": 3}}, "give top.inner.size only"),
    ],
)
def test_every_error_is_one_config_error_naming_the_dotted_field(data, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(Outer, data, "top")


def test_a_renamed_key_reads_with_one_warning(caplog):
    assert load(Inner, {"old_size": 3}, "inner").size == 3
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "inner.old_size is deprecated, read as inner.size" in said[0]


def test_config_errors_are_value_errors_with_the_field_apart():
    """Callers that caught ValueError still do; the field is there for whoever shows it."""
    with pytest.raises(ValueError) as raised:
        load(Inner, {"size": -1}, "trainer")
    assert (raised.value.field, raised.value.reason) == ("trainer.size", "must be >= 1, got -1")


def test_every_config_loads_without_tensorflow_or_beam():
    """The configs are read by light processes (history, compile, the CLIs' checks)."""
    code = (
        "import sys\n"
        "from pipeline.config import load_config\n"
        "load_config(None)\n"
        "heavy = ('tensorflow', 'apache_beam', 'tf_keras', 'tfx')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
