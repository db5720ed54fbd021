"""A griffe extension for the API reference: the docstrings' Sphinx markup as Markdown.

jetzoo's docstrings use reStructuredText roles (``:class:`~a.B```, ``:func:`x```) and double
backquotes; mkdocstrings renders Markdown, where those would show as raw text.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc|py:\w+):`(~?)([^`]+)`")


def markdown(text: str) -> str:
    """``:class:`~a.B``` -> `` `B` ``, ``:func:`a.f``` -> `` `a.f` ``, ````x```` -> `` `x` ``."""
    text = _ROLE.sub(lambda m: f"`{m.group(2).split('.')[-1] if m.group(1) else m.group(2)}`", text)
    return text.replace("``", "`")


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring with :func:`markdown` as griffe loads it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
