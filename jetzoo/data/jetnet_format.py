"""Reader and writer for the public JetNet HDF5 layout (Kansal et al., zenodo 6975118).

A JetNet file holds one class, named by the file (``g.hdf5``, ``q.hdf5``, ``t.hdf5``,
``w.hdf5``, ``z.hdf5``; the 150-particle release ``g150.hdf5`` ...), with

- ``particle_features`` ``(N, P, 4)`` = (eta_rel, phi_rel, pt_rel, mask), P = 30 (or 150);
- ``jet_features`` ``(N, 4)`` = (pt, eta, mass, n_particles).

:class:`~jetzoo.data.dataset.JetDataset` streams such files exactly like jetzoo shards (the
validation lives in :func:`jetzoo.data.shards.inspect_file`); :func:`read_jetnet` loads one
whole file into memory, :func:`write_jetnet` writes one (used by the round-trip test and to
export jetzoo jets to tools that expect JetNet files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from jetzoo.data.schema import JET_FEATURES, JET_KEY, PARTICLE_FEATURES, PARTICLE_KEY, DataError
from jetzoo.data.shards import inspect_file, read_rows
from jetzoo.utils.io import atomic_path


@dataclass
class JetNetArrays:
    """One JetNet file in memory."""

    particle_features: np.ndarray  # float32 (N, P, 4)
    jet_features: np.ndarray  # float32 (N, 4)
    labels: np.ndarray  # int64 (N,)


def read_jetnet(path: str | Path, jet_class: str | None = None) -> JetNetArrays:
    """Load a JetNet-layout file (public JetNet or a jetzoo shard) into memory.

    The class comes from ``jet_class``, else from the file name (``t.hdf5`` -> t); jetzoo
    shards carry their labels. Raises DataError naming the file and field on bad input.
    """
    info = inspect_file(path, jet_class)
    rows = np.arange(info.n_jets)
    with h5py.File(info.path, "r") as f:
        pf = read_rows(f, info.path, PARTICLE_KEY, rows)
        jf = read_rows(f, info.path, JET_KEY, rows)
    return JetNetArrays(pf, jf, info.labels)


def write_jetnet(path: str | Path, particle_features: np.ndarray, jet_features: np.ndarray) -> None:
    """Write ``particle_features (N, P, 4)`` and ``jet_features (N, 4)`` as a JetNet file
    (float32, no jetzoo attributes), atomically."""
    pf = np.asarray(particle_features, dtype=np.float32)
    jf = np.asarray(jet_features, dtype=np.float32)
    if pf.ndim != 3 or pf.shape[2] != len(PARTICLE_FEATURES):
        raise DataError(f"{path}: field {PARTICLE_KEY!r} must have shape (N, P, 4), got {pf.shape}")
    if jf.shape != (len(pf), len(JET_FEATURES)):
        raise DataError(f"{path}: field {JET_KEY!r} must have shape ({len(pf)}, 4), got {jf.shape}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(PARTICLE_KEY, data=pf, track_times=False)
            f.create_dataset(JET_KEY, data=jf, track_times=False)
