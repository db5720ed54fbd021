"""What the board ranks: one row per model, its main revision, what kind of entry it is.

A model id has one *main revision* on the board: for a model shipped with the package
(``jetzoo/weights/<id>/``) the identity whose weights are the shipped ones; otherwise the
identity scored last. Every other identity of that id is an older revision (the history page).
Entries are pre-trained models or baselines, marked as such: ``*-random-init`` (the architecture
with random weights) and ``*-published`` (the published weights, imported for their results;
jetzoo ships none of them). The supervised-from-scratch baseline is an evaluation of each
model's own rows (``supervised``), not an entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"

#: id suffix -> what the entry is
BASELINE_SUFFIXES = {
    "-random-init": "baseline: random init",
    "-published": "published weights (results only)",
}


@dataclass(frozen=True)
class Entry:
    """One model id on the board: its main revision and what a reader needs beside it."""

    model: str
    identity: str  # identity sha256 (or weights sha256 of results that predate identities)
    kind: str  # "shipped", "baseline: random init", ...
    params: int | None
    licence: str
    pretraining_data: str
    jets_seen: int | None
    recipe: str


def identity_of(result: dict[str, Any]) -> str:
    """The identity a result file was scored under (its weights' sha256 for old files)."""
    m = result["model"]
    return str(m.get("identity_sha256") or m["weights_sha256"])


def entry_kind(model: str) -> str:
    """``shipped``, ``pre-trained`` or the baseline kind of a model id."""
    for suffix, kind in BASELINE_SUFFIXES.items():
        if model.endswith(suffix):
            return kind
    return "shipped" if (WEIGHTS_DIR / model / "config.json").is_file() else "pre-trained"


def _shipped_config(model: str) -> dict[str, Any] | None:
    path = WEIGHTS_DIR / model / "config.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _last_date(results: list[dict[str, Any]]) -> str:
    return max(run["date"] for r in results for run in r["runs"].values())


def entries(results: Iterable[dict[str, Any]]) -> list[Entry]:
    """One :class:`Entry` per model id of the store, sorted by id."""
    by_id: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in results:
        by_id.setdefault(r["model"]["id"], {}).setdefault(identity_of(r), []).append(r)
    out = []
    for model, revisions in sorted(by_id.items()):
        shipped = _shipped_config(model)
        main = None
        if shipped is not None:
            main = next(
                (
                    ident
                    for ident, rs in revisions.items()
                    if rs[0]["model"]["weights_sha256"] == shipped["weights_sha256"]
                ),
                None,
            )
        if main is None:
            main = max(revisions, key=lambda ident: _last_date(revisions[ident]))
        m = revisions[main][0]["model"]
        kind = entry_kind(model)
        dataset = (shipped or {}).get("dataset") or {}
        data = Path(str(dataset.get("path", ""))).name if dataset else ""
        if data and dataset.get("classes"):
            data += f" ({','.join(dataset['classes'])})"
        training = (shipped or {}).get("training") or {}
        jets = training.get("jets_seen")
        start = training.get("init_from") or {}  # continued from another run's weights
        if start.get("dataset") and data:
            data = f"{Path(str(start['dataset'])).name}, then {data}"
        if jets is not None and start.get("jets_seen"):
            jets += int(start["jets_seen"])
        out.append(
            Entry(
                model=model,
                identity=main,
                kind=kind,
                params=m.get("n_params"),
                licence="MIT"
                if kind in ("shipped", "pre-trained", "baseline: random init")
                else "",
                pretraining_data=data,
                jets_seen=jets,
                recipe=str(m.get("recipe") or ""),
            )
        )
    return out


def split_revisions(
    results: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(result files of the main revisions, result files of older revisions)."""
    results = list(results)
    main = {(e.model, e.identity) for e in entries(results)}
    current = [r for r in results if (r["model"]["id"], identity_of(r)) in main]
    older = [r for r in results if (r["model"]["id"], identity_of(r)) not in main]
    return current, older


def human_count(n: int | None) -> str:
    """``8400000`` -> ``8.4M``; None -> empty."""
    if n is None:
        return ""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)
