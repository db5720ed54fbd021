"""The leaderboard result store: ``leaderboard/results/<model>/<weights-sha12>/<task>.json``.

One file per (model, weights, task), holding one *run* per tier (``quick``, ``standard``,
``paper``). A run records what was scored and how, so that a number can be reproduced and two
numbers compared only when they mean the same:

- ``task_sha256`` (the task file's bytes), the resolved ``settings`` and the ``overrides``
  given on the command line, the ``dataset`` (catalog name, sha256, split key, test jets), the
  jetzoo version, date and devices;
- ``results``: one row per (evaluation, metric): ``value`` (the mean over seeds for seeded
  evaluations), ``spread`` (the bootstrap spread of the evaluation split, averaged over seeds),
  ``n`` (jets scored) and, for seeded evaluations, ``seeds``, ``per_seed`` and ``seed_std``;
- ``skipped``: evaluations that do not apply, with the reason.

ROC curves live in a sidecar ``<task>.roc.npz`` (arrays ``<key>.fpr`` / ``<key>.tpr``, key
``tier|evaluation|label``) whose sha256 the JSON records. ``checksum`` is the sha256 of the
canonical JSON of everything else: :func:`load_result` refuses a file edited by hand and a
sidecar whose bytes changed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from jetzoo.utils.formatting import format_settings  # noqa: F401  (re-exported)
from jetzoo.utils.io import atomic_path, atomic_write_text, sha256_file
from jetzoo.utils.names import NAME_PATTERN, name_problem

SCHEMA_VERSION = 2
TIER_NAMES = ["quick", "standard", "paper"]
_SHA = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_NUM = {"type": ["number", "null"]}  # null: not defined (e.g. rejection with no background)
_NAME = {"type": "string", "pattern": NAME_PATTERN}  # model ids and task names become paths

_ROW = {
    "type": "object",
    "additionalProperties": False,
    "required": ["evaluation", "metric", "value", "spread", "n"],
    "properties": {
        "evaluation": {"type": "string", "minLength": 1},
        "metric": {"type": "string", "minLength": 1},
        "value": _NUM,
        "spread": _NUM,
        "n": {"type": "integer", "minimum": 1},
        "seeds": {"type": "array", "items": {"type": "integer"}},
        "per_seed": {"type": "array", "items": _NUM},
        "seed_std": _NUM,
        "baseline": {"type": "boolean"},
        "label_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "details": {"type": ["object", "array"]},
        # rows kept from an earlier run of other code: what scored them (else the run's)
        "scored": {
            "type": "object",
            "additionalProperties": False,
            "required": ["jetzoo_version", "date"],
            "properties": {
                "jetzoo_version": {"type": "string"},
                "jetzoo_commit": {"type": ["string", "null"]},
                "date": {"type": "string"},
            },
        },
    },
}
_RUN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["task_sha256", "settings", "dataset", "jetzoo_version", "date", "results"],
    "properties": {
        "task_sha256": _SHA,
        "settings": {"type": "object"},
        "overrides": {"type": "object"},
        "dataset": {
            "type": "object",
            "additionalProperties": False,
            "required": ["sha256"],
            "properties": {
                "name": {"type": "string"},
                "sha256": _SHA,
                "path": {"type": "string"},
                "n_test": {"type": "integer"},
                "split_key": {"type": "string"},
            },
        },
        "jetzoo_version": {"type": "string"},
        "jetzoo_commit": {"type": ["string", "null"]},  # the code's git commit (None: a wheel)
        # commits of journalled training jobs resumed into this run, other than jetzoo_commit
        "resumed_commits": {"type": "array", "items": {"type": "string"}},
        "date": {"type": "string", "format": "date-time"},
        "devices": {"type": ["integer", "string"]},
        "wall_seconds": {"type": "number", "minimum": 0},
        "skipped": {"type": "object", "additionalProperties": {"type": "string"}},
        "results": {"type": "array", "items": _ROW},
    },
}
RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "jetzoo leaderboard result file (one model, one weights file, one task)",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "model", "task", "runs", "checksum"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "model": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "revision", "weights_sha256", "arch", "family", "num_features"],
            "properties": {
                "id": _NAME,
                "revision": {"type": "string"},
                "weights_sha256": _SHA,
                "config_sha256": _SHA,
                "identity_sha256": _SHA,
                "source": {"type": "string"},
                "arch": {"type": "string"},
                "family": {"enum": ["jetnet", "rs3l"]},
                "num_features": {"type": "integer", "minimum": 1},
                "n_params": {"type": "integer", "minimum": 0},
                "recipe": {"type": ["string", "null"]},
            },
        },
        "task": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "kind", "family", "main_score"],
            "properties": {
                "name": _NAME,
                "kind": {"enum": ["multiclass", "binary", "anomaly"]},
                "family": {"type": "string"},
                "main_score": {"type": "string", "pattern": "^[^/]+/.+$"},
                "description": {"type": "string"},
                "classes": {"type": "array", "items": {"type": "string"}},
            },
        },
        "runs": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"enum": TIER_NAMES},
            "additionalProperties": _RUN,
        },
        "roc": {
            "type": "object",
            "additionalProperties": False,
            "required": ["file", "sha256", "curves"],
            "properties": {
                "file": {"type": "string"},
                "sha256": _SHA,
                "curves": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["key", "tier", "evaluation", "label"],
                        "properties": {
                            "key": {"type": "string"},
                            "tier": {"type": "string"},
                            "evaluation": {"type": "string"},
                            "label": {"type": "string"},
                        },
                    },
                },
            },
        },
        "checksum": _SHA,
    },
}


class ResultFileError(ValueError):
    """A result file is invalid or was tampered with; the message names the file and field."""


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _canonical(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(
        {k: v for k, v in obj.items() if k != "checksum"},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    ).encode()


def result_checksum(obj: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``obj`` without its ``checksum`` field."""
    return hashlib.sha256(_canonical(obj)).hexdigest()


