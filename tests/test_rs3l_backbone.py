"""RS3L backbone: Table 1 of Rieck et al., padding / permutation invariance, proximity mask."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from jetzoo.data.rs3l_dataset import RS3LPairDataset, rs3l_collate, rs3l_sample_path
from jetzoo.models.registry import build_from_config, create_backbone, list_models
from jetzoo.models.rs3l_backbone import (
    RS3LTransformer,
    fit_preprocessing,
    transform_cells,
    transform_tracks,
)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def model() -> RS3LTransformer:
    torch.manual_seed(0)
    return create_backbone("rs3l").eval()


def random_jets(b: int = 3, t: int = 6, c: int = 24, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    tracks = torch.stack(
        [
            torch.rand(b, t, generator=g) * 20 + 1,
            torch.randn(b, t, generator=g) * 0.1 + 0.5,
            torch.randn(b, t, generator=g) * 0.1,
            torch.randn(b, t, generator=g) * 0.02,
            torch.randn(b, t, generator=g) * 0.1,
        ],
        dim=-1,
    )
    cells = torch.stack(
        [
            torch.rand(b, c, generator=g) * 5,
            torch.randn(b, c, generator=g) * 0.15 + 0.5,
            torch.randn(b, c, generator=g) * 0.15,
            torch.randint(0, 6, (b, c), generator=g).float(),
        ],
        dim=-1,
    )
    track_mask = torch.ones(b, t, dtype=torch.bool)
    cell_mask = torch.ones(b, c, dtype=torch.bool)
    if b >= 3:
        track_mask[0, 4:] = False
        track_mask[2] = False  # a jet without tracks
        cell_mask[1, 10:] = False
    return tracks, track_mask, cells, cell_mask


def test_parameter_counts_match_table_1_of_seed_000(model: RS3LTransformer) -> None:
    assert "rs3l" in list_models()
    assert n_params(model.layer_embed) == 24
    assert n_params(model.cell_mlp) == 17_536
    assert n_params(model.track_mlp) == 17_280
    assert n_params(model.blocks) + n_params(model.norm) == 199_424
    assert n_params(model.head) == 8_776
    assert n_params(model) == 243_040
    assert model.num_features == 8 and len(model.blocks) == 2


def test_padding_and_order_do_not_change_the_output(model: RS3LTransformer) -> None:
    tracks, tm, cells, cm = random_jets()
    y = model(tracks, tm, cells, cm)
    assert y.shape == (3, 8) and torch.isfinite(y).all()
    # extra padding filled with garbage (negative energies, NaN-prone values, bad layers)
    junk_t = torch.full((3, 5, 5), -7.0)
    junk_c = torch.full((3, 9, 4), -50.0)
    no = lambda n: torch.zeros(3, n, dtype=torch.bool)  # noqa: E731
    y_pad = model(
        torch.cat([tracks, junk_t], 1),
        torch.cat([tm, no(5)], 1),
        torch.cat([cells, junk_c], 1),
        torch.cat([cm, no(9)], 1),
    )
    torch.testing.assert_close(y_pad, y, atol=1e-5, rtol=1e-5)
    # the garbage in padded slots is not used at all: change it, nothing changes
    tracks2 = tracks.clone()
    tracks2[~tm] = 123.0
    torch.testing.assert_close(model(tracks2, tm, cells, cm), y)
    # permutation invariance over tracks and cells
    pt, pc = torch.randperm(6), torch.randperm(24)
    torch.testing.assert_close(
        model(tracks[:, pt], tm[:, pt], cells[:, pc], cm[:, pc]), y, atol=1e-5, rtol=1e-5
    )


def test_attention_is_masked_by_proximity(model: RS3LTransformer) -> None:
    tracks, tm, cells, cm = random_jets(b=1, t=2, c=6, seed=3)
    # two groups 1.0 apart in eta (> radius 0.2): tracks + cells 0-2 near eta 0, cells 3-5 at 1
    tracks[0, :, 1:3] = torch.tensor([[0.0, 0.0], [0.05, 0.02]])
    cells[0, :, 1] = torch.tensor([0.0, 0.03, -0.02, 1.0, 1.02, 0.97])
    cells[0, :, 2] = torch.tensor([0.0, 0.01, 0.02, 0.0, 0.01, -0.01])
    h, mask = model.tokens(tracks, tm, cells, cm)
    far = cells.clone()
    far[0, 4, 0] = 40.0  # change the energy of a cell in the far group
    h2, _ = model.tokens(tracks, tm, far, cm)
    near_group = [0, 1, 2, 3, 4]  # 2 tracks + cells 0-2 (tracks come first)
    torch.testing.assert_close(h2[0, near_group], h[0, near_group])
    assert not torch.allclose(h2[0, 5], h[0, 5])  # unchanged cell, same group as the changed one
    # a huge radius connects everything
    wide = create_backbone("rs3l", radius=10.0).eval()
    wide.load_state_dict(model.state_dict())
    g1, _ = wide.tokens(tracks, tm, cells, cm)
    g2, _ = wide.tokens(tracks, tm, far, cm)
    assert not torch.allclose(g1[0, 0], g2[0, 0])


def test_embed_config_round_trip_and_registry(model: RS3LTransformer) -> None:
    ds = RS3LPairDataset(rs3l_sample_path(), classes=["tau", "dark_C"])
    batch = rs3l_collate(ds.__getitems__(list(range(6))))
    y = model.embed(batch)
    torch.testing.assert_close(
        y, model(batch["tracks"], batch["track_mask"], batch["cells"], batch["cell_mask"])
    )
    config = json.loads(json.dumps(model.config))
    assert config["arch"] == "rs3l_transformer"
    rebuilt = build_from_config(config).eval()
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt.embed(batch), y)
    assert model.get_layer_id("track_mlp.0.weight") == 0
    assert model.get_layer_id("blocks.1.attn.qkv.weight") == 2
    assert model.get_layer_id("head.2.bias") == 3


def test_fit_preprocessing_matches_a_hand_computation() -> None:
    tracks, tm, cells, cm = random_jets(seed=5)
    batch = {"tracks": tracks, "track_mask": tm, "cells": cells, "cell_mask": cm}
    stats = fit_preprocessing([batch])
    t = tracks[tm].double().numpy()
    slog = lambda x: np.sign(x) * np.log1p(np.abs(x) / 0.01)  # noqa: E731
    expected = np.stack([np.log(t[:, 0]), t[:, 1], t[:, 2], slog(t[:, 3]), slog(t[:, 4])], 1)
    np.testing.assert_allclose(stats["track_mean"], expected.mean(0), atol=1e-4)
    np.testing.assert_allclose(stats["track_std"], expected.std(0, ddof=1), atol=1e-4)
    c = cells[cm].double().numpy()
    np.testing.assert_allclose(
        stats["cell_mean"][0], np.log(np.maximum(c[:, 0], 1e-3)).mean(), atol=1e-4
    )
    assert transform_tracks(tracks).shape == (3, 6, 5)
    assert transform_cells(cells).shape == (3, 24, 3)
    with pytest.raises(ValueError, match="track_std"):
        RS3LTransformer(preprocessing={"track_std": [1.0, 0.0, 1.0, 1.0, 1.0]})


def test_default_preprocessing_standardises_the_sample() -> None:
    """The registered numbers are the sample's statistics: standardised features ~ N(0, 1)."""
    ds = RS3LPairDataset(rs3l_sample_path(), classes=["q", "g", "tau"])
    batch = rs3l_collate(ds.__getitems__(list(range(0, len(ds), 3))))
    stats = fit_preprocessing([batch])
    prep = create_backbone("rs3l").config["preprocessing"]
    for key in ("track", "cell"):
        mean, std = np.array(prep[f"{key}_mean"]), np.array(prep[f"{key}_std"])
        z_mean = (np.array(stats[f"{key}_mean"]) - mean) / std
        z_std = np.array(stats[f"{key}_std"]) / std
        assert np.abs(z_mean).max() < 0.15 and np.abs(np.log(z_std)).max() < math.log(1.2)


def test_config_states_the_preprocessing_of_loaded_buffers() -> None:
    """A backbone filled by load_state_dict reports the statistics its buffers hold."""
    trained = create_backbone("rs3l")
    fitted = {"track_mean": [1.5, 0.01, -0.001, 0.002, 0.01], "cell_std": [1.4, 1.6, 0.15]}
    trained.set_preprocessing(fitted)
    built = create_backbone("rs3l")
    built.load_state_dict(trained.state_dict())
    got = built.config["preprocessing"]
    for key, vals in fitted.items():
        assert got[key] == torch.tensor(vals).tolist(), key
    assert got["cell_mean"] == create_backbone("rs3l").config["preprocessing"]["cell_mean"]
    rebuilt = build_from_config(built.config)
    assert all(torch.equal(getattr(rebuilt, k), getattr(trained, k)) for k in got)
