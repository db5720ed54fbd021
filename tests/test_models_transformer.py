"""ParticleTransformer: padding invariance, masking, attention vs a hand computation, and a block
vs torch's own pre-norm nn.TransformerEncoderLayer with copied weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from jetzoo import create_backbone
from jetzoo.data.preprocessing import Preprocessing
from jetzoo.models.transformer import BackboneOutput, MaskedSelfAttention


def _jets(b: int, n: int, n_real: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(b, n, 3)
    mask = torch.zeros(b, n, dtype=torch.bool)
    for i, k in enumerate(n_real):
        x[i, :k, :2] = 0.2 * torch.randn(k, 2, generator=g)
        x[i, :k, 2] = torch.rand(k, generator=g).sort(descending=True).values / k
        mask[i, :k] = True
    return x, mask


@pytest.fixture(scope="module")
def jbot_s() -> nn.Module:
    torch.manual_seed(0)
    return create_backbone("jbot-s").eval()


def test_padding_to_30_or_128_gives_the_same_embedding(jbot_s):
    x30, m30 = _jets(3, 30, [30, 17, 4])
    x128 = torch.zeros(3, 128, 3)
    x128[:, :30] = x30
    m128 = torch.zeros(3, 128, dtype=torch.bool)
    m128[:, :30] = m30
    x128[~m128] = torch.randn(int((~m128).sum()), 3).abs()  # garbage in padded slots is ignored
    with torch.no_grad():
        out30, out128 = jbot_s(x30, m30), jbot_s(x128, m128)
    assert isinstance(out30, BackboneOutput)
    assert out30.cls.shape == (3, 32) and out128.tokens.shape == (3, 128, 32)
    torch.testing.assert_close(out30.cls, out128.cls, rtol=0, atol=1e-5)
    torch.testing.assert_close(out30.tokens, out128.tokens[:, :30], rtol=0, atol=1e-5)
    assert out128.tokens[~m128].abs().max() == 0  # tokens are exactly zero at padding


def test_permuting_particles_permutes_tokens_and_keeps_cls(jbot_s):
    x, mask = _jets(2, 30, [30, 30], seed=1)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = jbot_s(x, mask), jbot_s(x[:, perm], mask[:, perm])
    torch.testing.assert_close(a.cls, b.cls, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.tokens[:, perm], b.tokens, rtol=0, atol=1e-5)


def test_token_mask_replaces_the_particle_by_the_mask_token(jbot_s):
    x, mask = _jets(2, 30, [20, 9], seed=2)
    tm = torch.zeros_like(mask)
    tm[:, 1] = True  # mask particle 1 in both jets
    x2 = x.clone()
    x2[:, 1] = torch.tensor([0.3, -0.2, 0.05])  # a different particle in the masked slot
    with torch.no_grad():
        masked, masked2, plain = jbot_s(x, mask, tm), jbot_s(x2, mask, tm), jbot_s(x, mask)
        pad_only = jbot_s(x, mask, ~mask)  # masking padded slots does nothing
    torch.testing.assert_close(masked.cls, masked2.cls, rtol=0, atol=1e-6)  # content is hidden
    assert (masked.cls - plain.cls).abs().max() > 1e-4  # ... and it changes the output
    torch.testing.assert_close(pad_only.cls, plain.cls, rtol=0, atol=0)


def test_attention_matches_a_hand_computation():
    torch.manual_seed(0)
    attn = MaskedSelfAttention(dim=64, num_heads=6, head_dim=16).eval()
    x = torch.randn(2, 7, 64)
    key_mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]], dtype=torch.bool)
    q, k, v = attn.qkv(x).split(96, dim=-1)
    heads = []
    for h in range(6):
        sl = slice(16 * h, 16 * (h + 1))
        scores = q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(16)
        scores = scores.masked_fill(~key_mask[:, None, :], float("-inf"))
        heads.append(scores.softmax(-1) @ v[..., sl])
    expected = attn.proj(torch.cat(heads, dim=-1))
    with torch.no_grad():
        torch.testing.assert_close(attn(x, key_mask), expected, rtol=1e-5, atol=1e-6)
    assert attn.qkv.weight.shape == (3 * 6 * 16, 64) and attn.proj.weight.shape == (64, 96)


def test_block_matches_torch_pre_norm_encoder_layer(jbot_s):
    block = jbot_s.blocks[0]
    layer = nn.TransformerEncoderLayer(
        32, 4, 128, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    ).eval()
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(block.attn.qkv.weight)
        layer.self_attn.in_proj_bias.copy_(block.attn.qkv.bias)
        layer.self_attn.out_proj.weight.copy_(block.attn.proj.weight)
        layer.self_attn.out_proj.bias.copy_(block.attn.proj.bias)
        layer.linear1.load_state_dict(block.mlp.fc1.state_dict())
        layer.linear2.load_state_dict(block.mlp.fc2.state_dict())
        layer.norm1.load_state_dict(block.norm1.state_dict())
        layer.norm2.load_state_dict(block.norm2.state_dict())
        h = torch.randn(2, 11, 32)
        key_mask = torch.ones(2, 11, dtype=torch.bool)
        key_mask[1, 6:] = False
        ours = block(h, key_mask)
        theirs = layer(h, src_key_padding_mask=~key_mask)
    torch.testing.assert_close(ours[key_mask], theirs[key_mask], rtol=1e-5, atol=1e-5)


def test_parameter_count_and_head_layout():
    s, b = create_backbone("jbot-s"), create_backbone("jbot-b")
    d = 32  # jbot-s: embed + cls + mask + 2 blocks + final norm
    block = (
        2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)
    )
    assert sum(p.numel() for p in s.parameters()) == (3 * d + d) + 2 * d + 2 * block + 2 * d
    assert s.num_features == 32 and len(s.blocks) == 2 and s.blocks[0].attn.num_heads == 4
    assert b.num_features == 64 and len(b.blocks) == 4
    assert (b.blocks[0].attn.num_heads, b.blocks[0].attn.head_dim) == (6, 16)


def test_preprocessing_is_inside_the_backbone():
    prep = Preprocessing(mean=[0.01, -0.02, -3.5], std=[0.2, 0.15, 1.3])
    model = create_backbone("jbot-s", preprocessing=prep.to_dict())
    x, mask = _jets(1, 30, [12])
    feats = model.preprocess(x, mask)
    expected = (
        torch.stack([x[..., 0], x[..., 1], torch.log(x[..., 2])], -1)[mask]
        - torch.tensor(prep.mean)
    ) / torch.tensor(prep.std)
    torch.testing.assert_close(feats[mask], expected)
    assert feats[~mask].abs().max() == 0
    assert model.config["preprocessing"]["mean"] == prep.mean


def test_config_states_the_preprocessing_of_loaded_buffers():
    """A backbone filled by load_state_dict (an export from a checkpoint) reports the
    preprocessing its buffers hold, not the defaults it was built with."""
    prep = Preprocessing(mean=[1e-4, -2e-4, -4.153082722427312], std=[0.13, 0.125, 1.2329654])
    trained = create_backbone("jbot-s", preprocessing=prep.to_dict())
    built = create_backbone("jbot-s")
    assert built.config["preprocessing"]["mean"] == [0.0, 0.0, -4.0]
    built.load_state_dict(trained.state_dict())
    got = built.config["preprocessing"]
    assert got["mean"] == [float(v) for v in torch.tensor(prep.mean).tolist()]
    assert got["std"] == [float(v) for v in torch.tensor(prep.std).tolist()]
    assert got["features"] == prep.features
    rebuilt = create_backbone("jbot-s", preprocessing=got)  # the config rebuilds the buffers
    assert torch.equal(rebuilt.feat_mean, trained.feat_mean)
    assert torch.equal(rebuilt.feat_std, trained.feat_std)


def test_embed_and_layer_ids(jbot_s):
    x, mask = _jets(2, 30, [5, 30])
    with torch.no_grad():
        torch.testing.assert_close(jbot_s.embed({"x": x, "mask": mask}), jbot_s(x, mask).cls)
    ids = {n: jbot_s.get_layer_id(n) for n, _ in jbot_s.named_parameters()}
    assert ids["cls_token"] == 0 and ids["particle_embed.weight"] == 0
    assert ids["blocks.0.attn.qkv.weight"] == 1 and ids["blocks.1.mlp.fc2.bias"] == 2
    assert ids["norm.weight"] == 3


def test_bad_shapes_are_clear_errors(jbot_s):
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        jbot_s(torch.zeros(2, 30, 4), torch.ones(2, 30, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask shape"):
        jbot_s(torch.zeros(2, 30, 3), torch.ones(2, 29, dtype=torch.bool))


@pytest.mark.parametrize("mask_dims", [2, 3])
def test_cpu_attention_kernel_equals_sdpa_values_and_gradients(mask_dims):
    """The CPU attention is the CUDA path (SDPA) to 1e-5, forward and backward: for key padding
    masks (baddbmm + softmax on CPU) and for per-query RS3L proximity masks (SDPA on CPU too)."""
    torch.manual_seed(1)
    attn = MaskedSelfAttention(dim=32, num_heads=4)
    b, t, h, hd = 5, 11, 4, 8
    x = torch.randn(b, t, 32, requires_grad=True)
    key_mask = torch.rand(b, t) > 0.3
    key_mask[:, 0] = True
    if mask_dims == 3:
        key_mask = (torch.rand(b, t, t) > 0.4) | torch.eye(t, dtype=torch.bool)
    out = attn(x, key_mask)
    out.square().sum().backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in attn.parameters()]
    x.grad = None
    attn.zero_grad()

    qkv = attn.qkv(x).view(b, t, 3, h, hd).permute(2, 0, 3, 1, 4)
    m = key_mask[:, None] if mask_dims == 3 else key_mask[:, None, None, :]
    ref = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=m)
    ref = attn.proj(ref.transpose(1, 2).reshape(b, t, 32))
    ref.square().sum().backward()
    ref_grads = [x.grad] + [p.grad for p in attn.parameters()]
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)
