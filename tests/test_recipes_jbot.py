"""jBOT recipe: loss wiring (eq. 1-4 of the jBOT paper), centring, metrics, short-run training."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from _recipe_utils import TINY, fit, one_thread, synthetic_jets

from jetzoo.data.preprocessing import Preprocessing
from jetzoo.losses import dino_cross_entropy, koleo
from jetzoo.masking import pt_aware_mask, sample_mask_ratios
from jetzoo.recipes import JBOTRecipe

_threads = pytest.fixture(autouse=True)(one_thread)

JBOT_METRICS = (
    "train/loss",
    "train/entropy",
    "train/center_norm",
    "train/loss_cls",
    "train/loss_part",
    "train/koleo",
    "train/ema_momentum",
)


def test_head_and_hparams_follow_table_1() -> None:
    r = JBOTRecipe()  # jbot-s: d = 32
    assert r.backbone.num_features == 32
    assert r.head.out_dim == 16  # d_proj = d / 2
    widths = [m.out_features for m in r.head.mlp if isinstance(m, torch.nn.Linear)]
    assert widths == [128, 16] and r.head.prototypes.weight.shape == (16, 16)
    hp = r.hparams
    assert (hp.teacher_temp, hp.student_temp, hp.center_momentum, hp.koleo_weight) == (
        0.04,
        0.1,
        0.9,
        0.01,
    )
    assert (hp.mask_ratio_min, hp.mask_ratio_max, hp.ema_momentum) == (0.0, 0.5, 0.996)


def test_loss_is_part_plus_cls_plus_koleo() -> None:
    """Recompute eq. (4) from the library losses with the same masks (no augmentation)."""
    r = JBOTRecipe(backbone_overrides=TINY, augmentations=[]).eval()
    with torch.no_grad():  # make teacher != student
        for p in r.teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
        r.center_cls.fill_(0.01)
    batch = synthetic_jets(12)
    torch.manual_seed(7)
    loss, metrics = r.compute_loss(batch, "val")
    torch.manual_seed(7)
    x = torch.cat([batch["x"]] * 2)
    mask = torch.cat([batch["mask"]] * 2)
    tm = pt_aware_mask(x[..., 2], mask, sample_mask_ratios(24, 0.0, 0.5))
    with torch.no_grad():
        s = r.backbone(x, mask, token_mask=tm)
        t = r.teacher["backbone"](x, mask)
        hs_c, hs_t = r.head(s.cls), r.head(s.tokens)
        ht_c, ht_t = r.teacher["head"](t.cls), r.teacher["head"](t.tokens)
        u, v = slice(0, 12), slice(12, 24)
        cls = 0.5 * (
            dino_cross_entropy(hs_c[v], ht_c[u], r.center_cls)
            + dino_cross_entropy(hs_c[u], ht_c[v], r.center_cls)
        )
        part = 0.5 * (
            dino_cross_entropy(hs_t[u], ht_t[u], r.center_part, mask=tm[u])
            + dino_cross_entropy(hs_t[v], ht_t[v], r.center_part, mask=tm[v])
        )
        want = part + cls + 0.01 * koleo(s.cls[u])
    torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(metrics["loss_cls"], cls, rtol=1e-5, atol=1e-6)
    assert 0.1 < metrics["mask_fraction"].item() < 0.5
    # part_weight scales L_Part alone
    r.hparams.part_weight = 0.25
    torch.manual_seed(7)
    loss_w, _ = r.compute_loss(batch, "val")
    torch.testing.assert_close(
        loss_w, 0.25 * part + cls + 0.01 * koleo(s.cls[u]), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="part_weight"):
        JBOTRecipe(backbone_overrides=TINY, part_weight=-1.0)


def test_part_loss_gradients_equal_the_head_on_every_token() -> None:
    """The student head runs on masked particles only; the loss and every student gradient equal
    those of the head applied to all tokens (the masked-out rows carry zero weight). In float64,
    so that the two summation orders agree to rounding (in float32 they differ by up to 2e-4 of
    a small gradient element, depending on the init)."""
    torch.manual_seed(0)
    r = JBOTRecipe(backbone_overrides=TINY, augmentations=[]).double().eval()
    batch = {k: v.double() if v.is_floating_point() else v for k, v in synthetic_jets(10).items()}
    torch.manual_seed(3)
    loss, _ = r.compute_loss(batch, "val")
    loss.backward()
    grads = {n: p.grad.clone() for n, p in r.named_parameters() if p.grad is not None}
    r.zero_grad()
    torch.manual_seed(3)
    x, mask = torch.cat([batch["x"]] * 2), torch.cat([batch["mask"]] * 2)
    tm = pt_aware_mask(x[..., 2], mask, sample_mask_ratios(20, 0.0, 0.5))
    s = r.backbone(x, mask, token_mask=tm)
    with torch.no_grad():
        t = r.teacher["backbone"](x, mask)
        ht_c, ht_t = r.teacher["head"](t.cls), r.teacher["head"](t.tokens)
    hs_c, hs_t = r.head(s.cls), r.head(s.tokens)
    want = (
        dino_cross_entropy(hs_t, ht_t, r.center_part, mask=tm)
        + dino_cross_entropy(hs_c, torch.cat([ht_c[10:], ht_c[:10]]), r.center_cls)
        + 0.01 * koleo(s.cls[:10])
    )
    want.backward()
    torch.testing.assert_close(loss, want, rtol=1e-12, atol=1e-12)
    assert grads.keys() == {n for n, p in r.named_parameters() if p.grad is not None}
    for n, p in r.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(grads[n], p.grad, rtol=1e-10, atol=1e-12, msg=n)


def test_reference_head_and_koleo_options() -> None:
    """prototypes=False: the l2-normalised bottleneck is the logit vector (hftsoi/jbot);
    koleo_input="head": KoLeo on the projected [CLS] of view u."""
    r = JBOTRecipe(
        backbone_overrides=TINY, augmentations=[], prototypes=False, koleo_input="head"
    ).eval()
    assert r.head.prototypes is None and r.teacher["head"].prototypes is None
    z = r.head(torch.randn(5, 16))
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(5))
    batch = synthetic_jets(12)
    torch.manual_seed(7)
    _, metrics = r.compute_loss(batch, "val")
    torch.manual_seed(7)
    x, mask = torch.cat([batch["x"]] * 2), torch.cat([batch["mask"]] * 2)
    tm = pt_aware_mask(x[..., 2], mask, sample_mask_ratios(24, 0.0, 0.5))
    with torch.no_grad():
        s = r.backbone(x, mask, token_mask=tm)
        want = koleo(r.head(s.cls)[:12])
    torch.testing.assert_close(metrics["koleo"], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="koleo_input"):
        JBOTRecipe(backbone_overrides=TINY, koleo_input="tokens")


def test_n_prototypes_sets_the_teacher_softmax_width() -> None:
    """n_prototypes K: logits are the cosines of the l2-normalised bottleneck (d_proj = 8 for
    d = 16) with K normalised prototype rows; centres, loss and entropy use all K."""
    r = JBOTRecipe(backbone_overrides=TINY, augmentations=[], n_prototypes=40).eval()
    assert r.head.out_dim == 40 and r.center_cls.shape == (1, 40)
    assert r.teacher["head"].prototypes.weight.shape == (40, 8)
    h = torch.randn(5, 16)
    z = r.head(h)
    bottleneck = torch.nn.functional.normalize(r.head.mlp(h), dim=-1)
    rows = torch.nn.functional.normalize(r.head.prototypes.weight, dim=-1)
    torch.testing.assert_close(z, bottleneck @ rows.T)
    assert z.shape == (5, 40) and z.abs().max() <= 1 + 1e-6
    loss, metrics = r.compute_loss(synthetic_jets(12), "val")
    assert torch.isfinite(loss) and 0 <= float(metrics["entropy"]) <= math.log(40) + 1e-4
    with pytest.raises(ValueError, match="n_prototypes"):
        JBOTRecipe(backbone_overrides=TINY, prototypes=False, n_prototypes=40)


def test_train_dropout_off_in_student_and_kept_in_the_export(tmp_path) -> None:
    """train_dropout=0 (the recipes' setting): the student trains without dropout noise, the
    exported backbone keeps the registered rate, so it is the architecture `jetzoo ship` wants."""
    from jetzoo import JetZoo, create_backbone
    from jetzoo.models.zoo import save_pretrained

    r = JBOTRecipe(train_dropout=0.0, augmentations=[]).train()
    x, mask = synthetic_jets(6)["x"], synthetic_jets(6)["mask"].bool()
    torch.testing.assert_close(r.backbone(x, mask).cls, r.backbone.eval()(x, mask).cls)
    assert r.export_backbone().config == create_backbone("jbot-s").config
    loaded = JetZoo.from_pretrained(save_pretrained(r.export_backbone(), tmp_path / "b"))
    assert loaded.config["dropout"] == 0.2
    default = JBOTRecipe(augmentations=[]).train()  # None: the backbone's own rate
    assert {m.p for m in default.backbone.modules() if hasattr(m, "_p")} == {0.2}


def test_center_update_is_ema_of_batch_mean() -> None:
    r = JBOTRecipe(backbone_overrides=TINY)
    k = r.head.out_dim
    g = torch.Generator().manual_seed(0)
    t_cls, t_tok = torch.randn(4, k, generator=g), torch.randn(4, 5, k, generator=g)
    mask = torch.rand(4, 5, generator=g) > 0.3
    r.center_cls.fill_(1.0)
    r._update_centers(t_cls, t_tok, mask)
    want_cls = 0.9 * 1.0 + 0.1 * t_cls.numpy().mean(0)
    want_part = 0.1 * t_tok.numpy()[mask.numpy()].mean(0)
    np.testing.assert_allclose(r.center_cls.numpy()[0], want_cls, rtol=1e-5)
    np.testing.assert_allclose(r.center_part.numpy()[0], want_part, rtol=1e-5, atol=1e-7)


def test_preprocessing_reaches_teacher_and_export_is_student() -> None:
    r = JBOTRecipe(backbone_overrides=TINY)
    prep = Preprocessing(mean=[0.01, -0.02, -3.5], std=[0.2, 0.2, 1.5])
    r.set_preprocessing(prep)
    for bb in (r.backbone, r.teacher["backbone"]):
        torch.testing.assert_close(bb.feat_mean, torch.tensor(prep.mean))
    assert r.export_backbone() is r.backbone


def test_short_run_lowers_loss_and_logs_metrics() -> None:
    """A short CPU run on the embedded sample: the loss on fixed held-out jets (fixed views and
    masks) drops, driven by the masked-particle term; every jBOT metric is logged."""
    from _recipe_utils import eval_loss, sample_jets, sample_preprocessing

    torch.manual_seed(0)
    r = JBOTRecipe(backbone_overrides=TINY, optimizer=dict(lr=2e-3, warmup_steps=5))
    r.set_preprocessing(sample_preprocessing())
    held_out = sample_jets(128, "val")

    def part_loss() -> float:
        r.eval()
        with torch.no_grad():
            torch.manual_seed(5)
            return r.compute_loss(held_out, "val")[1]["loss_part"].item()

    before, part_before = eval_loss(r, held_out), part_loss()
    trainer = fit(r, sample_jets(512), steps=40)
    after, part_after = eval_loss(r, held_out), part_loss()
    assert after < 0.8 * before, (before, after)
    assert part_after < 0.8 * part_before, (part_before, part_after)
    for name in JBOT_METRICS:
        assert name in trainer.callback_metrics, name
    assert 0.996 <= trainer.callback_metrics["train/ema_momentum"].item() <= 1.0
    assert r._last_ema_step == 40


def test_bf16_autocast_step_is_finite_and_near_fp32() -> None:
    """The GPU path's mixed precision, run on the CPU: a jBOT step under bf16 autocast (masked
    attention, masked-particle head, centring) gives a finite loss within bf16 rounding of fp32,
    and finite gradients."""
    torch.manual_seed(0)
    r = JBOTRecipe(backbone_overrides=TINY, augmentations=[]).train()
    batch = synthetic_jets(16)
    torch.manual_seed(5)
    loss32, _ = r.compute_loss(batch, "val")
    torch.manual_seed(5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss16, metrics = r.compute_loss(batch, "val")
    loss16.backward()
    assert torch.isfinite(loss16) and abs(loss16.item() - loss32.item()) < 0.05 * loss32.item()
    assert all(torch.isfinite(p.grad).all() for p in r.parameters() if p.grad is not None)


def test_compiled_backbones_give_the_eager_loss_and_keys() -> None:
    """``compile`` (recipe key) compiles every backbone copy in place: the student and the EMA
    teacher keep their state-dict keys (checkpoints stay interchangeable with eager runs) and the
    loss and gradients equal the eager ones. Run with dynamo's eager backend, which traces the
    backbone as torch.compile does without the C++ code generation of inductor (the GPU check,
    tests/test_gpu.py, runs inductor)."""
    torch.manual_seed(0)
    eager = JBOTRecipe(backbone_overrides=TINY, augmentations=[]).train()
    compiled = copy.deepcopy(eager)
    keys = list(compiled.state_dict())
    compiled.compile_backbones(backend="eager", dynamic=False)
    assert list(compiled.state_dict()) == keys
    assert compiled.backbone._compiled_call_impl is not None
    assert compiled.teacher["backbone"]._compiled_call_impl is not None
    batch = synthetic_jets(16)
    losses = []
    for module in (eager, compiled):
        torch.manual_seed(5)
        loss, _ = module.compute_loss(batch, "train")
        loss.backward()
        losses.append(loss.item())
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    for (name, a), b in zip(eager.named_parameters(), compiled.parameters()):
        if a.grad is not None:
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_local_views_join_the_cls_loss_against_both_teacher_views() -> None:
    """DINO multi-crop: each local view's student [CLS] against the teacher [CLS] of u and of v;
    L_[CLS] is the mean over all 2 + 2 L (student, teacher) pairs."""
    r = JBOTRecipe(
        backbone_overrides=TINY, augmentations=[], local_views=2, local_particles=6
    ).eval()
    with torch.no_grad():
        for p in r.teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
        r.center_cls.fill_(0.01)
    batch = synthetic_jets(12)
    x, mask = batch["x"], batch["mask"]
    local = torch.cat(
        [r.backbone(x[:, :6], mask[:, :6]).cls, r.backbone(x[:, 6:12], mask[:, 6:12]).cls]
    )
    r._local_cls = lambda _batch: local  # fixed local views: the pairing is what is tested
    torch.manual_seed(7)
    loss, metrics = r.compute_loss(batch, "val")
    torch.manual_seed(7)
    xx, mm = torch.cat([x] * 2), torch.cat([mask] * 2)
    tm = pt_aware_mask(xx[..., 2], mm, sample_mask_ratios(24, 0.0, 0.5))
    with torch.no_grad():
        hs_c = r.head(r.backbone(xx, mm, token_mask=tm).cls)
        ht_c = r.teacher["head"](r.teacher["backbone"](xx, mm).cls)
        hl = r.head(local)
        u, v = slice(0, 12), slice(12, 24)
        ce = [
            dino_cross_entropy(s, t, r.center_cls)
            for s, t in (
                (hs_c[v], ht_c[u]),
                (hs_c[u], ht_c[v]),
                (hl[u], ht_c[u]),
                (hl[u], ht_c[v]),
                (hl[v], ht_c[u]),
                (hl[v], ht_c[v]),
            )
        ]
    torch.testing.assert_close(metrics["loss_local"], sum(ce[2:]) / 4, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(metrics["loss_cls"], sum(ce) / 6, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        loss,
        metrics["loss_part"] + metrics["loss_cls"] + 0.01 * metrics["koleo"],
        rtol=1e-5,
        atol=1e-6,
    )


def test_local_cls_embeds_local_crops_of_the_augmented_jets() -> None:
    from jetzoo.augmentations import local_crop

    r = JBOTRecipe(
        backbone_overrides=TINY, augmentations=["rotate"], local_views=3, local_particles=5
    ).eval()
    batch = synthetic_jets(8)
    torch.manual_seed(3)
    got = r._local_cls(batch)
    torch.manual_seed(3)
    views = [
        local_crop(*r.augment(batch["x"], batch["mask"].bool(), batch["jet"][:, 0]), 5)
        for _ in range(3)
    ]
    assert views[0][0].shape == (8, 5, 3)
    want = r.backbone(torch.cat([v[0] for v in views]), torch.cat([v[1] for v in views])).cls
    assert got.shape == (24, 16)
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="local_views must be >= 0"):
        JBOTRecipe(backbone_overrides=TINY, local_views=-1)
