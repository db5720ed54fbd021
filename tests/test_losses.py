"""Losses against hand computations in numpy on 3-sample batches."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from jetzoo.losses import (
    cosine_distance,
    covariance_loss,
    dino_cross_entropy,
    entropy,
    koleo,
    nt_xent,
    teacher_probs,
    update_center,
    variance_loss,
)

RNG = np.random.default_rng(0)


def _np_softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _np_nt_xent(a: np.ndarray, b: np.ndarray, tau: float) -> float:
    """SimCLR loss written out term by term."""
    z = np.concatenate([a, b])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(a)
    total = 0.0
    for i in range(2 * n):
        pos = i + n if i < n else i - n
        sims = {k: z[i] @ z[k] / tau for k in range(2 * n) if k != i}
        denom = sum(np.exp(v) for v in sims.values())
        total += -np.log(np.exp(sims[pos]) / denom)
    return total / (2 * n)


def test_nt_xent_matches_hand_computation() -> None:
    a, b = RNG.normal(size=(3, 5)), RNG.normal(size=(3, 5))
    for tau in (0.1, 0.5):
        got = nt_xent(torch.tensor(a), torch.tensor(b), temperature=tau).item()
        assert got == pytest.approx(_np_nt_xent(a, b, tau), rel=1e-5)


def test_nt_xent_low_for_aligned_pairs_and_rejects_bad_shapes() -> None:
    a = torch.eye(3, 8)
    aligned = nt_xent(a, a.clone(), temperature=0.1).item()
    # positives cos = 1, negatives cos = 0: loss = -log(e^10 / (e^10 + 4))
    assert aligned == pytest.approx(-np.log(np.exp(10) / (np.exp(10) + 4)), abs=1e-6)
    with pytest.raises(ValueError, match="equal shape"):
        nt_xent(torch.zeros(3, 4), torch.zeros(2, 4))


def test_dino_cross_entropy_matches_hand_computation() -> None:
    s, t = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    c = RNG.normal(size=(1, 4)) * 0.1
    p_t = _np_softmax((t - c) / 0.04)
    log_p_s = np.log(_np_softmax(s / 0.1))
    want = np.mean(-(p_t * log_p_s).sum(-1))
    got = dino_cross_entropy(
        torch.tensor(s), torch.tensor(t), torch.tensor(c), student_temp=0.1, teacher_temp=0.04
    ).item()
    assert got == pytest.approx(want, rel=1e-5)
    # entropy of the teacher distribution
    want_h = np.mean(-(p_t * np.log(p_t)).sum(-1))
    assert entropy(teacher_probs(torch.tensor(t), torch.tensor(c), 0.04)).item() == pytest.approx(
        want_h, rel=1e-4, abs=1e-6
    )


def test_dino_cross_entropy_masked_tokens() -> None:
    s, t = RNG.normal(size=(3, 2, 4)), RNG.normal(size=(3, 2, 4))
    c = np.zeros((1, 4))
    m = np.array([[1, 0], [1, 1], [0, 0]], dtype=bool)
    ce = -(_np_softmax(t / 0.04) * np.log(_np_softmax(s / 0.1))).sum(-1)  # (3, 2)
    per_jet = [ce[0, 0], (ce[1, 0] + ce[1, 1]) / 2, 0.0]  # jet without masked particles -> 0
    got = dino_cross_entropy(
        torch.tensor(s), torch.tensor(t), torch.tensor(c), mask=torch.tensor(m)
    ).item()
    assert got == pytest.approx(np.mean(per_jet), rel=1e-5)


def test_update_center_is_ema_of_masked_mean() -> None:
    out = RNG.normal(size=(3, 2, 4))
    m = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    c = torch.full((1, 4), 0.5, dtype=torch.float64)
    update_center(c, torch.tensor(out), 0.9, mask=torch.tensor(m))
    np.testing.assert_allclose(c.numpy()[0], 0.9 * 0.5 + 0.1 * out[m].mean(0), rtol=1e-6)


def test_dino_cross_entropy_gradient_only_to_student() -> None:
    s = torch.randn(3, 4, requires_grad=True)
    t = torch.randn(3, 4, requires_grad=True)
    dino_cross_entropy(s, t, torch.zeros(4)).backward()
    assert s.grad is not None and t.grad is None


def test_koleo_matches_hand_computation() -> None:
    x = RNG.normal(size=(3, 4))
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = np.linalg.norm(xn[:, None] - xn[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    want = -np.mean(np.log(d.min(1) + 1e-8))
    assert koleo(torch.tensor(x)).item() == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="B >= 2"):
        koleo(torch.zeros(1, 4))


def test_variance_covariance_cosine_match_hand_computation() -> None:
    z = RNG.normal(size=(3, 4))
    std = np.sqrt(z.var(axis=0, ddof=1) + 1e-4)
    assert variance_loss(torch.tensor(z)).item() == pytest.approx(
        np.maximum(0, 1 - std).mean(), rel=1e-5
    )
    cov = np.cov(z, rowvar=False)
    off = cov - np.diag(np.diag(cov))
    assert covariance_loss(torch.tensor(z)).item() == pytest.approx((off**2).sum() / 4, rel=1e-5)
    x = RNG.normal(size=(3, 4))
    cos = (x * z).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(z, axis=1)
    np.testing.assert_allclose(
        cosine_distance(torch.tensor(x), torch.tensor(z)).numpy(), 1 - cos, rtol=1e-5
    )


# ----------------------------------------------------------------------------- DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(
    rank: int, world: int, port: int, a: torch.Tensor, b: torch.Tensor, out: dict
) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        # even split (3 + 3): losses and gradients; uneven split (4 + 2): padded gather
        even = slice(0, 3) if rank == 0 else slice(3, 6)
        za = a[even].clone().requires_grad_(True)
        zb = b[even].clone().requires_grad_(True)
        loss = nt_xent(za, zb, temperature=0.2)
        loss.backward()
        uneven = slice(0, 4) if rank == 0 else slice(4, 6)
        loss_u = nt_xent(a[uneven], b[uneven], temperature=0.2)
        # jBOT centre: masked mean over the (uneven) global batch of tokens
        center = torch.ones(1, 5)
        update_center(
            center,
            a[uneven, None].expand(-1, 2, -1),
            0.9,
            mask=torch.tensor([[True, False]]).expand(len(a[uneven]), -1),
        )
        out[rank] = (loss.item(), za.grad.clone(), zb.grad.clone(), loss_u.item(), center)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_nt_xent_ddp_gathers_negatives_with_gradients() -> None:
    """Two gloo ranks reproduce the single-process loss on the global batch: the mean of the
    per-rank losses equals it, and each rank's gradient (summed back through the gather) divided
    by the world size (DDP's gradient averaging) equals the global gradient of its rows."""
    torch.manual_seed(0)
    a, b = torch.randn(6, 5), torch.randn(6, 5)
    ga, gb = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    full = nt_xent(ga, gb, temperature=0.2)
    full.backward()
    out = mp.Manager().dict()
    mp.spawn(_ddp_worker, args=(2, _free_port(), a, b, out), nprocs=2, join=True)
    (l0, ga0, gb0, u0, c0), (l1, ga1, gb1, u1, c1) = out[0], out[1]
    assert (l0 + l1) / 2 == pytest.approx(full.item(), rel=1e-5)
    assert (4 * u0 + 2 * u1) / 6 == pytest.approx(full.item(), rel=1e-5)
    torch.testing.assert_close(torch.cat([ga0, ga1]) / 2, ga.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.cat([gb0, gb1]) / 2, gb.grad, rtol=1e-5, atol=1e-6)
    # the jBOT centre is the same on both ranks: the EMA of the global-batch mean
    want_c = 0.9 + 0.1 * a.mean(0, keepdim=True)
    torch.testing.assert_close(c0, want_c)
    torch.testing.assert_close(c1, want_c)
