"""Ship a trained backbone with the package: ``jetzoo ship MODEL_DIR --name NAME``.

A release backbone lives in ``jetzoo/weights/<name>/`` (package data: ``from_pretrained(name)``
finds it offline on any install) and its card in ``model_cards/<name>.md``. Shipping

1. loads the trained folder (a run folder's ``backbone/`` or any saved model folder) and checks
   that its architecture is the registered ``name``'s, so ``create_backbone(name)`` and
   ``from_pretrained(name)`` build the same network;
2. reads its results from the leaderboard store (``leaderboard/results/<model>/<sha12>/``,
   one file per task) at one tier (default ``standard``) and refuses files that scored other
   weights (their ``weights_sha256`` must be the folder's) or the ``quick`` tier;
3. sets the model against baselines (:func:`compare`), on each task's main metric: frozen
   kNN / linear probes and anomaly scores against a reference store folder (a random-init
   backbone of the same architecture), and fine-tuning
   at each label fraction against the supervised-from-scratch baseline of the same file;
4. re-saves the folder with ``model_name = name``, the results and the comparisons in
   ``config.json`` (the weights' bytes, hence their sha256, do not change) and renders the card.
   The card keeps each task's main metric for every evaluation (:func:`card_rows`); every other
   metric stays in the store folder it names.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

PACKAGE_WEIGHTS = Path(__file__).resolve().parent / "weights"
CARDS_DIR = Path(__file__).resolve().parents[1] / "model_cards"

#: The headline metric of each task kind when a result names no main score.
HEADLINE_METRIC = {"multiclass": "accuracy", "binary": "auc", "anomaly": "auc[union]"}


class ReleaseError(ValueError):
    """A folder or result file cannot be shipped; the message names the file and the field."""


def _rows(result: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["task"], r["evaluation"], r["metric"]): r for r in result["results"]}


def _metric_for(
    task: str, rows: dict[tuple[str, str, str], dict[str, Any]], main: dict[str, str]
) -> str | None:
    metrics = {m for (t, _, m) in rows if t == task}
    preferred = [main[task].split("/", 1)[1]] if task in main else []
    for metric in preferred + ["accuracy", "auc", "auc[union]"]:
        if metric in metrics:
            return metric
    return None


def compare(
    result: dict[str, Any], reference: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Rows setting ``result`` (a store summary, :func:`load_store_folder`) against baselines,
    on each task's main metric (``result["main"]``, else :data:`HEADLINE_METRIC`):

    - every frozen evaluation (``knn``, ``linear``, ``anomaly-*``) against the same evaluation of
      ``reference`` (e.g. the random-init backbone of the same architecture);
    - every ``finetune-*-<p>%`` against ``supervised-<p>%`` of the same file.
    """
    rows = _rows(result)
    ref_rows = _rows(reference) if reference else {}
    ref_id = reference["model"]["id"] if reference else None
    main = dict(result.get("main", {}))
    out: list[dict[str, Any]] = []

    def add(task: str, metric: str, mine: dict[str, Any], base: dict[str, Any], label: str) -> None:
        if mine["value"] is None or base["value"] is None:
            return
        out.append(
            {
                "task": task,
                "metric": metric,
                "evaluation": mine["evaluation"],
                "value": mine["value"],
                "spread": mine["spread"],
                "baseline": label,
                "baseline_value": base["value"],
                "baseline_spread": base["spread"],
            }
        )

    for task in dict.fromkeys(t for (t, _, _) in rows):
        metric = _metric_for(task, rows, main)
        if metric is None:
            continue
        evaluations = [e for (t, e, m) in rows if t == task and m == metric]
        for evaluation in evaluations:
            mine = rows[(task, evaluation, metric)]
            if evaluation.startswith("finetune-"):
                fraction = evaluation.rsplit("-", 1)[1]
                base = rows.get((task, f"supervised-{fraction}", metric))
                if base is not None:
                    add(task, metric, mine, base, f"supervised-{fraction} (same architecture)")
            elif not evaluation.startswith("supervised") and (task, evaluation, metric) in ref_rows:
                add(
                    task,
                    metric,
                    mine,
                    ref_rows[(task, evaluation, metric)],
                    f"{ref_id} {evaluation}",
                )
    return out


