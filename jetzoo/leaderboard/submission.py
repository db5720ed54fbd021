"""``jetzoo leaderboard submit MODEL``: score a backbone on every task that applies.

MODEL is anything ``JetZoo.from_pretrained`` takes (registered name, model folder, Hub repo id)
or a run folder of ``jetzoo run`` (its ``backbone/`` is used). Before anything is scored, the
weights file's sha256 is checked against the one stated in the model's ``config.json`` (and
against ``--weights-sha256`` if given), and each dataset's shards against its ``manifest.json``
(and ``--dataset-sha256``): a mismatch refuses the submission with a :class:`SubmissionError`.

Per task (see :mod:`jetzoo.leaderboard.tasks`):

- classification (``multiclass``/``binary``): frozen-embedding ``knn`` / ``linear`` probes,
  ``finetune-llrd``, ``finetune-lora`` and the ``supervised`` from-scratch baseline, each at every
  label fraction (evaluation names ``finetune-llrd-10%`` ...); metrics ``accuracy``, ``auc``
  (binary) or ``auc[<class>]`` + ``auc[mean]`` (multiclass), ``eff_s@eff_b=X``, ``rej_b@eff_s=X``;
- ``anomaly``: reference = background jets of the training split, scores of the test split's
  background and signal jets; metrics per signal, e.g. ``auc[w]``, ``auc[union]``.

``value`` is the metric on the whole evaluation split and ``spread`` the standard deviation over
``settings.bootstrap`` class-stratified bootstrap resamples of it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from jetzoo.data.schema import DataError
from jetzoo.leaderboard import metrics as M
from jetzoo.leaderboard.cache import EmbeddingCache, default_root
from jetzoo.leaderboard.evaluators import EVALUATORS, EvalContext, evaluator_of
from jetzoo.leaderboard.schema import (
    ResultFileError,
    load_result,
    now_iso,
    result_path,
    roc_key,
    safe_name,
    write_result,
)
from jetzoo.leaderboard.batches import Batch, select
from jetzoo.leaderboard.tasks import (
    DEFAULT_TIER,
    TIERS,
    Task,
    TaskData,
    TaskError,
    TaskSkipped,
    applicable_tasks,
    backbone_family,
    load_task_data,
    load_tasks,
)
from jetzoo.utils.io import sha256_file
from jetzoo.utils.names import InvalidNameError, check_name, name_from_repo_id
from jetzoo.utils.provenance import git_commit

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("leaderboard/results")
_METRIC = re.compile(r"^(accuracy|auc|eff_s@eff_b=([0-9.eE-]+)|rej_b@eff_s=([0-9.eE-]+))$")


class SubmissionError(RuntimeError):
    """A submission is refused (hash mismatch, nothing to score, bad model)."""


# --------------------------------------------------------------------------------------------
# Model and dataset identity
# --------------------------------------------------------------------------------------------


@dataclass
class ModelInfo:
    """What the result file records about the scored model."""

    id: str
    revision: str
    weights_sha256: str
    source: str
    recipe: str | None = None
    config_sha256: str = ""  # the architecture config (zoo.config_sha256)
    identity_sha256: str = ""  # weights + config: what results and cached embeddings are keyed by

    def as_dict(self, backbone: nn.Module) -> dict[str, Any]:
        return {
            "id": self.id,
            "revision": self.revision,
            "weights_sha256": self.weights_sha256,
            "config_sha256": self.config_sha256,
            "identity_sha256": self.identity_sha256,
            "source": self.source,
            "arch": str(backbone.config.get("arch", "?")),
            "family": backbone_family(backbone),
            "num_features": int(backbone.num_features),
            "n_params": int(sum(p.numel() for p in backbone.parameters())),
            "recipe": self.recipe,
        }


def load_model(
    model: str | Path,
    revision: str | None = None,
    weights_sha256: str | None = None,
    name: str | None = None,
) -> tuple[nn.Module, ModelInfo]:
    """Load MODEL (zoo name, model folder, Hub repo id or run folder) and check its weights.

    The sha256 of ``model.safetensors`` must equal the ``weights_sha256`` stated in its
    ``config.json`` and ``weights_sha256`` if given; otherwise :class:`SubmissionError`.
    """
    from jetzoo.models import zoo

    text = str(model)
    path = Path(text).expanduser()
    if path.is_dir() and not (path / zoo.CONFIG_NAME).is_file() and (path / "backbone").is_dir():
        path = path / "backbone"  # a run folder of `jetzoo run`
        text = str(path)
    try:
        folder = zoo.resolve(text, revision)
        config = zoo.load_config(folder)
    except (zoo.ZooError, KeyError) as err:
        raise SubmissionError(f"cannot load model {text!r}: {err}") from err
    weights = folder / zoo.WEIGHTS_NAME
    if not weights.is_file():
        raise SubmissionError(f"{weights}: not found; nothing to score")
    actual = sha256_file(weights)
    for stated, where in (
        (config.get("weights_sha256"), f"{folder / zoo.CONFIG_NAME}"),
        (weights_sha256, "--weights-sha256"),
    ):
        if stated is not None and stated.lower() != actual:
            raise SubmissionError(
                f"refused: weights sha256 mismatch for {weights}: stated {stated} ({where}) but "
                f"the file hashes to {actual}. The weights were changed or are not the ones "
                "stated; re-save the model or state the right hash"
            )
    try:
        backbone = zoo.load_folder(folder)
    except zoo.ZooError as err:
        raise SubmissionError(f"cannot load model {text!r}: {err}") from err
    if name is not None:
        where = "--name"
    elif path.is_dir():
        where = f"{path}: the model id taken from the folder name (pass --name)"
        name = safe_name(
            path.resolve().parent.name if path.name == "backbone" else path.resolve().name
        )
    else:
        where = f"{folder / zoo.CONFIG_NAME} field 'model_name'"
        name = str(config.get("model_name") or name_from_repo_id(text))
    try:
        check_name(name, where)
    except InvalidNameError as err:
        raise SubmissionError(str(err)) from None
    recipe = config.get("recipe")
    recipe_name = (
        (recipe.get("recipe") or recipe.get("name")) if isinstance(recipe, dict) else recipe
    )
    info = ModelInfo(
        id=name,
        revision=revision or ("local" if path.is_dir() else "main"),
        weights_sha256=actual,
        source=str(folder),
        recipe=str(recipe_name) if recipe_name else None,
        config_sha256=zoo.config_sha256(backbone),
    )
    info.identity_sha256 = zoo.identity_sha256(actual, info.config_sha256)
    return backbone, info


def verify_dataset(path: Path, stated_sha256: str | None = None) -> str:
    """The dataset sha256 of ``path``, every shard checked against its ``manifest.json``
    (:func:`jetzoo.data.shards.verified_dataset_sha256`); :class:`SubmissionError` if a shard's
    or the dataset's hash differs from the recorded or the stated (``--dataset-sha256``) one."""
    from jetzoo.data import shards as sh

    try:
        actual = sh.verified_dataset_sha256(path)
    except DataError as err:
        raise SubmissionError(f"refused: dataset sha256 mismatch: {err}") from err
    if stated_sha256 is not None and stated_sha256.lower() != actual:
        raise SubmissionError(
            f"refused: dataset sha256 mismatch for {path}: stated "
            f"{stated_sha256} (--dataset-sha256) but the dataset is {actual}"
        )
    return actual


