"""Optional dependencies: what each extra of ``pip install "jetzoo[EXTRA]"`` brings, and one
error that names the extra when a command needs a module that is not installed.

The core install (load, embed, fine-tune, score) needs none of them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: module -> the extra that installs it
EXTRA_OF: dict[str, str] = {
    "pythia8mc": "generate",
    "fastjet": "generate",
    "awkward": "generate",
    "uproot": "import",
    "tensorboard": "train",
    "wandb": "train",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "mkdocs": "docs",
}


class MissingExtra(ImportError):
    """A command needs an optional dependency; the message says what to install."""


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` for ``what`` (a command or setting), or raise :class:`MissingExtra`:
    ``"<what> needs <module>: pip install 'jetzoo[<extra>]'"``."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = EXTRA_OF.get(module.split(".")[0], "dev")
        raise MissingExtra(f"{what} needs {module}: pip install 'jetzoo[{extra}]'") from err
