"""`jetzoo import jbot-keras`: a fixture file in the Keras 3 `.weights.h5` layout of hftsoi/jbot
(random weights), read into a ParticleTransformer whose [CLS] equals an independent numpy
implementation of the Keras forward pass (post-norm, key_dim = d // heads, raw 4-feature input,
no padding mask) to 1e-5."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from jetzoo import JetZoo
from jetzoo.cli import main as cli_main
from jetzoo.models.keras_import import import_jbot_keras
from jetzoo.models.zoo import ZooError


def write_keras_fixture(path: Path, d: int, heads: int, layers: int, seed: int = 0) -> dict:
    """A backbone file laid out as Keras 3 saves hftsoi/jbot's build_backbone (group names,
    ``vars`` groups with a ``name`` attribute, kernel shapes); returns the arrays."""
    rng = np.random.default_rng(seed)
    k = d // heads
    arrays: dict[str, np.ndarray] = {}

    def var(group: str, name: str, *shapes: tuple[int, ...], scale: float = 0.3) -> None:
        for i, shape in enumerate(shapes):
            arrays[f"layers/{group}/vars/{i}"] = (rng.normal(0, scale, shape)).astype(np.float32)
        arrays.setdefault(f"__attr__/layers/{group}/vars", name)  # type: ignore[arg-type]

    var("dense", "token_embedding", (4, d), (d,))
    var("add_cls_token", "prepend_cls", (1, 1, d))
    for i in range(layers):
        b = "transformer_block" + (f"_{i}" if i else "")
        for p, name in (("query", "query"), ("key", "key"), ("value", "value")):
            var(f"{b}/mha/{p}_dense", name, (d, heads, k), (heads, k))
        var(f"{b}/mha/output_dense", "attention_output", (heads, k, d), (d,))
        for ln in ("ln1", "ln2"):
            arrays[f"layers/{b}/{ln}/vars/0"] = (1 + rng.normal(0, 0.1, d)).astype(np.float32)
            arrays[f"layers/{b}/{ln}/vars/1"] = rng.normal(0, 0.1, d).astype(np.float32)
        var(f"{b}/ffn/layers/dense", "dense", (d, 4 * d), (4 * d,))
        var(f"{b}/ffn/layers/dense_1", "dense_1", (4 * d, d), (d,))
    with h5py.File(path, "w") as f:
        f.create_group("layers/input_layer/vars").attrs["name"] = "particles_in"
        for key, value in arrays.items():
            if key.startswith("__attr__/"):
                f.require_group(key[len("__attr__/") :]).attrs["name"] = value
            else:
                f[key] = value
    return {k: v for k, v in arrays.items() if not k.startswith("__attr__/")}


def keras_forward(w: dict, x4: np.ndarray, heads: int, layers: int) -> np.ndarray:
    """The Keras model's [CLS], written from the Keras layer definitions (float64)."""

    def ln(h, g, b):
        mu = h.mean(-1, keepdims=True)
        var = ((h - mu) ** 2).mean(-1, keepdims=True)
        return (h - mu) / np.sqrt(var + 1e-6) * g + b

    def gelu(h):
        return 0.5 * h * (1 + np.vectorize(math.erf)(h / math.sqrt(2)))

    g = {k: v.astype(np.float64) for k, v in w.items()}
    h = x4 @ g["layers/dense/vars/0"] + g["layers/dense/vars/1"]
    h = np.concatenate([np.repeat(g["layers/add_cls_token/vars/0"], len(h), 0), h], 1)
    for i in range(layers):
        b = "layers/transformer_block" + (f"_{i}" if i else "")
        q, k_, v = (
            np.einsum("btd,dhk->bthk", h, g[f"{b}/mha/{p}_dense/vars/0"])
            + g[f"{b}/mha/{p}_dense/vars/1"]
            for p in ("query", "key", "value")
        )
        q = q / math.sqrt(q.shape[-1])
        s = np.einsum("bqhk,bthk->bhqt", q, k_)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = np.einsum("bhqt,bthk->bqhk", a, v)
        attn = (
            np.einsum("bqhk,hkd->bqd", o, g[f"{b}/mha/output_dense/vars/0"])
            + g[f"{b}/mha/output_dense/vars/1"]
        )
        h = ln(h + attn, g[f"{b}/ln1/vars/0"], g[f"{b}/ln1/vars/1"])
        f1 = gelu(h @ g[f"{b}/ffn/layers/dense/vars/0"] + g[f"{b}/ffn/layers/dense/vars/1"])
        f2 = f1 @ g[f"{b}/ffn/layers/dense_1/vars/0"] + g[f"{b}/ffn/layers/dense_1/vars/1"]
        h = ln(h + f2, g[f"{b}/ln2/vars/0"], g[f"{b}/ln2/vars/1"])
    return h[:, 0]


