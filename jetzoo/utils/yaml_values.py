"""One YAML reading for every jetzoo input: recipe files, task files and ``KEY=VALUE`` overrides.

PyYAML follows YAML 1.1, where a float needs a dot (``1e-3`` would be a string); OmegaConf's
loader reads floats the YAML 1.2 way (``1e-3``, ``1.5e+2``, ``.5``, ``.inf``), in documents and
in dotlist overrides alike, so every reader here goes through OmegaConf and returns plain
containers (``${...}`` is left as text: jetzoo files do not interpolate).
"""

from __future__ import annotations

from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException


class OverrideError(ValueError):
    """A ``KEY=VALUE`` override that cannot be read; the message names the override."""


def load_yaml(text: str) -> Any:
    """Parse a YAML document (raises ``yaml.YAMLError``); an empty document is None, a scalar
    document its value (for the caller's "expected a mapping" error)."""
    shape = yaml.safe_load(text)
    if not isinstance(shape, (dict, list)):
        return shape
    try:
        return OmegaConf.to_container(OmegaConf.create(text), resolve=False)
    except OmegaConfBaseException as err:  # e.g. a null or list key
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise yaml.YAMLError(first) from None


def parse_value(text: str) -> Any:
    """The value of an override: YAML (numbers incl. ``1e-3``, bools, lists, null); an empty
    value is null. Raises :class:`OverrideError` for text that is not valid YAML."""
    if not text.strip():
        return None
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist([f"value={text}"]))["value"]
    except (yaml.YAMLError, OmegaConfBaseException) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OverrideError(f"value {text!r} is not valid YAML ({first})") from None


def parse_assignment(item: str, example: str = "trainer.max_epochs=2") -> tuple[list[str], Any]:
    """``"a.b=1e-3"`` -> ``(["a", "b"], 0.001)``; :class:`OverrideError` for a malformed item."""
    key, sep, raw = item.partition("=")
    key = key.strip().lstrip("+")
    if not sep or not key:
        raise OverrideError(f"override {item!r}: expected KEY=VALUE, e.g. {example}")
    parts = key.split(".")
    if any(not p for p in parts):
        raise OverrideError(f"override {item!r}: malformed key {key!r}")
    try:
        return parts, parse_value(raw)
    except OverrideError as err:
        raise OverrideError(f"override {item!r}: {err}") from None
