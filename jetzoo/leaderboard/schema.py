"""The leaderboard result file: ``leaderboard/results/<model>.json`` + ``<model>.roc.npz``.

A result file records who was scored (model id, revision, weights sha256), on what (dataset
sha256 per task), by which code (jetzoo version) and when, and one row per
(task, evaluation, metric): ``value`` on the full evaluation split, ``spread`` (standard
deviation over bootstrap resamples of that split) and ``n`` (jets scored). ROC curves live in a
sidecar ``.roc.npz`` (arrays ``<key>.fpr`` / ``<key>.tpr``) whose sha256 the JSON records.

``checksum`` is the sha256 of the canonical JSON (sorted keys, no whitespace) of everything
else: :func:`load_result` refuses a file edited by hand, and a sidecar whose sha256 differs.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from jetzoo.utils.io import atomic_path, atomic_write_text, sha256_file

SCHEMA_VERSION = 1
_SHA = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_NUM = {"type": ["number", "null"]}  # null: not defined (e.g. rejection with no background)

RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "jetzoo leaderboard result file",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "model", "jetzoo_version", "date", "quick", "datasets",
                 "results", "checksum"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "model": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "revision", "weights_sha256", "arch", "family", "num_features"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "revision": {"type": "string"},
                "weights_sha256": _SHA,
                "source": {"type": "string"},
                "arch": {"type": "string"},
                "family": {"enum": ["jetnet", "rs3l"]},
                "num_features": {"type": "integer", "minimum": 1},
                "n_params": {"type": "integer", "minimum": 0},
                "recipe": {"type": ["string", "null"]},
            },
        },
        "jetzoo_version": {"type": "string"},
        "date": {"type": "string", "format": "date-time"},
        "quick": {"type": "boolean"},
        "devices": {"type": ["integer", "string"]},
        "settings": {"type": "object"},  # task settings replaced by `submit --set`
        "datasets": {
            "type": "object",
            "additionalProperties": {
                "type": "object", "required": ["sha256"], "additionalProperties": False,
                "properties": {"sha256": _SHA, "path": {"type": "string"},
                               "n_test": {"type": "integer"}},
            },
        },
        "skipped": {"type": "object", "additionalProperties": {"type": "string"}},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["task", "evaluation", "metric", "value", "spread", "n"],
                "properties": {
                    "task": {"type": "string", "minLength": 1},
                    "evaluation": {"type": "string", "minLength": 1},
                    "metric": {"type": "string", "minLength": 1},
                    "value": _NUM,
                    "spread": _NUM,
                    "n": {"type": "integer", "minimum": 1},
                    "baseline": {"type": "boolean"},
                    "label_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "details": {"type": "object"},
                },
            },
        },
        "roc": {
            "type": "object",
            "additionalProperties": False,
            "required": ["file", "sha256", "curves"],
            "properties": {
                "file": {"type": "string"},
                "sha256": _SHA,
                "curves": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["key", "task", "evaluation", "label"],
                    "properties": {"key": {"type": "string"}, "task": {"type": "string"},
                                   "evaluation": {"type": "string"},
                                   "label": {"type": "string"}}}},
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
    return json.dumps({k: v for k, v in obj.items() if k != "checksum"}, sort_keys=True,
                      separators=(",", ":"), allow_nan=False).encode()


def result_checksum(obj: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``obj`` without its ``checksum`` field."""
    return hashlib.sha256(_canonical(obj)).hexdigest()


def validate_result(obj: Any, source: Any = "<result>") -> None:
    """Check ``obj`` against :data:`RESULT_SCHEMA`; :class:`ResultFileError` naming the field."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        RESULT_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ResultFileError(f"{source}: field {where!r}: {err.message}")


def format_settings(settings: Mapping[str, Any] | None) -> str:
    """A result file's ``settings`` (task settings changed by ``submit --set``) as markdown,
    e.g. ```max_epochs=10`, `base_lrs=[0.001]```; "" when none were changed."""
    return ", ".join(f"`{k}={json.dumps(v)}`" for k, v in sorted((settings or {}).items()))


def roc_key(task: str, evaluation: str, label: str) -> str:
    """The npz key prefix of one ROC curve."""
    return f"{task}|{evaluation}|{label}"


def write_result(path: str | Path, obj: dict[str, Any],
                 roc: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> Path:
    """Write a result file atomically: ROC sidecar first (``<stem>.roc.npz``, arrays
    ``<key>.fpr``/``<key>.tpr``), then the JSON with the sidecar's sha256 and the checksum.
    ``roc`` maps :func:`roc_key` keys to (fpr, tpr). Returns the JSON path."""
    path = Path(path)
    obj = dict(obj)
    obj["schema_version"] = SCHEMA_VERSION
    if roc:
        side = path.with_name(path.name.removesuffix(".json") + ".roc.npz")
        arrays: dict[str, np.ndarray] = {}
        curves = []
        for key, (fpr, tpr) in roc.items():
            task, evaluation, label = key.split("|")
            arrays[f"{key}.fpr"] = np.asarray(fpr, dtype=np.float64)
            arrays[f"{key}.tpr"] = np.asarray(tpr, dtype=np.float64)
            curves.append({"key": key, "task": task, "evaluation": evaluation, "label": label})
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


def load_result(path: str | Path, load_roc: bool = True
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
    validate_result(obj, source=path)
    if result_checksum(obj) != obj["checksum"]:
        raise ResultFileError(f"{path}: field 'checksum' does not match the content: the file was "
                              "edited after it was written; re-run `jetzoo leaderboard submit`")
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if "roc" in obj and load_roc:
        side = path.with_name(obj["roc"]["file"])
        if not side.is_file():
            raise ResultFileError(f"{path}: field 'roc/file': sidecar {side} is missing")
        if sha256_file(side) != obj["roc"]["sha256"]:
            raise ResultFileError(f"{side}: sha256 differs from field 'roc/sha256' in {path}: "
                                  "the ROC file was changed after it was written")
        with np.load(side, allow_pickle=False) as npz:
            for curve in obj["roc"]["curves"]:
                key = curve["key"]
                try:
                    roc[key] = (npz[f"{key}.fpr"], npz[f"{key}.tpr"])
                except KeyError as err:
                    raise ResultFileError(f"{side}: no arrays for ROC curve {key!r}") from err
    return obj, roc