def _jets(n: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 30, 3, generator=g) * 0.2
    x[..., 2] = torch.rand(n, 30, generator=g) * 0.1
    mask = torch.arange(30)[None] < torch.tensor([30, 25, 12, 30, 7, 18][:n])[:, None]
    return x * mask[..., None], mask


@pytest.mark.parametrize("d, heads, layers", [(32, 4, 2), (64, 6, 4)])  # jBOT-S, jBOT-B
def test_imported_cls_equals_the_keras_forward(
    tmp_path: Path, d: int, heads: int, layers: int
) -> None:
    path = tmp_path / f"all_backbone_pretrain_{d}_{heads}_{layers}.weights.h5"
    w = write_keras_fixture(path, d, heads, layers)
    model = import_jbot_keras(path)
    assert model.blocks[0].attn.head_dim == d // heads  # 64 // 6 = 10 for jBOT-B
    x, mask = _jets()
    with torch.no_grad():
        cls = model(x, mask).cls.numpy()
    x4 = torch.cat([x, mask[..., None].float()], -1).numpy().astype(np.float64)
    want = keras_forward(w, x4, heads, layers)
    np.testing.assert_allclose(cls, want, atol=1e-5, rtol=1e-5)


def test_cli_writes_a_loadable_folder(tmp_path: Path, capsys) -> None:
    path = tmp_path / "b.weights.h5"
    write_keras_fixture(path, 32, 4, 2, seed=3)
    out = tmp_path / "jbot-s-ref"
    assert (
        cli_main(
            [
                "import",
                "jbot-keras",
                str(path),
                "--name",
                "jbot-s-ref",
                "--out",
                str(out),
                "--source",
                "github hftsoi/jbot models/",
            ]
        )
        == 0
    )
    model = JetZoo.from_pretrained(out)
    x, mask = _jets()
    with torch.no_grad():
        torch.testing.assert_close(model(x, mask).cls, import_jbot_keras(path)(x, mask).cls)
    config = json.loads((out / "config.json").read_text())
    assert config["backbone"]["norm_first"] is False and config["backbone"]["raw_input"]
    assert config["dataset"]["file_sha256"] and "license: other" in (out / "README.md").read_text()


def test_bad_files_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "x.weights.h5"
    write_keras_fixture(path, 32, 4, 2)
    with h5py.File(path, "r+") as f:
        del f["layers/transformer_block_1/ln2/vars/1"]
    with pytest.raises(
        ZooError,
        match=r"x\.weights\.h5: field 'layers/transformer_block_1/ln2/"
        r"vars/1' is missing",
    ):
        import_jbot_keras(path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["particle_features"] = np.zeros((2, 30, 4))
    with pytest.raises(ZooError, match="field 'layers' is missing"):
        import_jbot_keras(other)
    cut = tmp_path / "cut.weights.h5"
    cut.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ZooError, match="not a readable HDF5 file"):
        import_jbot_keras(cut)
