"""Frozen-embedding probes: kNN (cosine, batched top-k in torch) and a linear probe.

kNN protocol (the jBOT paper Sec. 4.4, following DINO, Caron et al. 2021): embeddings are
l2-normalised, the k = 30 reference jets of highest cosine similarity vote, and by default the
vote is DINO's *weighted* vote: neighbour i adds ``exp(s_i / T)`` (T = 0.07) to its class, the
predicted class is the argmax and the normalised votes are the class scores used for AUC.
``vote="majority"`` counts each neighbour once (scikit-learn's ``KNeighborsClassifier`` with
uniform weights).

Memory: queries are processed ``batch_size`` at a time against reference chunks of
``ref_chunk`` rows, keeping a running top-k, so memory is ``O(batch_size * (ref_chunk + k))``
whatever the number of references and queries (no N x M similarity matrix).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

DINO_TEMPERATURE = 0.07


class ProbeResult(NamedTuple):
    """Predicted labels ``(N,)`` int64 and class scores ``(N, C)`` float32 (rows sum to 1)."""

    pred: Tensor
    scores: Tensor


def _as_float(x: Tensor | np.ndarray, name: str, dtype: torch.dtype = torch.float32) -> Tensor:
    t = x.detach() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() != 2:
        raise ValueError(f"{name} must be a 2-d (N, D) array of embeddings, got {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return t.to(dtype)


def _as_labels(y: Tensor | np.ndarray, n: int, name: str) -> Tensor:
    t = y.detach() if isinstance(y, Tensor) else torch.as_tensor(np.asarray(y))
    t = t.reshape(-1).long()
    if t.numel() != n:
        raise ValueError(f"{name} has {t.numel()} labels for {n} embeddings")
    if (t < 0).any():
        raise ValueError(f"{name} contains negative labels")
    return t


def _num_classes(y: Tensor, num_classes: int | None) -> int:
    if num_classes is None:
        return int(y.max()) + 1
    if int(y.max()) >= num_classes:
        raise ValueError(f"train_y has label {int(y.max())} but num_classes = {num_classes}")
    return num_classes


@torch.no_grad()
def topk_cosine(
    queries: Tensor | np.ndarray,
    refs: Tensor | np.ndarray,
    k: int,
    batch_size: int = 1024,
    ref_chunk: int = 16384,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> tuple[Tensor, Tensor]:
    """Top-``k`` cosine similarities of each query to the references (both l2-normalised here).

    Queries go ``batch_size`` at a time; each is matched against reference chunks of
    ``ref_chunk`` rows (one reused ``batch_size x ref_chunk`` buffer: reallocating it every step
    costs more than the matrix product on a CPU), the chunk's top-k is merged into a running
    top-k. Returns ``(sims (Q, k), idx (Q, k))`` on the CPU, sorted by decreasing similarity.
    ``device``: where to compute (default: the current CUDA device if any, else the CPU).
    """
    q = _as_float(queries, "queries")
    r = _as_float(refs, "references")
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries have dimension {q.shape[1]} but references {r.shape[1]}")
    if not 1 <= k <= r.shape[0]:
        raise ValueError(f"k = {k} must be between 1 and the number of references ({r.shape[0]})")
    if device is None:  # the current CUDA device (Lightning sets it per DDP rank), else CPU
        device = (
            torch.device("cuda", torch.cuda.current_device())
            if torch.cuda.is_available()
            else torch.device("cpu")
        )
    device = torch.device(device)
    r_t = F.normalize(r.to(device), dim=1).T.contiguous()  # (D, M)
    m = r_t.shape[1]
    buf = torch.empty(min(batch_size, q.shape[0]), min(ref_chunk, m), device=device)
    sims_out, idx_out = [], []
    starts = range(0, q.shape[0], batch_size)
    for start in tqdm(starts, desc="kNN", disable=not progress, leave=False):
        qb = F.normalize(q[start : start + batch_size].to(device), dim=1)
        best_s: Tensor | None = None
        for c0 in range(0, m, ref_chunk):
            chunk = r_t[:, c0 : c0 + ref_chunk]
            s = torch.matmul(qb, chunk, out=buf[: qb.shape[0], : chunk.shape[1]])
            cs, ci = s.topk(min(k, chunk.shape[1]), dim=1)
            ci += c0
            if best_s is None:
                best_s, best_i = cs, ci
            else:  # merge two (b, <=k) candidate lists
                cand_s, cand_i = torch.cat([best_s, cs], dim=1), torch.cat([best_i, ci], dim=1)
                best_s, pos = cand_s.topk(k, dim=1)
                best_i = cand_i.gather(1, pos)
        sims_out.append(best_s.cpu())
        idx_out.append(best_i.cpu())
    return torch.cat(sims_out), torch.cat(idx_out)


def knn_probe(
    train_emb: Tensor | np.ndarray,
    train_y: Tensor | np.ndarray,
    test_emb: Tensor | np.ndarray,
    k: int = 30,
    batch_size: int = 1024,
    num_classes: int | None = None,
    vote: Literal["weighted", "majority"] = "weighted",
    temperature: float = DINO_TEMPERATURE,
    ref_chunk: int = 16384,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> ProbeResult:
    """kNN classifier on l2-normalised embeddings with cosine similarity.

    Args:
        train_emb, train_y: reference embeddings ``(M, D)`` and their labels ``(M,)``.
        test_emb: query embeddings ``(N, D)``.
        k: neighbours (the jBOT paper: 30).
        vote: ``"weighted"`` (DINO: weight ``exp(cos / temperature)``) or ``"majority"``.
        num_classes: C (default: ``max(train_y) + 1``).
    Returns:
        :class:`ProbeResult`: argmax-vote labels (ties go to the lower class index) and the
        normalised votes per class.
    """
    ref = _as_float(train_emb, "train_emb")
    ref_y = _as_labels(train_y, ref.shape[0], "train_y")
    num_classes = _num_classes(ref_y, num_classes)
    if vote not in ("weighted", "majority"):
        raise ValueError(f"vote must be 'weighted' or 'majority', got {vote!r}")
    if vote == "weighted" and temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    sims, idx = topk_cosine(
        test_emb,
        ref,
        k,
        batch_size=batch_size,
        ref_chunk=ref_chunk,
        device=device,
        progress=progress,
    )
    weights = torch.exp(sims / temperature) if vote == "weighted" else torch.ones_like(sims)
    votes = torch.zeros(sims.shape[0], num_classes, dtype=torch.float64)
    votes.scatter_add_(1, ref_y[idx], weights.double())
    scores = votes / votes.sum(dim=1, keepdim=True)
    return ProbeResult(scores.argmax(dim=1), scores.float())


def linear_probe(
    train_emb: Tensor | np.ndarray,
    train_y: Tensor | np.ndarray,
    test_emb: Tensor | np.ndarray,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
    num_classes: int | None = None,
) -> ProbeResult:
    """Multinomial logistic regression (scikit-learn, L-BFGS, L2 strength ``1/C``) on features
    standardised with the training set's mean and standard deviation. ``num_classes``: columns
    of the scores (default ``max(train_y) + 1``; classes absent from training score 0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _as_float(train_emb, "train_emb")
    y = _as_labels(train_y, x.shape[0], "train_y")
    xt = _as_float(test_emb, "test_emb")
    if xt.shape[1] != x.shape[1]:
        raise ValueError(f"test_emb has dimension {xt.shape[1]} but train_emb {x.shape[1]}")
    if len(torch.unique(y)) < 2:
        raise ValueError("linear_probe needs at least two classes in train_y")
    clf = make_pipeline(
        StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    )
    clf.fit(x.numpy(), y.numpy())
    proba = clf.predict_proba(xt.numpy())
    # columns follow clf.classes_; place them at their label index (absent classes score 0)
    num_classes = _num_classes(y, num_classes)
    scores = np.zeros((xt.shape[0], num_classes), dtype=np.float32)
    scores[:, clf.classes_] = proba
    return ProbeResult(torch.from_numpy(scores).argmax(dim=1), torch.from_numpy(scores))