def validate_result(obj: Any, source: Any = "<result>") -> None:
    """Check ``obj`` against :data:`RESULT_SCHEMA`; :class:`ResultFileError` naming the field."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        RESULT_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ResultFileError(f"{source}: field {where!r}: {err.message}")


def roc_key(tier: str, evaluation: str, label: str) -> str:
    """The npz key prefix of one ROC curve."""
    return f"{tier}|{evaluation}|{label}"


def safe_name(text: str) -> str:
    """``text`` as one path component (model ids may hold '/')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def result_path(root: str | Path, model_id: str, identity_sha256: str, task: str) -> Path:
    """``<root>/<model>/<identity-sha12>/<task>.json``: the model id and the task name must be
    valid names (:mod:`jetzoo.utils.names`; never ``..`` or a separator), the folder is the
    model's identity (weights + architecture config, :func:`jetzoo.models.zoo.identity_sha256`)."""
    for name, what in ((model_id, "model id"), (task, "task name")):
        problem = name_problem(name)
        if problem:
            raise ResultFileError(f"{root}: {what} {problem}")
    return Path(root) / model_id / identity_sha256[:12] / f"{task}.json"


def write_result(
    path: str | Path,
    obj: dict[str, Any],
    roc: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """Write a result file atomically: ROC sidecar first (``<stem>.roc.npz``), then the JSON
    with the sidecar's sha256 and the checksum. ``roc`` maps :func:`roc_key` keys to
    (fpr, tpr). Returns the JSON path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = dict(obj)
    obj["schema_version"] = SCHEMA_VERSION
    if roc:
        side = path.with_name(path.name.removesuffix(".json") + ".roc.npz")
        arrays: dict[str, np.ndarray] = {}
        curves = []
        for key, (fpr, tpr) in sorted(roc.items()):
            tier, evaluation, label = key.split("|")
            arrays[f"{key}.fpr"] = np.asarray(fpr, dtype=np.float64)
            arrays[f"{key}.tpr"] = np.asarray(tpr, dtype=np.float64)
            curves.append({"key": key, "tier": tier, "evaluation": evaluation, "label": label})
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        with atomic_path(side) as tmp:
            tmp.write_bytes(buf.getvalue())
        obj["roc"] = {"file": side.name, "sha256": sha256_file(side), "curves": curves}
    else:
        obj.pop("roc", None)
    obj["checksum"] = "0" * 64
    validate_result(obj, source=path)
    obj["checksum"] = result_checksum(obj)
    atomic_write_text(path, json.dumps(obj, indent=1, allow_nan=False) + "\n")
    return path


def load_result(
    path: str | Path, load_roc: bool = True
) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Read, validate and verify a result file (checksum, ROC sidecar sha256).

    Returns ``(result, roc)`` with ``roc`` mapping keys to (fpr, tpr) (empty without a sidecar
    or with ``load_roc=False``). Raises :class:`ResultFileError` naming the file and the field.
    """
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except OSError as err:
        raise ResultFileError(f"{path}: cannot read ({err})") from err
    except json.JSONDecodeError as err:
        raise ResultFileError(f"{path}: not valid JSON ({err})") from err
    if isinstance(obj, dict) and obj.get("schema_version") == 1:
        raise ResultFileError(
            f"{path}: field 'schema_version': 1 is the single-file format of "
            "jetzoo 0.1; re-run `jetzoo leaderboard submit` for the store"
        )
    validate_result(obj, source=path)
    if result_checksum(obj) != obj["checksum"]:
        raise ResultFileError(
            f"{path}: field 'checksum' does not match the content: the file was "
            "edited after it was written; re-run `jetzoo leaderboard submit`"
        )
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if "roc" in obj and load_roc:
        side = path.with_name(obj["roc"]["file"])
        if not side.is_file():
            raise ResultFileError(f"{path}: field 'roc/file': sidecar {side} is missing")
        if sha256_file(side) != obj["roc"]["sha256"]:
            raise ResultFileError(
                f"{side}: sha256 differs from field 'roc/sha256' in {path}: "
                "the ROC file was changed after it was written"
            )
        with np.load(side, allow_pickle=False) as npz:
            for curve in obj["roc"]["curves"]:
                key = curve["key"]
                try:
                    roc[key] = (npz[f"{key}.fpr"], npz[f"{key}.tpr"])
                except KeyError as err:
                    raise ResultFileError(f"{side}: no arrays for ROC curve {key!r}") from err
    return obj, roc


def iter_store(root: str | Path) -> Iterator[Path]:
    """Every result file of a store, sorted (``<root>/*/*/*.json``)."""
    return iter(sorted(Path(root).glob("*/*/*.json")))


def flat_rows(result: Mapping[str, Any], tier: str) -> list[dict[str, Any]]:
    """The rows of one tier's run with the task name added (what cards and comparisons read)."""
    run = result["runs"].get(tier)
    if run is None:
        return []
    return [{"task": result["task"]["name"], **row} for row in run["results"]]
