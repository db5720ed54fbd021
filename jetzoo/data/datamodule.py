"""JetDataModule: train / val / test splits of a JetNet-like dataset, fixed by a seed."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from jetzoo.data import shards as sh
from jetzoo.data.dataset import JetDataset, collate_jets
from jetzoo.data.preprocessing import Preprocessing
from jetzoo.data.schema import DataError


def label_subset(indices: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded, class-stratified ``fraction`` of ``indices`` (at least one jet per class
    present); ``labels`` are the labels of ``indices``. Returned sorted."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label_fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return np.asarray(indices)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        members = indices[labels == c]
        n = max(1, int(round(fraction * len(members))))
        keep.append(rng.choice(members, n, replace=False))
    return np.sort(np.concatenate(keep))


class JetDataModule(L.LightningDataModule):
    """Lightning data module over jetzoo shards or JetNet files.

    The split is a seeded permutation of *all* jets (``split`` fractions, ``seed``), taken
    before the class filter, so a jet stays in its split whatever ``classes`` a task reads
    (pre-training on q/g never sees the q/g test jets of an anomaly task). ``label_fraction``
    keeps a class-stratified, seeded part of the training split (for few-label fine-tuning).

    Args:
        path: dataset folder or file (e.g. :func:`jetzoo.data.sample_path`).
        classes: class names to keep (None: all), e.g. ``["q", "g"]``.
        batch_size, num_workers: DataLoader settings.
        split: train / val / test fractions.
        seed: seed of the split, of ``label_fraction`` and of the training shuffle.
        pairs: yield the second view (``x_b``, ``mask_b``, ``jet_b``) too.
        label_fraction: fraction of the training split kept.
        jet_class: class of a JetNet file whose name does not tell it.
        in_memory: hold the set in memory (:class:`JetDataset`'s ``in_memory``).
    """

    def __init__(
        self,
        path: str | Path,
        classes: Sequence[str] | None = None,
        batch_size: int = 256,
        num_workers: int = 0,
        split: Sequence[float] = sh.DEFAULT_SPLIT,
        seed: int = sh.DEFAULT_SPLIT_SEED,
        pairs: bool = False,
        label_fraction: float = 1.0,
        jet_class: str | None = None,
        in_memory: bool = False,
    ) -> None:
        super().__init__()
        self.in_memory = bool(in_memory)
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(
                f"{self.path}: dataset not found; generate it with `jetzoo generate jetnet "
                f"--classes q,g,t,w,z --jets-per-class 2000 --out {self.path}` or use the "
                f"embedded sample jetzoo.data.sample_path()"
            )
        self.classes = None if classes is None else [str(c).strip().lower() for c in classes]
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.split: tuple[float, ...] | str = (
            "published"
            if isinstance(split, str) and split == "published"
            else tuple(float(s) for s in split)
        )
        self.seed = int(seed)
        self.pairs, self.label_fraction, self.jet_class = pairs, float(label_fraction), jet_class
        if not 0.0 < self.label_fraction <= 1.0:
            raise ValueError(f"label_fraction must be in (0, 1], got {label_fraction}")
        self.save_hyperparameters(
            {
                "path": str(self.path),
                "classes": self.classes,
                "batch_size": self.batch_size,
                "split": self.split if isinstance(self.split, str) else list(self.split),
                "seed": self.seed,
                "pairs": pairs,
                "label_fraction": self.label_fraction,
            }
        )
        self._datasets: dict[str, JetDataset] = {}

    @cached_property
    def full_dataset(self) -> JetDataset:
        """All jets of the dataset, unsplit and unfiltered."""
        return JetDataset(
            self.path, pairs=self.pairs, jet_class=self.jet_class, in_memory=self.in_memory
        )

    @cached_property
    def split_indices(self) -> dict[str, np.ndarray]:
        """Global jet indices of ``train`` (before label_fraction), ``val`` and ``test``."""
        n = self.full_dataset.n_total
        train, val, test = (
            sh.published_split(self.path, n)
            if self.split == "published"
            else sh.split_indices(n, self.split, self.seed)
        )
        return {"train": train, "val": val, "test": test}

    def setup(self, stage: str | None = None) -> None:
        """Build the three split datasets (idempotent)."""
        if self._datasets:
            return
        full, idx = self.full_dataset, self.split_indices
        train = label_subset(
            idx["train"], full.all_labels[idx["train"]], self.label_fraction, self.seed
        )
        for name, ind in (("train", train), ("val", idx["val"]), ("test", idx["test"])):
            self._datasets[name] = full.subset(ind, self.classes)

    def dataset(self, split: str) -> JetDataset:
        """The ``train``, ``val`` or ``test`` dataset."""
        self.setup()
        if split not in self._datasets:
            raise KeyError(f"unknown split {split!r}; use train, val or test")
        return self._datasets[split]

    def loader(self, split: str, shuffle: bool = False) -> DataLoader:
        """A DataLoader over ``split``; a shuffled one draws its order from a generator seeded
        with ``seed`` (reproducible)."""
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            self.dataset(split),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=collate_jets,
            generator=generator,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self.loader("test", shuffle=False)

    @cached_property
    def preprocessing(self) -> Preprocessing:
        """The dataset's ``preprocessing.json``; for files without one (e.g. downloaded JetNet),
        fitted on this module's training split."""
        stored = self.path / sh.PREPROCESSING_NAME if self.path.is_dir() else None
        if stored is not None and stored.is_file():
            return Preprocessing.load(stored)
        return sh.fit_preprocessing(self.full_dataset.infos, self.split_indices["train"])

    @cached_property
    def dataset_sha256(self) -> str:
        """sha256 identifying the dataset (from manifest.json, or hashed from the files)."""
        return self.full_dataset.dataset_sha256()

    @property
    def class_names(self) -> list[str]:
        """The classes this module yields (in the dataset's class order)."""
        present = self.full_dataset.subset(None, self.classes).class_counts()
        return [c for c in self.full_dataset.class_names if c in present]
