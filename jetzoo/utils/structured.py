"""One way to declare and check the files people write: OmegaConf structured configs.

Recipe files (:mod:`jetzoo.recipes.config`) and task files (:mod:`jetzoo.leaderboard.tasks`)
declare their keys, types and defaults as dataclasses; :func:`merge_structured` merges a file
(or an override) into that schema and turns OmegaConf's complaint (unknown key, wrong type) into
one error naming the file and the dotted key. What a type cannot say (ranges, names known to a
registry, one field against another) each module checks after the merge.

Result files are the exception: written by programs and exchanged with third parties, they are
declared as a JSON Schema (:mod:`jetzoo.leaderboard.schema`) that any JSON tool can check.
"""

from __future__ import annotations

import typing
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


def key_and_message(err: OmegaConfBaseException) -> tuple[str, str]:
    """(dotted key, first line of the message) of an OmegaConf error."""
    key = getattr(err, "full_key", None) or "<root>"
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return str(key), msg


def merge_structured(
    base: DictConfig | type,
    other: Any,
    source: str,
    error: Callable[[str], Exception],
    where: Callable[[str], str] = lambda key: key,
) -> DictConfig:
    """``other`` merged into the structured ``base`` (a DictConfig or a dataclass); raises
    ``error("<source>: <where(key)>: <message>")`` for a key or value that does not fit."""
    if isinstance(base, type):
        base = OmegaConf.structured(base)
    try:
        return typing.cast(DictConfig, OmegaConf.merge(base, other))
    except OmegaConfBaseException as err:
        key, msg = key_and_message(err)
        raise error(f"{source}: {where(key)}: {msg}") from None
    except (TypeError, ValueError) as err:  # omegaconf's own merge of mismatched containers
        raise error(f"{source}: a section does not fit the schema ({err})") from None


def first_missing(cfg: DictConfig) -> str | None:
    """The first mandatory key (``MISSING``) a merged config still lacks, or None."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    return missing[0] if missing else None
