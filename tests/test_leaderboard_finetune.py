"""Fine-tuning: LLRD learning rates, LoRA adapters, label fractions, a classifier that learns;
task files: validation errors name the file and the field."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from jetzoo import create_backbone
from jetzoo.leaderboard.batches import stratified_subset
from jetzoo.leaderboard.finetune import (
    FineTuneSettings,
    JetClassifier,
    apply_lora,
    count_trainable,
    finetune,
    llrd_param_groups,
    start_at_class_prior,
)
from jetzoo.leaderboard.task_data import synthetic_task_data
from jetzoo.leaderboard.tasks import (
    TASKS_DIR,
    TaskError,
    applicable_tasks,
    load_task,
    load_tasks,
    parse_task,
)


def tiny(depth: int = 1, **kw):
    return create_backbone("jbot-s", embed_dim=16, depth=depth, num_heads=4, dropout=0.0, **kw)


def test_llrd_learning_rates_are_base_times_decay_power():
    base, decay = 1e-3, 0.7
    model = JetClassifier(tiny(depth=2), num_classes=3)
    groups = llrd_param_groups(model, base, decay, weight_decay=1e-4)
    # depth 2: L = 2; embedding (id 0) -> decay^3, block 0 -> decay^2, block 1 -> decay^1,
    # final norm (id 3) -> decay^0 = base, head -> base
    expected_exp = {
        "particle_embed.weight": 3,
        "cls_token": 3,
        "blocks.0.attn.qkv.weight": 2,
        "blocks.1.mlp.fc2.bias": 1,
        "norm.weight": 0,
        "head.0.weight": 0,
        "head.6.bias": 0,
    }
    lr_of = {n: g["lr"] for g in groups for n in g["param_names"]}
    for name, k in expected_exp.items():
        assert lr_of[name] == base * decay**k, name
    assert lr_of["particle_embed.weight"] == pytest.approx(3.43e-4, rel=1e-12)
    # every trainable parameter is in exactly one group
    n_params = sum(len(g["params"]) for g in groups)
    assert n_params == len(list(model.parameters()))
    assert len(lr_of) == n_params
    # weight decay only on matrices
    wd_of = {n: g["weight_decay"] for g in groups for n in g["param_names"]}
    assert wd_of["blocks.0.attn.qkv.weight"] == 1e-4 and wd_of["blocks.0.attn.qkv.bias"] == 0.0
    # AdamW keeps the group LRs
    opt = torch.optim.AdamW([{k: v for k, v in g.items() if k != "param_names"} for g in groups])
    assert sorted(g["lr"] for g in opt.param_groups) == sorted(g["lr"] for g in groups)


def test_lora_trains_only_adapters():
    torch.manual_seed(0)
    rank, depth = 3, 2
    backbone = tiny(depth=depth)
    qkv = backbone.blocks[0].attn.qkv
    in_f, out_f = qkv.in_features, qkv.out_features
    batch = synthetic_task_data(load_task(TASKS_DIR / "top-tagging.yaml"), 20).train
    before_out = backbone.embed(batch).detach()
    apply_lora(backbone, rank=rank)
    # r * (in + out) trainable parameters per wrapped qkv Linear, nothing else
    assert count_trainable(backbone) == depth * rank * (in_f + out_f)
    trainable = [n for n, p in backbone.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    # B = 0 at init: the adapted backbone computes the same embedding
    torch.testing.assert_close(backbone.embed(batch), before_out)
    model = JetClassifier(backbone, 2)
    frozen = {n: p.detach().clone() for n, p in backbone.named_parameters() if not p.requires_grad}
    lora = {n: p.detach().clone() for n, p in backbone.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = F.cross_entropy(model(batch), (batch["label"] > 0).long())
        opt.zero_grad()
        loss.backward()
        opt.step()
    for n, p in backbone.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), f"{n} changed"
    assert any(not torch.equal(p, lora[n]) for n, p in backbone.named_parameters() if n in lora)


def test_lora_needs_a_target_module():
    with pytest.raises(ValueError, match=r"no module named \['qkv'\] in Sequential"):
        apply_lora(torch.nn.Sequential(torch.nn.Linear(2, 2)), rank=2)
    with pytest.raises(ValueError, match="rank must be >= 1"):
        apply_lora(tiny(depth=1), rank=0)


def test_stratified_label_fraction():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    idx = stratified_subset(labels, 0.1, seed=3)
    assert torch.bincount(labels[idx]).tolist() == [5, 3, 2]
    assert torch.equal(idx, stratified_subset(labels, 0.1, seed=3))  # seeded
    assert len(stratified_subset(labels, 1.0)) == 100


@pytest.mark.slow  # 10 epochs through the Trainer: ~30-40 s wall on the shared 2-core machine
@pytest.mark.parametrize("mode", ["llrd", "scratch"])
def test_finetuned_classifier_beats_chance(mode):
    # three classes (q, g, t of the top-tagging task) told apart by multiplicity and spread
    task = load_task(TASKS_DIR / "top-tagging.yaml")
    data = synthetic_task_data(task, n_per_class=80, seed=0)
    settings = FineTuneSettings(
        mode=mode,
        base_lrs=(3e-3,),
        decays=(0.8,),
        max_epochs=10,
        batch_size=32,
        seed=0,
        accelerator="cpu",
    )
    out = finetune(tiny(), data.train, data.val, data.test, 3, settings)
    acc = float((out.test_proba.argmax(1) == data.test["label"]).float().mean())
    assert out.test_proba.shape == (len(data.test["label"]), 3)
    torch.testing.assert_close(out.test_proba.sum(1), torch.ones(len(data.test["label"])))
    assert acc > 0.6, acc  # chance = 1/3 (measured: llrd 0.75, scratch 0.65)
    assert out.n_train == len(data.train["label"])
    assert out.scan[0]["val_accuracy"] == out.best["val_accuracy"]


def test_grid_scan_selects_best_validation_point():
    task = load_task(TASKS_DIR / "top-tagging.yaml")
    data = synthetic_task_data(task, n_per_class=60, seed=1)
    target = {k: v for k, v in data.train.items()}
    settings = FineTuneSettings(
        mode="llrd",
        base_lrs=(1e-6, 3e-3),
        decays=(0.7,),
        max_epochs=3,
        batch_size=32,
        label_fraction=0.5,
        accelerator="cpu",
    )
    out = finetune(tiny(), target, data.val, data.test, 3, settings)
    assert len(out.scan) == 2
    best = max(out.scan, key=lambda s: (s["val_accuracy"], -s["val_loss"]))
    assert out.best == best
    assert out.n_train == sum(
        max(1, round(0.5 * int(n))) for n in torch.bincount(data.train["label"])
    )


def test_task_files_validate_and_apply_by_family(tmp_path: Path):
    tasks = load_tasks()
    names = {t.name for t in tasks}
    assert {
        "jetnet-5class",
        "top-tagging",
        "anomaly-qcd",
        "rs3l-gluon-tagging",
        "rs3l-tau-tagging",
        "rs3l-darkjet",
    } <= names
    assert {t.name for t in applicable_tasks(tiny(), tasks)} == {
        t.name for t in tasks if t.family == "jetnet"
    }
    top = next(t for t in tasks if t.name == "top-tagging")
    assert top.signal == ("t",) and top.background == ("q", "g") and top.num_classes == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (TASKS_DIR / "top-tagging.yaml")
        .read_text()
        .replace("name: top-tagging", "name: bad")
        .replace("kind: binary", "kind: binery")
    )
    with pytest.raises(TaskError, match=r"bad\.yaml: field 'kind'"):
        load_task(bad)
    with pytest.raises(TaskError, match=r"x\.yaml: field 'signal': class 'w' is not in classes"):
        parse_task(
            {
                "name": "x",
                "family": "jetnet",
                "dataset": "d",
                "seed": 0,
                "kind": "binary",
                "classes": ["q", "t"],
                "signal": ["w"],
                "evaluations": ["knn"],
                "metrics": ["auc"],
            },
            source="x.yaml",
        )
    with pytest.raises(TaskError, match=r"field 'settings.knn_kk': unknown setting"):
        parse_task(
            {
                "name": "x",
                "family": "jetnet",
                "dataset": "d",
                "seed": 0,
                "kind": "multiclass",
                "classes": ["q", "t"],
                "evaluations": ["knn"],
                "metrics": ["accuracy"],
                "settings": {"knn_kk": 3},
            },
            source="x.yaml",
        )
    with pytest.raises(TaskError, match="no task matches 'nope'"):
        load_tasks(names=["nope"])


def test_training_starts_at_the_class_prior() -> None:
    # 88 background and 12 signal jets: the output bias is the log of the (add-one) frequencies,
    # so the untrained classifier already predicts the prior, whatever the embedding
    model = JetClassifier(tiny(), classes=["bkg", "sig"])
    torch.nn.init.zeros_(model.head[-1].weight)
    start_at_class_prior(model, torch.tensor([0] * 88 + [1] * 12))
    assert model.head[-1].bias.tolist() == pytest.approx([math.log(89 / 102), math.log(13 / 102)])
    x = torch.rand(3, 5, 3)
    with torch.no_grad():
        p = model({"x": x, "mask": torch.ones(3, 5, dtype=torch.bool)}).softmax(-1)
    assert p[:, 1].tolist() == pytest.approx([13 / 102] * 3)
    # balanced classes: a constant bias, the probabilities of the jBOT tasks do not move
    start_at_class_prior(model, torch.arange(100) % 2)
    assert model.head[-1].bias[0] == model.head[-1].bias[1]