# --------------------------------------------------------------------------------------------
# Scoring helpers
# --------------------------------------------------------------------------------------------


def extract(
    backbone: nn.Module,
    data: Batch,
    fn: str = "embed",
    devices: int | str = 1,
    batch_size: int = 512,
) -> Tensor:
    """``backbone.embed`` (or ``reconstruction_score``) of every jet of ``data``, in order,
    through :func:`jetzoo.leaderboard.embeddings.extract` (Lightning Trainer, ``devices``)."""
    from jetzoo.leaderboard import embeddings

    out, _ = embeddings.extract(
        backbone, data, fn=fn, devices=devices, batch_size=batch_size, progress=False
    )
    return out


def metric_fn(name: str) -> Callable[[Tensor, Tensor], float]:
    """A binary metric ``f(signal_scores, target) -> float`` from its name (``auc``,
    ``eff_s@eff_b=0.1``, ``rej_b@eff_s=0.5``)."""
    m = _METRIC.match(name)
    if m is None or name == "accuracy":
        raise ValueError(f"unknown binary metric {name!r}; use auc, eff_s@eff_b=X, rej_b@eff_s=X")
    if name == "auc":
        return M.binary_auc
    if m.group(2):
        x = float(m.group(2))
        return lambda s, y: M.signal_efficiency_at(s, y, x)
    x = float(m.group(3))
    return lambda s, y: M.background_rejection_at(s, y, x)


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _stat(
    metric: Callable[..., Any], arrays: Sequence[Tensor], stratify: Tensor, n_boot: int, seed: int
) -> tuple[Any, Any]:
    """(value on the full arrays, bootstrap spread); values may be tensors (per class)."""
    value = metric(*arrays)
    if n_boot < 2:
        return value, 0.0 * torch.as_tensor(value) if isinstance(value, Tensor) else 0.0
    spread = M.bootstrap(metric, *arrays, n_resamples=n_boot, seed=seed, stratify=stratify).spread
    return value, spread


