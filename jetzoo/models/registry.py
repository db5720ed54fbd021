"""timm-style registry of named backbone configurations.

An *architecture* is an ``nn.Module`` class built from keyword arguments
(``register_architecture``); a *model* is a named configuration of an architecture
(``register_model``), optionally published on the Hugging Face Hub under ``hub_repo``.

>>> from jetzoo import create_backbone, list_models
>>> list_models("jbot*")
['jbot-b', 'jbot-s']
>>> model = create_backbone("jbot-s", dropout=0.0)
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import torch
from torch import nn

T = TypeVar("T", bound=type)

# Modules whose import registers architectures and models.
_MODEL_MODULES = (
    "jetzoo.models.transformer",
    "jetzoo.models.autoencoder",
    "jetzoo.models.rs3l_backbone",
    "jetzoo.models.classifier",
)

_ARCHITECTURES: dict[str, type[nn.Module]] = {}
_MODELS: dict[str, "ModelSpec"] = {}
_loaded = False


@dataclass(frozen=True)
class ModelSpec:
    """A named backbone configuration."""

    name: str
    arch: str
    config: dict[str, Any]
    description: str = ""
    hub_repo: str | None = None  # e.g. "jetzoo/jbot-b"
    revision: str = "main"
    tags: tuple[str, ...] = field(default_factory=tuple)


def register_architecture(name: str) -> Callable[[T], T]:
    """Class decorator: make an ``nn.Module`` class buildable from a config dict by ``name``."""

    def deco(cls: T) -> T:
        if name in _ARCHITECTURES and _ARCHITECTURES[name] is not cls:
            raise ValueError(f"architecture {name!r} is already registered")
        _ARCHITECTURES[name] = cls
        cls.arch_name = name  # type: ignore[attr-defined]
        return cls

    return deco


def register_model(
    name: str,
    arch: str,
    config: dict[str, Any],
    description: str = "",
    hub_repo: str | None = None,
    revision: str = "main",
    tags: tuple[str, ...] = (),
) -> ModelSpec:
    """Register a named configuration ``config`` (keyword arguments) of architecture ``arch``."""
    spec = ModelSpec(
        name=name,
        arch=arch,
        config=dict(config),
        description=description,
        hub_repo=hub_repo if hub_repo is not None else f"jetzoo/{name}",
        revision=revision,
        tags=tuple(tags),
    )
    _MODELS[name] = spec
    return spec


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _MODEL_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:  # a model module not written yet
            if err.name != module:
                raise


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of registered models, optionally filtered by a shell-style pattern."""
    _ensure_loaded()
    names = sorted(_MODELS)
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def _unknown(kind: str, name: str, known: list[str]) -> KeyError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return KeyError(f"unknown {kind} {name!r}.{hint} Known: {', '.join(known) or 'none'}")


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered name; a KeyError suggesting close names otherwise."""
    _ensure_loaded()
    if name not in _MODELS:
        raise _unknown("model", name, sorted(_MODELS))
    return _MODELS[name]


def is_registered(name: str) -> bool:
    _ensure_loaded()
    return name in _MODELS


def get_architecture(arch: str) -> type[nn.Module]:
    _ensure_loaded()
    if arch not in _ARCHITECTURES:
        raise _unknown("architecture", arch, sorted(_ARCHITECTURES))
    return _ARCHITECTURES[arch]


def config_problem(config: dict[str, Any]) -> tuple[str, str] | None:
    """The first ``(field, why)`` of a backbone config that its architecture's
    ``config_limits`` refuse (a size out of range, a non-number), before anything is built;
    None if every limited field is in range. Fields left out take the class defaults."""
    arch = config.get("arch")
    try:
        cls = get_architecture(str(arch))
    except KeyError as err:
        return "arch", str(err.args[0])
    for key, value in config.items():  # a nested model (a classifier's backbone)
        if isinstance(value, dict) and "arch" in value:
            problem = config_problem(value)
            if problem is not None:
                return f"{key}.{problem[0]}", problem[1]
    for key, (lo, hi) in getattr(cls, "config_limits", {}).items():
        value = config.get(key)
        if value is None:
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            integral = isinstance(lo, int) and isinstance(hi, int)
            kinds = (int,) if integral else (int, float)
            if isinstance(v, bool) or not isinstance(v, kinds):
                what = "an integer" if integral else "a number"
                return key, f"must be {what}, got {v!r}"
            if not (lo <= v <= hi):  # NaN fails too
                return key, f"{v!r} is outside the range [{lo}, {hi}] jetzoo loads"
    return None


def build_from_config(config: dict[str, Any]) -> nn.Module:
    """Build a backbone from a saved config ``{"arch": ..., **kwargs}``."""
    config = copy.deepcopy(dict(config))
    arch = config.pop("arch", None)
    if arch is None:
        raise ValueError("backbone config has no 'arch' field")
    cls = get_architecture(arch)
    try:
        return cls(**config)
    except TypeError as err:
        raise ValueError(f"backbone config does not fit architecture {arch!r}: {err}") from err


def random_init_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model``'s architecture and input preprocessing (its ``config``) with fresh random
    weights drawn after ``torch.manual_seed(seed)``: the baseline a pre-training is measured
    against."""
    torch.manual_seed(seed)
    return build_from_config(model.config)


def create_backbone(name: str, **overrides: Any) -> nn.Module:
    """Build the registered model ``name`` with random weights; keyword ``overrides`` replace
    entries of its config (e.g. ``dropout=0.0``)."""
    spec = get_model_spec(name)
    config = copy.deepcopy(spec.config)
    config.update(overrides)
    model = build_from_config({"arch": spec.arch, **config})
    model.model_name = name  # the name save_pretrained records
    return model
