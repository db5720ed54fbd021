"""init_from / warm_start: a run starts its backbone copies (student, EMA teacher) from trained
weights, with fresh heads; bad sources are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _recipe_utils import TINY

from jetzoo.recipes.config import ConfigError
from jetzoo.recipes.jbot import JBOTRecipe
from jetzoo.recipes.jetclr import JetCLRRecipe
from jetzoo.recipes.runner import train
from jetzoo.recipes.warm_start import backbone_states, checkpoint_backbone_state, warm_start

ROOT = Path(__file__).resolve().parents[1]


def _trained_jbot(seed: int) -> JBOTRecipe:
    """A tiny jBOT recipe whose student and teacher backbones differ from a fresh init and
    from each other (as after training)."""
    torch.manual_seed(seed)
    r = JBOTRecipe(backbone_overrides=TINY, augmentations=[])
    with torch.no_grad():
        for p in r.backbone.parameters():
            p.add_(torch.randn_like(p))
        for p in r.teacher["backbone"].parameters():
            p.add_(0.5 * torch.randn_like(p))
    return r


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_checkpoint_gives_student_and_teacher_and_leaves_heads(tmp_path: Path) -> None:
    source = _trained_jbot(0)
    ckpt = tmp_path / "epoch003.ckpt"
    torch.save({"epoch": 3, "state_dict": source.state_dict()}, ckpt)
    torch.manual_seed(1)
    fresh = JBOTRecipe(backbone_overrides=TINY, augmentations=[])
    head_before = {k: v.clone() for k, v in fresh.head.state_dict().items()}
    warm_start(fresh, ckpt)
    assert _same(fresh.backbone, source.backbone)
    assert _same(fresh.teacher["backbone"], source.teacher["backbone"])
    assert not _same(fresh.backbone, fresh.teacher["backbone"])
    assert all(torch.equal(v, head_before[k]) for k, v in fresh.head.state_dict().items())
    assert not torch.equal(
        fresh.head.state_dict()["mlp.0.weight"], source.head.state_dict()["mlp.0.weight"]
    )
    student, teacher = backbone_states(ckpt)
    assert teacher is not None and student.keys() == teacher.keys()
    assert checkpoint_backbone_state({"head.w": torch.zeros(1)}) == {}
    with pytest.raises(ValueError, match="weights must be"):
        checkpoint_backbone_state(source.state_dict(), "ema")


def test_backbone_folder_goes_to_every_copy(tmp_path: Path) -> None:
    from jetzoo.models.zoo import save_pretrained

    source = _trained_jbot(2)
    folder = save_pretrained(source.backbone, tmp_path / "bb")
    fresh = JBOTRecipe(backbone_overrides=TINY, augmentations=[])
    warm_start(fresh, folder)
    assert _same(fresh.backbone, source.backbone)
    assert _same(fresh.teacher["backbone"], source.backbone)
    # a recipe without a teacher takes the student weights of a jBOT checkpoint
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": source.state_dict()}, ckpt)
    clr = JetCLRRecipe(backbone="jbot-s", backbone_overrides=TINY, augmentations=[])
    warm_start(clr, ckpt)
    assert _same(clr.backbone, source.backbone)


def test_bad_sources_are_named(tmp_path: Path) -> None:
    fresh = JBOTRecipe(backbone_overrides=TINY, augmentations=[])
    with pytest.raises(ValueError, match="nope.ckpt: no such checkpoint"):
        warm_start(fresh, tmp_path / "nope.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt: not a readable checkpoint"):
        warm_start(fresh, junk)
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"head.w": torch.zeros(1)}}, other)
    with pytest.raises(ValueError, match="no 'backbone.\\*' weights"):
        warm_start(fresh, other)
    wider = JBOTRecipe(backbone_overrides={**TINY, "embed_dim": 32}, augmentations=[])
    ckpt = tmp_path / "wide.ckpt"
    torch.save({"state_dict": wider.state_dict()}, ckpt)
    with pytest.raises(ValueError, match="wide.ckpt: its backbone does not fit"):
        warm_start(fresh, ckpt)


def test_run_with_init_from_starts_at_the_source(tmp_path: Path) -> None:
    """``jetzoo run ... init_from=CKPT``: the first step starts from the source's backbone (one
    AdamW step of lr 1e-4 moves no weight further than 1.5e-4), and a missing file is a config
    error that names the key."""
    tiny = [
        "data.path=sample",
        "data.max_jets=64",
        "data.batch_size=64",
        "data.num_workers=0",
        *(f"model.backbone_overrides.{k}={v}" for k, v in TINY.items()),
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "optimizer.warmup_epochs=null",
        "optimizer.warmup_steps=1",
        "optimizer.scale_lr_by_batch=false",
        "optimizer.lr=1e-4",
        "logging.tensorboard=false",
    ]
    recipe = str(ROOT / "recipes" / "jbot-s.yaml")
    source = _trained_jbot(3)
    ckpt = tmp_path / "source-run" / "checkpoints" / "last.ckpt"  # a run's checkpoint
    ckpt.parent.mkdir(parents=True)
    (ckpt.parent.parent / "config.yaml").write_text(
        "data:\n  path: data/jetnet-700k\n  batch_size: 8\n"
    )
    (ckpt.parent.parent / "summary.json").write_text('{"world_size": 2}')
    torch.save({"state_dict": source.state_dict(), "epoch": 3, "global_step": 40}, ckpt)
    res = train(recipe, [*tiny, f"init_from={ckpt}", f"output.dir={tmp_path / 'run'}"])
    assert res.trainer.global_step == 1
    # the backbone's record and card say what it started from and what that had seen
    config = json.loads((tmp_path / "run" / "backbone" / "config.json").read_text())
    assert config["training"]["init_from"] == {
        "source": str(ckpt),
        "epochs": 4,
        "global_step": 40,
        "dataset": "data/jetnet-700k",
        "jets_seen": 40 * 8 * 2,  # steps x batch per rank x ranks
    }
    card = (tmp_path / "run" / "backbone" / "README.md").read_text()
    assert f"started from the weights of `{ckpt}` after 4 epochs, trained on `jetnet-700k`" in card
    after = res.module.backbone.state_dict()
    moved = max(
        (after[k] - v).abs().max().item()
        for k, v in source.backbone.state_dict().items()
        if v.is_floating_point()
    )
    assert moved <= 1.5e-4
    with pytest.raises(ConfigError, match="init_from: .*missing.ckpt: no such checkpoint"):
        train(
            recipe,
            [*tiny, f"init_from={tmp_path / 'missing.ckpt'}", f"output.dir={tmp_path / 'run2'}"],
        )
