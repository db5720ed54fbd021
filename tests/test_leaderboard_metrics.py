"""Every leaderboard metric equals scikit-learn's on the same random arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from jetzoo.leaderboard import metrics as m


def _binary(seed: int, n: int = 2000, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.normal(size=n) + 0.9 * y
    if ties:  # coarse scores: many ties, which ROC code must handle exactly
        s = np.round(s, 1)
    return s, y


def _sk_working_points(s: np.ndarray, y: np.ndarray, eps: float) -> tuple[float, float]:
    """Reference from sklearn's full ROC curve with integer counts (no float slack needed)."""
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    n_neg, n_pos = (y == 0).sum(), (y == 1).sum()
    fp, tp = np.rint(fpr * n_neg), np.rint(tpr * n_pos)
    sig_eff = tp[fp <= eps * n_neg].max() / n_pos
    min_fp = fp[tp >= eps * n_pos].min()
    rejection = np.inf if min_fp == 0 else n_neg / min_fp
    return float(sig_eff), float(rejection)


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, False)])
def test_binary_auc_and_roc_match_sklearn(seed: int, ties: bool) -> None:
    s, y = _binary(seed, ties=ties)
    assert m.binary_auc(s, y) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-6)
    # only the order matters: a huge affine map (which a sigmoid would squash into ties) is fine
    assert m.binary_auc(torch.tensor(s) * 1e9 - 5e9, torch.tensor(y)) == pytest.approx(
        skm.roc_auc_score(y, s), abs=1e-6
    )
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    ours = m.roc_curve(s, y)
    np.testing.assert_allclose(ours.fpr.numpy(), fpr, atol=1e-12)
    np.testing.assert_allclose(ours.tpr.numpy(), tpr, atol=1e-12)
    assert bool(torch.isinf(ours.thresholds[0])) and np.isinf(thr[0])
    np.testing.assert_array_equal(ours.thresholds.numpy()[1:], thr[1:])


@pytest.mark.parametrize("seed,ties", [(3, False), (4, True)])
@pytest.mark.parametrize("eps", [0.01, 0.1, 0.3, 0.5])
def test_working_points_match_sklearn_roc(seed: int, ties: bool, eps: float) -> None:
    s, y = _binary(seed, ties=ties)
    ref_sig_eff, ref_rejection = _sk_working_points(s, y, eps)
    assert m.signal_efficiency_at(s, y, bkg_eff=eps) == pytest.approx(ref_sig_eff, abs=1e-12)
    assert m.background_rejection_at(s, y, sig_eff=eps) == pytest.approx(ref_rejection, rel=1e-12)


def test_working_point_exactly_on_a_count_boundary() -> None:
    # 1000 background jets with distinct scores: eps_b = 0.1 is exactly 100 of them
    rng = np.random.default_rng(5)
    bkg, sig = rng.permutation(1000).astype(float), rng.permutation(1000) + 450.5
    s, y = np.concatenate([bkg, sig]), np.r_[np.zeros(1000), np.ones(1000)]
    # threshold keeping exactly the top 100 background jets (scores >= 900): signals >= 900
    assert m.signal_efficiency_at(s, y, 0.1) == pytest.approx(np.mean(sig >= 899.5))
    assert m.background_rejection_at(s, y, 1.0) == pytest.approx(1000 / np.sum(bkg >= 450.5))
    # perfectly separated: no background passes a working point -> infinite rejection
    assert (
        m.background_rejection_at(np.r_[np.zeros(5), np.ones(5)], np.r_[[0] * 5, [1] * 5], 0.5)
        == np.inf
    )


def test_accuracy_and_multiclass_auc_match_sklearn() -> None:
    rng = np.random.default_rng(6)
    n, c = 3000, 5
    y = rng.integers(0, c, n)
    scores = rng.normal(size=(n, c)) + 1.2 * np.eye(c)[y]
    assert m.accuracy(scores, y) == pytest.approx(skm.accuracy_score(y, scores.argmax(1)), abs=1e-7)
    assert m.accuracy(scores.argmax(1), y, num_classes=c) == pytest.approx(
        skm.accuracy_score(y, scores.argmax(1)), abs=1e-7
    )
    ours = m.multiclass_auc(scores, y).numpy()
    ref = [skm.roc_auc_score(y == k, scores[:, k]) for k in range(c)]
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    # sklearn's one-vs-rest macro average on probabilities equals the mean of ours
    probs = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    np.testing.assert_allclose(
        m.multiclass_auc(probs, y).mean(), skm.roc_auc_score(y, probs, multi_class="ovr"), atol=1e-6
    )


def test_bootstrap_spread_of_a_mean_is_the_standard_error() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(2.0, 3.0, 4000)
    mean, spread = m.bootstrap(lambda a: a.double().mean(), torch.tensor(x), n_resamples=400)
    # the mean of 400 resample means scatters by se / sqrt(400) = 0.0024 around x.mean()
    assert mean == pytest.approx(x.mean(), abs=0.012)
    # se = 0.047; a 400-resample estimate of it has relative error 1 / sqrt(2 * 400) = 3.5%
    se = x.std(ddof=1) / np.sqrt(len(x))
    assert spread == pytest.approx(se, rel=0.15)


def test_bootstrap_of_auc_is_reproducible_and_stratified() -> None:
    s, y = _binary(8, n=1000)
    a = m.bootstrap(m.binary_auc, s, y, n_resamples=50, seed=1, stratify=y)
    b = m.bootstrap(m.binary_auc, s, y, n_resamples=50, seed=1, stratify=y)
    assert a == b
    assert a.mean == pytest.approx(skm.roc_auc_score(y, s), abs=0.01)
    # the AUC standard error (Hanley-McNeil) for n = 500 + 500 at AUC ~ 0.74 is ~0.016
    assert 0.008 < a.spread < 0.03
    vec = m.bootstrap(
        lambda p, t: m.multiclass_auc(p, t), np.stack([-s, s], 1), y, n_resamples=20, stratify=y
    )
    assert vec.mean.shape == (2,) and vec.mean[1] == pytest.approx(a.mean, abs=0.02)


def test_mean_spread_over_seeds() -> None:
    mean, spread = m.mean_spread([0.80, 0.82, 0.84])
    assert mean == pytest.approx(0.82) and spread == pytest.approx(0.02)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="both classes"):
        m.binary_auc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="0/1"):
        m.binary_auc([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="NaN"):
        m.binary_auc([0.1, float("nan")], [0, 1])
    with pytest.raises(ValueError, match="entries"):
        m.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="class counts"):
        m.multiclass_auc(np.random.default_rng(0).random((4, 3)), [0, 1, 0, 1])
