"""JetCLR: SimCLR on physically-augmented jets (Dillon et al. 2108.04253).

Two views of every jet (rotation about the jet axis, eta/phi smearing with
sigma^2 = Lambda_QCD / pT, collinear splitting; optionally translation) are encoded by the
backbone, projected by an MLP head and pulled together by NT-Xent, with negatives from the whole
(global, under DDP) batch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from jetzoo.losses import nt_xent
from jetzoo.models.heads import MLP
from jetzoo.recipes.base import SSLRecipe

__all__ = ["JetCLRRecipe"]


class JetCLRRecipe(SSLRecipe):
    """JetCLR pre-training.

    Args:
        backbone, backbone_overrides, optimizer: see :class:`SSLRecipe`.
        proj_dim: output width of the projection head (default: the backbone width d).
        proj_hidden: hidden widths of the head (default ``[d]``).
        temperature: NT-Xent tau (0.1, the paper's; `recipes/jetclr.yaml` uses 0.03).
        augmentations: None = rotate, smear, collinear_split; names or {name: kwargs}.
        train_dropout: see :class:`SSLRecipe`.
    """

    def __init__(
        self,
        backbone: str = "jetclr",
        backbone_overrides: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        proj_dim: int | None = None,
        proj_hidden: list[int] | None = None,
        temperature: float = 0.1,
        augmentations: list[str] | dict[str, Any] | None = None,
        train_dropout: float | None = None,
    ) -> None:
        super().__init__(backbone, backbone_overrides, optimizer, train_dropout)
        self.save_hyperparameters()
        d = self.backbone.num_features
        self.head = MLP(d, [d] if proj_hidden is None else proj_hidden, proj_dim or d)
        self.augment = self.make_augmentations(augmentations)

    def compute_loss(
        self, batch: dict[str, Tensor], stage: str
    ) -> tuple[Tensor, dict[str, Tensor | float]]:
        x, mask, jet_pt = batch["x"], batch["mask"].bool(), batch["jet"][:, 0]
        views = [self.augment(x, mask, jet_pt) for _ in range(2)]
        z = self.head(
            self.backbone(torch.cat([v[0] for v in views]), torch.cat([v[1] for v in views])).cls
        )
        z_a, z_b = z.chunk(2)
        loss = nt_xent(z_a, z_b, self.hparams.temperature)
        alignment = F.cosine_similarity(z_a.detach(), z_b.detach(), dim=-1).mean()
        return loss, {"alignment": alignment}
