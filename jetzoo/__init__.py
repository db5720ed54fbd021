"""jetzoo: a Lightning-based foundation-model zoo for jet physics.

Public API::

    from jetzoo import JetZoo, create_backbone, list_models
    model = JetZoo.from_pretrained("jbot-b")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"  # the one version source (pyproject reads it)

_LAZY = {
    "JetZoo": ("jetzoo.models.zoo", "JetZoo"),
    "create_backbone": ("jetzoo.models.registry", "create_backbone"),
    "list_models": ("jetzoo.models.registry", "list_models"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:  # lazy: `import jetzoo` stays cheap (no torch import)
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'jetzoo' has no attribute {name!r}")
