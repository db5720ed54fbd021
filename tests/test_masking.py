"""pT-aware masking: masked pT fraction close to the target, padding never masked."""

from __future__ import annotations

import pytest
import torch

from jetzoo.masking import pt_aware_mask, sample_mask_ratios


def _jets(b: int = 2000, n: int = 30, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n_real = torch.randint(10, n + 1, (b,), generator=g)
    mask = torch.arange(n)[None] < n_real[:, None]
    pt = torch.rand(b, n, generator=g).pow(2) * mask
    return pt / pt.sum(1, keepdim=True), mask


def test_masked_fraction_close_to_target() -> None:
    pt, mask = _jets()
    ratio = sample_mask_ratios(len(pt), 0.0, 0.5, generator=torch.Generator().manual_seed(1))
    assert 0.0 <= ratio.min() and ratio.max() <= 0.5 and abs(ratio.mean().item() - 0.25) < 0.02
    tm = pt_aware_mask(pt, mask, ratio, generator=torch.Generator().manual_seed(2))
    assert not (tm & ~mask).any()
    masked = (pt * tm).sum(1)
    err = (masked - ratio).abs()
    # closest prefix: never further than half of the next particle's share, which is < 0.5 * max
    assert (err <= 0.5 * pt.max(1).values + 1e-6).all()
    assert err.mean().item() < 0.03
    # the selection is random: not always the hardest particles
    assert tm[:, 0].float().mean().item() < 0.5


def test_mask_limits_and_fixed_ratio() -> None:
    pt, mask = _jets(b=500)
    assert not pt_aware_mask(pt, mask, 0.0).any()
    assert (pt_aware_mask(pt, mask, 1.0) == mask).all()
    tm = pt_aware_mask(pt, mask, 0.3)
    assert (pt * tm).sum(1).mean().item() == pytest.approx(0.3, abs=0.02)
    with pytest.raises(ValueError, match="must both be"):
        pt_aware_mask(pt[:, :5], mask, 0.3)
    with pytest.raises(ValueError, match="0 <= low"):
        sample_mask_ratios(3, 0.6, 0.5)
