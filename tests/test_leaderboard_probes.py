"""kNN and linear probes: perfect embeddings score 1.0, noise scores chance, kNN equals sklearn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from jetzoo.leaderboard.metrics import accuracy, multiclass_auc
from jetzoo.leaderboard.probes import knn_probe, linear_probe, topk_cosine

C = 5


def _perfect(n: int, seed: int, d: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings that encode the label perfectly: a class direction plus small noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, C, (n,), generator=g)
    centers = torch.eye(d)[:C] * 3.0
    return centers[y] + 0.3 * torch.randn(n, d, generator=g), y


def test_topk_cosine_matches_brute_force_and_is_chunk_independent() -> None:
    g = torch.Generator().manual_seed(0)
    refs, queries = torch.randn(500, 8, generator=g), torch.randn(77, 8, generator=g)
    sims, idx = topk_cosine(queries, refs, k=10, batch_size=16, ref_chunk=37, device="cpu")
    unit = torch.nn.functional.normalize
    full = unit(queries, dim=1) @ unit(refs, dim=1).T
    ref_s, ref_i = full.topk(10, dim=1)
    torch.testing.assert_close(sims, ref_s, atol=1e-6, rtol=0)
    assert torch.equal(idx, ref_i)
    s2, i2 = topk_cosine(queries, refs, k=10, batch_size=1000, ref_chunk=10_000, device="cpu")
    torch.testing.assert_close(s2, sims, atol=1e-6, rtol=0)
    assert torch.equal(i2, idx)


@pytest.mark.parametrize("vote", ["weighted", "majority"])
def test_knn_on_perfect_embedding_scores_one(vote: str) -> None:
    x, y = _perfect(2000, 1)
    xt, yt = _perfect(1000, 2)
    res = knn_probe(x, y, xt, k=30, vote=vote, batch_size=128, ref_chunk=500, device="cpu")
    assert accuracy(res.pred, yt) == 1.0
    assert torch.allclose(multiclass_auc(res.scores, yt), torch.ones(C, dtype=torch.float64))
    assert torch.allclose(res.scores.sum(1), torch.ones(len(yt)))


def test_knn_on_noise_scores_chance() -> None:
    # Test labels are drawn independently of everything else, so whatever the predictions,
    # each is right with probability exactly 1/C: accuracy ~ Binomial(n, 1/C) / n, whose
    # standard deviation for n = 4000, C = 5 is sqrt(0.2 * 0.8 / 4000) = 0.0063. A 4-sigma
    # window (+-0.026) fails by chance with probability 6e-5 (and the seeds are fixed).
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(5000, 16, generator=g), torch.randint(0, C, (5000,), generator=g)
    xt, yt = torch.randn(4000, 16, generator=g), torch.randint(0, C, (4000,), generator=g)
    res = knn_probe(x, y, xt, k=30, device="cpu")
    assert accuracy(res.pred, yt) == pytest.approx(1 / C, abs=4 * np.sqrt(0.2 * 0.8 / 4000))
    # AUC under the null: sd = sqrt((n1 + n0 + 1) / (12 n1 n0)) ~ 0.0102 for n1 = 800, n0 = 3200
    aucs = multiclass_auc(res.scores, yt)
    assert torch.all((aucs - 0.5).abs() < 4 * 0.0102), aucs


def test_knn_majority_vote_equals_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, C, 3000)
    x = rng.normal(size=(3000, 12)) + 0.8 * np.eye(12)[y]
    xt = rng.normal(size=(1500, 12)) + 0.8 * np.eye(12)[rng.integers(0, C, 1500)]
    res = knn_probe(x, y, xt, k=30, vote="majority", batch_size=200, ref_chunk=700, device="cpu")
    sk = KNeighborsClassifier(n_neighbors=30, metric="cosine", algorithm="brute").fit(x, y)
    np.testing.assert_allclose(res.scores.numpy(), sk.predict_proba(xt), atol=1e-6)
    np.testing.assert_array_equal(res.pred.numpy(), sk.predict(xt))


def test_knn_weighted_vote_by_hand() -> None:
    # references on the unit circle; the query at angle 0 sees cosines 1, cos(0.5), cos(1.0)
    angles = torch.tensor([0.0, 0.5, 1.0, 3.0])
    refs = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    labels = torch.tensor([0, 1, 1, 0])
    res = knn_probe(refs, labels, torch.tensor([[2.0, 0.0]]), k=3, temperature=0.07, device="cpu")
    w = torch.exp(torch.cos(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)) / 0.07)
    expected = torch.tensor([w[0], w[1] + w[2]]) / w.sum()
    torch.testing.assert_close(res.scores[0].double(), expected, atol=1e-6, rtol=0)
    assert res.pred.item() == 0  # one very close neighbour outweighs two farther ones
    majority = knn_probe(
        refs, labels, torch.tensor([[2.0, 0.0]]), k=3, vote="majority", device="cpu"
    )
    assert majority.pred.item() == 1


def test_linear_probe_equals_sklearn_pipeline_and_perfect_embedding() -> None:
    x, y = _perfect(1500, 5)
    xt, yt = _perfect(500, 6)
    res = linear_probe(x, y, xt)
    assert accuracy(res.pred, yt) == 1.0
    scaler = StandardScaler().fit(x.numpy())
    ref = LogisticRegression(max_iter=1000, random_state=0).fit(scaler.transform(x.numpy()), y)
    np.testing.assert_allclose(
        res.scores.numpy(), ref.predict_proba(scaler.transform(xt.numpy())), atol=1e-5
    )


def test_linear_probe_on_noise_scores_chance() -> None:
    g = torch.Generator().manual_seed(7)
    x, y = torch.randn(3000, 16, generator=g), torch.randint(0, C, (3000,), generator=g)
    xt, yt = torch.randn(4000, 16, generator=g), torch.randint(0, C, (4000,), generator=g)
    res = linear_probe(x, y, xt)
    assert accuracy(res.pred, yt) == pytest.approx(1 / C, abs=4 * np.sqrt(0.2 * 0.8 / 4000))


def test_probe_input_errors() -> None:
    x = torch.randn(10, 4)
    with pytest.raises(ValueError, match="k = 30"):
        knn_probe(x, torch.zeros(10), x, k=30)
    with pytest.raises(ValueError, match="9 labels for 10"):
        knn_probe(x, torch.zeros(9), x, k=3)
    with pytest.raises(ValueError, match="dimension"):
        knn_probe(x, torch.zeros(10), torch.randn(3, 5), k=3)
    with pytest.raises(ValueError, match="two classes"):
        linear_probe(x, torch.zeros(10), x)
    with pytest.raises(ValueError, match="num_classes = 2"):
        knn_probe(x, torch.arange(10) % 3, x, k=3, num_classes=2)
    # classes absent from the training labels get a zero score column
    res = linear_probe(x, torch.arange(10) % 2, x, num_classes=4)
    assert res.scores.shape == (10, 4) and torch.all(res.scores[:, 2:] == 0)
