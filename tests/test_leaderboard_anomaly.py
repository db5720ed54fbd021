"""Anomaly scores: equal to brute-force / scikit-learn references, and a shifted signal is found."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from torch import nn

from jetzoo.leaderboard import anomaly as an
from jetzoo.leaderboard.metrics import binary_auc

D = 8


def _norm(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _background(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two background classes ("q", "g"): unit Gaussians around two different centres."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    centres = np.zeros((2, D))
    centres[0, 0], centres[1, 1] = 2.0, 2.0
    return centres[y] + rng.normal(size=(n, D)), y


def _signal(n: int, seed: int, shift: float = 2.0) -> np.ndarray:
    """A "signal" Gaussian shifted along a direction the background does not populate."""
    rng = np.random.default_rng(seed)
    centre = np.zeros(D)
    centre[2] = shift
    return centre + rng.normal(size=(n, D))


def test_knn_and_cosine_scores_equal_brute_force() -> None:
    ref, _ = _background(1000, 0)
    test = np.concatenate([_background(100, 1)[0], _signal(100, 2)])
    zr, zt = _norm(ref), _norm(test)
    dist, idx = NearestNeighbors(n_neighbors=30).fit(zr).kneighbors(zt)
    ours = an.knn_distance(ref, test, k=30, batch_size=64, ref_chunk=300, device="cpu")
    np.testing.assert_allclose(ours.numpy(), dist.mean(1), atol=1e-5)
    cos = np.einsum("nd,nkd->nk", zt, zr[idx])
    ref_cos = -np.exp(cos / 0.05).mean(1)
    np.testing.assert_allclose(
        an.cosine_score(ref, test, k=30, tau=0.05, device="cpu").numpy(), ref_cos, rtol=2e-5
    )
    both = an.anomaly_scores(ref, test, methods=("knn", "cosine"))
    np.testing.assert_allclose(both["knn"].numpy(), dist.mean(1), atol=1e-5)
    np.testing.assert_allclose(both["cosine"].numpy(), ref_cos, rtol=2e-5)


def test_mahalanobis_equals_numpy_with_tied_covariance() -> None:
    ref, y = _background(2000, 3)
    test = _signal(50, 4)
    zr, zt = _norm(ref), _norm(test)
    mus = [zr[y == c].mean(0) for c in (0, 1)]
    pooled = sum(((zr[y == c] - mus[c]).T @ (zr[y == c] - mus[c])) for c in (0, 1)) / len(zr)
    inv = np.linalg.inv(pooled)
    expected = np.min([np.einsum("nd,de,ne->n", zt - mu, inv, zt - mu) for mu in mus], axis=0)
    ours = an.mahalanobis(ref, test, ref_labels=y, ridge=0.0).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-8)
    # without labels: one Gaussian with the full covariance (ddof = 0)
    mu = zr.mean(0)
    inv1 = np.linalg.inv(np.cov(zr.T, ddof=0))
    np.testing.assert_allclose(
        an.mahalanobis(ref, test, ridge=0.0).numpy(),
        np.einsum("nd,de,ne->n", zt - mu, inv1, zt - mu),
        rtol=1e-8,
    )


def test_gmm_score_is_negative_log_likelihood() -> None:
    ref, _ = _background(800, 5)
    test = _signal(40, 6)
    gmm = GaussianMixture(4, random_state=0, reg_covar=1e-6).fit(_norm(ref))
    np.testing.assert_allclose(
        an.gmm_score(ref, test, n_components=4).numpy(), -gmm.score_samples(_norm(test)), rtol=1e-10
    )


def test_shifted_gaussian_signal_scores_higher_than_background() -> None:
    ref, ref_y = _background(2000, 7)
    bkg_test, _ = _background(1000, 8)
    sig_test = _signal(1000, 9)
    test = np.concatenate([bkg_test, sig_test])
    is_sig = np.r_[np.zeros(1000), np.ones(1000)]
    scores = an.anomaly_scores(ref, test, ref_labels=ref_y, k=30, tau=0.05, n_components=4)
    aucs = {name: binary_auc(s, is_sig) for name, s in scores.items()}
    # with a shift of 2 sigma into an empty direction the signal is well separated (~0.9)
    assert all(auc > 0.8 for auc in aucs.values()), aucs
    # and an unshifted "signal" drawn from the background itself is at chance (sd ~ 0.013)
    null = an.anomaly_scores(
        ref, np.concatenate([bkg_test, _background(1000, 10)[0]]), ref_labels=ref_y
    )
    for name, s in null.items():
        assert binary_auc(s, is_sig) == pytest.approx(0.5, abs=0.06), name


class _ToyAE(nn.Module):
    """Stand-in for the autoencoder: reconstructs x by a fixed scaling (its score is analytic)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, 0.5, 2.0]))

    def reconstruction_score(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x = batch["x"].flatten(1)
        rec = (batch["x"] * self.w).flatten(1)
        return torch.log(1 - torch.nn.functional.cosine_similarity(x, rec, dim=1))


def test_reconstruction_score_goes_through_extract_in_order() -> None:
    g = torch.Generator().manual_seed(0)
    data = {
        "x": torch.rand(23, 30, 3, generator=g),
        "mask": torch.ones(23, 30, dtype=torch.bool),
        "label": torch.arange(23),
    }
    model = _ToyAE()
    scores = an.reconstruction_score(model, data, batch_size=5, accelerator="cpu", progress=False)
    with torch.no_grad():
        expected = model.reconstruction_score(data).double()
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(TypeError, match="reconstruction_score"):
        an.reconstruction_score(nn.Linear(2, 2), data)


def test_reconstruction_score_of_the_registered_autoencoder() -> None:
    from jetzoo import create_backbone

    torch.manual_seed(0)
    ae = create_backbone("ae")
    if not hasattr(ae, "reconstruction_score"):
        pytest.skip("the registered 'ae' has no reconstruction_score yet")
    g = torch.Generator().manual_seed(1)
    data = {
        "x": torch.rand(19, 30, 3, generator=g),
        "mask": torch.rand(19, 30, generator=g) > 0.2,
        "label": torch.zeros(19, dtype=torch.long),
    }
    scores = an.reconstruction_score(ae, data, batch_size=4, accelerator="cpu", progress=False)
    ae.eval()
    with torch.no_grad():
        expected = ae.reconstruction_score(data).double()
    assert scores.shape == (19,)
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-5)


def test_unknown_method_and_bad_tau() -> None:
    ref = np.random.default_rng(0).normal(size=(50, 4))
    with pytest.raises(ValueError, match="unknown anomaly scores"):
        an.anomaly_scores(ref, ref, methods=("lof",))
    with pytest.raises(ValueError, match="tau"):
        an.cosine_score(ref, ref, k=5, tau=0.0)
    flat = np.c_[ref[:, :2], np.zeros((50, 2))]  # two dead embedding dimensions
    with pytest.raises(ValueError, match="singular"):
        an.mahalanobis(flat, flat, ridge=0.0)
    assert torch.isfinite(an.mahalanobis(flat, flat)).all()  # the default ridge copes
