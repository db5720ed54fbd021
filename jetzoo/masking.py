"""pT-aware particle masking for jBOT (the jBOT paper, Sec. 3 and 4.2).

Particles of a jet are reshuffled at random and accumulated in that order; of the prefixes of
the shuffled list, the one whose cumulative pT fraction is closest to the target ratio is
masked. This masks ~ratio of the jet pT without always picking the hardest (or softest)
particles, and never overshoots or undershoots by more than half a particle's pT share.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["pt_aware_mask", "sample_mask_ratios"]


def sample_mask_ratios(
    batch_size: int,
    low: float = 0.0,
    high: float = 0.5,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-jet target pT ratios uniform in [low, high] (jBOT: [0, 0.5] per view)."""
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(
            f"mask ratio range must satisfy 0 <= low <= high <= 1, got ({low}, {high})"
        )
    return low + (high - low) * torch.rand(batch_size, device=device, generator=generator)


def pt_aware_mask(
    pt: Tensor, mask: Tensor, ratio: Tensor | float, generator: torch.Generator | None = None
) -> Tensor:
    """Choose particles to mask so that their summed pT is closest to ``ratio`` of the jet pT.

    Args:
        pt: (B, N) particle pT (any unit; e.g. pt_rel), ignored at padding.
        mask: (B, N) bool, True for real particles.
        ratio: target masked pT fraction, a float or (B,) per jet.
        generator: optional RNG for the reshuffling.

    Returns:
        (B, N) bool token mask, True = masked; always False at padding.
    """
    if pt.shape != mask.shape or pt.dim() != 2:
        raise ValueError(f"pt {tuple(pt.shape)} and mask {tuple(mask.shape)} must both be (B, N)")
    mask = mask.bool()
    b, n = pt.shape
    ratio_t = torch.as_tensor(ratio, dtype=pt.dtype, device=pt.device).expand(b)
    pt = torch.where(mask, pt.clamp_min(0), torch.zeros_like(pt))
    frac = pt / pt.sum(1, keepdim=True).clamp_min(torch.finfo(pt.dtype).tiny)
    keys = torch.rand(b, n, generator=generator, device=pt.device)
    keys = torch.where(mask, keys, torch.full_like(keys, 2.0))  # padding last
    order = torch.argsort(keys, dim=1)
    cum = torch.cumsum(torch.gather(frac, 1, order), dim=1)
    cum = torch.cat([torch.zeros_like(cum[:, :1]), cum], dim=1)  # prefix of length k = 0..N
    n_mask = torch.argmin((cum - ratio_t[:, None]).abs(), dim=1)  # first minimum -> no padding
    # ratio >= 1 masks every real particle, even when float rounding (or zero-pT particles) makes
    # a shorter prefix tie with the full one
    n_mask = torch.where(ratio_t >= 1, mask.sum(1), n_mask)
    in_prefix = torch.arange(n, device=pt.device).expand(b, -1) < n_mask[:, None]
    token_mask = torch.zeros_like(mask).scatter(1, order, in_prefix)
    return token_mask & mask
