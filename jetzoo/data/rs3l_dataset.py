"""RS3L pair dataset and datamodule: padded tracks / cells of both views of each jet pair.

``RS3LPairDataset`` reads the shards written by ``jetzoo generate rs3l`` (layout and batch keys:
:mod:`jetzoo.data.rs3l_schema`). Per-jet indices (labels, offsets, jet features) are read once;
tracks and cells are read per batch from HDF5 (one read per jet and view), or kept in memory
when the shards are small (``in_memory``, default: under 512 MB on disk). Tracks (pT-ordered)
and cells (energy-ordered) are capped at ``max_tracks`` / ``max_cells`` per jet, and phi is
replaced by the azimuth relative to the jet axis.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from jetzoo.data.rs3l_schema import (
    CELL_FEATURES,
    DARK_MODELS,
    HADRON_JET_FEATURES,
    JET_FEATURES,
    RS3L_CLASSES,
    RS3L_FORMAT,
    SM_CLASSES,
    TRACK_FEATURES,
    VIEW_SUFFIXES,
    rs3l_class_index,
)
from jetzoo.data.schema import DataError, integer_labels

try:  # LightningDataModule when lightning is installed (it is a jetzoo dependency)
    from lightning import LightningDataModule
except ImportError:  # pragma: no cover
    LightningDataModule = object  # type: ignore[misc,assignment]

IN_MEMORY_BYTES = 512 * 2**20
GENERATE_HINT = (
    "generate it with `jetzoo generate rs3l --out {path}` (or use "
    "jetzoo.data.rs3l_dataset.rs3l_sample_path() for the embedded sample)"
)


def rs3l_sample_path() -> Path:
    """Folder of the embedded RS3L sample (a few hundred pairs per class and dark model)."""
    return Path(__file__).resolve().parent / "sample" / "rs3l"


def shard_paths(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Shards of an RS3L dataset: from ``manifest.json`` if present, else ``*/shard-*.h5``
    (resampled dark shards included, raw ones not); a file or a list of files as given."""
    if isinstance(path, (list, tuple)):
        return [Path(p) for p in path]
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise DataError(f"{path}: RS3L dataset not found; " + GENERATE_HINT.format(path=path))
    manifest = path / "manifest.json"
    if manifest.exists():
        try:
            entries = json.loads(manifest.read_text())["shards"]
            paths = [path / e["path"] for e in entries]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(f"{manifest}: invalid RS3L manifest, field 'shards' ({err})") from err
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise DataError(f"{manifest}: field 'shards' lists missing file {missing[0]}")
    else:
        paths = sorted(path.glob("*/shard-*.h5"))
    if not paths:
        raise DataError(f"{path}: no RS3L shards found; " + GENERATE_HINT.format(path=path))
    return paths


