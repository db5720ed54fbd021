"""``jetzoo export-onnx MODEL --out FILE.onnx``: a zoo backbone as an ONNX graph for deployment
(CMSSW / Athena run ONNX Runtime), with the preprocessing inside the graph.

The interface, as weaver-core's exports keep theirs (named inputs, dynamic axes, a JSON beside
the graph that a C++ producer reads):

- inputs ``x`` float32 ``(batch, particles, 3)``: raw (eta_rel, phi_rel, pt_rel), the JetNet
  features; ``mask`` bool ``(batch, particles)``: True for real particles;
- output ``embedding`` float32 ``(batch, D)`` for a backbone, ``probabilities`` ``(batch,
  classes)`` for a model with a ``classes`` list and ``predict_proba(x, mask)``;
- batch and particle axes dynamic; opset :data:`OPSET`;
- ``FILE.json``: inputs, outputs, classes, opset, the model's name and identity (weights,
  config and identity sha256), jetzoo version, and the preprocessing the graph applies.

torch's TorchScript-based exporter (``dynamo=False``) is used: it traces the CPU attention path
(one ``baddbmm`` with the padding bias) that the parity test checks against torch eager.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from jetzoo.utils.io import atomic_path, atomic_write_text

OPSET = 17
FEATURES = ("eta_rel", "phi_rel", "pt_rel")


class ExportError(ValueError):
    """A model cannot be exported; the message names the model and why."""


class _Graph(nn.Module):
    """What the graph computes: ``embed`` of (x, mask), or class probabilities."""

    def __init__(self, model: nn.Module, probabilities: bool) -> None:
        super().__init__()
        self.model, self.probabilities = model, probabilities

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.probabilities:
            return self.model.predict_proba(x, mask)
        return self.model(x, mask).cls


def _example(batch: int = 4, particles: int = 30) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    mask = torch.arange(particles)[None] < torch.randint(1, particles + 1, (batch, 1), generator=g)
    x = torch.randn(batch, particles, 3, generator=g) * 0.1 * mask[..., None]
    x[..., 2] = torch.rand(batch, particles, generator=g) * mask
    return x, mask


def export_onnx(model: nn.Module | str | Path, out: str | Path, opset: int = OPSET) -> Path:
    """Write ``model`` (a module, or anything ``JetZoo.from_pretrained`` takes) to ``out``
    (ONNX) and ``out`` with suffix ``.json`` (its interface); both written atomically.

    Raises:
        ExportError: the model is not a particle backbone (``family`` ``jetnet``).
        ZooError: ``model`` names no loadable model folder.
    """
    from jetzoo import __version__
    from jetzoo.models.zoo import JetZoo, config_sha256, identity_sha256
    from jetzoo.utils.extras import require

    require("onnx", "jetzoo export-onnx")
    source = str(model) if not isinstance(model, nn.Module) else None
    if not isinstance(model, nn.Module):
        model = JetZoo.from_pretrained(model)
    name = str(getattr(model, "model_name", type(model).__name__))
    if getattr(model, "family", None) != "jetnet":
        raise ExportError(
            f"{source or name}: ONNX export takes particle models (inputs x, "
            f"mask); this one reads {getattr(model, 'family', '?')!r}"
        )
    classes = list(getattr(model, "classes", None) or [])
    probabilities = bool(classes) and hasattr(model, "predict_proba")
    output = "probabilities" if probabilities else "embedding"
    out = Path(out)
    if out.suffix != ".onnx":
        raise ExportError(f"{out}: the output file must end in .onnx")
    if any(p.dtype != torch.float32 for p in model.parameters()):
        model = copy.deepcopy(model).float()  # the graph is float32; the caller's model stays
    model = model.eval()
    graph = _Graph(model, probabilities).eval()
    axes = {
        "x": {0: "batch", 1: "particles"},
        "mask": {0: "batch", 1: "particles"},
        output: {0: "batch"},
    }
    with atomic_path(out) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings on the shape checks
        torch.onnx.export(
            graph,
            _example(),
            str(tmp),
            input_names=["x", "mask"],
            output_names=[output],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    with torch.no_grad():
        width = int(graph(*_example(1)).shape[-1])
    pretrained = getattr(model, "pretrained_cfg", {}) or {}
    config = getattr(model, "config", {})
    weights = pretrained.get("weights_sha256")
    info: dict[str, Any] = {
        "format": "jetzoo-onnx-v1",
        "opset": opset,
        "jetzoo_version": __version__,
        "model": {
            "name": name,
            "weights_sha256": weights,
            "config_sha256": config_sha256(config) if config else None,
            "identity_sha256": identity_sha256(weights, config_sha256(config))
            if weights and config
            else None,
        },
        "inputs": {
            "x": {
                "dtype": "float32",
                "shape": ["batch", "particles", 3],
                "features": list(FEATURES),
                "raw": True,
            },
            "mask": {
                "dtype": "bool",
                "shape": ["batch", "particles"],
                "meaning": "True for real particles",
            },
        },
        "outputs": {output: {"dtype": "float32", "shape": ["batch", width]}},
        "classes": classes or None,
        "preprocessing": config.get("preprocessing") if isinstance(config, dict) else None,
        "preprocessing_in_graph": True,
    }
    atomic_write_text(out.with_suffix(".json"), json.dumps(info, indent=2) + "\n")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="registered name, model folder or Hub repo id")
    parser.add_argument(
        "--out",
        required=True,
        help="the .onnx file to write (a .json with its interface is written beside it)",
    )
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")


def main(args: argparse.Namespace) -> int:
    from jetzoo.models.zoo import ZooError

    try:
        path = export_onnx(args.model, args.out, args.opset)
    except (ExportError, ZooError) as err:
        print(f"jetzoo export-onnx: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0
