"""Scores of one evaluation: metric names (``accuracy``, ``auc``, ``eff_s@eff_b=X``,
``rej_b@eff_s=X``), the value on the evaluation split with a class-stratified bootstrap
spread, ROC points, and the mean +- std over fine-tuning seeds."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from jetzoo.leaderboard import metrics as M
from jetzoo.leaderboard.batches import Batch
from jetzoo.leaderboard.schema import roc_key
from jetzoo.leaderboard.tasks import Task

_METRIC = re.compile(r"^(accuracy|auc|eff_s@eff_b=([0-9.eE-]+)|rej_b@eff_s=([0-9.eE-]+))$")


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
    resumed_commits: list[str] = field(default_factory=list)  # journalled jobs of other commits


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


def _auc_and_mean(proba: Tensor, target: Tensor) -> Tensor:
    """One-vs-rest AUC per class and, last, their mean."""
    auc = M.multiclass_auc(proba, target)
    return torch.cat([auc, auc.mean().reshape(1)])


def score_classification(
    task: Task,
    evaluation: str,
    proba: Tensor,
    target: Tensor,
    reference: tuple[Tensor, Tensor] | None = None,
    **extra: Any,
) -> Scored:
    """Metric rows and ROC curves (keys ``tier|evaluation|label``) of class scores
    ``proba (N, C)`` against classifier targets. ``accuracy_kept`` (shift tasks): the
    accuracy on these (shifted) jets over the accuracy of ``reference`` = (scores, targets)
    on the nominal test jets; its spread resamples the shifted jets."""
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
        elif name == "accuracy_kept":
            if reference is None:
                raise ValueError(f"task {task.name}: accuracy_kept needs the nominal scores")
            nominal = float(M.accuracy(reference[0].double(), reference[1], proba.shape[1]))
            v, e = _stat(
                lambda p, y: M.accuracy(p, y, proba.shape[1]) / nominal,
                (proba, target),
                target,
                n_boot,
                seed,
            )
            rows.append(_row(evaluation, name, v, e, n, **extra))
        elif task.kind == "multiclass" and name == "auc":  # per class and their mean, at once
            v, e = _stat(_auc_and_mean, (proba, target), target, n_boot, seed)
            for c, cls in enumerate(task.classes):
                rows.append(_row(evaluation, f"auc[{cls}]", v[c], e[c], n, **extra))
            rows.append(_row(evaluation, "auc[mean]", v[-1], e[-1], n, **extra))
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
