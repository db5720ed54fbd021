"""``jetzoo import jbot-keras FILE.weights.h5``: published jBOT (Keras) backbones as jetzoo models.

The jBOT reference code (hftsoi/jbot, ``utils_model.build_backbone``) is a Keras model: a Dense
embedding of the four raw JetNet features (eta_rel, phi_rel, pt_rel, mask), a zero-initialised
[CLS] token, post-norm blocks (``LN(x + Drop(MHA(x, x)))``, ``LN(x + Drop(FFN(x)))``, LayerNorm
epsilon 1e-6, MHA with ``key_dim = d // heads``, FFN Dense 4d GELU + Dense d), no final norm, and
no padding mask (padded particles are attended to). :class:`ParticleTransformer` builds exactly
that with ``norm_first=False, norm_eps=1e-6, raw_input=True, mask_padding=False`` and ``head_dim
= d // heads``; this module reads a Keras 3 ``.weights.h5`` file into it:

===================================================  =========================================
Keras (``layers/...``)                               jetzoo
===================================================  =========================================
``dense/vars/{0,1}`` (4, d), (d,)                    ``particle_embed.{weight,bias}``
``add_cls_token/vars/0`` (1, 1, d)                   ``cls_token``
``transformer_block[_i]/mha/{query,key,value}_dense`` ``blocks.i.attn.qkv`` (fused, head-major)
  ``vars/0`` (d, H, k), ``vars/1`` (H, k)
``.../mha/output_dense/vars/{0,1}`` (H, k, d), (d,)   ``blocks.i.attn.proj``
``.../ln1``, ``.../ln2`` (gamma, beta)               ``blocks.i.norm1``, ``blocks.i.norm2``
``.../ffn/layers/dense[_1]/vars/{0,1}``              ``blocks.i.mlp.fc1``, ``blocks.i.mlp.fc2``
===================================================  =========================================

Third-party weights are the user's to load: jetzoo ships none whose licence does not allow it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jetzoo.models.zoo import ZooError

__all__ = ["import_jbot_keras", "read_keras_weights"]

_BLOCK = re.compile(r"^transformer_block(?:_(\d+))?$")


def read_keras_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Every variable of a Keras 3 ``.weights.h5`` file: ``"layers/dense/vars/0" -> array``."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"{path}: no such file")
    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            f.visititems(
                lambda name, obj: (
                    out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
                )
            )
    except OSError as err:
        raise ZooError(f"{path}: not a readable HDF5 file (truncated?): {err}") from err
    if not any(k.startswith("layers/") for k in out):
        raise ZooError(f"{path}: field 'layers' is missing: not a Keras 3 .weights.h5 file")
    return out


def _get(
    weights: dict[str, np.ndarray], path: Path, key: str, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    if key not in weights:
        raise ZooError(
            f"{path}: field {key!r} is missing (not a jBOT backbone from "
            "hftsoi/jbot build_backbone?)"
        )
    value = np.asarray(weights[key], dtype=np.float32)
    if shape is not None and value.shape != shape:
        raise ZooError(f"{path}: field {key!r} has shape {value.shape}, expected {shape}")
    return value


def import_jbot_keras(path: str | Path) -> "torch.nn.Module":
    """Build the :class:`~jetzoo.models.transformer.ParticleTransformer` of a jBOT Keras
    backbone file (see module docstring); its [CLS] equals the Keras forward pass. Raises
    :class:`ZooError` naming the file and the field for anything else."""
    from jetzoo.models.transformer import ParticleTransformer

    path = Path(path)
    w = read_keras_weights(path)
    emb = _get(w, path, "layers/dense/vars/0")
    if emb.ndim != 2 or emb.shape[0] != 4:
        raise ZooError(
            f"{path}: field 'layers/dense/vars/0' has shape {emb.shape}, expected "
            "(4, d): the four JetNet features"
        )
    d = emb.shape[1]
    names = sorted(
        {k.split("/")[1] for k in w if _BLOCK.match(k.split("/")[1])},
        key=lambda n: int(_BLOCK.match(n).group(1) or 0),
    )
    if not names:
        raise ZooError(f"{path}: field 'layers/transformer_block' is missing: no blocks")
    q0 = _get(w, path, f"layers/{names[0]}/mha/query_dense/vars/0")
    if q0.ndim != 3 or q0.shape[0] != d:
        raise ZooError(
            f"{path}: field 'layers/{names[0]}/mha/query_dense/vars/0' has shape "
            f"{q0.shape}, expected ({d}, heads, key_dim)"
        )
    heads, key_dim = q0.shape[1:]
    hidden = _get(w, path, f"layers/{names[0]}/ffn/layers/dense/vars/0").shape[1]
    model = ParticleTransformer(
        embed_dim=d,
        depth=len(names),
        num_heads=heads,
        head_dim=key_dim,
        mlp_ratio=hidden / d,
        dropout=0.0,
        norm_first=False,
        norm_eps=1e-6,
        raw_input=True,
        mask_padding=False,
    )
    inner = heads * key_dim
    state: dict[str, np.ndarray] = {
        "particle_embed.weight": emb.T,
        "particle_embed.bias": _get(w, path, "layers/dense/vars/1", (d,)),
        "cls_token": _get(w, path, "layers/add_cls_token/vars/0", (1, 1, d)),
    }
    for i, name in enumerate(names):
        base, mha = f"layers/{name}", f"layers/{name}/mha"
        kernels = [
            _get(w, path, f"{mha}/{p}_dense/vars/0", (d, heads, key_dim))
            for p in ("query", "key", "value")
        ]
        biases = [
            _get(w, path, f"{mha}/{p}_dense/vars/1", (heads, key_dim))
            for p in ("query", "key", "value")
        ]
        state[f"blocks.{i}.attn.qkv.weight"] = np.concatenate(
            [k.reshape(d, inner).T for k in kernels]
        )
        state[f"blocks.{i}.attn.qkv.bias"] = np.concatenate([b.reshape(inner) for b in biases])
        state[f"blocks.{i}.attn.proj.weight"] = (
            _get(w, path, f"{mha}/output_dense/vars/0", (heads, key_dim, d)).reshape(inner, d).T
        )
        state[f"blocks.{i}.attn.proj.bias"] = _get(w, path, f"{mha}/output_dense/vars/1", (d,))
        for ln, ours in (("ln1", "norm1"), ("ln2", "norm2")):
            state[f"blocks.{i}.{ours}.weight"] = _get(w, path, f"{base}/{ln}/vars/0", (d,))
            state[f"blocks.{i}.{ours}.bias"] = _get(w, path, f"{base}/{ln}/vars/1", (d,))
        for keras_name, ours, shape in (
            ("dense", "fc1", (d, hidden)),
            ("dense_1", "fc2", (hidden, d)),
        ):
            layer = f"{base}/ffn/layers/{keras_name}/vars"
            state[f"blocks.{i}.mlp.{ours}.weight"] = _get(w, path, f"{layer}/0", shape).T
            state[f"blocks.{i}.mlp.{ours}.bias"] = _get(w, path, f"{layer}/1", (shape[1],))
    own = model.state_dict()
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    missing = sorted(
        k for k in own if k not in tensors and k not in ("mask_token", "feat_mean", "feat_std")
    )
    if missing:  # pragma: no cover - the mapping above covers the architecture
        raise ZooError(f"{path}: no Keras weight for {missing[0]}")
    model.load_state_dict({**own, **tensors}, strict=True)
    return model.eval()


# --------------------------------------------------------------------------------------------
# CLI: jetzoo import jbot-keras


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a Keras .weights.h5 backbone file of hftsoi/jbot")
    parser.add_argument("--name", required=True, help="model name for the saved folder and card")
    parser.add_argument(
        "--out", type=Path, default=None, help="model folder to write (default: imported/NAME)"
    )
    parser.add_argument(
        "--source",
        default=None,
        help="where the file came from (recorded in config.json and the card)",
    )


def main(args: argparse.Namespace) -> int:
    from jetzoo.models.zoo import save_pretrained
    from jetzoo.utils.io import sha256_file

    out = args.out or Path("imported") / args.name
    try:
        model = import_jbot_keras(args.file)
        source: dict[str, Any] = {
            "imported_from": str(args.file),
            "file_sha256": sha256_file(args.file),
            "format": "keras-3 .weights.h5 (hftsoi/jbot build_backbone)",
        }
        if args.source:
            source["source"] = args.source
        save_pretrained(model, out, model_name=args.name, dataset=source, license="other")
    except ZooError as err:
        print(f"jetzoo import jbot-keras: error: {err}", file=sys.stderr)
        return 1
    print(
        f"wrote {out} ({sum(p.numel() for p in model.parameters())} parameters); load it "
        f"with JetZoo.from_pretrained({str(out)!r}). Check the licence of the source before "
        "sharing it."
    )
    return 0
