"""Self-supervised losses, each implemented once.

- :func:`nt_xent`: SimCLR's normalised-temperature cross-entropy (JetCLR, RS3L), with negatives
  gathered from every rank under DDP (gradients flow through the gather).
- :func:`dino_cross_entropy`: DINO/iBOT teacher -> student cross-entropy with a centred,
  sharpened teacher (jBOT's [CLS] and masked-particle losses).
- :func:`koleo`: the Kozachenko-Leonenko entropy regulariser of DINOv2 (jBOT).
- :func:`variance_loss`, :func:`covariance_loss`: VICReg's anti-collapse terms (autoencoder).
- :func:`cosine_distance`: 1 - cos(x, z), the autoencoder's reconstruction loss (Rieck et al.).

Distributed helpers (:func:`gather_with_grad`, :func:`all_reduce_mean`) are no-ops at world
size 1, so every loss is correct both in a plain process and under DDP.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "nt_xent",
    "dino_cross_entropy",
    "teacher_probs",
    "update_center",
    "entropy",
    "koleo",
    "variance_loss",
    "covariance_loss",
    "cosine_distance",
    "gather_with_grad",
    "all_reduce_sum",
    "world_info",
]


# ----------------------------------------------------------------------------- distributed
def world_info() -> tuple[int, int]:
    """(rank, world_size) of the default process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(t: Tensor) -> tuple[Tensor, int]:
    """Concatenate ``t`` (B_r, ...) from all ranks along dim 0, keeping gradients.

    Ranks may hold different batch sizes (the last batch of an epoch): tensors are padded to
    the largest size for the collective and the padding is removed afterwards.

    Returns:
        (gathered tensor, offset of this rank's rows in it).
    """
    rank, world = world_info()
    if world == 1:
        return t, 0
    size = torch.tensor([t.shape[0]], device=t.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes_l = [int(s.item()) for s in sizes]
    max_size = max(sizes_l)
    if t.shape[0] < max_size:
        pad = t.new_zeros((max_size - t.shape[0], *t.shape[1:]))
        t_padded = torch.cat([t, pad], dim=0)
    else:
        t_padded = t
    full = _all_gather_autograd(t_padded)  # (world * max_size, ...)
    out = torch.cat([full[r * max_size : r * max_size + n] for r, n in enumerate(sizes_l)], dim=0)
    return out, sum(sizes_l[:rank])


def _all_gather_autograd(t: Tensor) -> Tensor:
    """All ranks' ``t`` stacked along dim 0; the backward sums each rank's gradient of the
    gathered tensor back onto its own rows (reduce-scatter), as the loss is a sum over ranks."""
    try:  # the functional collective of current torch (torch.distributed.nn's is deprecated)
        from torch.distributed._functional_collectives import all_gather_single_autograd
    except ImportError:
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(t), dim=0)
    return all_gather_single_autograd(t.contiguous(), 0, dist.group.WORLD)


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum of ``t`` over all ranks (no gradient); ``t`` itself at world size 1."""
    _, world = world_info()
    if world == 1:
        return t
    t = t.detach().clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


# ----------------------------------------------------------------------------- NT-Xent
def nt_xent(z_a: Tensor, z_b: Tensor, temperature: float = 0.1, gather: bool = True) -> Tensor:
    """SimCLR NT-Xent loss of positive pairs ``(z_a[i], z_b[i])``.

    For each of the 2B anchors, the positive is the other view of the same jet and the
    negatives are the 2B - 2 other embeddings (2·B_total - 2 under DDP, where ``gather=True``
    collects embeddings from all ranks with gradients). Similarities are cosine similarities
    divided by ``temperature``; the loss is the mean cross-entropy over this rank's anchors.
    Under DDP with gradient averaging this gives the gradient of the global-batch loss.

    Args:
        z_a, z_b: (B, D) embeddings of the two views.
        temperature: tau (0.1 in JetCLR and RS3L).
        gather: use negatives from all ranks when a process group is initialised.
    """
    if z_a.shape != z_b.shape or z_a.dim() != 2:
        raise ValueError(
            f"nt_xent needs two (B, D) tensors of equal shape, got "
            f"{tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z_a = F.normalize(z_a.float(), dim=-1)
    z_b = F.normalize(z_b.float(), dim=-1)
    b = z_a.shape[0]
    if gather:  # one collective for both views: (B, 2, D) rows gathered across ranks
        both, offset = gather_with_grad(torch.stack([z_a, z_b], dim=1))
        all_a, all_b = both[:, 0], both[:, 1]
    else:
        all_a, all_b, offset = z_a, z_b, 0
    n = all_a.shape[0]
    keys = torch.cat([all_a, all_b], dim=0)  # (2n, D)
    queries = torch.cat([z_a, z_b], dim=0)  # (2b, D)
    logits = queries @ keys.T / temperature  # (2b, 2n)
    local = torch.arange(b, device=z_a.device) + offset
    self_idx = torch.cat([local, local + n])
    pos_idx = torch.cat([local + n, local])
    rows = torch.arange(2 * b, device=z_a.device)
    is_self = torch.zeros_like(logits, dtype=torch.bool)
    is_self[rows, self_idx] = True
    logits = logits.masked_fill(is_self, float("-inf"))
    return F.cross_entropy(logits, pos_idx)


# ----------------------------------------------------------------------------- DINO / iBOT
def teacher_probs(teacher_logits: Tensor, center: Tensor, temperature: float = 0.04) -> Tensor:
    """Centred, sharpened teacher distribution softmax((t - c) / tau_t), without gradient."""
    return F.softmax((teacher_logits.detach().float() - center) / temperature, dim=-1)


@torch.no_grad()
def update_center(
    center: Tensor, outputs: Tensor, momentum: float, mask: Tensor | None = None
) -> Tensor:
    """In place ``c <- m c + (1 - m) mean(outputs)`` (DINO/iBOT teacher centring).

    The mean runs over all leading dimensions of ``outputs`` (..., K), restricted to ``mask``
    (same leading shape, True = count) when given, and over all ranks under DDP (all_reduce of
    the sums and counts), so every rank holds the same centre. Returns ``center``.
    """
    flat = outputs.detach().float().reshape(-1, outputs.shape[-1])
    w = torch.ones(flat.shape[0], device=flat.device) if mask is None else mask.reshape(-1).float()
    stats = all_reduce_sum(torch.cat([(flat * w[:, None]).sum(0), w.sum().reshape(1)]))
    mean = stats[:-1] / stats[-1].clamp_min(1.0)
    center.mul_(momentum).add_(mean.to(center.dtype).reshape(center.shape), alpha=1 - momentum)
    return center


def entropy(probs: Tensor) -> Tensor:
    """Mean entropy -sum p log p of distributions along the last dimension."""
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(-1).mean()


def dino_cross_entropy(
    student_logits: Tensor,
    teacher_logits: Tensor,
    center: Tensor,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
    mask: Tensor | None = None,
) -> Tensor:
    """DINO/iBOT cross-entropy -P_t . log P_s between teacher and student projections.

    P_t = softmax((t - center) / teacher_temp) (stop-gradient), P_s = softmax(s / student_temp).

    Args:
        student_logits: (B, K) or (B, N, K) student head outputs.
        teacher_logits: same shape, teacher head outputs.
        center: (K,) or (1, K) running centre of the teacher outputs.
        mask: for (B, N, K) inputs, (B, N) bool: the per-jet loss is the mean over the masked
            tokens (1/M(u) sum_i m_i ..., the jBOT paper eq. 1); jets with no masked token
            contribute 0 (as iBOT). The result is the mean over jets.

    Returns:
        scalar loss.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student {tuple(student_logits.shape)} and teacher "
            f"{tuple(teacher_logits.shape)} outputs differ in shape"
        )
    p_t = teacher_probs(teacher_logits, center, teacher_temp)
    log_p_s = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    ce = -(p_t * log_p_s).sum(-1)
    if mask is None:
        return ce.mean()
    if mask.shape != ce.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match outputs {tuple(ce.shape)}")
    m = mask.to(ce.dtype)
    per_jet = (ce * m).sum(-1) / m.sum(-1).clamp_min(1.0)
    return per_jet.mean()


