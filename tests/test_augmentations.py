"""Augmentation invariants: rotation keeps dR to the axis, splitting conserves pT, smearing
width scales as sqrt(Lambda_QCD / pT), padding is never touched."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from jetzoo.augmentations import (
    Compose,
    build_augmentations,
    collinear_split,
    rotate,
    smear,
    sort_by_pt,
    translate,
)


def _batch(
    b: int = 64, n: int = 30, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random padded jets, pT-ordered, pt_rel summing to 1, padding at the end."""
    g = torch.Generator().manual_seed(seed)
    n_real = torch.randint(2, n + 1, (b,), generator=g)
    mask = torch.arange(n)[None] < n_real[:, None]
    pt = torch.rand(b, n, generator=g).pow(3) * mask
    pt = pt / pt.sum(1, keepdim=True)
    x = (
        torch.stack(
            [torch.randn(b, n, generator=g) * 0.2, torch.randn(b, n, generator=g) * 0.2, pt], -1
        )
        * mask[..., None]
    )
    x, mask = sort_by_pt(x, mask)
    jet_pt = 500 + 500 * torch.rand(b, generator=g)
    return x, mask, jet_pt


def _padding_untouched(x: torch.Tensor, mask: torch.Tensor) -> None:
    assert (x[~mask] == 0).all()
    # padding only at the end
    n_real = mask.sum(1)
    assert (mask == (torch.arange(mask.shape[1])[None] < n_real[:, None])).all()


