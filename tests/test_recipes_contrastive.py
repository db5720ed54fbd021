"""JetCLR and RS3L recipes: NT-Xent lowers its loss in a short CPU run; batch contracts."""

from __future__ import annotations

import pytest
import torch
from _recipe_utils import (
    TINY,
    eval_loss,
    fit,
    one_thread,
    sample_jets,
    sample_preprocessing,
    synthetic_jets,
)
from torch import nn

from jetzoo.losses import nt_xent
from jetzoo.recipes import JetCLRRecipe, RS3LRecipe

_threads = pytest.fixture(autouse=True)(one_thread)


@pytest.mark.parametrize("cls, pairs", [(JetCLRRecipe, False), (RS3LRecipe, True)])
def test_loss_decreases(cls: type, pairs: bool) -> None:
    """A short CPU run on the embedded sample (pairs: the same parton event re-hadronised)."""
    torch.manual_seed(0)
    data = sample_jets(512, pairs=pairs)
    held_out = sample_jets(128, "val", pairs=pairs)
    r = cls(backbone_overrides=TINY, optimizer=dict(lr=2e-3, warmup_steps=5))
    r.set_preprocessing(sample_preprocessing())
    before = eval_loss(r, held_out)
    trainer = fit(r, data, steps=40)
    after = eval_loss(r, held_out)
    # NT-Xent of 256 anchors starts near log(255) = 5.54 for unaligned views
    assert before > 5.0 and after < before - 0.4, (before, after)
    assert trainer.callback_metrics["train/alignment"] > 0.8


def test_jetclr_loss_is_nt_xent_of_the_head_outputs() -> None:
    torch.manual_seed(0)
    r = JetCLRRecipe(backbone_overrides=TINY, augmentations=[], temperature=0.3).eval()
    batch = synthetic_jets(16)
    loss, _ = r.compute_loss(batch, "val")
    z = r.head(r.backbone(batch["x"], batch["mask"]).cls)
    # no augmentation: both views equal
    torch.testing.assert_close(loss, nt_xent(z, z, 0.3))
    assert r.export_backbone() is r.backbone


def test_rs3l_jetnet_pairs_and_errors() -> None:
    r = RS3LRecipe(backbone_overrides=TINY).eval()
    assert r.head[-1].out_features == 8
    batch = synthetic_jets(16, pairs=True)
    loss, _ = r.compute_loss(batch, "val")
    z_a = r.head(r.backbone(batch["x"], batch["mask"]).cls)
    z_b = r.head(r.backbone(batch["x_b"], batch["mask_b"]).cls)
    torch.testing.assert_close(loss, nt_xent(z_a, z_b, 0.1))
    with pytest.raises(KeyError, match="data.pairs: true"):
        r.compute_loss(synthetic_jets(16), "val")


class _FakeTrackCellBackbone(nn.Module):
    """Stands in for the ``rs3l`` track + cell backbone: forward(tracks, tmask, cells, cmask)."""

    num_features = 8

    def __init__(self) -> None:
        super().__init__()
        self.t, self.c = nn.Linear(4, 8), nn.Linear(5, 8)

    def forward(self, tracks, track_mask, cells, cell_mask):  # noqa: ANN001, ANN201
        t = (self.t(tracks) * track_mask[..., None]).sum(1)
        return t + (self.c(cells) * cell_mask[..., None]).sum(1)


def test_rs3l_track_cell_batches() -> None:
    r = RS3LRecipe(backbone_overrides=TINY)
    r.backbone = _FakeTrackCellBackbone()
    r.head = nn.Identity()
    g = torch.Generator().manual_seed(0)
    batch = {}
    for s in ("", "_b"):
        batch.update(
            {
                f"tracks{s}": torch.randn(6, 10, 4, generator=g),
                f"track_mask{s}": torch.ones(6, 10, dtype=torch.bool),
                f"cells{s}": torch.randn(6, 7, 5, generator=g),
                f"cell_mask{s}": torch.ones(6, 7, dtype=torch.bool),
            }
        )
    loss, _ = r.compute_loss(batch, "val")
    za = r.backbone(batch["tracks"], batch["track_mask"], batch["cells"], batch["cell_mask"])
    zb = r.backbone(
        batch["tracks_b"], batch["track_mask_b"], batch["cells_b"], batch["cell_mask_b"]
    )
    torch.testing.assert_close(loss, nt_xent(za, zb, 0.1))
