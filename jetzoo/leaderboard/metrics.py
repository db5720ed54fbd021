"""Leaderboard metrics: accuracy, AUC, ROC, signal efficiency, background rejection, bootstrap.

Every metric takes ``scores`` (higher = more signal-like / more likely that class) and integer
``target`` labels as tensors or numpy arrays; ``tests/test_leaderboard_metrics.py`` checks each
against scikit-learn.

ROC-based metrics (AUC, working points) come from scikit-learn's exact ROC curve in float64,
every distinct score a threshold (the AUC is its trapezoid, ties counting one half), so scores
of any range keep their order. Measured reason, against torchmetrics' curve on normalised ranks
(46k jets, one thread on the loaded 2-core machine): 14 ms against 25 ms per curve, and a
77k-jet AUC 13 ms against 37 ms; the bootstrap of a standard-tier submission computes some 10^5
of them.

Working points (the jBOT paper, Table 3) are defined on the exact, threshold-realisable ROC
curve, without interpolation:

- ``signal_efficiency_at(eps_b)`` = the highest signal efficiency (TPR) of any threshold whose
  background efficiency (FPR) is <= ``eps_b``;
- ``background_rejection_at(eps_s)`` = 1 / the lowest background efficiency of any threshold whose
  signal efficiency is >= ``eps_s`` (``inf`` when no background passes).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor
from torchmetrics.functional.classification import multiclass_accuracy

ArrayLike = Tensor | np.ndarray | Sequence[float]

# Relative slack on working-point comparisons (fpr <= eps_b) so that an FPR of exactly eps_b
# (e.g. 100 / 1000 vs 0.1) still counts after float64 rounding.
_WP_TOL = 1e-12


def _as_tensor(a: ArrayLike, name: str, dtype: torch.dtype | None = None) -> Tensor:
    t = a.detach().cpu() if isinstance(a, Tensor) else torch.as_tensor(np.asarray(a))
    if dtype is not None:
        t = t.to(dtype)
    if t.numel() == 0:
        raise ValueError(f"{name} is empty")
    return t


def _binary_inputs(scores: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(scores float64, target int64) as numpy for the binary metrics; validates shapes/labels."""
    s = _as_tensor(scores, "scores", torch.float64).reshape(-1)
    y = _as_tensor(target, "target").reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores has {s.numel()} entries but target has {y.numel()}")
    if not torch.isfinite(s).all():
        raise ValueError("scores contain NaN or inf")
    y = y.long()
    if not ((y == 0) | (y == 1)).all():
        raise ValueError(f"binary target must be 0/1, got values {torch.unique(y).tolist()}")
    if y.sum() == 0 or y.sum() == y.numel():
        raise ValueError("binary target needs both classes (signal = 1 and background = 0)")
    return s.numpy(), y.numpy()


def accuracy(pred_or_scores: ArrayLike, target: ArrayLike, num_classes: int | None = None) -> float:
    """Fraction of correct predictions. ``pred_or_scores``: labels ``(N,)`` or class scores
    ``(N, C)`` (argmax taken)."""
    p = _as_tensor(pred_or_scores, "predictions")
    y = _as_tensor(target, "target").long().reshape(-1)
    if p.dim() == 2:
        num_classes = num_classes or p.shape[1]
        p = p.argmax(dim=1)
    p = p.long().reshape(-1)
    if p.shape != y.shape:
        raise ValueError(f"predictions have {p.numel()} entries but target has {y.numel()}")
    num_classes = num_classes or int(max(p.max(), y.max())) + 1
    return float(multiclass_accuracy(p, y, num_classes=num_classes, average="micro"))


def binary_auc(scores: ArrayLike, target: ArrayLike) -> float:
    """Area under the ROC curve of signal (target 1) vs background (target 0)."""
    from sklearn.metrics import auc

    fpr, tpr, _ = _sklearn_roc(*_binary_inputs(scores, target))
    return float(auc(fpr, tpr))


def multiclass_auc(scores: ArrayLike, target: ArrayLike) -> Tensor:
    """One-vs-rest AUC per class: ``(C,)`` float64, class c scored by ``scores[:, c]``."""
    s = _as_tensor(scores, "scores", torch.float64)
    y = _as_tensor(target, "target").long().reshape(-1)
    if s.dim() != 2 or s.shape[0] != y.numel():
        raise ValueError(f"scores must be (N, C) with N = {y.numel()}, got {tuple(s.shape)}")
    present = torch.bincount(y, minlength=s.shape[1])
    if (present == 0).any() or (present == y.numel()).any():
        raise ValueError(
            f"one-vs-rest AUC needs every class among the targets and at least two "
            f"classes; class counts: {present.tolist()}"
        )
    return torch.tensor(
        [binary_auc(s[:, c], (y == c).long()) for c in range(s.shape[1])], dtype=torch.float64
    )


