"""The RS3L backbone (Rieck et al., Fig. 3a and Table 1): tracks + calorimeter cells -> 8 dims.

Tracks (pT, eta, dphi, d0, z0) and cells (E, eta, dphi, layer) are preprocessed inside the model
(log pT, log E, signed log of the impact parameters, then standardisation with numbers stored in
the config), embedded by a track MLP and a cell MLP (the cell layer through a 4-dim embedding) to
a common width, and updated by one transformer over the union of tracks and cells whose
attention is masked by proximity: token i attends to token j only if dR(i, j) < ``radius`` in
(eta, dphi) (and always to itself), padded tokens are never attended to. The real tokens are
averaged (mean pooling, ``x`` in the paper) and an output MLP compresses them to 8 dims (``y``).

The default configuration reproduces Table 1 of Rieck et al. parameter for parameter:
cell-layer embedding 6 x 4 = 24; cell MLP 7 -> 128 -> 128: 17,536; track MLP 5 -> 128 -> 128:
17,280; transformer, 2 pre-norm blocks of width 128 with 8 heads and an MLP of width 128, plus a
final LayerNorm: 199,424; output MLP 128 -> 64 -> 8: 8,776 (243,040 in all).

``forward(tracks, track_mask, cells, cell_mask)`` returns ``y`` (B, 8); ``embed(batch)`` reads
view a of an RS3L batch (:mod:`jetzoo.data.rs3l_schema`) and returns ``y`` too, so
``num_features`` is 8. ``classifier_head`` is the paper's downstream head (Sec. 2.3: "a hidden
layer with 128 nodes to map the normalized, eight-dimensional representation y/||y||"), which a
:class:`jetzoo.models.classifier.JetClassifier` on this backbone uses.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import Tensor, nn

from jetzoo.models.protocol import checked_input
from jetzoo.models.registry import register_architecture, register_model
from jetzoo.models.transformer import Block
from jetzoo.models.zoo import PretrainedMixin

N_TRACK_FEATURES = 5  # pT, eta, dphi, d0, z0
N_CELL_FEATURES = 4  # E, eta, dphi, layer
IMPACT_SCALE_MM = 0.01  # d0, z0 -> sign(x) log(1 + |x| / 10 um)
ENERGY_FLOOR = 1e-3  # GeV, before the log

# Mean / std of the transformed features on the embedded RS3L sample (jetzoo/data/sample/rs3l,
# q/g/tau pairs, both views, 32 tracks / 256 cells per jet), from ``fit_preprocessing``.
DEFAULT_PREPROCESSING: dict[str, list[float]] = {
    "track_mean": [1.6136, 0.018, -0.0005, 0.0011, 0.0096],
    "track_std": [1.0141, 1.2857, 0.1165, 1.5108, 2.788],
    "cell_mean": [-1.2967, -0.03, 0.0007],
    "cell_std": [1.5119, 1.5859, 0.1436],
}


def transform_tracks(tracks: Tensor) -> Tensor:
    """(pT, eta, dphi, d0, z0) -> (log pT, eta, dphi, slog d0, slog z0)."""
    slog = lambda x: torch.sign(x) * torch.log1p(x.abs() / IMPACT_SCALE_MM)  # noqa: E731
    return torch.stack(
        [
            torch.log(tracks[..., 0].clamp_min(ENERGY_FLOOR)),
            tracks[..., 1],
            tracks[..., 2],
            slog(tracks[..., 3]),
            slog(tracks[..., 4]),
        ],
        dim=-1,
    )


def transform_cells(cells: Tensor) -> Tensor:
    """(E, eta, dphi, layer) -> (log E, eta, dphi); the layer goes to the embedding."""
    return torch.stack(
        [torch.log(cells[..., 0].clamp_min(ENERGY_FLOOR)), cells[..., 1], cells[..., 2]], dim=-1
    )


def fit_preprocessing(batches: Iterable[dict[str, Tensor]]) -> dict[str, list[float]]:
    """Mean / std of the transformed track and cell features over real entries of both views."""
    sums: dict[str, list[Tensor]] = {"track": [], "cell": []}
    for batch in batches:
        for suffix in ("", "_b"):
            if "tracks" + suffix not in batch:
                continue
            t = transform_tracks(batch["tracks" + suffix].double())
            sums["track"].append(t[batch["track_mask" + suffix].bool()])
            c = transform_cells(batch["cells" + suffix].double())
            sums["cell"].append(c[batch["cell_mask" + suffix].bool()])
    out: dict[str, list[float]] = {}
    for kind, parts in sums.items():
        x = torch.cat(parts) if parts else torch.zeros(0, 5 if kind == "track" else 3)
        if len(x) < 2:
            raise ValueError(f"cannot fit RS3L preprocessing: fewer than 2 real {kind}s")
        out[f"{kind}_mean"] = [round(float(v), 4) for v in x.mean(0)]
        out[f"{kind}_std"] = [round(max(float(v), 1e-3), 4) for v in x.std(0)]
    return out


def _mlp(n_in: int, width: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), nn.GELU(), nn.Linear(width, n_out))


@register_architecture("rs3l_transformer")
class RS3LTransformer(PretrainedMixin, nn.Module):
    """Track + cell transformer with proximity-masked attention (Rieck et al.).

    Args:
        embed_dim: common token width (track / cell MLP hidden and output width).
        depth: transformer blocks.
        num_heads: attention heads.
        mlp_ratio: transformer MLP width as a multiple of ``embed_dim``.
        n_layers: calorimeter layers (embedding rows).
        layer_embed_dim: width of the cell-layer embedding.
        radius: attention radius in (eta, dphi); tokens further apart do not attend.
        out_hidden: hidden width of the output MLP.
        out_dim: representation size (8 in the paper).
        dropout: dropout in the transformer blocks.
        preprocessing: ``{"track_mean", "track_std"}`` (5 each) and ``{"cell_mean",
            "cell_std"}`` (3 each) of the transformed features.
    """

    arch_name = "rs3l_transformer"
    family = "rs3l"  # Backbone protocol: tracks, track_mask, cells, cell_mask
    config_limits: dict[str, tuple[float, float]] = {
        "embed_dim": (1, 4096),
        "depth": (1, 128),
        "num_heads": (1, 256),
        "mlp_ratio": (0.01, 64.0),
        "n_layers": (1, 64),
        "layer_embed_dim": (1, 1024),
        "radius": (1e-6, 10.0),
        "out_hidden": (1, 4096),
        "out_dim": (1, 4096),
        "dropout": (0.0, 0.99),
    }
    lora_targets: tuple[str, ...] = ("qkv",)
    classifier_head: dict[str, Any] = {"hidden": [128], "normalize": True}

    def __init__(
        self,
        embed_dim: int = 128,
        depth: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 1.0,
        n_layers: int = 6,
        layer_embed_dim: int = 4,
        radius: float = 0.2,
        out_hidden: int = 64,
        out_dim: int = 8,
        dropout: float = 0.0,
        preprocessing: dict[str, list[float]] | None = None,
    ) -> None:
        super().__init__()
        prep = {**DEFAULT_PREPROCESSING, **(preprocessing or {})}
        for key, n in (("track_mean", 5), ("track_std", 5), ("cell_mean", 3), ("cell_std", 3)):
            vals = prep[key]
            if len(vals) != n or not all(math.isfinite(float(v)) for v in vals):
                raise ValueError(f"RS3L preprocessing {key!r} needs {n} finite numbers, got {vals}")
            if key.endswith("std") and min(float(v) for v in vals) <= 0:
                raise ValueError(f"RS3L preprocessing {key!r} must be positive, got {vals}")
        if radius <= 0:
            raise ValueError(f"radius must be positive, got {radius}")
        self._config = dict(
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            n_layers=n_layers,
            layer_embed_dim=layer_embed_dim,
            radius=radius,
            out_hidden=out_hidden,
            out_dim=out_dim,
            dropout=dropout,
            preprocessing={
                k: [float(v) for v in prep[k]]
                for k in ("track_mean", "track_std", "cell_mean", "cell_std")
            },
        )
        self.num_features = out_dim
        self.radius = radius
        for key in ("track_mean", "track_std", "cell_mean", "cell_std"):
            self.register_buffer(key, torch.tensor(prep[key], dtype=torch.float32))
        self.layer_embed = nn.Embedding(n_layers, layer_embed_dim)
        self.cell_mlp = _mlp(3 + layer_embed_dim, embed_dim, embed_dim)
        self.track_mlp = _mlp(N_TRACK_FEATURES, embed_dim, embed_dim)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, dropout=dropout) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.head = _mlp(embed_dim, out_hidden, out_dim)

    @property
    def config(self) -> dict[str, Any]:
        """JSON-serialisable config that rebuilds this backbone (``build_from_config``); its
        preprocessing is what the statistics buffers hold (after ``load_state_dict`` too)."""
        stored = self._config["preprocessing"]
        prep = self._preprocessing_in_buffers(stored, {key: key for key in stored})
        return {"arch": self.arch_name, **self._config, "preprocessing": prep}

    def set_preprocessing(self, preprocessing: dict[str, list[float]]) -> None:
        """Use a dataset's feature statistics (``fit_preprocessing``) before training."""
        for key, vals in preprocessing.items():
            getattr(self, key).copy_(torch.tensor(vals, dtype=torch.float32))
            self._config["preprocessing"][key] = [float(v) for v in vals]

    def _check(self, name: str, x: Tensor, mask: Tensor, width: int) -> None:
        if x.dim() != 3 or x.shape[-1] != width:
            raise ValueError(f"{name} must have shape (B, N, {width}), got {tuple(x.shape)}")
        if mask.shape != x.shape[:2]:
            raise ValueError(
                f"{name} mask shape {tuple(mask.shape)} does not match {tuple(x.shape[:2])}"
            )

    def tokens(
        self, tracks: Tensor, track_mask: Tensor, cells: Tensor, cell_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Transformer outputs ``(B, T + C, D)`` (tracks first) and their mask ``(B, T + C)``."""
        self._check("tracks", tracks, track_mask, N_TRACK_FEATURES)
        self._check("cells", cells, cell_mask, N_CELL_FEATURES)
        track_mask, cell_mask = track_mask.bool(), cell_mask.bool()
        # padded entries are zeroed before any log / MLP so they stay finite
        tracks = torch.where(track_mask[..., None], tracks, tracks.new_ones(()))
        cells = torch.where(cell_mask[..., None], cells, cells.new_ones(()))
        t = (transform_tracks(tracks) - self.track_mean) / self.track_std
        c = (transform_cells(cells) - self.cell_mean) / self.cell_std
        layer = cells[..., 3].round().long().clamp(0, self.layer_embed.num_embeddings - 1)
        h = torch.cat(
            [self.track_mlp(t), self.cell_mlp(torch.cat([c, self.layer_embed(layer)], dim=-1))],
            dim=1,
        )
        mask = torch.cat([track_mask, cell_mask], dim=1)
        eta = torch.cat([tracks[..., 1], cells[..., 1]], dim=1)
        phi = torch.cat([tracks[..., 2], cells[..., 2]], dim=1)
        dphi = torch.remainder(phi[:, :, None] - phi[:, None, :] + math.pi, 2 * math.pi) - math.pi
        close = (eta[:, :, None] - eta[:, None, :]) ** 2 + dphi**2 < self.radius**2
        n = h.shape[1]
        eye = torch.eye(n, dtype=torch.bool, device=h.device)
        attend = (close & mask[:, None, :]) | eye
        for block in self.blocks:
            h = block(h, attend)
        return self.norm(h), mask

    def pool(self, tracks: Tensor, track_mask: Tensor, cells: Tensor, cell_mask: Tensor) -> Tensor:
        """Mean of the real transformer outputs, ``x`` (B, D)."""
        h, mask = self.tokens(tracks, track_mask, cells, cell_mask)
        m = mask.to(h.dtype)[..., None]
        return (h * m).sum(1) / m.sum(1).clamp_min(1.0)

    def forward(
        self, tracks: Tensor, track_mask: Tensor, cells: Tensor, cell_mask: Tensor
    ) -> Tensor:
        """Representation ``y`` (B, out_dim) of padded tracks (B, T, 5) and cells (B, C, 4)."""
        return self.head(self.pool(tracks, track_mask, cells, cell_mask))

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``y`` of view a of an RS3L batch (keys tracks, track_mask, cells, cell_mask); inputs
        of another float dtype are cast to the model's, non-finite ones are a ValueError."""
        dtype = self.norm.weight.dtype
        return self(
            checked_input("tracks", batch["tracks"], dtype),
            batch["track_mask"],
            checked_input("cells", batch["cells"], dtype),
            batch["cell_mask"],
        )

    def get_layer_id(self, param_name: str) -> int:
        """Depth of a parameter for layer-wise LR decay: 0 = input MLPs and embeddings,
        i + 1 = block i, depth + 1 = final norm and output MLP."""
        if param_name.startswith("blocks."):
            return int(param_name.split(".")[1]) + 1
        if param_name.startswith(("norm.", "head.")):
            return len(self.blocks) + 1
        return 0


register_model(
    "rs3l",
    arch="rs3l_transformer",
    config=dict(
        embed_dim=128,
        depth=2,
        num_heads=8,
        mlp_ratio=1.0,
        n_layers=6,
        layer_embed_dim=4,
        radius=0.2,
        out_hidden=64,
        out_dim=8,
        dropout=0.0,
        preprocessing=DEFAULT_PREPROCESSING,
    ),
    description="RS3L track + cell transformer (Rieck et al., Fig. 3a, Table 1: 243k "
    "parameters, 8-dim output); input: the RS3L re-simulated dataset.",
    tags=("rs3l", "tracks", "cells"),
)
