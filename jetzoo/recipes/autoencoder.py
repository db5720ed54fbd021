"""Autoencoder baseline (Rieck et al., Sec. 5.4-5.5).

The backbone is a :class:`~jetzoo.models.autoencoder.JetAutoencoder` (encoder + compressing MLP
+ mirrored decoder), trained end to end on

    L = L_reco(x, z) + w_var * (Var(x) + Var(z)) + w_cov * (Cov(x) + Cov(z))

- ``loss="cosine"``: L_reco = 1 - cos(x, z) (the seed's anomaly-detection choice);
  ``loss="mse"``: mean squared error (its Sec. 5.4 choice);
- the variance/covariance terms (VICReg) act against the collapse to a constant
  representation: on the autoencoder output z (as in the seed) and on the representation x
  itself, Var(x) + Var(z), Cov(x) + Cov(z). On z alone, a short CPU run collapsed (x and z both
  constant: the cosine loss is 0 and the variance gradient vanishes at zero spread) and a
  rescaled z can satisfy Var(z) while x stays collapsed. Under DDP they use the local batch.
- the encoder must run without dropout or stochastic depth: the variance terms ask for spread
  over the jets of a batch, and dropout noise supplies spread that says nothing about the jet.
  With dropout 0.1 the first release run met them that way (two dropout draws of one jet
  differed more than two jets did) and its kNN stayed at the random-init level. The recipe
  refuses such an encoder and names the override that fixes it.

A particle-transformer backbone name (e.g. ``jbot-s``) is wrapped into a JetAutoencoder with
the default widths; ``export_backbone()`` returns the whole JetAutoencoder (one zoo model that
both embeds and scores anomalies).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from jetzoo.losses import cosine_distance, covariance_loss, variance_loss
from jetzoo.models.autoencoder import JetAutoencoder
from jetzoo.recipes.base import SSLRecipe

__all__ = ["AutoencoderRecipe"]

LOSSES = ("cosine", "mse")
NOISE_KEYS = ("dropout", "attn_dropout", "drop_path")  # encoder settings the recipe refuses


class AutoencoderRecipe(SSLRecipe):
    """Autoencoder pre-training.

    Args:
        backbone, backbone_overrides, optimizer: see :class:`SSLRecipe` (default ``ae``).
        loss: ``"cosine"`` (1 - cos) or ``"mse"``.
        variance_weight, covariance_weight: weights of the anti-collapse terms.
        augmentations: none by default ([]); names or {name: kwargs} to augment inputs.
    """

    def __init__(
        self,
        backbone: str = "ae",
        backbone_overrides: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        loss: str = "cosine",
        variance_weight: float = 1.0,
        covariance_weight: float = 0.04,
        augmentations: list[str] | dict[str, Any] | None = None,
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(f"autoencoder loss must be one of {LOSSES}, got {loss!r}")
        super().__init__(backbone, backbone_overrides, optimizer)
        self.save_hyperparameters()
        if not isinstance(self.backbone, JetAutoencoder):
            config = dict(getattr(self.backbone, "config", {}))
            if config.pop("arch", None) != "particle_transformer":
                raise ValueError(
                    f"autoencoder recipe needs a particle backbone, got "
                    f"{backbone!r} ({type(self.backbone).__name__})"
                )
            self.backbone = JetAutoencoder(**config)
        noisy = {k: v for k, v in self.backbone.encoder.config.items() if k in NOISE_KEYS and v}
        if noisy:
            raise ValueError(
                f"autoencoder recipe: backbone {backbone!r} has {noisy}; the variance terms can be "
                "met with dropout noise instead of jet content, so train without it: "
                + ", ".join(f"model.backbone_overrides.{k}=0.0" for k in noisy)
            )
        self.augment = self.make_augmentations([] if augmentations is None else augmentations)

    def _compiled_modules(self) -> list[nn.Module]:
        """The loss calls ``reconstruct``, not ``forward``: compile the encoder it runs."""
        return [self.backbone.encoder]

    def compute_loss(
        self, batch: dict[str, Tensor], stage: str
    ) -> tuple[Tensor, dict[str, Tensor | float]]:
        hp = self.hparams
        x, mask = self.augment(batch["x"], batch["mask"].bool(), batch["jet"][:, 0])
        rec = self.backbone.reconstruct(x, mask)
        if hp.loss == "cosine":
            loss_reco = cosine_distance(rec.x, rec.z).mean()
        else:
            loss_reco = F.mse_loss(rec.z.float(), rec.x.float())
        loss_var = variance_loss(rec.x) + variance_loss(rec.z)
        loss_cov = covariance_loss(rec.x) + covariance_loss(rec.z)
        loss = loss_reco + hp.variance_weight * loss_var + hp.covariance_weight * loss_cov
        return loss, {
            "loss_reco": loss_reco.detach(),
            "variance": loss_var.detach(),
            "covariance": loss_cov.detach(),
        }
