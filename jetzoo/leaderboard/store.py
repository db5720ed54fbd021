"""The result store: ``<root>/<model>/<identity12>/<task>.json``, one file per model identity
and task. A run is merged into the file under a lock (``.<task>.json.lock``), re-reading what
is there, so concurrent submissions keep each other's evaluations; a re-run of an evaluation
with other settings or another task file is refused unless asked for."""

from __future__ import annotations

import hashlib
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from jetzoo.leaderboard.errors import SubmissionError
from jetzoo.leaderboard.evaluators import evaluator_of, settings_of
from jetzoo.leaderboard.schema import ResultFileError, load_result, write_result
from jetzoo.leaderboard.tasks import Task

DEFAULT_OUT = Path("leaderboard/results")


def merge_run(
    path: Path,
    obj: dict[str, Any],
    tier: str,
    new_run: dict[str, Any],
    roc: Mapping[str, tuple[np.ndarray, np.ndarray]],
    force: bool = False,
) -> Path:
    """Merge one freshly scored run into the store file ``path`` and write it, under a lock.

    The file is read again under the lock (another ``submit`` may have written it while this
    one scored), so concurrent submits of other evaluations, tiers or tasks keep each other's
    rows: of the file's run at ``tier``, the rows of evaluations not in ``new_run`` are kept
    when they still hold (:func:`still_valid`: the same task file, the same settings they
    depend on, the same dataset); the others are dropped, and said; rows scored with other
    ``--set`` overrides are only dropped with ``force``. Runs of other tiers and their ROC
    curves are kept."""
    with store_lock(path):
        existing, old_roc = existing_result(path)
        old_run = (existing or {}).get("runs", {}).get(tier)
        new_evals = {evaluation_base(r["evaluation"]) for r in new_run["results"]}
        valid = still_valid(old_run, new_run)  # none when the old rows mean other jets
        if old_run is not None and old_run["dataset"]["sha256"] != new_run["dataset"]["sha256"]:
            print(
                f"{path}: replacing its {tier} run, scored on another dataset "
                f"({old_run['dataset']['sha256'][:12]}...)",
                file=sys.stderr,
            )
        lost = sorted(  # rows that no longer hold: dropped, or replaced by the new run's
            {evaluation_base(r["evaluation"]) for r in (old_run or {}).get("results", [])} - valid
        )
        if lost:
            refuse_override_loss(path, tier, old_run, new_run["overrides"], force, lost)
            print(
                f"{path}: replacing its {tier} run, scored under another task file or "
                f"settings: its rows of {', '.join(lost)} are dropped",
                file=sys.stderr,
            )
        kept = old_run if valid else None
        keep_rows = (
            [
                _with_provenance(r, kept)
                for r in kept["results"]
                if evaluation_base(r["evaluation"]) in valid - new_evals
            ]
            if kept
            else []
        )
        keep_roc = {
            k: v
            for k, v in old_roc.items()
            if not k.startswith(f"{tier}|")
            or (kept is not None and k.split("|")[1] in {r["evaluation"] for r in keep_rows})
        }
        run = {
            **new_run,
            "wall_seconds": round(
                new_run["wall_seconds"] + (kept.get("wall_seconds", 0.0) if kept else 0.0), 1
            ),
            "skipped": {
                **{
                    k: v
                    for k, v in (kept.get("skipped", {}) if kept else {}).items()
                    if k.split("/", 1)[1] in valid
                },
                **new_run["skipped"],
            },
            "results": _sorted_rows(keep_rows + new_run["results"]),
        }
        out = {**obj, "runs": {**(existing or {}).get("runs", {}), tier: run}}
        return write_result(path, out, {**keep_roc, **roc})


