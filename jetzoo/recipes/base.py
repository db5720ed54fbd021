"""SSLRecipe: the shared LightningModule of every pre-training method.

A recipe owns a backbone built from the registry (``create_backbone(backbone,
**backbone_overrides)``), AdamW with linear warm-up and cosine decay, the logging of
``train/loss`` / ``val/loss`` plus method metrics, and the non-finite-loss guard. A method
subclasses it and implements :meth:`SSLRecipe.compute_loss` (solo-learn's layout: one file per
method over a shared base; EMA-teacher methods go through :class:`MomentumRecipe`).

Constructor contract (the runner builds recipes from YAML with it)::

    Recipe(backbone="jbot-s", backbone_overrides=None, optimizer=None, **method_hparams)

``optimizer`` keys: ``lr`` (5e-4), ``weight_decay`` (1e-4), ``warmup_epochs`` or
``warmup_steps`` (default: none), ``scale_lr_by_batch`` (False: lr * global batch / 256, as in
jBOT), ``min_lr_ratio`` (0: the cosine decays to lr * min_lr_ratio), ``betas`` ((0.9, 0.999)).
Biases, norms and the [CLS]/[MASK] tokens (all 1-d parameters) get no weight decay.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from jetzoo.augmentations import DEFAULT_AUGMENTATIONS, Compose, build_augmentations
from jetzoo.data.preprocessing import Preprocessing
from jetzoo.losses import all_reduce_sum
from jetzoo.models.dropout import set_dropout
from jetzoo.models.registry import create_backbone

__all__ = ["SSLRecipe", "DEFAULT_OPTIMIZER", "warmup_cosine", "batch_size_of"]

DEFAULT_OPTIMIZER: dict[str, Any] = {
    "lr": 5e-4,
    "weight_decay": 1e-4,
    "warmup_epochs": None,
    "warmup_steps": None,
    "scale_lr_by_batch": False,
    "min_lr_ratio": 0.0,
    "betas": (0.9, 0.999),
}


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio``
    at step ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def batch_size_of(batch: Mapping[str, Tensor]) -> int:
    """Number of jets in a batch dict (keys ``x`` or ``tracks``)."""
    for key in ("x", "tracks"):
        if key in batch:
            return int(batch[key].shape[0])
    raise KeyError(f"batch has neither 'x' nor 'tracks' (keys: {', '.join(batch)})")


class SSLRecipe(L.LightningModule):
    """Base LightningModule of the SSL methods; subclasses implement :meth:`compute_loss`.

    Args:
        backbone: registered backbone name (``jetzoo.list_models()``).
        backbone_overrides: keyword overrides of the backbone's config (e.g. ``embed_dim``).
        optimizer: AdamW / schedule settings (see module docstring).
        train_dropout: rate of the backbone's dropout layers while pre-training (None: its own).
            The backbone's config, hence the exported folder and fine-tuning, keeps its own.
    """

    #: True for methods that replace particle tokens by the backbone's [MASK] token (jBOT);
    #: the others freeze it, so every trainable parameter gets a gradient in every step.
    uses_mask_token: bool = False

    def __init__(
        self,
        backbone: str = "jbot-s",
        backbone_overrides: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        train_dropout: float | None = None,
    ) -> None:
        super().__init__()
        unknown = set(optimizer or {}) - set(DEFAULT_OPTIMIZER)
        if unknown:
            raise ValueError(
                f"optimizer: unknown key(s) {sorted(unknown)}; "
                f"known: {', '.join(DEFAULT_OPTIMIZER)}"
            )
        self.optimizer_cfg = {
            **DEFAULT_OPTIMIZER,
            **{k: v for k, v in (optimizer or {}).items() if v is not None},
        }
        if self.optimizer_cfg["warmup_epochs"] and self.optimizer_cfg["warmup_steps"]:
            raise ValueError("optimizer: set warmup_epochs or warmup_steps, not both")
        self.backbone_name = backbone
        self.backbone = create_backbone(backbone, **(backbone_overrides or {}))
        if train_dropout is not None:
            set_dropout(self.backbone, train_dropout)
        if not self.uses_mask_token:
            # a [MASK] token this method never feeds gets no gradient: frozen, so that plain
            # DDP (Lightning's "ddp") needs no unused-parameter search
            for name, p in self.backbone.named_parameters():
                if name.split(".")[-1] == "mask_token":
                    p.requires_grad_(False)

    # ------------------------------------------------------------------ method interface
    def compute_loss(
        self, batch: dict[str, Tensor], stage: str
    ) -> tuple[Tensor, dict[str, Tensor | float]]:
        """Return (loss, metrics) for ``stage`` in {"train", "val"}; metrics are logged as
        ``{stage}/{name}``."""
        raise NotImplementedError

    def export_backbone(self) -> nn.Module:
        """The module to ``save_pretrained`` after training (the student encoder, ...)."""
        return self.backbone

    def set_preprocessing(self, preprocessing: Preprocessing) -> None:
        """Use a dataset's preprocessing numbers in every backbone copy (before training)."""
        for module in self.backbone_copies():
            if hasattr(module, "set_preprocessing"):
                module.set_preprocessing(preprocessing)

    def backbone_copies(self) -> list[nn.Module]:
        """Every backbone instance of the recipe (the momentum base adds the teacher's)."""
        return [self.backbone]

    def compile_backbones(self, mode: str = "default", **options: Any) -> None:
        """``torch.compile`` every backbone copy in place (``nn.Module.compile``) in ``mode`` (a
        recipe's ``compile`` value; "default" is torch's default mode), with ``options`` passed
        on (``backend``, ``dynamic``, ...). The parameters and state-dict keys stay those of the
        eager module, so checkpoints, the EMA teacher and the exported backbone are the same
        with and without it."""
        for module in self._compiled_modules():
            module.compile(mode=None if mode == "default" else mode, **options)

    def _compiled_modules(self) -> list[nn.Module]:
        """The modules whose ``forward`` the loss calls (the AE overrides it)."""
        return self.backbone_copies()

    @staticmethod
    def make_augmentations(spec: Any) -> Compose:
        """Augmentations from a recipe hparam: None = JetCLR/jBOT default (rotate, smear,
        collinear_split); [] = none; a list of names or a {name: kwargs} mapping otherwise."""
        return build_augmentations(DEFAULT_AUGMENTATIONS if spec is None else spec)

    # ------------------------------------------------------------------ Lightning hooks
    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        loss, metrics = self.compute_loss(batch, stage)
        bad = all_reduce_sum((~torch.isfinite(loss.detach())).float())
        if bad.item() > 0:
            raise FloatingPointError(f"non-finite loss at step {self.global_step}")
        n = batch_size_of(batch)
        self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True, batch_size=n)
        for name, value in metrics.items():
            self.log(f"{stage}/{name}", value, sync_dist=True, batch_size=n)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    # ------------------------------------------------------------------ optimisation
    def _param_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        decay, no_decay = [], []
        for _, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim <= 1 or p.shape[:2] == (1, 1) else decay).append(p)
        return [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]

    def _global_batch_size(self) -> int:
        """Jets per optimiser step over all ranks (for ``scale_lr_by_batch``)."""
        trainer = self.trainer
        size = getattr(getattr(trainer, "datamodule", None), "batch_size", None)
        if size is None:
            loader: Any = trainer.train_dataloader
            iterables: Iterable[Any] = getattr(loader, "iterables", None) or [loader]
            if isinstance(iterables, Mapping):
                iterables = iterables.values()
            size = next(
                (
                    getattr(dl, "batch_size", None)
                    for dl in iterables
                    if getattr(dl, "batch_size", None)
                ),
                None,
            )
        if size is None:
            raise ValueError(
                "optimizer.scale_lr_by_batch: cannot find the batch size (no "
                "datamodule.batch_size nor train_dataloader.batch_size)"
            )
        return int(size) * trainer.world_size * trainer.accumulate_grad_batches

    def total_steps(self) -> int | None:
        """Optimiser steps of the whole fit (None if unbounded or no trainer)."""
        try:
            total = self.trainer.estimated_stepping_batches
        except (RuntimeError, AttributeError):
            return None
        return None if total is None or math.isinf(total) else max(int(total), 1)

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.optimizer_cfg
        total = self.total_steps()
        lr = float(cfg["lr"])
        if cfg["scale_lr_by_batch"]:
            lr *= self._global_batch_size() / 256
        opt = torch.optim.AdamW(
            self._param_groups(lr, float(cfg["weight_decay"])), lr=lr, betas=tuple(cfg["betas"])
        )
        if total is None:
            raise ValueError(
                "the LR schedule needs a finite number of steps: set "
                "trainer.max_epochs or trainer.max_steps"
            )
        if cfg["warmup_steps"]:
            warmup = int(cfg["warmup_steps"])
        elif cfg["warmup_epochs"]:
            epochs = self.trainer.max_epochs
            if not epochs or epochs < 0:
                raise ValueError(
                    "optimizer.warmup_epochs needs trainer.max_epochs; "
                    "use optimizer.warmup_steps with max_steps"
                )
            warmup = int(round(float(cfg["warmup_epochs"]) * total / epochs))
        else:
            warmup = 0
        warmup = min(warmup, total)
        min_ratio = float(cfg["min_lr_ratio"])
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_cosine(step, warmup, total, min_ratio)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
