"""ParticleTransformer: the ViT-style jet encoder of jBOT (the jBOT paper), as a plain nn.Module.

Each particle (eta_rel, phi_rel, pt_rel) is standardised (log pT, mean/std stored in the config),
embedded by a linear layer, a learnable [CLS] token is prepended, and pre-norm transformer blocks
(multi-head self-attention with a key padding mask, GELU MLP of width ``mlp_ratio * d``, dropout)
follow, then a final LayerNorm. Padded particles are masked out as keys everywhere, so padding a
jet to 30 or to 128 particles gives the same embedding.

Head size: jBOT-B has d_model = 64 and 6 heads, and 6 does not divide 64. The reference code is
Keras, whose ``MultiHeadAttention`` takes the per-head ``key_dim`` independently of d_model and
projects the concatenated heads back to d_model. We do the same: ``head_dim`` is a free parameter
(default ``embed_dim // num_heads``), the fused qkv projection maps d -> 3 * num_heads * head_dim
and the output projection maps num_heads * head_dim -> d. ``jbot-b`` uses 6 heads of 16
(inner width 96), i.e. each head has the width of a jBOT-B head with 4 heads of 16 = 64.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp
from torch import Tensor, nn

from jetzoo.data.preprocessing import PT_FLOOR, Preprocessing
from jetzoo.models.dropout import FastDropout
from jetzoo.models.protocol import checked_input
from jetzoo.models.registry import register_architecture, register_model
from jetzoo.models.zoo import PretrainedMixin


class BackboneOutput(NamedTuple):
    """Outputs of a particle backbone: the [CLS] embedding and the per-particle tokens."""

    cls: Tensor  # (B, D)
    tokens: Tensor  # (B, N, D), zero at padded particles


class MaskedSelfAttention(nn.Module):
    """Multi-head self-attention with a key padding mask (fused qkv).

    On CUDA this is ``F.scaled_dot_product_attention`` with a boolean mask (its fused kernels).
    On CPU, with a key padding mask, the scores are one batched ``baddbmm`` (scale and mask bias
    fused) and a softmax: the whole jBOT-S training step is 1.3x faster this way than with SDPA's
    CPU kernel at jet sizes (31 tokens, heads of 8), and equal to it to 1e-6
    (``tests/test_models_transformer.py``); masked keys get the dtype's lowest value rather than
    -inf, so a query with no allowed key averages the values instead of making NaN. With a
    per-query mask (RS3L proximity masks, ~290 tokens) the CPU uses SDPA too: its flash kernel
    never materialises the (B * heads, T, T) bias and makes the RS3L training step 2.0x faster
    (torch 2.14, ``benchmarks/train_step.py``); those masks always allow the query itself.
    """

    def __init__(
        self, dim: int, num_heads: int, head_dim: int | None = None, attn_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim or dim // num_heads
        if head_dim is None and dim % num_heads:
            raise ValueError(
                f"embed_dim {dim} is not divisible by num_heads {num_heads}; "
                "pass head_dim explicitly"
            )
        inner = num_heads * self.head_dim
        self.qkv = nn.Linear(dim, 3 * inner)
        self.proj = nn.Linear(inner, dim)
        self.attn_dropout = attn_dropout

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        """``x`` (B, T, D); ``key_mask`` (B, T) bool, True where a token may be attended to,
        or (B, T, T) bool, True where query i may attend to key j (RS3L proximity masks)."""
        b, t, _ = x.shape
        h, hd = self.num_heads, self.head_dim
        qkv = self.qkv(x).view(b, t, 3, h, hd).permute(2, 0, 3, 1, 4)
        if x.is_cuda or key_mask.dim() == 3:
            mask = key_mask[:, None] if key_mask.dim() == 3 else key_mask[:, None, None, :]
            out = F.scaled_dot_product_attention(
                qkv[0],
                qkv[1],
                qkv[2],
                attn_mask=mask,
                dropout_p=self.attn_dropout if self.training else 0.0,
            )
            return self.proj(out.transpose(1, 2).reshape(b, t, h * hd))
        q, k, v = qkv.reshape(3, b * h, t, hd)
        bias = torch.zeros(b, 1, 1, t, dtype=q.dtype, device=q.device).masked_fill_(
            ~key_mask.view(b, 1, 1, t), torch.finfo(q.dtype).min
        )
        bias = bias.expand(b, h, 1, t).reshape(b * h, 1, t)
        attn = torch.baddbmm(bias, q, k.transpose(1, 2), alpha=hd**-0.5).softmax(-1)
        if self.training and self.attn_dropout > 0:
            attn = F.dropout(attn, self.attn_dropout)
        out = torch.bmm(attn, v).view(b, h, t, hd).transpose(1, 2).reshape(b, t, h * hd)
        return self.proj(out)


class Block(nn.Module):
    """Transformer block. Pre-norm (default): x + Drop(Attn(LN(x))), then x + Drop(MLP(LN(x)));
    post-norm (``norm_first=False``, the jBOT reference's Keras block): LN(x + Drop(Attn(x))),
    then LN(x + Drop(MLP(x))).

    ``dropout`` acts on the two residual branches (width d), where the jBOT reference puts its
    two 20% dropouts (hftsoi/jbot ``TransformerBlock``); none inside the MLP's 4d hidden layer.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        head_dim: int | None = None,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        drop_path: float = 0.0,
        norm_first: bool = True,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = MaskedSelfAttention(dim, num_heads, head_dim, attn_dropout)
        self.drop1 = FastDropout(dropout)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=0.0)
        self.drop2 = FastDropout(dropout)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        if not self.norm_first:
            x = self.norm1(x + self.drop_path(self.drop1(self.attn(x, key_mask))))
            return self.norm2(x + self.drop_path(self.drop2(self.mlp(x))))
        x = x + self.drop_path(self.drop1(self.attn(self.norm1(x), key_mask)))
        return x + self.drop_path(self.drop2(self.mlp(self.norm2(x))))