def test_rotate_keeps_distance_to_axis_and_pt() -> None:
    x, mask, jet_pt = _batch()
    y, m = rotate(x, mask, jet_pt, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(y[..., :2].norm(dim=-1), x[..., :2].norm(dim=-1))
    torch.testing.assert_close(y[..., 2], x[..., 2])
    assert (m == mask).all() and not torch.allclose(y, x)
    _padding_untouched(y, m)
    # explicit angle: (eta, phi) = (1, 0) rotated by pi/2 -> (0, 1)
    one = torch.tensor([[[1.0, 0.0, 1.0]]])
    r, _ = rotate(one, torch.ones(1, 1, dtype=torch.bool), angle=torch.tensor([math.pi / 2]))
    torch.testing.assert_close(r, torch.tensor([[[0.0, 1.0, 1.0]]]), atol=1e-6, rtol=0)


def test_rotation_angle_is_uniform() -> None:
    one = torch.tensor([[1.0, 0.0, 1.0]]).expand(20000, 1, 3)
    r, _ = rotate(
        one, torch.ones(20000, 1, dtype=torch.bool), generator=torch.Generator().manual_seed(2)
    )
    angle = torch.atan2(r[:, 0, 1], r[:, 0, 0]).numpy()
    hist, _ = np.histogram(angle, bins=8, range=(-math.pi, math.pi))
    assert hist.min() > 0.9 * 2500 and hist.max() < 1.1 * 2500


def test_smearing_sigma_scales_as_inverse_sqrt_pt() -> None:
    pts_gev = torch.tensor([1.0, 4.0, 16.0, 100.0])
    n_jets = 20000
    jet_pt = torch.full((n_jets,), 200.0)
    x = torch.zeros(n_jets, 4, 3)
    x[..., 2] = pts_gev / 200.0
    mask = torch.ones(n_jets, 4, dtype=torch.bool)
    y, _ = smear(x, mask, jet_pt, generator=torch.Generator().manual_seed(3))
    for k, p in enumerate(pts_gev.tolist()):
        for f in (0, 1):
            measured = y[:, k, f].std().item()
            assert measured == pytest.approx(math.sqrt(0.1 / p), rel=0.03)
    # sigma * sqrt(pT) is constant across pT: the 1/sqrt(pT) law
    widths = y[..., 0].std(0) * pts_gev.sqrt()
    assert (widths.max() / widths.min()).item() < 1.05
    torch.testing.assert_close(y[..., 2], x[..., 2])
    with pytest.raises(ValueError, match="jet pT"):
        smear(x, mask)
    # JetCLR-code law: sigma = Lambda / pT
    y_lin, _ = smear(
        x, mask, jet_pt, generator=torch.Generator().manual_seed(4), sigma_law="linear"
    )
    for k, p in enumerate(pts_gev.tolist()):
        assert y_lin[:, k, 1].std().item() == pytest.approx(0.1 / p, rel=0.03)
    with pytest.raises(ValueError, match="sigma_law"):
        smear(x, mask, jet_pt, sigma_law="cubic")


def test_smearing_jbot_reference_law_is_scale_over_pt_rel() -> None:
    """hftsoi/jbot: sigma = 3e-4 / pt_rel (no jet pT needed)."""
    pt_rel = torch.tensor([0.003, 0.01, 0.05, 0.3])
    x = torch.zeros(20000, 4, 3)
    x[..., 2] = pt_rel
    mask = torch.ones(20000, 4, dtype=torch.bool)
    y, _ = smear(x, mask, generator=torch.Generator().manual_seed(5), sigma_law="pt_rel")
    for k, p in enumerate(pt_rel.tolist()):
        for f in (0, 1):
            assert y[:, k, f].std().item() == pytest.approx(3e-4 / p, rel=0.03)
    torch.testing.assert_close(y[..., 2], x[..., 2])
    y2, _ = smear(
        x, mask, generator=torch.Generator().manual_seed(5), sigma_law="pt_rel", pt_rel_scale=6e-4
    )
    torch.testing.assert_close(y2[..., :2], 2 * y[..., :2])
    with pytest.raises(ValueError, match="'sqrt', 'linear' or 'pt_rel'"):
        smear(x, mask, sigma_law="cubic")


def test_smear_leaves_padding() -> None:
    x, mask, jet_pt = _batch()
    y, m = smear(x, mask, jet_pt)
    _padding_untouched(y, m)


def test_collinear_split_conserves_pt_and_fills_slots() -> None:
    x, mask, jet_pt = _batch(b=256)
    y, m = collinear_split(x, mask, jet_pt, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(y[..., 2].sum(1), x[..., 2].sum(1))
    n_in, n_out = mask.sum(1), m.sum(1)
    assert (n_out == torch.minimum(2 * n_in, torch.full_like(n_in, 30))).all()
    _padding_untouched(y, m)
    # pT ordering kept
    pt = torch.where(m, y[..., 2], torch.full_like(y[..., 2], -1))
    assert (pt[:, :-1] >= pt[:, 1:]).all()
    # every new particle sits exactly at an original particle's (eta, phi) (collinear)
    for i in range(16):
        orig = {tuple(v) for v in x[i, mask[i], :2].tolist()}
        assert {tuple(v) for v in y[i, m[i], :2].tolist()} == orig
    # full jets are unchanged
    full = n_in == 30
    assert full.any()
    torch.testing.assert_close(y[full], x[full])


def test_collinear_split_max_splits() -> None:
    x, mask, jet_pt = _batch()
    _, m = collinear_split(x, mask, jet_pt, max_splits=3)
    n_in = mask.sum(1)
    assert (
        m.sum(1) == n_in + torch.minimum(torch.minimum(30 - n_in, n_in), torch.full_like(n_in, 3))
    ).all()


def test_collinear_split_with_no_splits_is_the_identity() -> None:
    """``max_splits=0`` switches the splitting off from a recipe override
    (``model.augmentations.collinear_split.max_splits=0``, zoo-runs/jetclr-nosplit): the jets
    come back unchanged."""
    x, mask, jet_pt = _batch(b=128)
    y, m = collinear_split(
        x, mask, jet_pt, generator=torch.Generator().manual_seed(1), max_splits=0
    )
    assert torch.equal(m, mask)
    torch.testing.assert_close(y, x, rtol=0, atol=0)


def test_collinear_split_truncate_splits_full_jets_and_keeps_the_hardest() -> None:
    """``truncate=True`` (JetNet's cut to the leading particles applied after the split): every
    jet gets min(n, k) splits, full jets lose their softest particles, and jets with room for
    every split come out exactly as the collinear fill with the same draws."""
    x, mask, jet_pt = _batch(b=256)
    k = 5
    y, m = collinear_split(
        x, mask, jet_pt, generator=torch.Generator().manual_seed(4), max_splits=k, truncate=True
    )
    _padding_untouched(y, m)
    n_in = mask.sum(1)
    n_split = torch.minimum(n_in, torch.full_like(n_in, k))
    assert (m.sum(1) == torch.minimum(n_in + n_split, torch.full_like(n_in, 30))).all()
    pt = torch.where(m, y[..., 2], torch.full_like(y[..., 2], -1))
    assert (pt[:, :-1] >= pt[:, 1:]).all()
    for i in range(32):
        orig = {tuple(v) for v in x[i, mask[i], :2].tolist()}
        assert {tuple(v) for v in y[i, m[i], :2].tolist()} <= orig
    # what is lost is what fell below the N-th particle: at most the overflow count times the
    # softest kept pT, and nothing for jets with room for every split
    lost = x[..., 2].sum(1) - y[..., 2].sum(1)
    overflow = (n_in + n_split - 30).clamp_min(0)
    softest = torch.where(m, y[..., 2], torch.full_like(y[..., 2], 2.0)).min(1).values
    assert (lost >= -1e-6).all()
    assert (lost <= overflow * softest + 1e-6).all()
    full = n_in == 30
    assert full.any() and (lost[full] > 0).all()
    # full jets change, unlike with the plain fill
    assert not torch.allclose(y[full], x[full])
    # jets with room for all k splits: identical to the fill path (same draws)
    y_fill, m_fill = collinear_split(
        x, mask, jet_pt, generator=torch.Generator().manual_seed(4), max_splits=k
    )
    roomy = n_in + n_split <= 30
    assert roomy.any()
    assert torch.equal(m[roomy], m_fill[roomy])
    torch.testing.assert_close(y[roomy], y_fill[roomy], rtol=0, atol=0)


def test_collinear_split_truncate_hand_example_and_config() -> None:
    """One full jet of three particles (pT 0.6, 0.3, 0.1) and one split, from a recipe-style
    config: the particle first in the random order is split with z, and the jet keeps the three
    hardest of the four pieces."""
    x = torch.tensor([[[0.1, 0.0, 0.6], [0.0, 0.1, 0.3], [-0.1, 0.0, 0.1]]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    aug = build_augmentations({"collinear_split": {"max_splits": 1, "truncate": True}})
    for seed in range(8):
        g = torch.Generator().manual_seed(seed)
        keys, z = torch.rand(1, 3, generator=g), torch.rand(1, 3, generator=g)
        i, z0 = int(keys.argmin()), float(z[0, 0])
        pieces = [tuple(v) for k, v in enumerate(x[0].tolist()) if k != i]
        eta, phi, pt = x[0, i].tolist()
        pieces += [(eta, phi, z0 * pt), (eta, phi, (1 - z0) * pt)]
        expected = sorted(pieces, key=lambda v: -v[2])[:3]
        y, m = aug(x, mask, None, generator=torch.Generator().manual_seed(seed))
        assert m.all()
        torch.testing.assert_close(y[0], torch.tensor(expected))
    with pytest.raises(ValueError, match="truncate=True needs max_splits"):
        collinear_split(x, mask, None, truncate=True)


def test_translate_shifts_whole_jet() -> None:
    x, mask, jet_pt = _batch()
    y, m = translate(x, mask, jet_pt, width=0.5)
    shift = (y - x)[..., :2]
    first = shift[:, :1]
    assert torch.allclose(
        torch.where(mask[..., None], shift - first, 0 * shift), torch.zeros_like(shift), atol=1e-6
    )
    _padding_untouched(y, m)


def test_build_augmentations_default_pipeline() -> None:
    x, mask, jet_pt = _batch()
    aug = build_augmentations(["rotate", "smear", "collinear_split"])
    assert isinstance(aug, Compose) and "smear" in repr(aug)
    y, m = aug(x, mask, jet_pt)
    torch.testing.assert_close(y[..., 2].sum(1), x[..., 2].sum(1))
    _padding_untouched(y, m)
    y2, _ = build_augmentations({"smear": {"lambda_qcd": 0.0}})(x, mask, jet_pt)
    torch.testing.assert_close(y2, x)
    ident = build_augmentations(None)
    assert ident(x, mask, jet_pt)[0] is x
    with pytest.raises(ValueError, match="unknown augmentation 'rotat'"):
        build_augmentations(["rotat"])
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        rotate(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool))


def test_local_crop_keeps_the_particles_nearest_the_seed_in_jet_order() -> None:
    from jetzoo.augmentations import local_crop

    x = torch.zeros(2, 6, 3)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    # jet 0: all pT on particle 0, so it is always the seed
    x[0, :5] = torch.tensor(
        [[0.0, 0.0, 1.0], [0.5, 0.5, 0.0], [0.1, 0.0, 0.0], [0.3, -0.3, 0.0], [0.05, 0.05, 0.0]]
    )
    mask[0, :5] = True
    x[1, :2] = torch.tensor([[0.0, 0.0, 0.7], [0.3, 0.0, 0.3]])  # fewer particles than kept
    mask[1, :2] = True
    out, out_mask = local_crop(x, mask, 3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 3)
    torch.testing.assert_close(out[0], x[0, [0, 2, 4]])  # seed and its two nearest, in order
    assert out_mask[0].all()
    torch.testing.assert_close(out[1], torch.cat([x[1, :2], torch.zeros(1, 3)]))
    assert out_mask[1].tolist() == [True, True, False]


def test_local_crop_draws_its_seed_with_probability_pt() -> None:
    from jetzoo.augmentations import local_crop

    x = torch.tensor([[[0.0, 0.0, 0.8], [0.6, 0.0, 0.2]]]).repeat(4000, 1, 1)
    mask = torch.ones(4000, 2, dtype=torch.bool)
    out, _ = local_crop(x, mask, 1, generator=torch.Generator().manual_seed(1))
    hard = (out[:, 0, 2] == 0.8).float().mean().item()
    assert abs(hard - 0.8) < 0.025  # binomial spread 0.006
