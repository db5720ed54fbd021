"""FastDropout: nn.Dropout in distribution (keep rate, exact expectation, independent elements),
identity in eval, seeded; the transformer drops on its residual branches only (jBOT reference)."""

from __future__ import annotations

import pytest
import torch

from jetzoo import create_backbone
from jetzoo.models.dropout import FastDropout


def test_keep_rate_scale_and_expectation() -> None:
    torch.manual_seed(0)
    drop = FastDropout(0.2).train()
    x = torch.ones(1_000_003)  # not a multiple of 4 lanes
    y = drop(x)
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.8, abs=0.002)
    assert torch.allclose(y[kept], torch.full_like(y[kept], 65536 / 52429))
    assert y.mean().item() == pytest.approx(1.0, abs=0.003)  # inverted dropout: E[y] = x
    # the four lanes of one 64-bit draw are independent: neighbours agree as for independent draws
    k = kept.float()
    both = (k[:-1] * k[1:]).mean().item()
    assert both == pytest.approx(0.8 * 0.8, abs=0.003)
    for p in (0.0, 0.1, 0.5, 0.9):
        rate = (FastDropout(p).train()(torch.ones(400_000)) == 0).float().mean().item()
        assert rate == pytest.approx(p, abs=0.004)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        FastDropout(1.0)


def test_eval_identity_gradient_and_seed() -> None:
    drop = FastDropout(0.3)
    x = torch.randn(7, 31, 5, requires_grad=True)
    assert drop.eval()(x) is x
    drop.train()
    torch.manual_seed(4)
    y = drop(x)
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float() * (65536 / round(0.7 * 65536)))
    torch.manual_seed(4)
    assert torch.equal(drop(x), y)


def test_transformer_drops_on_the_residual_branches_only() -> None:
    model = create_backbone("jbot-s")  # dropout 0.2
    block = model.blocks[0]
    assert block.drop1.p == block.drop2.p == 0.2
    assert all(not isinstance(m, torch.nn.Dropout) or m.p == 0.0 for m in block.mlp.modules())
    assert all(not isinstance(m, torch.nn.Dropout) or m.p == 0.0 for m in block.attn.modules())
    x = torch.rand(4, 30, 3) * 0.1
    mask = torch.ones(4, 30, dtype=torch.bool)
    model.eval()
    torch.testing.assert_close(model(x, mask).cls, model(x, mask).cls)  # eval: deterministic
    model.train()
    assert not torch.equal(model(x, mask).cls, model(x, mask).cls)


def test_set_dropout_changes_the_training_rate_not_the_config() -> None:
    """Pre-training without dropout (jBOT reference): every dropout layer's rate changes, the
    config (what is exported and fine-tuned) keeps the registered 0.2."""
    from jetzoo.models.dropout import set_dropout

    net = create_backbone("jbot-s").train()
    assert set_dropout(net, 0.0) == 4  # two residual-branch dropouts per block, 2 blocks
    assert set_dropout(net, 0.1) == 0  # all off now (the MLPs' inner dropouts were never on)
    assert net.config["dropout"] == 0.2
    x, mask = torch.rand(8, 30, 3), torch.rand(8, 30) > 0.3
    mask[:, 0] = True
    train_out = net(x, mask).cls
    assert torch.equal(train_out, net.eval()(x, mask).cls)  # no noise left in train mode
    drop = FastDropout(0.0)
    drop.p = 0.5  # the setter re-derives the lane threshold and the scale
    rate = (drop.train()(torch.ones(200_000)) == 0).float().mean().item()
    assert rate == pytest.approx(0.5, abs=0.005)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        drop.p = 1.0