@register_architecture("particle_transformer")
class ParticleTransformer(PretrainedMixin, nn.Module):
    """ViT-style encoder over a padded set of particles with a learnable [CLS] token.

    Args:
        in_features: raw features per particle (eta_rel, phi_rel, pt_rel).
        embed_dim: token width d.
        depth: number of transformer blocks.
        num_heads: attention heads.
        head_dim: width of one head (default ``embed_dim // num_heads``; see module docstring).
        mlp_ratio: MLP hidden width as a multiple of d.
        dropout: dropout in the attention output and the MLP.
        attn_dropout: dropout on attention weights.
        drop_path: stochastic depth rate.
        preprocessing: ``Preprocessing.to_dict()``: mean/std of (eta_rel, phi_rel, log pt_rel).
        norm_first: pre-norm blocks and a final LayerNorm (default); False = post-norm blocks
            and no final norm, as the jBOT reference (Keras).
        norm_eps: LayerNorm epsilon (Keras: 1e-6).
        raw_input: embed the four JetNet features (eta_rel, phi_rel, pt_rel, mask) as they are,
            the jBOT reference's input, instead of the standardised (eta, phi, log pT).
        mask_padding: padded particles are masked out as attention keys (default); False
            attends to them, as the jBOT reference does (its embeddings depend on the padding).

    The last three exist to import published models (``jetzoo import jbot-keras``); jetzoo's own
    backbones keep the defaults.
    """

    arch_name = "particle_transformer"
    family = "jetnet"  # Backbone protocol: batches with x (B, N, 3) and mask (B, N)
    lora_targets: tuple[str, ...] = ("qkv",)  # the fused attention projections
    #: the sizes a saved config may hold (checked before anything is allocated)
    config_limits: dict[str, tuple[float, float]] = {
        "in_features": (3, 3),
        "embed_dim": (1, 4096),
        "depth": (1, 128),
        "num_heads": (1, 256),
        "head_dim": (1, 4096),
        "mlp_ratio": (0.01, 64.0),
        "dropout": (0.0, 0.99),
        "attn_dropout": (0.0, 0.99),
        "drop_path": (0.0, 0.99),
        "norm_eps": (1e-12, 1.0),
    }

    def __init__(
        self,
        in_features: int = 3,
        embed_dim: int = 64,
        depth: int = 4,
        num_heads: int = 4,
        head_dim: int | None = None,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        drop_path: float = 0.0,
        preprocessing: dict[str, Any] | None = None,
        norm_first: bool = True,
        norm_eps: float = 1e-5,
        raw_input: bool = False,
        mask_padding: bool = True,
    ) -> None:
        super().__init__()
        if in_features != 3:
            raise ValueError("ParticleTransformer takes (eta_rel, phi_rel, pt_rel): in_features=3")
        prep = Preprocessing.from_dict(preprocessing) if preprocessing else Preprocessing()
        self._config = dict(
            in_features=in_features,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            head_dim=head_dim,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            attn_dropout=attn_dropout,
            drop_path=drop_path,
            preprocessing=prep.to_dict(),
        )
        reference = dict(
            norm_first=norm_first, norm_eps=norm_eps, raw_input=raw_input, mask_padding=mask_padding
        )
        defaults = dict(norm_first=True, norm_eps=1e-5, raw_input=False, mask_padding=True)
        # recorded only where they differ: configs of jetzoo's own backbones stay as they were
        self._config.update({k: v for k, v in reference.items() if v != defaults[k]})
        self.raw_input, self.mask_padding = raw_input, mask_padding
        self.num_features = embed_dim
        self.register_buffer("feat_mean", torch.tensor(prep.mean, dtype=torch.float32))
        self.register_buffer("feat_std", torch.tensor(prep.std, dtype=torch.float32))
        self.particle_embed = nn.Linear(in_features + int(raw_input), embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.blocks = nn.ModuleList(
            Block(
                embed_dim,
                num_heads,
                head_dim,
                mlp_ratio,
                dropout,
                attn_dropout,
                drop_path * i / max(depth - 1, 1),
                norm_first,
                norm_eps,
            )
            for i in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps) if norm_first else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def config(self) -> dict[str, Any]:
        """JSON-serialisable config that rebuilds this backbone (``build_from_config``).

        Its preprocessing is what the ``feat_mean`` / ``feat_std`` buffers hold, so a backbone
        filled by ``load_state_dict`` (e.g. exported from a checkpoint) reports the numbers it
        computes with, not those it was built with."""
        prep = self._preprocessing_in_buffers(
            self._config["preprocessing"], {"mean": "feat_mean", "std": "feat_std"}
        )
        return {"arch": self.arch_name, **self._config, "preprocessing": prep}

    def set_preprocessing(self, preprocessing: Preprocessing) -> None:
        """Use a dataset's preprocessing numbers (before training)."""
        self.feat_mean.copy_(torch.tensor(preprocessing.mean))
        self.feat_std.copy_(torch.tensor(preprocessing.std))
        self._config["preprocessing"] = preprocessing.to_dict()

    def preprocess(self, x: Tensor, mask: Tensor) -> Tensor:
        """Raw (eta_rel, phi_rel, pt_rel) -> standardised (eta, phi, log pT); zero at padding.

        Computed in float32 whatever the model's dtype: in float16 the pT floor (1e-8) rounds
        to 0 and a padded slot's log pT to -inf, which times the 0 mask is NaN."""
        x32 = x.float()
        feats = torch.stack(
            [x32[..., 0], x32[..., 1], torch.log(x32[..., 2].clamp_min(PT_FLOOR))], dim=-1
        )
        feats = (feats - self.feat_mean.float()) / self.feat_std.float()
        return (feats * mask.unsqueeze(-1)).to(self.particle_embed.weight.dtype)

    def forward(self, x: Tensor, mask: Tensor, token_mask: Tensor | None = None) -> BackboneOutput:
        """Encode a padded batch.

        Args:
            x: (B, N, 3) raw (eta_rel, phi_rel, pt_rel).
            mask: (B, N) bool, True for real particles.
            token_mask: optional (B, N) bool, True where the particle token is replaced by the
                learnable [MASK] token (jBOT's masked-particle objective).
        """
        if x.dim() != 3 or x.shape[-1] != 3:
            raise ValueError(f"x must have shape (B, N, 3), got {tuple(x.shape)}")
        if mask.shape != x.shape[:2]:
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match x {tuple(x.shape)}")
        mask = mask.bool()
        feats = (
            torch.cat([x, mask.unsqueeze(-1).to(x.dtype)], dim=-1)
            if self.raw_input
            else self.preprocess(x, mask)
        )
        tokens = self.particle_embed(feats)
        if token_mask is not None:
            tokens = torch.where(
                (token_mask & mask).unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens
            )
        b = x.shape[0]
        h = torch.cat([self.cls_token.expand(b, -1, -1).to(tokens.dtype), tokens], dim=1)
        key_mask = torch.cat(
            [mask.new_ones(b, 1), mask if self.mask_padding else torch.ones_like(mask)], dim=1
        )
        for block in self.blocks:
            h = block(h, key_mask)
        h = self.norm(h)
        return BackboneOutput(cls=h[:, 0], tokens=h[:, 1:] * mask.unsqueeze(-1))

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """[CLS] embedding of a batch dict (keys ``x``, ``mask``). ``x`` of another float dtype
        is cast to the model's; a non-float or non-finite ``x`` is a ValueError."""
        x = checked_input("x", batch["x"], self.particle_embed.weight.dtype)
        return self(x, batch["mask"]).cls

    def get_layer_id(self, param_name: str) -> int:
        """Depth of a parameter for layer-wise LR decay: 0 = embedding, i+1 = block i,
        depth+1 = final norm (and anything after)."""
        if param_name.startswith(("particle_embed.", "cls_token", "mask_token", "feat_")):
            return 0
        if param_name.startswith("blocks."):
            return int(param_name.split(".")[1]) + 1
        return len(self.blocks) + 1


def _register() -> None:
    common = dict(in_features=3, mlp_ratio=4.0, attn_dropout=0.0, drop_path=0.0)
    register_model(
        "jbot-s",
        "particle_transformer",
        dict(common, embed_dim=32, depth=2, num_heads=4, dropout=0.2),
        description="jBOT-S (the jBOT paper, Table 1): d=32, 2 blocks, 4 heads.",
        tags=("jbot", "jetnet"),
    )
    register_model(
        "jbot-s-qcd",
        "particle_transformer",
        dict(common, embed_dim=32, depth=2, num_heads=4, dropout=0.2),
        description="jBOT-S pre-trained on QCD jets (q, g) only: the backbone for "
        "anomaly searches (W, Z, t are never seen in pre-training).",
        tags=("jbot", "jetnet", "anomaly"),
    )
    register_model(
        "jbot-b",
        "particle_transformer",
        dict(common, embed_dim=64, depth=4, num_heads=6, head_dim=16, dropout=0.2),
        description="jBOT-B (the jBOT paper, Table 1): d=64, 4 blocks, 6 heads of 16.",
        tags=("jbot", "jetnet"),
    )
    register_model(
        "jetclr",
        "particle_transformer",
        dict(common, embed_dim=64, depth=4, num_heads=4, dropout=0.1),
        description="JetCLR transformer (Dillon et al.), scaled to CPU: d=64, 4 blocks.",
        tags=("jetclr", "jetnet"),
    )
    # "ae" (the autoencoder baseline) is registered in jetzoo/models/autoencoder.py


_register()
