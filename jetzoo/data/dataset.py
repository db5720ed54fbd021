"""JetDataset: streams jets from jetzoo shards or public JetNet files, one HDF5 read per shard
per batch.

Files are opened lazily, once per process (so each DataLoader worker has its own handles), and
only the rows of a batch are read: ``__getitems__`` (which ``torch.utils.data.DataLoader``
calls with the whole list of a batch's indices) groups the indices by shard and reads each
shard's rows with one HDF5 call per field. Items follow the batch contract of
:mod:`jetzoo.data.schema` (``x``, ``mask``, ``jet``, ``label`` [, ``x_b``, ``mask_b``,
``jet_b``]); use :func:`collate_jets` as the DataLoader's ``collate_fn``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence as SequenceABC
from pathlib import Path
from typing import Any, Iterator, Sequence

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from jetzoo.data import shards as sh
from jetzoo.data.schema import (
    JET_KEY,
    N_INPUT_FEATURES,
    PAIR_SUFFIX,
    PARTICLE_KEY,
    DataError,
)

Batch = dict[str, torch.Tensor]
CHUNK_CACHE_BYTES = 4 << 20  # per HDF5 dataset: a whole 1000-jet shard field stays decompressed


class JetBatch(SequenceABC):
    """What ``JetDataset.__getitems__`` returns: a batch already stacked as tensors.

    It is also a sequence of per-jet dicts, so torch's ``default_collate`` still works;
    :func:`collate_jets` simply returns :attr:`tensors`.
    """

    def __init__(self, tensors: Batch) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors["label"])

    def __getitem__(self, i: int) -> Batch:  # type: ignore[override]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return {k: v[i] for k, v in self.tensors.items()}

    def __iter__(self) -> Iterator[Batch]:
        return (self[i] for i in range(len(self)))


def collate_jets(samples: JetBatch | Sequence[Batch]) -> Batch:
    """Collate jets into the batch dict (``x``, ``mask``, ``jet``, ``label`` [, pair keys])."""
    if isinstance(samples, JetBatch):
        return samples.tensors
    if not samples:
        raise ValueError("cannot collate an empty batch")
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}


class JetDataset(Dataset):
    """Jets from a folder of jetzoo shards, one shard, or public JetNet files.

    Args:
        path: a folder holding ``shard-*.h5`` (or JetNet ``*.hdf5`` files), or one such file.
        classes: keep only these classes (e.g. ``["q", "g"]``); None keeps all.
        indices: keep only these jets, as global indices over all files in order (what
            :func:`jetzoo.data.shards.split_indices` returns); applied before ``classes``.
        pairs: also yield the second view (``x_b``, ``mask_b``, ``jet_b``); every file must
            be a pair shard (``jetzoo generate jetnet --pairs``).
        jet_class: class of a JetNet file whose name does not say it (``q``, ``g``, ...).
        in_memory: read each file's fields whole on first use and serve batches from memory
            (one copy per process, shared by :meth:`subset` views): no HDF5 read per batch, for
            long trainings whose set fits in memory (700k jets: about 0.4 GB).

    Raises DataError (naming the file and the field) for a missing, truncated or foreign file,
    a missing field, a wrong shape, NaN/inf values (when read) or an unknown class name.
    """

    def __init__(
        self,
        path: str | Path,
        classes: Sequence[str] | None = None,
        indices: Sequence[int] | np.ndarray | None = None,
        pairs: bool = False,
        jet_class: str | None = None,
        in_memory: bool = False,
    ) -> None:
        self.path = Path(path)
        self.in_memory = bool(in_memory)
        self._memory: dict[int, dict[str, np.ndarray]] = {}  # shared by subsets (in_memory)
        self.infos = [sh.inspect_file(f, jet_class) for f in sh.discover_files(self.path)]
        if self.path.is_dir():
            sh.check_manifest(self.path, {i.path.name: i.n_jets for i in self.infos})
        sizes = {i.n_particles for i in self.infos}
        if len(sizes) > 1:
            raise DataError(
                f"{self.path}: files disagree on the particle count of field "
                f"{PARTICLE_KEY!r}: {sorted(sizes)}"
            )
        self.pairs = pairs
        if pairs:
            for info in self.infos:
                if not info.has_pairs:
                    raise DataError(
                        f"{info.path}: missing field {sh.PAIR_KEYS[0]!r} (pairs=True "
                        f"needs shards written by 'jetzoo generate jetnet --pairs')"
                    )
        lists = {i.classes for i in self.infos}
        if len(lists) > 1:
            raise DataError(
                f"{self.path}: files disagree on attribute 'classes': {sorted(map(list, lists))}"
            )
        self.class_names: tuple[str, ...] = self.infos[0].classes
        self.offsets = np.cumsum([0] + [i.n_jets for i in self.infos])
        self.all_labels = np.concatenate([i.labels for i in self.infos])
        self.indices = self._select(indices, classes)
        self._handles: dict[int, dict[str, h5py.Dataset]] = {}
        self._pid = os.getpid()

    def _select(
        self, indices: Sequence[int] | np.ndarray | None, classes: Sequence[str] | None
    ) -> np.ndarray:
        idx = np.arange(self.n_total) if indices is None else np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1 or (len(idx) and (idx.min() < 0 or idx.max() >= self.n_total)):
            raise IndexError(f"{self.path}: indices must lie in 0..{self.n_total - 1}")
        if classes is not None:
            wanted = [self.class_code(c) for c in classes]
            idx = idx[np.isin(self.all_labels[idx], wanted)]
        return idx

    def class_code(self, name: str) -> int:
        """Label value of class ``name`` in this dataset (its own class list); DataError names
        the dataset's classes for an unknown one."""
        key = str(name).strip().lower()
        if key not in self.class_names:
            raise DataError(
                f"{self.path}: no class {name!r}; its classes (attribute "
                f"'classes'): {', '.join(self.class_names)}"
            )
        return self.class_names.index(key)

    def subset(
        self,
        indices: Sequence[int] | np.ndarray | None = None,
        classes: Sequence[str] | None = None,
    ) -> "JetDataset":
        """A dataset over the same files keeping ``indices`` (global) and ``classes``,
        without reopening the files."""
        new = object.__new__(JetDataset)
        new.__dict__.update(self.__getstate__())
        new.indices = new._select(indices, classes)
        return new

    @property
    def n_total(self) -> int:
        """Jets in all files, before any selection."""
        return int(self.offsets[-1])

    @property
    def n_particles(self) -> int:
        """Particles per jet (30 for JetNet-like data)."""
        return self.infos[0].n_particles

    @property
    def labels(self) -> np.ndarray:
        """Labels (int64) of the selected jets, in dataset order."""
        return self.all_labels[self.indices]

    @property
    def files(self) -> list[Path]:
        return [i.path for i in self.infos]

    def class_counts(self) -> dict[str, int]:
        """Selected jets per class name."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {c: int(n) for c, n in zip(self.class_names, counts) if n}

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self) -> dict[str, Any]:  # open HDF5 handles never cross processes
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _fields(self, k: int) -> dict[str, h5py.Dataset]:
        """Open HDF5 datasets of file ``k`` (opened once per process; keeping the dataset
        objects keeps their chunk caches, so re-read chunks are not decompressed again)."""
        if self._pid != os.getpid():  # forked into a DataLoader worker: reopen there
            self._handles, self._pid = {}, os.getpid()
        if self.in_memory:
            if k not in self._memory:
                self._memory[k] = self._load(k)
            return self._memory[k]  # type: ignore[return-value]
        if k not in self._handles:
            path = self.infos[k].path
            try:
                f = h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
            except OSError as err:
                raise DataError(f"{path}: cannot open HDF5 file: {err}") from err
            self._handles[k] = {key: f[key] for key in self._keys()}
        return self._handles[k]

    def _keys(self) -> list[str]:
        """The HDF5 fields a batch reads."""
        return [PARTICLE_KEY, JET_KEY, *(sh.PAIR_KEYS if self.pairs else ())]

    def _load(self, k: int) -> dict[str, np.ndarray]:
        """Every field of file ``k``, read whole (``in_memory``)."""
        path = self.infos[k].path
        try:
            with h5py.File(path, "r") as f:
                out = {}
                for key in self._keys():
                    try:
                        out[key] = f[key][...]
                    except (OSError, KeyError) as err:
                        raise DataError(f"{path}: cannot read field {key!r}: {err}") from err
                return out
        except OSError as err:
            raise DataError(f"{path}: cannot open HDF5 file: {err}") from err

    def close(self) -> None:
        """Close the open HDF5 files (they reopen on the next read)."""
        for fields in self._handles.values():
            next(iter(fields.values())).file.close()
        self._handles = {}

    def read(self, positions: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """The jets at dataset ``positions`` as numpy arrays (batch-contract keys)."""
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        if not len(pos):
            raise ValueError("no dataset positions to read")
        if pos.min() < -len(self) or pos.max() >= len(self):
            raise IndexError(f"dataset positions must lie in 0..{len(self) - 1}")
        glob = self.indices[pos]
        shard = np.searchsorted(self.offsets, glob, side="right") - 1
        suffixes = ("", PAIR_SUFFIX) if self.pairs else ("",)
        out: dict[str, np.ndarray] = {}
        for k in np.unique(shard):
            sel = np.flatnonzero(shard == k)
            local = glob[sel] - self.offsets[k]
            f, path = self._fields(int(k)), self.infos[k].path
            for sfx in suffixes:
                pf = sh.read_rows(f, path, PARTICLE_KEY + sfx, local)
                jf = sh.read_rows(f, path, JET_KEY + sfx, local)
                mask = pf[..., N_INPUT_FEATURES] > 0
                parts = {
                    "x" + sfx: pf[..., :N_INPUT_FEATURES] * mask[..., None],
                    "mask" + sfx: mask,
                    "jet" + sfx: jf,
                }
                for key, value in parts.items():
                    if key not in out:
                        out[key] = np.empty((len(pos), *value.shape[1:]), value.dtype)
                    out[key][sel] = value
        out["label"] = self.all_labels[glob]
        return out

    def get_batch(self, positions: Sequence[int] | np.ndarray) -> Batch:
        """The jets at dataset ``positions`` as a batch dict of tensors."""
        return {k: torch.from_numpy(v) for k, v in self.read(positions).items()}

    def __getitems__(self, positions: list[int]) -> JetBatch:
        return JetBatch(self.get_batch(positions))

    def __getitem__(self, i: int) -> Batch:
        return {k: v[0] for k, v in self.get_batch([i]).items()}

    def dataset_sha256(self) -> str:
        """The dataset hash, every shard checked against the manifest
        (:func:`jetzoo.data.shards.verified_dataset_sha256`); DataError on a mismatch."""
        if self.path.is_dir() and sh.read_manifest(self.path) is None:
            return sh.dataset_sha256(sh.sha256_file(p) for p in self.files)
        return sh.verified_dataset_sha256(self.path)

    def __repr__(self) -> str:
        return (
            f"JetDataset({str(self.path)!r}, jets={len(self)}, files={len(self.infos)}, "
            f"pairs={self.pairs}, classes={self.class_counts()})"
        )
