"""MLP heads: one implementation for projection heads, the autoencoder's encoder/decoder MLPs
and classifier heads."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MLP", "ProjectionHead", "projection_head"]


class MLP(nn.Sequential):
    """Linear -> GELU (-> Dropout) for each hidden width, then a final Linear to ``out_dim``.

    Args:
        in_dim: input width.
        hidden_dims: widths of the hidden layers (may be empty: a single Linear).
        out_dim: output width.
        dropout: dropout after each hidden activation.
        final_activation: also apply GELU after the output layer.
        init_std: truncated-normal std of the Linear weights (ViT/DINO style, biases zero);
            None keeps PyTorch's default initialisation (better for deep narrow MLPs).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        dropout: float = 0.0,
        final_activation: bool = False,
        init_std: float | None = 0.02,
    ) -> None:
        layers: list[nn.Module] = []
        dims = [in_dim, *hidden_dims]
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.GELU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(dims[-1], out_dim))
        if final_activation:
            layers.append(nn.GELU())
        super().__init__(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim
        for m in self.modules():
            if isinstance(m, nn.Linear) and init_std is not None:
                nn.init.trunc_normal_(m.weight, std=init_std)
                nn.init.zeros_(m.bias)


class ProjectionHead(nn.Module):
    """DINO/iBOT-style projection head with jBOT's widths (the jBOT paper, Table 1).

    ``in_dim -> 8 d_proj`` (GELU) ``-> d_proj`` (the l2-normalised bottleneck) ``-> d_proj``
    logits, the last layer a cosine against l2-normalised prototype rows (DINO's weight-normed
    last layer with g = 1). Table 1's "two hidden layers: 8 d_proj, d_proj" are the first two;
    d_proj = in_dim / 2 by default, and as many prototypes (``n_prototypes``: DINO's K, far
    above its bottleneck width in DINO). The normalisation bounds the logits to [-1, 1], so the
    teacher's temperature 0.04 sharpens from the first step (a plain linear output with a
    0.02-std init gives logits ~1e-4 and a uniform teacher).
    """

    def __init__(
        self,
        in_dim: int,
        proj_dim: int | None = None,
        hidden_mult: int = 8,
        prototypes: bool = True,
        n_prototypes: int | None = None,
    ) -> None:
        super().__init__()
        proj_dim = proj_dim or max(in_dim // 2, 1)
        if n_prototypes is not None and (not prototypes or n_prototypes < 1):
            raise ValueError(f"n_prototypes ({n_prototypes}) needs prototypes=True and >= 1")
        self.mlp = MLP(in_dim, [hidden_mult * proj_dim], proj_dim)
        self.prototypes: nn.Linear | None = None
        out_dim = proj_dim
        if prototypes:
            out_dim = n_prototypes or proj_dim
            self.prototypes = nn.Linear(proj_dim, out_dim, bias=False)
            nn.init.trunc_normal_(self.prototypes.weight, std=0.02)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: Tensor) -> Tensor:
        h = F.normalize(self.mlp(x), dim=-1)
        if self.prototypes is None:  # the jBOT reference: the normalised bottleneck is the logit
            return h
        return h @ F.normalize(self.prototypes.weight, dim=-1).T


def projection_head(
    in_dim: int,
    proj_dim: int | None = None,
    hidden_mult: int = 8,
    prototypes: bool = True,
    n_prototypes: int | None = None,
) -> ProjectionHead:
    """jBOT's shared [CLS]/particle projection head (see :class:`ProjectionHead`);
    ``prototypes=False`` drops the prototype layer, as the jBOT reference code
    (hftsoi/jbot ``build_proj_head``: Dense 8 d_proj, GELU, Dense d_proj, l2-normalise);
    ``n_prototypes`` sets their number (default d_proj)."""
    return ProjectionHead(in_dim, proj_dim, hidden_mult, prototypes, n_prototypes)