class RocCurve(NamedTuple):
    """ROC curve: background efficiency ``fpr``, signal efficiency ``tpr``, score ``thresholds``
    (descending; a point at (0, 0) with threshold +inf first)."""

    fpr: Tensor
    tpr: Tensor
    thresholds: Tensor


def roc_curve(scores: ArrayLike, target: ArrayLike) -> RocCurve:
    """Exact ROC curve (one point per distinct score), thresholds in the units of ``scores``."""
    fpr, tpr, thresholds = _sklearn_roc(*_binary_inputs(scores, target))
    return RocCurve(torch.from_numpy(fpr), torch.from_numpy(tpr), torch.from_numpy(thresholds))


def _sklearn_roc(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve as sk_roc_curve

    fpr, tpr, thresholds = sk_roc_curve(y, s, drop_intermediate=False)
    return fpr.astype(np.float64), tpr.astype(np.float64), thresholds.astype(np.float64)


def signal_efficiency_at(scores: ArrayLike, target: ArrayLike, bkg_eff: float = 0.1) -> float:
    """Highest signal efficiency at background efficiency <= ``bkg_eff`` (e.g. 0.1, 0.01)."""
    if not 0.0 <= bkg_eff <= 1.0:
        raise ValueError(f"bkg_eff must be in [0, 1], got {bkg_eff}")
    fpr, tpr, _ = roc_curve(scores, target)
    return float(tpr[fpr <= bkg_eff * (1 + _WP_TOL)].max())


def background_rejection_at(scores: ArrayLike, target: ArrayLike, sig_eff: float = 0.3) -> float:
    """Background rejection 1/eps_b at signal efficiency >= ``sig_eff`` (e.g. 0.3, 0.5);
    ``inf`` when no background jet passes that threshold."""
    if not 0.0 < sig_eff <= 1.0:
        raise ValueError(f"sig_eff must be in (0, 1], got {sig_eff}")
    fpr, tpr, _ = roc_curve(scores, target)
    eps_b = float(fpr[tpr >= sig_eff * (1 - _WP_TOL)].min())
    return float("inf") if eps_b == 0.0 else 1.0 / eps_b


class MeanSpread(NamedTuple):
    """Mean and standard deviation (ddof = 1) of a metric over resamples or seeds."""

    mean: float | Tensor
    spread: float | Tensor


def mean_spread(values: Sequence[float] | Tensor | np.ndarray) -> MeanSpread:
    """Mean and sample standard deviation (ddof = 1) over the first axis (e.g. over seeds)."""
    if isinstance(values, (list, tuple)):
        values = torch.stack([torch.as_tensor(x, dtype=torch.float64) for x in values])
    v = _as_tensor(values, "values", torch.float64)
    spread = v.std(dim=0, unbiased=True) if v.shape[0] > 1 else torch.zeros_like(v[0])
    mean = v.mean(dim=0)
    if mean.dim() == 0:
        return MeanSpread(float(mean), float(spread))
    return MeanSpread(mean, spread)


def bootstrap(
    metric: Callable[..., float | Tensor],
    *arrays: ArrayLike,
    n_resamples: int = 100,
    seed: int = 0,
    stratify: ArrayLike | None = None,
) -> MeanSpread:
    """Mean and spread of ``metric(*arrays)`` over ``n_resamples`` bootstrap resamples.

    Each resample draws N rows with replacement (the same rows from every array; within each
    class of ``stratify`` if given, so that every resample keeps the class counts, which AUCs
    need). ``metric`` may return a float or a tensor (e.g. per-class AUC), reduced elementwise.
    """
    # resampled with numpy (single-threaded): torch's parallel gather of a few thousand rows
    # costs milliseconds per call on a busy machine
    ts = [_as_tensor(a, f"array {i}").numpy() for i, a in enumerate(arrays)]
    n = ts[0].shape[0]
    if any(t.shape[0] != n for t in ts):
        raise ValueError(f"bootstrap arrays differ in length: {[t.shape[0] for t in ts]}")
    if n_resamples < 2:
        raise ValueError("bootstrap needs n_resamples >= 2")
    rng = np.random.default_rng(seed)
    if stratify is None:
        groups = [np.arange(n)]
    else:
        strat = _as_tensor(stratify, "stratify").reshape(-1).numpy()
        if strat.shape[0] != n:
            raise ValueError(f"stratify has {strat.shape[0]} entries for {n} rows")
        groups = [np.flatnonzero(strat == c) for c in np.unique(strat)]
    values = []
    for _ in range(n_resamples):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        sample = (torch.from_numpy(np.ascontiguousarray(t[idx])) for t in ts)
        values.append(torch.as_tensor(metric(*sample), dtype=torch.float64))
    return mean_spread(torch.stack(values))
