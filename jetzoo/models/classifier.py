"""A jet classifier: a zoo backbone and an MLP head on its embedding, saved and loaded like any
zoo model (``save_pretrained`` / ``JetZoo.from_pretrained(folder)``), with named classes.

Its config nests the backbone's (``{"arch": "jet_classifier", "backbone": {...}, "classes":
[...], "dropout": ...}``), so a classifier folder is self-contained: the preprocessing, the
architecture, the head and the class list travel with the weights. The same class is what the
fine-tuning engine (:mod:`jetzoo.leaderboard.finetune`) trains.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from jetzoo.models.registry import build_from_config, register_architecture
from jetzoo.models.zoo import PretrainedMixin


class ClassifierHead(nn.Sequential):
    """MLP ``d -> 2d -> d -> num_classes`` with GELU (jBOT, Table 1)."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Linear(dim, 2 * dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * dim, dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(dim, num_classes),
        )


@register_architecture("jet_classifier")
class JetClassifier(PretrainedMixin, nn.Module):
    """A backbone and a :class:`ClassifierHead` on its embedding (``backbone.embed``).

    Args:
        backbone: a backbone module, or its config (``{"arch": ..., ...}``) to build one.
        num_classes: the number of classes (default: ``len(classes)``).
        dropout: dropout in the head.
        classes: the class names, in the order of the output (default ``"0"``, ``"1"``, ...).
    """

    arch_name = "jet_classifier"
    config_limits: dict[str, tuple[float, float]] = {
        "num_classes": (2, 100_000),
        "dropout": (0.0, 0.99),
    }

    def __init__(
        self,
        backbone: nn.Module | dict[str, Any],
        num_classes: int | None = None,
        dropout: float = 0.0,
        classes: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(backbone, dict):
            backbone = build_from_config(backbone)
        if classes is not None:
            classes = [str(c) for c in classes]
            if num_classes is not None and num_classes != len(classes):
                raise ValueError(
                    f"num_classes {num_classes} differs from the {len(classes)} classes named"
                )
            if len(set(classes)) != len(classes):
                raise ValueError(f"class names must be unique, got {classes}")
        if num_classes is None and classes is None:
            raise ValueError("name the classes (or give num_classes)")
        n = len(classes) if classes is not None else int(num_classes)  # type: ignore[arg-type]
        if n < 2:
            raise ValueError(f"a classifier needs >= 2 classes, got {n}")
        self.backbone = backbone
        self.classes = classes if classes is not None else [str(i) for i in range(n)]
        self.dropout = float(dropout)
        self.head = ClassifierHead(int(backbone.num_features), n, dropout)
        self.family = getattr(backbone, "family", "jetnet")
        self.num_features = int(backbone.num_features)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def config(self) -> dict[str, Any]:
        """JSON-serialisable config that rebuilds this classifier (backbone config nested)."""
        return {
            "arch": self.arch_name,
            "backbone": self.backbone.config,
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "dropout": self.dropout,
        }

    @property
    def lora_targets(self) -> tuple[str, ...]:
        return tuple(getattr(self.backbone, "lora_targets", ()))

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Logits ``(B, num_classes)`` of a batch dict."""
        return self.head(self.backbone.embed(batch))

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """The backbone's embedding (the fine-tuned one) of a batch dict."""
        return self.backbone.embed(batch)

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        """Class probabilities ``(B, num_classes)`` of a batch dict (columns: ``classes``)."""
        return self(batch).softmax(-1)

    def predict_proba(self, x: Tensor, mask: Tensor) -> Tensor:
        """Class probabilities of raw particles ``x (B, N, 3)`` and ``mask (B, N)`` (the
        graph :mod:`jetzoo.models.onnx_export` writes)."""
        return self.head(self.backbone(x, mask).cls).softmax(-1)

    def get_layer_id(self, param_name: str) -> int:
        """The backbone's layer id for its parameters; the head sits above its last layer."""
        if param_name.startswith("backbone."):
            return self.backbone.get_layer_id(param_name.removeprefix("backbone."))
        return max(self.backbone.get_layer_id(n) for n, _ in self.backbone.named_parameters()) + 1