def _downsample_roc(fpr: Tensor, tpr: Tensor, points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` ROC points, evenly spaced in signal efficiency (ends kept)."""
    fpr, tpr = fpr.numpy(), tpr.numpy()
    if len(fpr) <= points:
        return fpr, tpr
    idx = np.unique(
        np.searchsorted(tpr, np.linspace(0, 1, points), side="left").clip(0, len(tpr) - 1)
    )
    idx = np.unique(np.concatenate([[0], idx, [len(tpr) - 1]]))
    return fpr[idx], tpr[idx]


@dataclass
class TaskResult:
    """Rows, ROC curves and bookkeeping of one task at one tier."""

    tier: str = "standard"
    rows: list[dict[str, Any]] = field(default_factory=list)
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    dataset_sha256: str | None = None
    dataset_path: str | None = None
    split_key: str | None = None
    n_test: int = 0


Scored = tuple[list[dict[str, Any]], dict[str, tuple[np.ndarray, np.ndarray]]]


def _row(
    evaluation: str, metric: str, value: Any, spread: Any, n: int, **extra: Any
) -> dict[str, Any]:
    return {
        "evaluation": evaluation,
        "metric": metric,
        "value": _finite(float(value)),
        "spread": _finite(float(spread)),
        "n": int(n),
        **extra,
    }


def score_classification(
    task: Task, evaluation: str, proba: Tensor, target: Tensor, **extra: Any
) -> Scored:
    """Metric rows and ROC curves (keys ``tier|evaluation|label``) of class scores
    ``proba (N, C)`` against classifier targets."""
    s = task.settings
    n, seed, n_boot = len(target), task.seed, int(s["bootstrap"])
    proba = proba.double()
    rows: list[dict[str, Any]] = []
    for name in task.metrics:
        if name == "accuracy":
            v, e = _stat(
                lambda p, y: M.accuracy(p, y, proba.shape[1]), (proba, target), target, n_boot, seed
            )
            rows.append(_row(evaluation, name, v, e, n, **extra))
        elif task.kind == "multiclass" and name == "auc":
            v, e = _stat(M.multiclass_auc, (proba, target), target, n_boot, seed)
            for c, cls in enumerate(task.classes):
                rows.append(_row(evaluation, f"auc[{cls}]", v[c], e[c], n, **extra))
            v_mean, e_mean = _stat(
                lambda p, y: M.multiclass_auc(p, y).mean(), (proba, target), target, n_boot, seed
            )
            rows.append(_row(evaluation, "auc[mean]", v_mean, e_mean, n, **extra))
        elif task.kind == "multiclass":
            raise ValueError(f"task {task.name}: metric {name!r} is defined for binary tasks only")
        else:
            v, e = _stat(metric_fn(name), (proba[:, 1], target), target, n_boot, seed)
            rows.append(_row(evaluation, name, v, e, n, **extra))
    curves = (
        [(cls, proba[:, c], (target == c).long()) for c, cls in enumerate(task.classes)]
        if task.kind == "multiclass"
        else [("+".join(task.signal), proba[:, 1], target)]
    )
    roc = {}
    for label, score, y in curves:
        fpr, tpr, _ = M.roc_curve(score, y)
        roc[roc_key(task.tier or "standard", evaluation, label)] = _downsample_roc(
            fpr, tpr, int(s["roc_points"])
        )
    return rows, roc


def score_anomaly(task: Task, evaluation: str, scores: Tensor, labels: Tensor) -> Scored:
    """Metric rows per signal (``auc[w]`` ...) for anomaly ``scores`` (higher = more anomalous)
    of evaluation jets with task-local ``labels``."""
    s = task.settings
    bkg = torch.as_tensor([task.classes.index(c) for c in task.background])
    is_bkg = torch.isin(labels, bkg)
    rows: list[dict[str, Any]] = []
    roc = {}
    for sig_name, sig_classes in task.signals.items():
        sig = torch.isin(labels, torch.as_tensor([task.classes.index(c) for c in sig_classes]))
        keep = is_bkg | sig
        sc, y = scores[keep].double(), sig[keep].long()
        for name in task.metrics:
            v, e = _stat(metric_fn(name), (sc, y), y, int(s["bootstrap"]), task.seed)
            rows.append(_row(evaluation, f"{name}[{sig_name}]", v, e, len(y)))
        fpr, tpr, _ = M.roc_curve(sc, y)
        roc[roc_key(task.tier or "standard", evaluation, sig_name)] = _downsample_roc(
            fpr, tpr, int(s["roc_points"])
        )
    return rows, roc


def binary_target(task: Task, labels: Tensor) -> Tensor:
    """Task-local labels -> classifier targets (signal = 1 for binary tasks)."""
    if task.kind != "binary":
        return labels.long()
    sig = torch.as_tensor([task.classes.index(c) for c in task.signal])
    return torch.isin(labels, sig).long()


def combine_seeds(per_seed: Mapping[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows of several seeds -> one row per (evaluation, metric): ``value`` = mean over seeds,
    ``spread`` = mean bootstrap spread, ``seed_std`` (sample std, 0 for one seed), ``seeds``
    and ``per_seed``. Seeds whose value is undefined (None) are left out of the mean."""
    seeds = sorted(per_seed)
    first = per_seed[seeds[0]]
    out = []
    for k, row in enumerate(first):
        values = [per_seed[s][k]["value"] for s in seeds]
        spreads = [per_seed[s][k]["spread"] for s in seeds]
        defined = [v for v in values if v is not None]
        mean = float(np.mean(defined)) if defined else None
        std = float(np.std(defined, ddof=1)) if len(defined) > 1 else 0.0
        spread_ok = [e for e in spreads if e is not None]
        out.append(
            {
                **row,
                "value": mean,
                "spread": float(np.mean(spread_ok)) if spread_ok else None,
                "seeds": seeds,
                "per_seed": values,
                "seed_std": std if defined else None,
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# Running tasks
# --------------------------------------------------------------------------------------------


@dataclass
class RunSettings:
    """How to run tasks: the tier, devices for the Trainer, progress bars, overrides, which
    evaluations, the embedding cache."""

    devices: int | str = 1
    accelerator: str = "auto"
    quick: bool = False  # = tier "quick"
    progress: bool = False
    dataset_sha256: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)  # task settings, after the tier
    tier: str = "standard"
    evaluations: Sequence[str] | None = None  # run only these (None: all of the task's)
    cache: EmbeddingCache | None = None
    identity_sha256: str | None = None  # cache key of the backbone (None: no caching)

    @property
    def effective_tier(self) -> str:
        return "quick" if self.quick else self.tier


def resolve_task(task: Task, settings: RunSettings) -> Task:
    """``task`` at the run's tier with the run's overrides."""
    if task.tier is None:
        task = task.for_tier(settings.effective_tier)
    if settings.overrides:
        task = task.with_settings(**settings.overrides)
    return task


def _embedder(
    backbone: nn.Module, data: TaskData, settings: RunSettings
) -> Callable[[str, Batch, str], Tensor]:
    cache = settings.cache or EmbeddingCache()

    def embed(split: str, rows: Batch, fn: str) -> Tensor:
        key = None
        if settings.identity_sha256 and data.dataset_sha256 and "index" in rows:
            key = (settings.identity_sha256, data.dataset_sha256, data.split_key, split, fn)
        positions = rows["index"] if "index" in rows else torch.arange(len(rows["label"]))
        return cache.get(
            key,
            positions,
            lambda pos: extract(backbone, select(rows, pos), fn=fn, devices=settings.devices),
        )

    return embed


def run_task(
    backbone: nn.Module,
    task: Task,
    settings: RunSettings | None = None,
    data: TaskData | None = None,
    skip: Iterable[str] = (),
) -> TaskResult:
    """Run the evaluations of ``task`` (at the run's tier) on ``backbone`` through the
    evaluator registry. :class:`TaskSkipped` if the task's dataset is missing; an evaluation
    that does not apply is listed in ``result.skipped``; those named in ``skip`` (already
    scored) are not run. ``data``: the task's data already in memory (default:
    :func:`load_task_data`, the dataset's hashes verified)."""
    settings = settings or RunSettings()
    task = resolve_task(task, settings)
    if data is None:
        data = load_task_data(task)
    result = TaskResult(
        tier=task.tier or settings.effective_tier,
        dataset_path=str(data.dataset_path),
        n_test=len(data.test["label"]),
        dataset_sha256=data.dataset_sha256,
        split_key=data.split_key,
    )
    if data.dataset_path is not None:
        result.dataset_sha256 = verify_dataset(data.dataset_path, settings.dataset_sha256)
    backbone = backbone.eval()
    ctx = EvalContext(
        task=task,
        backbone=backbone,
        data=data,
        embed=_embedder(backbone, data, settings),
        devices=settings.devices,
        accelerator=settings.accelerator,
        progress=settings.progress,
    )
    wanted = settings.evaluations
    for name in task.evaluations:
        if (wanted is not None and name not in wanted) or name in skip:
            continue
        ev = EVALUATORS[name]
        reason = ev.skip_reason(backbone)
        if reason is not None:
            result.skipped[f"{task.name}/{name}"] = reason
            continue
        seeds = [int(s) for s in task.settings["seeds"]] if ev.seeded else [task.seed]
        per_seed: dict[int, dict[str, list[dict[str, Any]]]] = {}
        for seed in seeds:
            for out in ev.run(ctx, seed):
                extra = {
                    **out.extra,
                    **({"baseline": ev.baseline} if ev.needs == "training" else {}),
                }
                if task.kind == "anomaly":
                    rows, roc = score_anomaly(
                        task, out.evaluation, out.scores, data.split(task.eval_split)["label"]
                    )
                else:
                    target = ctx.targets(task.eval_split)["label"]
                    rows, roc = score_classification(
                        task, out.evaluation, out.scores, target, **extra
                    )
                per_seed.setdefault(out.evaluation, {})[seed] = rows
                if seed == seeds[0]:
                    result.roc.update(roc)
        for evaluation, by_seed in per_seed.items():
            result.rows += combine_seeds(by_seed) if ev.seeded else by_seed[seeds[0]]
    return result


def submit(
    model: str | Path,
    tasks: Iterable[str] | None = None,
    *,
    devices: int | str = 1,
    quick: bool = False,
    tier: str | None = None,
    out: str | Path = DEFAULT_OUT,
    tasks_dir: str | Path | None = None,
    name: str | None = None,
    revision: str | None = None,
    weights_sha256: str | None = None,
    dataset_sha256: str | None = None,
    accelerator: str = "auto",
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    evaluations: Sequence[str] | None = None,
    force: bool = False,
    cache_dir: str | Path | None | bool = None,
) -> list[Path]:
    """Score MODEL on every task that applies, at ``tier`` (``quick`` with ``quick=True``),
    and merge the results into the store ``<out>/<model>/<weights-sha12>/<task>.json``.

    An evaluation already in the store for the same task file, tier, settings and dataset is
    skipped (``force=True`` scores it again); one scored under another task file or tier
    setting is replaced. A run scored with other ``overrides`` is not replaced unless
    ``force=True`` (:class:`SubmissionError`: a one-off study must not erase the tier's rows).
    ``overrides``: task settings replaced in every task, applied after the tier, recorded as
    ``overrides``. ``cache_dir``: embedding cache root (None: the default root, False: memory
    only). Returns the files written. Refuses hash mismatches (:class:`SubmissionError`);
    tasks whose dataset is missing are skipped with the command that makes it."""
    from tqdm.auto import tqdm

    from jetzoo import __version__
    from jetzoo.leaderboard.embeddings import is_global_zero

    tier = "quick" if quick else (tier or DEFAULT_TIER)
    if tier not in TIERS:
        raise SubmissionError(f"unknown tier {tier!r}; tiers: {', '.join(TIERS)}")
    backbone, info = load_model(model, revision=revision, weights_sha256=weights_sha256, name=name)
    selected = applicable_tasks(backbone, load_tasks(tasks_dir, tasks))
    if not selected:
        raise SubmissionError(
            f"no task applies to {info.id} (family {backbone_family(backbone)}); check --tasks"
        )
    unknown = [e for e in (evaluations or ()) if e not in EVALUATORS]
    if unknown:
        raise SubmissionError(f"unknown evaluation {unknown[0]!r}; known: {', '.join(EVALUATORS)}")
    overrides = check_overrides(overrides or {})
    cache = EmbeddingCache(
        None if cache_dir is False else (cache_dir if cache_dir is not None else default_root())
    )
    settings = RunSettings(
        devices=devices,
        accelerator=accelerator,
        tier=tier,
        progress=False,
        dataset_sha256=dataset_sha256,
        overrides=overrides,
        evaluations=evaluations,
        cache=cache,
        identity_sha256=info.identity_sha256,
    )
    written: list[Path] = []
    scored_any = False
    skipped_tasks: dict[str, str] = {}
    for task in tqdm(selected, desc=f"scoring {info.id} ({tier})", disable=not progress):
        resolved = resolve_task(task, settings)
        path = result_path(out, info.id, info.identity_sha256, task.name)
        existing, _ = _existing(path)
        fingerprint = task_fingerprint(resolved)
        run_id = {"task_sha256": fingerprint, "settings": _jsonable(resolved.settings)}
        old_run = (existing or {}).get("runs", {}).get(tier)
        same = old_run is not None and all(old_run[k] == v for k, v in run_id.items())
        if not same:  # refused before scoring, not only when writing
            _refuse_override_loss(path, tier, old_run, _jsonable(overrides), force)
        done: set[str] = set()
        if same and not force:  # evaluations scored (or found not to apply) under this run id
            done = {_base(r["evaluation"]) for r in old_run["results"]} | {
                k.split("/", 1)[1] for k in old_run.get("skipped", {})
            }
        selected_here = [e for e in resolved.evaluations if evaluations is None or e in evaluations]
        todo = [e for e in selected_here if e not in done]
        if not todo:
            why = (
                f"already scored in {path} (--force scores it again)"
                if selected_here
                else f"none of its evaluations ({', '.join(resolved.evaluations)}) selected"
            )
            print(f"{task.name} ({tier}): nothing to do: {why}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        try:
            res = run_task(backbone, resolved, settings, skip=done)
        except TaskSkipped as err:
            log.warning("skipped: %s", err)
            print(f"skipped: {err}", file=sys.stderr)
            skipped_tasks[task.name] = str(err)
            continue
        scored_any = True
        new_run = {
            **run_id,
            "overrides": _jsonable(overrides),
            "dataset": {
                "name": resolved.dataset,
                "sha256": res.dataset_sha256 or "0" * 64,
                "path": str(res.dataset_path),
                "n_test": res.n_test,
                "split_key": str(res.split_key),
            },
            "jetzoo_version": __version__,
            "jetzoo_commit": git_commit(),
            "date": now_iso(),
            "devices": devices,
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "skipped": res.skipped,
            "results": res.rows,
        }
        obj = {
            "model": info.as_dict(backbone),
            "task": {
                "name": task.name,
                "kind": task.kind,
                "family": task.family,
                "main_score": task.main_score,
                "description": task.description.strip(),
                "classes": list(task.classes),
            },
        }
        if is_global_zero():  # DDP: only rank 0 writes
            written.append(merge_run(path, obj, tier, new_run, res.roc, force=force))
    if not scored_any and skipped_tasks:
        raise SubmissionError(
            f"no task could be scored for {info.id}: " + "; ".join(skipped_tasks.values())
        )
    return written


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
    when it has the same run identity (task file, settings) and dataset; a run of another task
    file or dataset is replaced, and said; one scored with other ``--set`` overrides is only
    replaced with ``force``. Runs of other tiers and their ROC curves are kept."""
    with store_lock(path):
        existing, old_roc = _existing(path)
        old_run = (existing or {}).get("runs", {}).get(tier)
        same = old_run is not None and all(
            old_run[k] == new_run[k] for k in ("task_sha256", "settings")
        )
        if old_run is not None and not same and old_run.get("results"):
            _refuse_override_loss(path, tier, old_run, new_run["overrides"], force)
            lost = sorted({_base(r["evaluation"]) for r in old_run["results"]})
            print(
                f"{path}: replacing its {tier} run, scored under another task file or "
                f"settings: its rows of {', '.join(lost)} are dropped",
                file=sys.stderr,
            )
        if same and old_run["dataset"]["sha256"] != new_run["dataset"]["sha256"]:
            print(
                f"{path}: replacing its {tier} run, scored on another dataset "
                f"({old_run['dataset']['sha256'][:12]}...)",
                file=sys.stderr,
            )
            same = False  # the old rows mean other jets
        kept = old_run if same else None
        new_evals = {_base(r["evaluation"]) for r in new_run["results"]}
        keep_rows = (
            [r for r in kept["results"] if _base(r["evaluation"]) not in new_evals] if kept else []
        )
        keep_roc = {
            k: v
            for k, v in old_roc.items()
            if not k.startswith(f"{tier}|")
            or (
                kept is not None
                and k.split("|")[1] not in {r["evaluation"] for r in new_run["results"]}
            )
        }
        run = {
            **new_run,
            "wall_seconds": round(
                new_run["wall_seconds"] + (kept.get("wall_seconds", 0.0) if kept else 0.0), 1
            ),
            "skipped": {**(kept.get("skipped", {}) if kept else {}), **new_run["skipped"]},
            "results": _sorted_rows(keep_rows + new_run["results"]),
        }
        out = {**obj, "runs": {**(existing or {}).get("runs", {}), tier: run}}
        return write_result(path, out, {**keep_roc, **roc})


def _refuse_override_loss(
    path: Path, tier: str, old_run: dict[str, Any] | None, overrides: dict[str, Any], force: bool
) -> None:
    """:class:`SubmissionError` if replacing ``old_run`` (of another run identity) would lose
    rows scored with other ``--set`` overrides (a one-off study must not erase the tier's rows,
    nor the tier's a study's) and ``force`` is not given."""
    if (
        old_run is None
        or force
        or not old_run.get("results")
        or old_run.get("overrides", {}) == overrides
    ):
        return
    lost = sorted({_base(r["evaluation"]) for r in old_run["results"]})
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


def _base(evaluation: str) -> str:
    ev = evaluator_of(evaluation)
    return ev.name if ev is not None else evaluation


def _sorted_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(r: dict[str, Any]) -> tuple[float, int, str]:
        ev = evaluator_of(r["evaluation"])
        return (r.get("label_fraction", -1.0), ev.order if ev else 99, r["evaluation"])

    return sorted(rows, key=key)


def _jsonable(obj: Any) -> Any:
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
    return hashlib.sha256(json.dumps(_jsonable(fields), sort_keys=True).encode()).hexdigest()


def _existing(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The store file at ``path`` (None if absent); a damaged one is refused."""
    if not path.is_file():
        return None, {}
    try:
        return load_result(path)
    except ResultFileError as err:
        raise SubmissionError(f"refused: {err}; move the file away to score again") from err


def check_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Validate task-setting overrides with the task files' rules
    (:func:`jetzoo.leaderboard.tasks.setting_problem`); :class:`SubmissionError` otherwise."""
    from jetzoo.leaderboard.tasks import setting_problem

    for key, value in overrides.items():
        problem = setting_problem(key, value)
        if problem:
            raise SubmissionError(f"setting {key!r}: {problem}")
    return dict(overrides)


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["max_epochs=5", "base_lrs=[1e-3]"]`` -> ``{"max_epochs": 5, "base_lrs": [0.001]}``
    (values read by :func:`jetzoo.utils.yaml_values.parse_assignment`, the reader of every
    jetzoo override), validated by :func:`check_overrides`."""
    from jetzoo.utils.yaml_values import OverrideError, parse_assignment

    parsed: dict[str, Any] = {}
    for item in items:
        try:
            parts, value = parse_assignment(item, example="max_epochs=5")
        except OverrideError as err:
            raise SubmissionError(f"--set {item!r}: {err}") from None
        parsed[".".join(parts)] = value
    return check_overrides(parsed)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="registered name, model folder, Hub repo id or run folder")
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=None,
        help="task names or patterns (default: all tasks that apply)",
    )
    parser.add_argument(
        "--tasks-dir",
        default=None,
        help="folder of task YAMLs (default: the repository's leaderboard/tasks)",
    )
    parser.add_argument(
        "--tier",
        choices=TIERS,
        default=DEFAULT_TIER,
        help="quick: the embedded sample (CI); standard: the pinned benchmark "
        "sets (CPU hours); paper: the seed-004 fine-tuning protocol "
        f"(default {DEFAULT_TIER})",
    )
    parser.add_argument("--quick", action="store_true", help="the same as --tier quick")
    parser.add_argument(
        "--evaluations",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"run only these evaluations ({', '.join(EVALUATORS)})",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="score again what the store already holds for these settings, "
        "and replace a tier run scored with other --set settings (refused "
        "without it; a one-off study belongs in another store, --out DIR)",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="embedding cache (default: $JETZOO_CACHE or ~/.cache/jetzoo/embeddings)",
    )
    parser.add_argument("--no-cache", action="store_true", help="keep embeddings in memory only")
    parser.add_argument(
        "--devices", default="1", help="devices for the Lightning Trainer (an int or 'auto')"
    )
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="replace a task setting in every task, e.g. --set max_epochs=5 "
        "--set 'base_lrs=[1e-3]' (keys: DEFAULT_SETTINGS in "
        "jetzoo/leaderboard/tasks.py); recorded in the result file",
    )
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT), help="the result store (default leaderboard/results)"
    )
    parser.add_argument("--name", default=None, help="model id in the result files")
    parser.add_argument("--revision", default=None, help="Hub revision of MODEL")
    parser.add_argument(
        "--weights-sha256", default=None, help="refuse unless model.safetensors has this sha256"
    )
    parser.add_argument(
        "--dataset-sha256", default=None, help="refuse unless every task dataset has this sha256"
    )


def main(args: argparse.Namespace) -> int:
    devices: int | str = int(args.devices) if str(args.devices).isdigit() else args.devices
    try:
        overrides = parse_overrides(args.overrides)
        paths = submit(
            args.model,
            args.tasks,
            devices=devices,
            quick=args.quick,
            tier=args.tier,
            out=args.out,
            tasks_dir=args.tasks_dir,
            name=args.name,
            revision=args.revision,
            weights_sha256=args.weights_sha256,
            dataset_sha256=args.dataset_sha256,
            accelerator=args.accelerator,
            overrides=overrides,
            evaluations=args.evaluations,
            force=args.force,
            cache_dir=False if args.no_cache else args.cache_dir,
        )
    except (SubmissionError, TaskError, DataError) as err:
        print(f"jetzoo leaderboard submit: error: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0
