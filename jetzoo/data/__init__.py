"""jetzoo data: JetNet-like jets (generation, shards, JetNet files, datasets, the sample).

Public API::

    from jetzoo.data import JetDataModule, JetDataset, sample_path, load_preprocessing
    dm = JetDataModule(sample_path(), classes=["q", "g"], batch_size=256)
    batch = next(iter(dm.train_dataloader()))   # x, mask, jet, label

Heavy modules (torch, lightning, pythia8mc) load only when their names are first used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jetzoo.data.schema import JETNET_CLASSES, DataError

_LAZY = {
    "JetDataset": ("jetzoo.data.dataset", "JetDataset"),
    "JetBatch": ("jetzoo.data.dataset", "JetBatch"),
    "collate_jets": ("jetzoo.data.dataset", "collate_jets"),
    "JetDataModule": ("jetzoo.data.datamodule", "JetDataModule"),
    "Preprocessing": ("jetzoo.data.preprocessing", "Preprocessing"),
    "read_jetnet": ("jetzoo.data.jetnet_format", "read_jetnet"),
    "write_jetnet": ("jetzoo.data.jetnet_format", "write_jetnet"),
    "split_indices": ("jetzoo.data.shards", "split_indices"),
    "generate": ("jetzoo.data.jetnet_generator", "generate"),
    "RS3LPairDataset": ("jetzoo.data.rs3l_dataset", "RS3LPairDataset"),
    "RS3LDataModule": ("jetzoo.data.rs3l_dataset", "RS3LDataModule"),
    "rs3l_sample_path": ("jetzoo.data.rs3l_dataset", "rs3l_sample_path"),
}

__all__ = ["JETNET_CLASSES", "DataError", "sample_path", "load_preprocessing", *_LAZY]


def sample_path() -> Path:
    """Folder of the embedded sample (2000 jets per class, pair shards, manifest.json,
    preprocessing.json), installed with the package."""
    return Path(__file__).resolve().parent / "sample"


def load_preprocessing(path: str | Path | None = None):
    """The :class:`~jetzoo.data.preprocessing.Preprocessing` stored with a dataset.

    ``path`` is a dataset folder or a ``preprocessing.json``; default: the embedded sample.
    """
    from jetzoo.data.preprocessing import Preprocessing
    from jetzoo.data.shards import PREPROCESSING_NAME

    p = Path(path) if path is not None else sample_path()
    if p.is_dir():
        p = p / PREPROCESSING_NAME
    if not p.is_file():
        raise DataError(f"{p}: no preprocessing file (written by 'jetzoo generate jetnet')")
    return Preprocessing.load(p)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'jetzoo.data' has no attribute {name!r}")
