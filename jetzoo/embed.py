"""``jetzoo embed MODEL DATA --out FILE.{h5,parquet}``: the embeddings of every jet of a dataset,
with its labels and jet features, for a user's own analysis (plots, BDTs, clustering).

MODEL is anything ``JetZoo.from_pretrained`` takes; a classifier folder (``jetzoo finetune``)
embeds with its fine-tuned backbone and also scores every jet: ``probabilities (N, classes)``
in the order of its ``classifier_classes``. DATA any folder of jetzoo shards (generated or
imported public sets) or JetNet files. Jets are embedded in batches, on the GPU when there is
one, with a progress bar, and written as they come (memory stays at one batch) to a temporary
file that replaces ``--out`` only when every jet is done.

- ``.h5``: datasets ``embedding (N, D)`` float32, ``label (N,)``, ``jet_features (N, 4)``
  (pt, eta, mass, n_particles); attributes ``classes``, ``jet_features``, ``model``,
  ``weights_sha256``, ``identity_sha256``, ``dataset``, ``dataset_sha256``, ``jetzoo_version``;
- ``.parquet`` (pyarrow): one row per jet, columns ``emb_000`` ..., ``label``, ``class``,
  ``jet_pt``, ``jet_eta``, ``jet_mass``, ``n_particles`` (and ``p_<class>`` for a
  classifier), the same metadata in the schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from jetzoo.data.schema import JET_FEATURES, DataError
from jetzoo.utils.io import atomic_path

FORMATS = (".h5", ".parquet")


class EmbedError(ValueError):
    """Embedding a dataset cannot start; the message names the file and why."""


def _metadata(model: nn.Module, ds: Any) -> dict[str, Any]:
    from jetzoo import __version__
    from jetzoo.models.zoo import config_sha256, identity_sha256

    cfg = getattr(model, "pretrained_cfg", {}) or {}
    weights = cfg.get("weights_sha256")
    return {
        "model": str(getattr(model, "model_name", type(model).__name__)),
        "weights_sha256": weights or "",
        "identity_sha256": identity_sha256(weights, config_sha256(model)) if weights else "",
        "dataset": str(ds.path),
        "dataset_sha256": ds.dataset_sha256(),
        "classes": json.dumps(list(ds.class_names)),
        "jet_features": json.dumps(list(JET_FEATURES)),
        "jetzoo_version": __version__,
    }


def embed_dataset(
    model: nn.Module | str | Path,
    data: str | Path,
    out: str | Path,
    batch_size: int = 1024,
    device: str | None = None,
    progress: bool = True,
) -> Path:
    """Embed every jet of ``data`` with ``model`` into ``out`` (see the module docstring).

    Raises:
        EmbedError: an output suffix other than .h5 / .parquet, a model that does not read
            particles, or pyarrow missing for .parquet.
        DataError: a bad dataset (names the file and the field).
        ZooError: a bad model folder.
    """
    from tqdm.auto import tqdm

    from jetzoo.data import JetDataset
    from jetzoo.models.zoo import JetZoo

    out = Path(out)
    if out.suffix not in FORMATS:
        raise EmbedError(f"{out}: write .h5 or .parquet")
    if batch_size < 1:
        raise EmbedError(f"--batch-size must be >= 1, got {batch_size}")
    if out.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise EmbedError(
                f"{out}: .parquet needs pyarrow (pip install pyarrow), or write .h5"
            ) from None
    if not isinstance(model, nn.Module):
        model = JetZoo.from_pretrained(model)
    if getattr(model, "family", None) != "jetnet":
        raise EmbedError(
            f"{getattr(model, 'model_name', 'model')}: embed reads particle "
            f"datasets; this model reads {getattr(model, 'family', '?')!r}"
        )
    ds = JetDataset(data)
    meta = _metadata(model, ds)
    classes = list(getattr(model, "classes", None) or []) if hasattr(model, "head") else []
    if classes:
        meta["classifier_classes"] = json.dumps(classes)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device).eval()
    n = len(ds)
    writer = _H5Writer if out.suffix == ".h5" else _ParquetWriter
    with (
        atomic_path(out) as tmp,
        writer(tmp, meta, ds.class_names, classes) as sink,
        tqdm(total=n, desc=f"embedding {ds.path.name}", unit=" jets", disable=not progress) as bar,
    ):
        for lo in range(0, n, batch_size):
            batch = ds.get_batch(np.arange(lo, min(lo + batch_size, n)))
            inputs = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
            with torch.no_grad():
                emb_t = model.embed(inputs)
                proba = model.head(emb_t).softmax(-1).float().cpu().numpy() if classes else None
            emb = emb_t.float().cpu().numpy()
            sink.write(emb, batch["label"].numpy(), batch["jet"].numpy(), proba)
            bar.update(len(emb))
    return out


class _H5Writer:
    def __init__(
        self, path: Path, meta: dict[str, Any], classes: tuple[str, ...], scored: list[str]
    ) -> None:
        import h5py

        self.f = h5py.File(path, "w")
        self.f.attrs.update(meta)
        self.ds: dict[str, Any] = {}

    def __enter__(self) -> "_H5Writer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.f.close()

    def write(
        self, emb: np.ndarray, label: np.ndarray, jet: np.ndarray, proba: np.ndarray | None = None
    ) -> None:
        arrays = [
            ("embedding", emb.astype(np.float32)),
            ("label", label.astype(np.int64)),
            ("jet_features", jet.astype(np.float32)),
        ]
        if proba is not None:
            arrays.append(("probabilities", proba.astype(np.float32)))
        for key, arr in arrays:
            if key not in self.ds:
                self.ds[key] = self.f.create_dataset(
                    key,
                    shape=(0, *arr.shape[1:]),
                    maxshape=(None, *arr.shape[1:]),
                    dtype=arr.dtype,
                    chunks=True,
                )
            d = self.ds[key]
            d.resize(d.shape[0] + len(arr), axis=0)
            d[-len(arr) :] = arr


class _ParquetWriter:
    def __init__(
        self, path: Path, meta: dict[str, Any], classes: tuple[str, ...], scored: list[str]
    ) -> None:
        self.path, self.meta, self.classes = path, meta, np.asarray(classes)
        self.scored = scored
        self.writer: Any = None

    def __enter__(self) -> "_ParquetWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.writer is not None:
            self.writer.close()

    def write(
        self, emb: np.ndarray, label: np.ndarray, jet: np.ndarray, proba: np.ndarray | None = None
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = {f"emb_{i:03d}": emb[:, i] for i in range(emb.shape[1])}
        cols.update(
            label=label.astype(np.int64),
            **{"class": self.classes[label]},
            jet_pt=jet[:, 0],
            jet_eta=jet[:, 1],
            jet_mass=jet[:, 2],
            n_particles=jet[:, 3].astype(np.int64),
        )
        if proba is not None:
            cols.update({f"p_{c}": proba[:, i] for i, c in enumerate(self.scored)})
        table = pa.table(cols)
        if self.writer is None:
            schema = table.schema.with_metadata({k: str(v) for k, v in self.meta.items()})
            self.writer = pq.ParquetWriter(str(self.path), schema)
        self.writer.write_table(table.cast(self.writer.schema))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="registered name, model folder or Hub repo id")
    parser.add_argument("data", help="a folder of jetzoo shards (or JetNet files)")
    parser.add_argument("--out", required=True, help="FILE.h5 or FILE.parquet")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if any)")
    parser.add_argument("--no-progress", action="store_true")


def main(args: argparse.Namespace) -> int:
    from jetzoo.models.zoo import ZooError

    try:
        path = embed_dataset(
            args.model,
            args.data,
            args.out,
            args.batch_size,
            args.device,
            progress=not args.no_progress,
        )
    except (EmbedError, DataError, ZooError) as err:
        print(f"jetzoo embed: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