def _with_provenance(row: dict[str, Any], run: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` of the stored ``run``, stamped with what scored it (``scored``: version, commit,
    date) unless it already is: the merged run's own fields name the newest code."""
    if "scored" in row:
        return row
    scored = {"jetzoo_version": run["jetzoo_version"], "date": run["date"]}
    scored["jetzoo_commit"] = run.get("jetzoo_commit")
    return {**row, "scored": scored}


def still_valid(old_run: dict[str, Any] | None, run_id: Mapping[str, Any]) -> set[str]:
    """The evaluations of ``old_run`` whose rows hold under the run identity ``run_id``
    (``task_sha256``, ``settings`` and, where known, ``dataset.sha256``): the same task file,
    the same jets and the same values of the settings each evaluation depends on
    (:func:`jetzoo.leaderboard.evaluators.settings_of`), so a changed fine-tuning budget leaves
    the probes' rows standing. Skipped evaluations count."""
    if old_run is None or old_run["task_sha256"] != run_id["task_sha256"]:
        return set()
    jets = (run_id.get("dataset") or {}).get("sha256")
    if jets is not None and old_run["dataset"]["sha256"] != jets:  # rows of other jets
        return set()
    names = {evaluation_base(r["evaluation"]) for r in old_run.get("results", [])}
    names |= {k.split("/", 1)[1] for k in old_run.get("skipped", {})}
    old, new = old_run["settings"], run_id["settings"]
    return {n for n in names if settings_of(n, old) == settings_of(n, new)}


def refuse_override_loss(
    path: Path,
    tier: str,
    old_run: dict[str, Any] | None,
    overrides: dict[str, Any],
    force: bool,
    lost: set[str] | list[str] | None = None,
) -> None:
    """:class:`SubmissionError` if replacing ``old_run``'s rows of ``lost`` (default: all its
    evaluations) would lose rows scored with other ``--set`` overrides (a one-off study must
    not erase the tier's rows, nor the tier's a study's) and ``force`` is not given."""
    if (
        old_run is None
        or force
        or not old_run.get("results")
        or old_run.get("overrides", {}) == overrides
    ):
        return
    if lost is None:
        lost = {evaluation_base(r["evaluation"]) for r in old_run["results"]}
    if not lost:
        return
    lost = sorted(lost)
    raise SubmissionError(
        f"{path}: its {tier} run was scored with --set {old_run.get('overrides', {})} and would "
        f"be replaced by one with --set {overrides}, losing its rows of {', '.join(lost)}; "
        "score this study into another store (--out DIR) or pass --force to replace the run"
    )


@contextmanager
def store_lock(path: Path, timeout: float = 600.0) -> Iterator[None]:
    """An exclusive lock on the store file ``path`` (a hidden ``.<name>.lock`` beside it)."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path.with_name(f".{path.name}.lock")), timeout=timeout)
    try:
        with lock:
            yield
    except Timeout as err:
        raise SubmissionError(
            f"{path}: another submit has held its lock for {timeout:.0f} s; "
            f"remove {lock.lock_file} if no submit is running"
        ) from err


def evaluation_base(evaluation: str) -> str:
    ev = evaluator_of(evaluation)
    return ev.name if ev is not None else evaluation


def _sorted_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(r: dict[str, Any]) -> tuple[float, int, str]:
        ev = evaluator_of(r["evaluation"])
        return (r.get("label_fraction", -1.0), ev.order if ev else 99, r["evaluation"])

    return sorted(rows, key=key)


def jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def task_fingerprint(task: Task) -> str:
    """sha256 of the task file's bytes (or of its fields for a task built in code)."""
    if task.file_sha256:
        return task.file_sha256
    fields = {
        k: v
        for k, v in task.__dict__.items()
        if k not in ("source", "tier", "file_sha256", "settings")
    }
    return hashlib.sha256(json.dumps(jsonable(fields), sort_keys=True).encode()).hexdigest()


def existing_result(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The store file at ``path`` (None if absent); a damaged one is refused."""
    if not path.is_file():
        return None, {}
    try:
        return load_result(path)
    except ResultFileError as err:
        raise SubmissionError(f"refused: {err}; move the file away to score again") from err