class _Shard:
    """Index arrays of one shard, validated; heavy arrays read lazily."""

    def __init__(self, path: Path) -> None:
        import h5py

        self.path = path
        try:
            f = h5py.File(path, "r")
        except OSError as err:
            raise DataError(f"{path}: not a readable HDF5 file ({err})") from err
        with f:
            fmt = f.attrs.get("format")
            if fmt != RS3L_FORMAT:
                raise DataError(f"{path}: attribute 'format' is {fmt!r}, expected {RS3L_FORMAT!r}")
            self.labels = integer_labels(self._read(f, "labels", (None,)), path)
            n = len(self.labels)
            if n and (self.labels.min() < 0 or self.labels.max() >= len(RS3L_CLASSES)):
                raise DataError(
                    f"{path}: field 'labels' has values outside 0..{len(RS3L_CLASSES) - 1}"
                )
            self.pair_index = self._read(f, "pair_index", (n, 2)).astype(np.int64)
            self.offsets: dict[str, np.ndarray] = {}
            self.jets: dict[str, np.ndarray] = {}
            self.sizes: dict[str, int] = {}
            for s in VIEW_SUFFIXES:
                self.jets[s] = self._read(f, "jet_features" + s, (n, len(JET_FEATURES)))
                self._read(f, "hadron_jet_features" + s, (n, len(HADRON_JET_FEATURES)))
                for name, width in (("tracks", len(TRACK_FEATURES)), ("cells", len(CELL_FEATURES))):
                    key = name + s
                    if key not in f:
                        raise DataError(f"{path}: missing field {key!r}")
                    shape = f[key].shape
                    if len(shape) != 2 or shape[1] != width:
                        raise DataError(
                            f"{path}: field {key!r} has shape {shape}, expected (n, {width})"
                        )
                    off = self._read(f, f"{name[:-1]}_offsets{s}", (n + 1,)).astype(np.int64)
                    if off[0] != 0 or (np.diff(off) < 0).any() or off[-1] != shape[0]:
                        raise DataError(
                            f"{path}: field '{name[:-1]}_offsets{s}' is not a "
                            f"monotonic offset array ending at {shape[0]}"
                        )
                    self.offsets[key] = off
                    self.sizes[key] = shape[0]
        self._file: Any = None
        self._pid = -1
        self._cache: dict[str, np.ndarray] = {}

    def _read(self, f: Any, key: str, shape: tuple) -> np.ndarray:
        if key not in f:
            raise DataError(f"{self.path}: missing field {key!r}")
        data = f[key][()]
        if data.ndim != len(shape) or any(
            s is not None and s != d for s, d in zip(shape, data.shape)
        ):
            raise DataError(
                f"{self.path}: field {key!r} has shape {data.shape}, expected "
                f"{tuple('n' if s is None else s for s in shape)}"
            )
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            raise DataError(f"{self.path}: field {key!r} contains NaN or inf")
        return data

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, key: str, i: int, cap: int, in_memory: bool) -> np.ndarray:
        """The first ``cap`` rows of jet ``i`` of ragged field ``key`` (e.g. ``cells_b``)."""
        off = self.offsets[key]
        lo, hi = int(off[i]), int(min(off[i + 1], off[i] + cap))
        if in_memory:
            if key not in self._cache:
                self._cache[key] = self._handle()[key][()]
            out = self._cache[key][lo:hi]
        else:
            out = self._handle()[key][lo:hi]
        if not np.isfinite(out).all():
            raise DataError(f"{self.path}: field {key!r} contains NaN or inf (jet {i})")
        return out

    def _handle(self) -> Any:
        import h5py

        if self._file is None or self._pid != os.getpid():  # one handle per worker process
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, -1
        return state


