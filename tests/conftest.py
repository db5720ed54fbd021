"""Fixtures shared by the test files."""

from __future__ import annotations

from typing import Callable

import pytest

MINI_TOP = """\
name: mini-top
family: jetnet
dataset: jetnet-sample
seed: 0
kind: binary
classes: [q, g, t]
signal: [t]
evaluations: [{evaluations}]
metrics: [{metrics}]
settings: {{{settings}}}
"""
MINI_ANOMALY = """\
name: mini-anomaly
family: jetnet
dataset: jetnet-sample
seed: 0
kind: anomaly
classes: [q, g, t, w, z]
background: [q, g]
signals: {w: [w], union: [w, z, t]}
evaluations: [anomaly-knn, anomaly-mahalanobis, anomaly-ae]
metrics: [auc]
settings: {bootstrap: 10, knn_k: 5}
"""


@pytest.fixture()
def mini_top_yaml() -> Callable[..., str]:
    """The text of a small binary task file (t against q, g on the embedded sample) with the
    given evaluations (default knn), metrics and settings."""

    def text(
        *evaluations: str, metrics: str = "accuracy, auc", settings: str = "bootstrap: 5"
    ) -> str:
        return MINI_TOP.format(
            evaluations=", ".join(evaluations or ["knn"]), metrics=metrics, settings=settings
        )

    return text


@pytest.fixture()
def mini_anomaly_yaml() -> str:
    """The text of a small anomaly task file (w and the union of w, z, t against q, g)."""
    return MINI_ANOMALY


@pytest.fixture()
def embedded_rows(monkeypatch) -> list[int]:
    """Jets each ``EmbeddingCache.get`` call had to embed (the rest came from the cache), in
    call order."""
    from jetzoo.leaderboard.cache import EmbeddingCache

    computed: list[int] = []
    real_get = EmbeddingCache.get

    def counting_get(self, key, rows, compute):
        before = self.computed
        value = real_get(self, key, rows, compute)
        computed.append(self.computed - before)
        return value

    monkeypatch.setattr(EmbeddingCache, "get", counting_get)
    return computed