def card_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``result`` (:func:`load_store_folder`) a card shows: each task's main
    metric (:func:`_metric_for`, the one :func:`compare` uses) for every evaluation, without
    per-seed details or the dataset, which the card names once per task."""
    rows, main = _rows(result), dict(result.get("main", {}))
    metric = {task: _metric_for(task, rows, main) for (task, _, _) in rows}
    drop = ("details", "per_seed", "dataset", "dataset_sha256")
    return [
        {k: v for k, v in r.items() if k not in drop}
        for r in result["results"]
        if r["metric"] == metric[r["task"]]
    ]


def _check_architecture(model: Any, name: str, folder: Path) -> None:
    from jetzoo.models.registry import create_backbone

    want = {k: v for k, v in create_backbone(name).config.items() if k != "preprocessing"}
    have = {k: v for k, v in model.config.items() if k != "preprocessing"}
    diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if diff:
        detail = ", ".join(f"{k}: {have.get(k)!r} (registered {want.get(k)!r})" for k in diff)
        raise ReleaseError(
            f"{folder}: architecture differs from the registered {name!r} in {detail}"
        )


def load_store_folder(
    folder: str | Path | None,
    weights_sha256: str | None,
    what: str,
    tier: str = "standard",
    config_sha256: str | None = None,
) -> dict[str, Any] | None:
    """The results of one model's store folder (``<store>/<model>/<identity-sha12>/``, one file
    per task) at ``tier``: ``{"model", "tier", "results"`` (rows with ``task``, ``dataset`` and
    ``dataset_sha256``), ``"main"`` (task -> main score), ``"files"`` (task -> checksum),
    ``"date"``, ``"jetzoo_version"``}. Refuses the ``quick`` tier, other weights and another
    architecture config (``config_sha256``; files written before results recorded it are
    checked on the weights alone)."""
    from jetzoo.leaderboard.schema import ResultFileError, flat_rows, iter_store, load_result

    if folder is None:
        return None
    folder = Path(folder)
    if tier == "quick":
        raise ReleaseError(
            f"{folder}: tier 'quick' (the embedded sample) does not describe a "
            "released model; ship standard or paper results"
        )
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files and folder.is_dir():
        files = list(iter_store(folder))
    if not files:
        raise ReleaseError(
            f"{what}: {folder} holds no result files (<task>.json of the store "
            "leaderboard/results/<model>/<identity-sha12>/)"
        )
    out: dict[str, Any] = {
        "tier": tier,
        "results": [],
        "main": {},
        "files": {},
        "date": "",
        "jetzoo_version": "",
    }
    for path in files:
        try:
            result, _ = load_result(path, load_roc=False)
        except ResultFileError as err:
            raise ReleaseError(f"{what}: {err}") from err
        sha = result["model"]["weights_sha256"]
        if weights_sha256 is not None and sha != weights_sha256:
            raise ReleaseError(
                f"{path}: field 'model.weights_sha256' ({sha[:12]}...) is not the "
                f"sha256 of the weights being shipped ({weights_sha256[:12]}...): "
                "these results scored another model"
            )
        stated = result["model"].get("config_sha256")
        if config_sha256 is not None and stated is not None and stated != config_sha256:
            raise ReleaseError(
                f"{path}: field 'model.config_sha256' ({stated[:12]}...) is not "
                f"the architecture config being shipped ({config_sha256[:12]}"
                "...): these results scored the same weights with other "
                "architecture options"
            )
        run = result["runs"].get(tier)
        if run is None:
            continue
        task = result["task"]["name"]
        out["model"] = result["model"]
        out["main"][task] = result["task"]["main_score"]
        out["files"][task] = result["checksum"]
        out["date"] = max(out["date"], run["date"])
        out["jetzoo_version"] = max(out["jetzoo_version"], run["jetzoo_version"])
        out["results"] += [
            {
                **row,
                "dataset": run["dataset"].get("name", "?"),
                "dataset_sha256": run["dataset"]["sha256"],
            }
            for row in flat_rows(result, tier)
        ]
    if not out["results"]:
        raise ReleaseError(f"{what}: {folder} has no '{tier}' results; submit with --tier {tier}")
    return out


def ship(
    model_dir: str | Path,
    name: str,
    results: str | Path | None = None,
    reference: str | Path | None = None,
    weights_root: str | Path = PACKAGE_WEIGHTS,
    cards_dir: str | Path | None = CARDS_DIR,
    tier: str = "standard",
) -> Path:
    """Copy the trained backbone in ``model_dir`` to ``<weights_root>/<name>/`` with its
    leaderboard ``results`` (a store folder) at ``tier`` and comparisons against ``reference``
    (see the module docstring); write the card to ``<cards_dir>/<name>.md`` too. Returns the
    shipped folder."""
    from jetzoo.models.zoo import config_sha256, load_config, load_folder, save_pretrained
    from jetzoo.utils.io import sha256_file

    folder = Path(model_dir)
    if (folder / "backbone" / "config.json").is_file():  # a run folder
        folder = folder / "backbone"
    config = load_config(folder)
    model = load_folder(folder)
    _check_architecture(model, name, folder)
    sha = sha256_file(folder / "model.safetensors")
    result = load_store_folder(results, sha, "results", tier, config_sha256(model))
    ref = load_store_folder(reference, None, "reference", tier)
    comparisons = compare(result, ref) if result else None
    target = Path(weights_root) / name
    if target.exists() and not (target / "config.json").is_file():
        raise ReleaseError(f"{target}: exists and is not a model folder")
    if result is not None:  # what the card needs; the full files stay in leaderboard/results
        folder_name = "/".join(Path(results).resolve().parts[-2:])  # type: ignore[arg-type]
        result = {
            "file": folder_name,
            "tier": tier,
            "checksums": result["files"],
            "date": result["date"],
            "jetzoo_version": result["jetzoo_version"],
            "main": result["main"],
            "datasets": {
                r["task"]: {"name": r["dataset"], "sha256": r["dataset_sha256"]}
                for r in result["results"]
            },
            "results": card_rows(result),
        }
    out = save_pretrained(
        model,
        target,
        model_name=name,
        recipe=config.get("recipe"),
        dataset=config.get("dataset"),
        training=config.get("training"),
        results=result,
        comparisons=comparisons,
    )
    if sha256_file(out / "model.safetensors") != sha:  # pragma: no cover - safetensors is stable
        shutil.rmtree(out)
        raise ReleaseError(f"{out}: re-saved weights differ from {folder}; nothing shipped")
    if cards_dir is not None:
        Path(cards_dir).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "README.md", Path(cards_dir) / f"{name}.md")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="trained model folder or run folder (its backbone/)")
    parser.add_argument("--name", required=True, help="registered model name, e.g. jbot-b")
    parser.add_argument(
        "--results",
        default=None,
        help="its store folder (leaderboard/results/<model>/<weights-sha12>)",
    )
    parser.add_argument(
        "--reference",
        default=None,
        help="store folder of a baseline backbone (e.g. random init) for the "
        "frozen-probe comparison",
    )
    parser.add_argument(
        "--tier",
        default="standard",
        choices=("standard", "paper"),
        help="which tier's results the card shows (default standard)",
    )
    parser.add_argument(
        "--weights-root",
        default=str(PACKAGE_WEIGHTS),
        help="where shipped folders live (default: the package's jetzoo/weights)",
    )
    parser.add_argument(
        "--cards", default=str(CARDS_DIR), help="folder for <name>.md (default: model_cards/)"
    )


def main(args: argparse.Namespace) -> int:
    from jetzoo.models.zoo import ZooError

    try:
        out = ship(
            args.model,
            args.name,
            args.results,
            args.reference,
            args.weights_root,
            args.cards,
            tier=args.tier,
        )
    except (ReleaseError, ZooError, KeyError) as err:
        print(f"jetzoo ship: {err}", file=sys.stderr)
        return 1
    print(f"shipped {out}")
    return 0
