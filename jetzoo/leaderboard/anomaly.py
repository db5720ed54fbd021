"""Anomaly scores on frozen embeddings (the jBOT paper Sec. 4.5, Eqs. 5-8) and AE reconstruction.

A reference set ``ref`` (background embeddings, e.g. QCD q + g training jets) defines "normal";
each score maps test embeddings to ``(N,)`` float64 with **higher = more anomalous**. All
embeddings are l2-normalised first (as in the paper).

- :func:`knn_distance`: mean Euclidean distance to the k nearest references (Eq. 5).
- :func:`cosine_score`: ``-(1/k) sum_i exp(z . z_i / tau)`` over the k nearest, tau = 0.05 (Eq. 6).
- :func:`mahalanobis`: ``min_c (z - mu_c)^T Sigma^-1 (z - mu_c)`` with class means ``mu_c`` and one
  covariance tied across the reference classes (Eq. 7).
- :func:`gmm_score`: ``-log p(z)`` under a K-component Gaussian mixture fitted to ``ref`` (Eq. 8).
- :func:`reconstruction_score`: the autoencoder's ``log(1 - cos)`` through the Lightning path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from jetzoo.leaderboard.probes import _as_float, _as_labels, topk_cosine

ANOMALY_SCORES = ("knn", "cosine", "mahalanobis", "gmm")


def _normed(x: Tensor | np.ndarray, name: str) -> Tensor:
    return F.normalize(_as_float(x, name, torch.float64), dim=1)


def _knn_from_sims(sims: Tensor) -> Tensor:
    return torch.sqrt((2.0 - 2.0 * sims.double()).clamp_min(0.0)).mean(dim=1)


def _cosine_from_sims(sims: Tensor, tau: float) -> Tensor:
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    return -torch.exp(sims.double() / tau).mean(dim=1)


def knn_distance(
    ref: Tensor | np.ndarray, test: Tensor | np.ndarray, k: int = 30, **knn_kwargs: Any
) -> Tensor:
    """Mean Euclidean distance from each test embedding to its ``k`` nearest references
    (on the unit sphere ``|a - b| = sqrt(2 - 2 cos)``). ``knn_kwargs`` go to ``topk_cosine``."""
    return _knn_from_sims(topk_cosine(test, ref, k, **knn_kwargs)[0])


def cosine_score(
    ref: Tensor | np.ndarray,
    test: Tensor | np.ndarray,
    k: int = 30,
    tau: float = 0.05,
    **knn_kwargs: Any,
) -> Tensor:
    """``-(1/k) sum_i exp(cos(z, z_i) / tau)`` over the ``k`` most similar references."""
    return _cosine_from_sims(topk_cosine(test, ref, k, **knn_kwargs)[0], tau)


def mahalanobis(
    ref: Tensor | np.ndarray,
    test: Tensor | np.ndarray,
    ref_labels: Tensor | np.ndarray | None = None,
    ridge: float = 1e-6,
) -> Tensor:
    """Minimum over reference classes of the squared Mahalanobis distance with a tied covariance.

    ``Sigma`` is the pooled within-class covariance ``sum_c sum_{i in c} (z_i - mu_c)(z_i - mu_c)^T
    / M`` (as in LDA); ``ridge * trace(Sigma) / D`` is added to its diagonal because normalised
    embeddings live on a sphere and can make ``Sigma`` singular. ``ref_labels=None``: one class.
    """
    z_ref, z = _normed(ref, "ref"), _normed(test, "test")
    if z.shape[1] != z_ref.shape[1]:
        raise ValueError(f"test has dimension {z.shape[1]} but ref {z_ref.shape[1]}")
    y = (
        torch.zeros(z_ref.shape[0], dtype=torch.long)
        if ref_labels is None
        else _as_labels(ref_labels, z_ref.shape[0], "ref_labels")
    )
    classes = torch.unique(y)
    means = torch.stack([z_ref[y == c].mean(dim=0) for c in classes])  # (C, D)
    centred = z_ref - means[torch.searchsorted(classes, y)]
    sigma = centred.T @ centred / z_ref.shape[0]
    d = sigma.shape[0]
    jitter = ridge * torch.trace(sigma).clamp_min(1e-12) / d
    sigma = sigma + jitter * torch.eye(d, dtype=sigma.dtype)
    chol, info = torch.linalg.cholesky_ex(sigma)
    if info.item() != 0:
        raise ValueError(
            f"mahalanobis: the tied covariance of the reference embeddings is "
            f"singular (rank-deficient embedding?); use a ridge > {ridge}"
        )
    dists = []
    for mu in means:  # whitened residual: L^-1 (z - mu)
        w = torch.linalg.solve_triangular(chol, (z - mu).T, upper=False)
        dists.append((w * w).sum(dim=0))
    return torch.stack(dists).min(dim=0).values


def gmm_score(
    ref: Tensor | np.ndarray,
    test: Tensor | np.ndarray,
    n_components: int = 4,
    covariance_type: str = "full",
    seed: int = 0,
    reg_covar: float = 1e-6,
) -> Tensor:
    """``-log p(z)`` under a Gaussian mixture (scikit-learn, ``n_components`` = K = 4 in the
    paper) fitted to the normalised reference embeddings."""
    from sklearn.mixture import GaussianMixture

    z_ref, z = _normed(ref, "ref"), _normed(test, "test")
    gmm = GaussianMixture(
        n_components=n_components,
        covariance_type=covariance_type,
        random_state=seed,
        reg_covar=reg_covar,
    ).fit(z_ref.numpy())
    return -torch.from_numpy(gmm.score_samples(z.numpy()))


def anomaly_scores(
    ref: Tensor | np.ndarray,
    test: Tensor | np.ndarray,
    ref_labels: Tensor | np.ndarray | None = None,
    k: int = 30,
    tau: float = 0.05,
    n_components: int = 4,
    methods: tuple[str, ...] = ANOMALY_SCORES,
    seed: int = 0,
) -> dict[str, Tensor]:
    """All embedding-based scores of :data:`ANOMALY_SCORES` (or ``methods``) as a dict."""
    unknown = set(methods) - set(ANOMALY_SCORES)
    if unknown:
        raise ValueError(f"unknown anomaly scores {sorted(unknown)}; known: {ANOMALY_SCORES}")
    out: dict[str, Tensor] = {}
    if "knn" in methods or "cosine" in methods:
        sims, _ = topk_cosine(test, ref, k)  # shared neighbour search for both scores
        if "knn" in methods:
            out["knn"] = _knn_from_sims(sims)
        if "cosine" in methods:
            out["cosine"] = _cosine_from_sims(sims, tau)
    if "mahalanobis" in methods:
        out["mahalanobis"] = mahalanobis(ref, test, ref_labels)
    if "gmm" in methods:
        out["gmm"] = gmm_score(ref, test, n_components, seed=seed)
    return {m: out[m] for m in methods}


def reconstruction_score(model: torch.nn.Module, data: Any, **extract_kwargs: Any) -> Tensor:
    """Autoencoder anomaly score ``log(1 - cos)`` per jet (the model's ``reconstruction_score``),
    extracted through the Lightning Trainer like embeddings (``devices=N`` works, order kept)."""
    from jetzoo.leaderboard.embeddings import extract

    if not hasattr(model, "reconstruction_score"):
        raise TypeError(
            f"{type(model).__name__} has no reconstruction_score(batch); "
            "only autoencoder models can be scored by reconstruction"
        )
    scores, _ = extract(model, data, fn="reconstruction_score", **extract_kwargs)
    return scores.double().reshape(-1)
