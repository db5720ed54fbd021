"""One YAML reading for every jetzoo input: recipe files, task files and ``KEY=VALUE`` overrides.

PyYAML follows YAML 1.1, where a float needs a dot: ``1e-3`` and ``5E-4`` are read as strings,
so ``optimizer.lr=1e-3`` or ``gradient_clip_val: 1e-1`` would reach a schema as text. The
:class:`Loader` here resolves floats the YAML 1.2 way (``1e-3``, ``1.5e+2``, ``.5``, ``.inf``)
and is otherwise PyYAML's safe loader. Every reader of a jetzoo YAML file or override uses it:
:func:`load_yaml` for documents, :func:`parse_value` / :func:`parse_assignment` for overrides.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_FLOAT_TAG = "tag:yaml.org,2002:float"
# YAML 1.2 core-schema floats (plus 1.1's underscores and sexagesimal forms, as PyYAML reads).
_FLOAT = re.compile(
    r"""^(?:
     [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 float resolution (``1e-3`` is a float)."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _FLOAT_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(_FLOAT_TAG, _FLOAT, list("-+0123456789."))


class OverrideError(ValueError):
    """A ``KEY=VALUE`` override that cannot be read; the message names the override."""


def load_yaml(text: str) -> Any:
    """Parse a YAML document with :class:`Loader` (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader


def parse_value(text: str) -> Any:
    """The value of an override: YAML (numbers incl. ``1e-3``, bools, lists, null); an empty
    value is null. Raises :class:`OverrideError` for text that is not valid YAML."""
    if not text.strip():
        return None
    try:
        return load_yaml(text)
    except yaml.YAMLError as err:
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
