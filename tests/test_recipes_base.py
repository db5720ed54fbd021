"""SSLRecipe / MomentumRecipe: constructor contract, optimiser and schedules, EMA, NaN guard,
checkpoint round trip."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from _recipe_utils import TINY, fit, one_thread, synthetic_jets

from jetzoo.recipes import RECIPES, JBOTRecipe, JetCLRRecipe
from jetzoo.recipes.base import warmup_cosine
from jetzoo.recipes.momentum import cosine_momentum

_threads = pytest.fixture(autouse=True)(one_thread)


def test_registry_and_constructor_contract() -> None:
    assert set(RECIPES) == {"jetclr", "jbot", "autoencoder", "rs3l"}
    for cls in RECIPES.values():
        params = list(inspect.signature(cls).parameters)
        assert params[:3] == ["backbone", "backbone_overrides", "optimizer"], cls
        r = cls(backbone_overrides=TINY)
        assert r.hparams["backbone_overrides"] == TINY
        assert hasattr(r, "export_backbone") and hasattr(r, "set_preprocessing")
    with pytest.raises(ValueError, match="unknown key"):
        JetCLRRecipe(backbone_overrides=TINY, optimizer={"learning_rate": 1.0})
    with pytest.raises(TypeError):
        JetCLRRecipe(backbone_overrides=TINY, temprature=0.1)


def test_schedules_match_formulas() -> None:
    assert warmup_cosine(0, 10, 110) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 110) == pytest.approx(1.0)
    assert warmup_cosine(60, 10, 110) == pytest.approx(0.5)
    assert warmup_cosine(110, 10, 110, min_ratio=0.1) == pytest.approx(0.1)
    assert cosine_momentum(0, 100) == pytest.approx(0.996)
    assert cosine_momentum(50, 100) == pytest.approx(0.998)
    assert cosine_momentum(100, 100) == pytest.approx(1.0)


def test_optimizer_warmup_cosine_and_no_decay_groups() -> None:
    r = JetCLRRecipe(
        backbone_overrides=TINY,
        optimizer=dict(lr=1e-3, weight_decay=0.05, warmup_steps=4, scale_lr_by_batch=True),
    )
    lrs: list[float] = []

    import lightning as L

    class Rec(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001
            lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    data = synthetic_jets(256)
    trainer = L.Trainer(
        max_steps=8,
        max_epochs=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Rec()],
        limit_val_batches=0,
    )
    from _recipe_utils import loader

    trainer.fit(r, train_dataloaders=loader(data, 32))
    base = 1e-3 * 32 / 256  # scale_lr_by_batch: lr * global batch / 256
    want = [base * warmup_cosine(s, 4, 8) for s in range(8)]
    assert lrs == pytest.approx(want, rel=1e-6)
    groups = trainer.optimizers[0].param_groups
    assert groups[0]["weight_decay"] == 0.05 and groups[1]["weight_decay"] == 0.0
    no_decay = {id(p) for p in groups[1]["params"]}
    assert id(r.backbone.cls_token) in no_decay and id(r.backbone.norm.weight) in no_decay
    assert id(r.backbone.particle_embed.weight) not in no_decay


def test_ema_update_matches_formula() -> None:
    r = JBOTRecipe(backbone_overrides=TINY)
    with torch.no_grad():
        for p in r.backbone.parameters():
            p.add_(1.0)
    before = [p.clone() for p in r.teacher["backbone"].parameters()]
    r.update_teacher(0.9)
    for t0, t, s in zip(before, r.teacher["backbone"].parameters(), r.backbone.parameters()):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * s)
    assert not any(p.requires_grad for p in r.teacher.parameters())
    r.train()
    assert r.backbone.training and not r.teacher.training


def test_non_finite_loss_raises_with_step() -> None:
    r = JetCLRRecipe(backbone_overrides=TINY)
    with torch.no_grad():
        r.head[0].weight.fill_(float("nan"))
    batch = {k: v[:8] for k, v in synthetic_jets(8).items()}
    with pytest.raises(FloatingPointError, match="non-finite loss at step 0"):
        r.training_step(batch, 0)


def test_checkpoint_round_trip(tmp_path) -> None:  # noqa: ANN001
    r = JBOTRecipe(backbone_overrides=TINY, optimizer=dict(lr=1e-3), koleo_weight=0.02)
    trainer = fit(r, synthetic_jets(128), steps=2, batch_size=32)
    path = tmp_path / "x.ckpt"
    trainer.save_checkpoint(path)
    back = JBOTRecipe.load_from_checkpoint(path)
    assert back.hparams.koleo_weight == 0.02 and back.hparams.backbone_overrides == TINY
    for k, v in r.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v)
    assert math.isclose(back.optimizer_cfg["lr"], 1e-3)
