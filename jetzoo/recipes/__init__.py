"""Pre-training recipes: one LightningModule per SSL method over :class:`SSLRecipe`.

``RECIPES`` maps the YAML ``recipe:`` name to the class; every class is built as
``Recipe(backbone=..., backbone_overrides=..., optimizer=..., **method_hparams)``.
"""

from __future__ import annotations

from jetzoo.recipes.autoencoder import AutoencoderRecipe
from jetzoo.recipes.base import SSLRecipe
from jetzoo.recipes.jbot import JBOTRecipe
from jetzoo.recipes.jetclr import JetCLRRecipe
from jetzoo.recipes.momentum import MomentumRecipe
from jetzoo.recipes.rs3l import RS3LRecipe

RECIPES: dict[str, type[SSLRecipe]] = {
    "jetclr": JetCLRRecipe,
    "jbot": JBOTRecipe,
    "autoencoder": AutoencoderRecipe,
    "rs3l": RS3LRecipe,
}

__all__ = [
    "RECIPES",
    "SSLRecipe",
    "MomentumRecipe",
    "JetCLRRecipe",
    "JBOTRecipe",
    "AutoencoderRecipe",
    "RS3LRecipe",
]
