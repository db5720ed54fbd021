"""A jet classifier: a zoo backbone and an MLP head on its embedding, saved and loaded like any
zoo model (``save_pretrained`` / ``JetZoo.from_pretrained(folder)``), with named classes.

Its config nests the backbone's (``{"arch": "jet_classifier", "backbone": {...}, "classes":
[...], "dropout": ..., "head": {"hidden": [...], "normalize": ...}}``), so a classifier folder is
self-contained: the preprocessing, the architecture, the head and the class list travel with the
weights. The same class is what the fine-tuning engine (:mod:`jetzoo.leaderboard.finetune`) trains.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jetzoo.models.registry import build_from_config, register_architecture
from jetzoo.models.zoo import PretrainedMixin


class UnitNorm(nn.Module):
    """``y / |y|`` along the last dimension (the RS3L paper's heads read the normalised y)."""

    def forward(self, y: Tensor) -> Tensor:
        return F.normalize(y, dim=-1)


class ClassifierHead(nn.Sequential):
    """MLP from a ``dim``-wide embedding to ``num_classes`` logits with GELU between layers.

    ``hidden`` are the widths between (:func:`head_spec`: jBOT's ``[2d, d]``, Table 1, unless
    the backbone names its paper's head, e.g. RS3L's ``y / |y| -> 128 -> output``, Sec. 2.3).
    """

    def __init__(
        self,
        dim: int,
        num_classes: int,
        dropout: float,
        hidden: Sequence[int],
        normalize: bool = False,
    ) -> None:
        layers: list[nn.Module] = [UnitNorm()] if normalize else []
        width = dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.GELU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


def head_spec(backbone: nn.Module, head: dict[str, Any] | None = None) -> dict[str, Any]:
    """The head of a classifier on ``backbone``: ``head`` if given, else the backbone's
    ``classifier_head`` (Backbone protocol), else jBOT's; as ``{"hidden": [...], "normalize"}``."""
    if head is None:
        head = getattr(backbone, "classifier_head", None) or {}
    unknown = set(head) - {"hidden", "normalize"}
    if unknown:
        raise ValueError(f"classifier head: unknown fields {sorted(unknown)} (hidden, normalize)")
    dim = int(backbone.num_features)
    hidden = head.get("hidden")
    return {
        "hidden": [2 * dim, dim] if hidden is None else [int(h) for h in hidden],
        "normalize": bool(head.get("normalize", False)),
    }


@register_architecture("jet_classifier")
class JetClassifier(PretrainedMixin, nn.Module):
    """A backbone and a :class:`ClassifierHead` on its embedding (``backbone.embed``).

    Args:
        backbone: a backbone module, or its config (``{"arch": ..., ...}``) to build one.
        num_classes: the number of classes (default: ``len(classes)``).
        dropout: dropout in the head.
        classes: the class names, in the order of the output (default ``"0"``, ``"1"``, ...).
        head: the head's widths and input normalisation, ``{"hidden": [...], "normalize":
            bool}`` (default: the backbone's ``classifier_head``, else jBOT's ``[2d, d]``).
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
        head: dict[str, Any] | None = None,
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
        self.head_config = head_spec(backbone, head)
        self.head = ClassifierHead(int(backbone.num_features), n, dropout, **self.head_config)
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
            "head": dict(self.head_config),
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
