"""RS3L: contrastive learning on re-simulated positive pairs (Rieck et al.).

Positive pairs are two re-simulations of the same parton shower (independent hadronisation and
detector response); NT-Xent (tau = 0.1) on an 8-dimensional output, negatives from the whole
(global) batch.

Batches:

- JetNet-like pairs (``data.pairs: true``): ``x, mask, jet`` and ``x_b, mask_b, jet_b`` (the same
  parton event re-hadronised) with a particle backbone (default ``jbot-s``) + MLP projection to
  ``out_dim`` = 8;
- RS3L track/cell pairs: ``tracks, track_mask, cells, cell_mask`` and the same with ``_b``, with a
  backbone called as ``backbone(tracks, track_mask, cells, cell_mask)`` (registry name ``rs3l``).

``projection=None`` adds the MLP head only when the backbone's width differs from ``out_dim``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jetzoo.losses import nt_xent
from jetzoo.models.heads import MLP
from jetzoo.recipes.base import SSLRecipe

__all__ = ["RS3LRecipe"]

_TRACK_KEYS = ("tracks", "track_mask", "cells", "cell_mask")


class RS3LRecipe(SSLRecipe):
    """RS3L pre-training on re-simulated pairs.

    Args:
        backbone, backbone_overrides, optimizer: see :class:`SSLRecipe`.
        out_dim: representation width of the contrastive space (8).
        proj_hidden: hidden widths of the projection head (default ``[d]``).
        projection: add the projection head (None: when the backbone width != out_dim).
        temperature: NT-Xent tau (0.1).
        augmentations: extra augmentations of particle views (default none: the re-simulation
            is the augmentation).
    """

    def __init__(
        self,
        backbone: str = "jbot-s",
        backbone_overrides: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        out_dim: int = 8,
        proj_hidden: list[int] | None = None,
        projection: bool | None = None,
        temperature: float = 0.1,
        augmentations: list[str] | dict[str, Any] | None = None,
    ) -> None:
        super().__init__(backbone, backbone_overrides, optimizer)
        self.save_hyperparameters()
        d = int(getattr(self.backbone, "num_features", out_dim))
        use_head = (d != out_dim) if projection is None else projection
        self.head: nn.Module = (
            MLP(d, [d] if proj_hidden is None else proj_hidden, out_dim)
            if use_head
            else nn.Identity()
        )
        self.augment = self.make_augmentations([] if augmentations is None else augmentations)

    def _encode_view(self, batch: dict[str, Tensor], suffix: str) -> Tensor:
        if "tracks" in batch:
            keys = [k + suffix for k in _TRACK_KEYS]
            missing = [k for k in keys if k not in batch]
            if missing:
                raise KeyError(f"rs3l recipe: RS3L pair batch lacks {missing}")
            out = self.backbone(*(batch[k] for k in keys))
            return out.cls if hasattr(out, "cls") else out
        keys = ["x" + suffix, "mask" + suffix, "jet" + suffix]
        missing = [k for k in keys if k not in batch]
        if missing:
            raise KeyError(
                f"rs3l recipe needs pair batches (keys x_b, mask_b, jet_b: set "
                f"data.pairs: true); batch lacks {missing}"
            )
        x, mask = self.augment(batch[keys[0]], batch[keys[1]].bool(), batch[keys[2]][:, 0])
        return self.backbone(x, mask).cls

    def compute_loss(
        self, batch: dict[str, Tensor], stage: str
    ) -> tuple[Tensor, dict[str, Tensor | float]]:
        if (
            "tracks" not in batch
            and "x_b" in batch
            and batch["x"].shape[1] == batch["x_b"].shape[1]
        ):
            # one backbone pass over both views
            n = batch["x"].shape[0]
            both = {
                "x": torch.cat([batch["x"], batch["x_b"]]),
                "mask": torch.cat([batch["mask"], batch["mask_b"]]),
                "jet": torch.cat([batch["jet"], batch["jet_b"]]),
            }
            z_a, z_b = self.head(self._encode_view(both, "")).split(n)
        else:
            z_a = self.head(self._encode_view(batch, ""))
            z_b = self.head(self._encode_view(batch, "_b"))
        loss = nt_xent(z_a, z_b, self.hparams.temperature)
        alignment = F.cosine_similarity(z_a.detach(), z_b.detach(), dim=-1).mean()
        return loss, {"alignment": alignment}
