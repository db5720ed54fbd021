"""The RS3L data contract: classes, stored fields and batch keys (Rieck et al.).

An RS3L dataset is a folder written by ``jetzoo generate rs3l``::

    DIR/manifest.json                 settings, seeds, shards (pairs, sha256), dataset sha256
    DIR/<class>/shard-XXXXX.h5        re-simulated jet pairs, one class per shard
    DIR/dark_<M>/raw/shard-XXXXX.h5   dark jets before resampling to the SM (pT, eta) spectrum

Each shard (``format = "jetzoo-rs3l-v1"``) holds N jet pairs; view a uses the plain keys, view b
the same keys with the suffix ``_b``. Tracks and cells are variable-length, stored flat with
offsets (jet i of view a owns ``tracks[track_offsets[i]:track_offsets[i+1]]``), pT- resp.
energy-ordered:

- ``tracks``: float32 ``(T, 5)`` = :data:`TRACK_FEATURES` (pT [GeV], eta, phi, d0 [mm], z0 [mm]);
- ``cells``: float32 ``(C, 4)`` = :data:`CELL_FEATURES` (E [GeV], eta, phi, layer 0..5);
- ``track_offsets``, ``cell_offsets``: int64 ``(N + 1,)``;
- ``jet_features``: float32 ``(N, 6)`` = :data:`JET_FEATURES` of the detector-level jet;
- ``hadron_jet_features``: float32 ``(N, 4)`` = :data:`HADRON_JET_FEATURES` of the matched
  hadron-level jet;
- ``labels``: int64 ``(N,)`` index into :data:`RS3L_CLASSES` (shared by both views);
- ``pair_index``: int64 ``(N, 2)`` = (event number in the shard, record index of the originating
  parton); rows with the same event number come from the same collision.

A batch (``RS3LPairDataset``, collated) is a dict with, for view a,

- ``tracks`` float32 ``(B, T, 5)`` = (pT, eta, dphi, d0, z0), ``track_mask`` bool ``(B, T)``;
- ``cells`` float32 ``(B, C, 4)`` = (E, eta, dphi, layer), ``cell_mask`` bool ``(B, C)``;
- ``jet`` float32 ``(B, 6)`` = :data:`JET_FEATURES`;

the same keys with ``_b`` for view b, and ``label`` int64 ``(B,)``, ``event`` int64 ``(B,)``
(a dataset-wide collision id). ``RS3LDataModule`` loaders pad to the caps, T = ``max_tracks``
(32) and C = ``max_cells`` (256), so batches have fixed shapes and concatenate;
``rs3l_collate`` without lengths pads to the largest counts in the batch. Padding is zero (at
the end), masks are True for real entries. ``dphi`` is the azimuth relative to the jet axis,
wrapped to [-pi, pi): the detector is symmetric in phi, so absolute phi carries no
information, while eta stays absolute because the detector is not symmetric in eta.
"""

from __future__ import annotations

from jetzoo.detector import CELL_FEATURES, LAYER_NAMES, TRACK_FEATURES

RS3L_FORMAT = "jetzoo-rs3l-v1"
SM_CLASSES: tuple[str, ...] = ("q", "g", "tau")
DARK_MODELS: tuple[str, ...] = ("A", "B", "C", "D")
RS3L_CLASSES: tuple[str, ...] = SM_CLASSES + tuple(f"dark_{m}" for m in DARK_MODELS)
JET_FEATURES: tuple[str, ...] = ("pt", "eta", "phi", "mass", "n_tracks", "n_cells")
HADRON_JET_FEATURES: tuple[str, ...] = ("pt", "eta", "phi", "mass")
VIEW_SUFFIXES: tuple[str, ...] = ("", "_b")
# per-view ragged and per-jet datasets of a shard
VIEW_KEYS: tuple[str, ...] = (
    "tracks",
    "track_offsets",
    "cells",
    "cell_offsets",
    "jet_features",
    "hadron_jet_features",
)

__all__ = [
    "RS3L_FORMAT",
    "SM_CLASSES",
    "DARK_MODELS",
    "RS3L_CLASSES",
    "JET_FEATURES",
    "HADRON_JET_FEATURES",
    "TRACK_FEATURES",
    "CELL_FEATURES",
    "LAYER_NAMES",
    "VIEW_SUFFIXES",
    "VIEW_KEYS",
    "rs3l_class_index",
]


def rs3l_class_index(name: str) -> int:
    """Index of an RS3L class name; ``DataError`` listing the known names otherwise."""
    from jetzoo.data.schema import DataError

    key = name.strip()
    if key not in RS3L_CLASSES:
        raise DataError(f"unknown RS3L class {name!r}; known classes: {', '.join(RS3L_CLASSES)}")
    return RS3L_CLASSES.index(key)