# ----------------------------------------------------------------------------- KoLeo
def koleo(x: Tensor, eps: float = 1e-8) -> Tensor:
    """KoLeo regulariser -1/B sum_i log(min_{j != i} ||x_i - x_j||) on l2-normalised rows.

    The jBOT paper eq. (3) / DINOv2. ``x`` (B, D) with B >= 2.
    """
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"koleo needs a (B, D) batch with B >= 2, got {tuple(x.shape)}")
    x = F.normalize(x.float(), dim=-1, eps=eps)
    dists = torch.cdist(x, x)
    dists = dists + torch.diag(torch.full((x.shape[0],), float("inf"), device=x.device))
    return -torch.log(dists.min(dim=1).values + eps).mean()


# ----------------------------------------------------------------------------- VICReg terms
def variance_loss(z: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    """VICReg variance term: mean over dimensions of relu(gamma - sqrt(Var_batch(z_d) + eps))."""
    std = torch.sqrt(z.float().var(dim=0) + eps)
    return F.relu(gamma - std).mean()


def covariance_loss(z: Tensor) -> Tensor:
    """VICReg covariance term: sum of squared off-diagonal batch covariances divided by D."""
    z = z.float()
    b, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / max(b - 1, 1)
    off = cov - torch.diag(torch.diag(cov))
    return off.pow(2).sum() / d


def cosine_distance(x: Tensor, z: Tensor, eps: float = 1e-8) -> Tensor:
    """Per-row 1 - cos(x, z), shape (B,)."""
    return 1.0 - F.cosine_similarity(x.float(), z.float(), dim=-1, eps=eps)
