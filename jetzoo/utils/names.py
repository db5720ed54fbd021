"""Names that become file names: model ids, task names, dataset and model names.

A name is one path component made of letters, digits, ``.``, ``_`` and ``-``, starting with a
letter or digit (so never ``.``, ``..`` or a hidden file) and at most 100 characters. Hub ids
``org/name`` are turned into names with :func:`name_from_repo_id` (``org--name``, the
Hugging Face cache's own spelling) before they reach a path.
"""

from __future__ import annotations

import re

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_NAME = re.compile(NAME_PATTERN)


class InvalidNameError(ValueError):
    """A name cannot be used as a file name; the message names where it came from."""


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a file-name component, or None if it can."""
    if not isinstance(name, str):
        return f"must be a string, got {type(name).__name__}"
    if not _NAME.match(name):
        return (
            f"{name!r} is not a valid name: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no path separators, no '.' or '..')"
        )
    return None


def check_name(name: object, where: str) -> str:
    """``name`` if it is a valid file-name component, else :class:`InvalidNameError` naming
    ``where`` (e.g. ``"--name"`` or ``"config.json field 'model_name'"``)."""
    problem = name_problem(name)
    if problem:
        raise InvalidNameError(f"{where}: {problem}")
    return name  # type: ignore[return-value]


def name_from_repo_id(repo_id: str) -> str:
    """``org/name`` -> ``org--name`` (one path component)."""
    return repo_id.replace("/", "--")