class RS3LPairDataset(Dataset):
    """Jet pairs of an RS3L dataset (folder, shard file or list of shard files).

    Args:
        path: dataset folder (``manifest.json`` or ``*/shard-*.h5``), a shard, or shards.
        classes: keep only these classes (names of :data:`RS3L_CLASSES`); default all.
        max_tracks: keep the ``max_tracks`` highest-pT tracks per jet.
        max_cells: keep the ``max_cells`` most energetic cells per jet.
        indices: optional subset (indices into the class-filtered pairs).
        in_memory: read the ragged arrays once per shard (default: if shards < 512 MB).
    """

    def __init__(
        self,
        path: str | os.PathLike | Sequence[str | os.PathLike],
        classes: Sequence[str] | None = None,
        max_tracks: int = 32,
        max_cells: int = 256,
        indices: Sequence[int] | np.ndarray | None = None,
        in_memory: bool | None = None,
    ) -> None:
        if max_tracks < 1 or max_cells < 1:
            raise ValueError(
                f"max_tracks and max_cells must be >= 1, got {max_tracks}, {max_cells}"
            )
        self.max_tracks, self.max_cells = max_tracks, max_cells
        self.shards = [_Shard(p) for p in shard_paths(path)]
        if in_memory is None:
            in_memory = sum(s.path.stat().st_size for s in self.shards) < IN_MEMORY_BYTES
        self.in_memory = in_memory
        labels = np.concatenate([s.labels for s in self.shards])
        events = np.concatenate(
            [(np.int64(k) << 32) + s.pair_index[:, 0] for k, s in enumerate(self.shards)]
        )
        which = np.concatenate([np.full(len(s), k) for k, s in enumerate(self.shards)])
        local = np.concatenate([np.arange(len(s)) for s in self.shards])
        keep = np.ones(len(labels), dtype=bool)
        if classes is not None:
            keep = np.isin(labels, [rs3l_class_index(c) for c in classes])
        sel = np.flatnonzero(keep)
        self._shard = which[sel].astype(np.int64)
        self._local = local[sel].astype(np.int64)
        self.labels: np.ndarray = labels[sel]  # class index of every pair
        self.events: np.ndarray = events[sel]  # collision id; pairs of one event share it
        if indices is not None:
            self._keep(indices)

    def __len__(self) -> int:
        return len(self._shard)

    def _keep(self, indices: Sequence[int] | np.ndarray) -> None:
        """Keep only the pairs at ``indices`` (into the current pairs), in that order."""
        idx = np.asarray(indices, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"indices out of range for {len(self)} pairs")
        self._shard, self._local = self._shard[idx], self._local[idx]
        self.labels, self.events = self.labels[idx], self.events[idx]

    def subset(self, indices: Sequence[int] | np.ndarray) -> "RS3LPairDataset":
        """The pairs at ``indices`` (into this dataset), sharing its open shards and their
        in-memory arrays, so the splits of one set read each shard once."""
        out = copy.copy(self)
        out._keep(indices)
        return out

    def jet_features(self, view: str = "") -> np.ndarray:
        """``(N, 6)`` detector-jet features (:data:`JET_FEATURES`) of view a (or ``"_b"``)."""
        return (
            np.stack([self.shards[s].jets[view][i] for s, i in zip(self._shard, self._local)])
            if len(self)
            else np.zeros((0, len(JET_FEATURES)), np.float32)
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        s, i = int(self._shard[index]), int(self._local[index])
        shard = self.shards[s]
        item: dict[str, Any] = {"label": int(self.labels[index]), "event": int(self.events[index])}
        for suffix in VIEW_SUFFIXES:
            jet = shard.jets[suffix][i]
            tracks = shard.rows("tracks" + suffix, i, self.max_tracks, self.in_memory).copy()
            cells = shard.rows("cells" + suffix, i, self.max_cells, self.in_memory).copy()
            for x in (tracks, cells):  # phi -> azimuth relative to the jet axis
                x[:, 2] = (x[:, 2] - jet[2] + np.pi) % (2 * np.pi) - np.pi
            item["tracks" + suffix], item["cells" + suffix] = tracks, cells
            item["jet" + suffix] = jet
        return item

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        return [self[int(i)] for i in indices]


def _pad(
    arrays: list[np.ndarray], width: int, length: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(1, max(len(a) for a in arrays)) if length is None else length
    if any(len(a) > n for a in arrays):
        raise ValueError(f"cannot pad {max(len(a) for a in arrays)} entries to length {n}")
    out = np.zeros((len(arrays), n, width), dtype=np.float32)
    mask = np.zeros((len(arrays), n), dtype=bool)
    for k, a in enumerate(arrays):
        out[k, : len(a)] = a
        mask[k, : len(a)] = True
    return torch.from_numpy(out), torch.from_numpy(mask)


def rs3l_collate(
    items: list[dict[str, Any]], n_tracks: int | None = None, n_cells: int | None = None
) -> dict[str, torch.Tensor]:
    """Pad a list of dataset items into the batch dict of :mod:`jetzoo.data.rs3l_schema`:
    to ``n_tracks`` / ``n_cells`` entries, or to the batch maximum when None."""
    batch: dict[str, torch.Tensor] = {
        "label": torch.tensor([it["label"] for it in items], dtype=torch.int64),
        "event": torch.tensor([it["event"] for it in items], dtype=torch.int64),
    }
    for s in VIEW_SUFFIXES:
        batch["tracks" + s], batch["track_mask" + s] = _pad(
            [it["tracks" + s] for it in items], len(TRACK_FEATURES), n_tracks
        )
        batch["cells" + s], batch["cell_mask" + s] = _pad(
            [it["cells" + s] for it in items], len(CELL_FEATURES), n_cells
        )
        batch["jet" + s] = torch.from_numpy(np.stack([it["jet" + s] for it in items]))
    return batch


class RS3LDataModule(LightningDataModule):
    """Train / val / test splits of an RS3L dataset, fixed by ``seed``; pairs of one collision
    always land in the same split.

    Args:
        path: dataset folder (see :class:`RS3LPairDataset`).
        classes: class filter (e.g. ``["q", "g", "tau"]`` for pre-training on SM jets only).
        batch_size, num_workers: DataLoader settings.
        split: fractions (train, val, test), summing to 1.
        seed: split seed.
        max_tracks, max_cells: per-jet caps.
        label_fraction: keep this fraction of the training pairs (downstream label scans).
        in_memory: read each shard's ragged arrays once (:class:`RS3LPairDataset`); None: when
            the shards are under 512 MB. Streaming reads cost ~7 ms per pair, a quarter of an
            RS3L training step's time on one CPU thread.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        classes: Sequence[str] | None = None,
        batch_size: int = 128,
        num_workers: int = 0,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        max_tracks: int = 32,
        max_cells: int = 256,
        label_fraction: float = 1.0,
        in_memory: bool | None = None,
    ) -> None:
        super().__init__()
        if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1.0) > 1e-6:
            raise ValueError(f"split must be 3 non-negative fractions summing to 1, got {split}")
        if not 0 < label_fraction <= 1:
            raise ValueError(f"label_fraction must be in (0, 1], got {label_fraction}")
        self.path = Path(path) if path is not None else rs3l_sample_path()
        self.classes = list(classes) if classes is not None else None
        self.batch_size, self.num_workers = batch_size, num_workers
        self.split, self.seed = tuple(split), seed
        self.max_tracks, self.max_cells = max_tracks, max_cells
        self.label_fraction = label_fraction
        self.in_memory = in_memory
        self.datasets: dict[str, RS3LPairDataset] = {}

    @property
    def dataset_sha256(self) -> str | None:
        """The dataset hash, every shard checked against the manifest (None without one)."""
        from jetzoo.data.shards import verified_dataset_sha256

        manifest = self.path / "manifest.json"
        return verified_dataset_sha256(self.path) if manifest.exists() else None

    def split_indices(self, full: RS3LPairDataset) -> dict[str, np.ndarray]:
        """Indices of each split; whole collisions are assigned, in an order fixed by ``seed``."""
        events = full.events
        unique = np.unique(events)
        order = np.random.default_rng(self.seed).permutation(len(unique))
        bounds = np.round(np.cumsum(self.split) * len(unique)).astype(int)
        part = np.empty(len(unique), dtype=np.int64)
        part[order] = np.searchsorted(bounds, np.arange(len(unique)), side="right")
        which = part[np.searchsorted(unique, events)]
        out = {name: np.flatnonzero(which == k) for k, name in enumerate(("train", "val", "test"))}
        if self.label_fraction < 1.0:
            rng = np.random.default_rng(self.seed + 1)
            n = max(1, int(round(self.label_fraction * len(out["train"]))))
            out["train"] = np.sort(rng.choice(out["train"], n, replace=False))
        return out

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        full = RS3LPairDataset(
            self.path, self.classes, self.max_tracks, self.max_cells, in_memory=self.in_memory
        )
        for name, idx in self.split_indices(full).items():
            self.datasets[name] = full.subset(idx)

    def loader(self, name: str, shuffle: bool = False) -> DataLoader:
        """A DataLoader over split ``name`` ("train", "val", "test"); a shuffled one draws its
        order from a generator seeded with ``seed`` (reproducible)."""
        self.setup()
        collate = functools.partial(
            rs3l_collate, n_tracks=self.max_tracks, n_cells=self.max_cells
        )  # fixed shapes: batches concatenate
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            self.datasets[name],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=collate,
            generator=generator,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")


__all__ = [
    "RS3LPairDataset",
    "RS3LDataModule",
    "rs3l_collate",
    "rs3l_sample_path",
    "shard_paths",
    "RS3L_CLASSES",
    "SM_CLASSES",
    "DARK_MODELS",
]
