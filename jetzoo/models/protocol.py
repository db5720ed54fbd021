"""The Backbone protocol: what every registered model offers the recipes and the leaderboard.

============== =================================================================================
``family``     the data it reads (:data:`jetzoo.data.schema.FAMILIES`): ``jetnet`` batches
               hold ``x (B, N, 3)``, ``mask (B, N)``; ``rs3l`` batches ``tracks``,
               ``track_mask``, ``cells``, ``cell_mask``
``num_features`` D, the width of ``embed``'s output
``embed``      ``embed(batch) -> Tensor (B, D)``: the frozen jet representation
``get_layer_id`` ``get_layer_id(param_name) -> int``: depth of a parameter for layer-wise LR
               decay (0 = input embedding ... L + 1 = the last norm / head)
``lora_targets`` names of the ``nn.Linear`` modules LoRA adapts (e.g. the fused ``qkv``)
``config``     a JSON-serialisable dict that rebuilds the model (the registry's config)
``classifier_head`` optional: the head its paper puts on ``embed`` for classification,
               ``{"hidden": [widths], "normalize": bool}`` (default jBOT's ``[2D, D]``)
============== =================================================================================

:func:`backbone_problems` checks a model against the protocol on a small example batch; one test
runs it over every registered model.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from jetzoo.data.schema import FAMILIES


@runtime_checkable
class Backbone(Protocol):
    """A jetzoo backbone (see the module docstring)."""

    family: str
    num_features: int
    lora_targets: tuple[str, ...]

    @property
    def config(self) -> dict[str, Any]: ...

    def embed(self, batch: dict[str, Tensor]) -> Tensor: ...

    def get_layer_id(self, param_name: str) -> int: ...


def checked_input(name: str, x: Tensor, dtype: torch.dtype) -> Tensor:
    """A batch tensor ``x`` as ``dtype`` (the model's: a float64 or float16 array is cast), or a
    ValueError naming the key: ``x`` is not floating point, or holds NaN or inf (the jets
    named), which would make every embedding of the batch NaN without a word."""
    if not isinstance(x, Tensor):
        raise ValueError(f"batch[{name!r}] must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"batch[{name!r}] must be floating point (raw features), got {x.dtype}")
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        jets = torch.nonzero(bad.flatten(1).any(1)).flatten()[:5].tolist()
        raise ValueError(f"batch[{name!r}] holds NaN or inf (jets {jets} of the batch)")
    return x.to(dtype)


def example_batch(family: str, batch_size: int = 4, seed: int = 0) -> dict[str, Tensor]:
    """A small random batch of ``family`` with some padding (for checks and tests)."""
    gen = torch.Generator().manual_seed(seed)
    if family == "jetnet":
        n = 12
        mask = torch.arange(n)[None, :] < torch.tensor([[n], [7], [3], [9]])[:batch_size]
        x = torch.rand(batch_size, n, 3, generator=gen) * mask[..., None]
        x[..., 2] = x[..., 2] / x[..., 2].sum(1, keepdim=True).clamp_min(1e-6)
        return {"x": x, "mask": mask}
    if family == "rs3l":
        t, c = 6, 10
        track_mask = torch.arange(t)[None, :] < torch.tensor([[6], [2], [4], [1]])[:batch_size]
        cell_mask = torch.arange(c)[None, :] < torch.tensor([[10], [5], [8], [3]])[:batch_size]
        tracks = torch.rand(batch_size, t, 5, generator=gen) * track_mask[..., None]
        cells = torch.rand(batch_size, c, 4, generator=gen) * cell_mask[..., None]
        cells[..., 3] = torch.randint(0, 6, (batch_size, c), generator=gen).float() * cell_mask
        return {"tracks": tracks, "track_mask": track_mask, "cells": cells, "cell_mask": cell_mask}
    raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")


def backbone_problems(model: nn.Module) -> list[str]:
    """What ``model`` lacks of the Backbone protocol (empty: it follows it)."""
    problems: list[str] = []
    if not isinstance(model, Backbone):
        missing = [
            a
            for a in (
                "family",
                "num_features",
                "lora_targets",
                "config",
                "embed",
                "get_layer_id",
            )
            if not hasattr(model, a)
        ]
        return [f"missing {', '.join(missing)}"]
    if model.family not in FAMILIES:
        problems.append(f"family {model.family!r} is not one of {FAMILIES}")
        return problems
    try:
        json.dumps(model.config)
    except TypeError as err:
        problems.append(f"config is not JSON-serialisable ({err})")
    model = model.eval()
    with torch.no_grad():
        out = model.embed(example_batch(model.family))
    if tuple(out.shape) != (4, int(model.num_features)):
        problems.append(
            f"embed returned shape {tuple(out.shape)}, expected (4, {model.num_features})"
        )
    elif not torch.isfinite(out).all():
        problems.append("embed returned NaN or inf")
    ids = {name: model.get_layer_id(name) for name, _ in model.named_parameters()}
    if not all(isinstance(i, int) and i >= 0 for i in ids.values()):
        problems.append("get_layer_id must give an int >= 0 for every parameter")
    elif ids and (min(ids.values()) != 0 or max(ids.values()) < 1):
        problems.append(
            f"layer ids span {min(ids.values())}..{max(ids.values())}; expected "
            "0 (input) up to >= 1"
        )
    linears = {
        name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)
    }
    absent = [t for t in model.lora_targets if t not in linears]
    if not model.lora_targets or absent:
        problems.append(
            f"lora_targets {list(model.lora_targets)} name no nn.Linear module"
            + (f" ({absent[0]!r} missing)" if absent else "")
        )
    return problems
