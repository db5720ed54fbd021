"""The data contract every jetzoo module reads: class names, feature names, batch keys.

JetNet layout (Kansal et al., zenodo 6975118), which jetzoo shards follow exactly:

- ``particle_features``: float32 ``(N, 30, 4)`` = (eta_rel, phi_rel, pt_rel, mask), the 30
  highest-pT constituents, pT-ordered, zero-padded at the end (mask = 0 there). In jetzoo
  shards pt_rel = pT / (scalar pT sum of all the jet's constituents), so the 30 sum to <= 1 and
  ``pt_rel * jet pt`` is the particle pT to within ~1% (jet pt is the vector sum).
- ``jet_features``: float32 ``(N, 4)`` = (pt [GeV], eta, mass [GeV], n_particles); in jetzoo
  shards n_particles counts all constituents (it may exceed 30).
- ``labels`` (jetzoo shards only): int64 ``(N,)``, index into :data:`JETNET_CLASSES`.

Pair shards (re-hadronized views of one parton event) add ``particle_features_b`` and
``jet_features_b`` with the same shapes.

A batch (what ``JetDataset`` yields, collated) is a dict:

- ``x``: float32 ``(B, N, 3)`` raw (eta_rel, phi_rel, pt_rel), zeros at padding;
- ``mask``: bool ``(B, N)``, True for a real particle;
- ``jet``: float32 ``(B, 4)`` as ``jet_features``;
- ``label``: int64 ``(B,)``;
- pairs also ``x_b``, ``mask_b``, ``jet_b``.
"""

from __future__ import annotations

from typing import Any

JETNET_CLASSES: tuple[str, ...] = ("q", "g", "t", "w", "z")
PARTICLE_FEATURES: tuple[str, ...] = ("eta_rel", "phi_rel", "pt_rel", "mask")
JET_FEATURES: tuple[str, ...] = ("pt", "eta", "mass", "n_particles")
N_PARTICLES: int = 30
N_INPUT_FEATURES: int = 3  # (eta_rel, phi_rel, pt_rel); the mask travels separately

PARTICLE_KEY = "particle_features"
JET_KEY = "jet_features"
LABEL_KEY = "labels"
PAIR_SUFFIX = "_b"
SHARD_FORMAT = "jetzoo-jetnet-v1"
#: The ``jetzoo_version`` attribute every shard writer stamps (JetNet, RS3L, imported): the
#: version whose writers made the pinned sets' bytes. It changes only when a writer's output
#: changes (and the catalog's pinned sha256s with it), not with each release: the pinned hashes
#: are of file bytes, so a stamp of the package version would make every release unable to
#: remake its own benchmark sets. The package version that ran is in ``manifest.json``.
SHARD_WRITER_VERSION = "0.1.0"


#: The data families: what a backbone reads, what a task holds, what a recipe trains on.
#: ``jetnet``: particles (``x (B, N, 3)``, ``mask (B, N)``); ``rs3l``: tracks and calorimeter
#: cells (``tracks``, ``track_mask``, ``cells``, ``cell_mask``).
FAMILIES: tuple[str, ...] = ("jetnet", "rs3l")


class DataError(ValueError):
    """A data file is missing, corrupt or malformed; the message names the file and the field."""


def class_index(name: str) -> int:
    """Index of a JetNet class name (case-insensitive); a clear error for unknown names."""
    key = name.strip().lower()
    if key not in JETNET_CLASSES:
        raise DataError(f"unknown jet class {name!r}; known classes: {', '.join(JETNET_CLASSES)}")
    return JETNET_CLASSES.index(key)


def integer_labels(raw: Any, path: object, key: str = "labels") -> Any:
    """``raw`` labels as int64; a float label that is not a whole number (0.7, -0.5 would be
    truncated to 0) is a :class:`DataError` naming the file, the field and the jet."""
    import numpy as np

    raw = np.asarray(raw)
    if raw.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(raw) | (raw != np.round(raw)))
        if len(bad):
            raise DataError(
                f"{path}: field {key!r} holds a non-integer label "
                f"{float(raw[bad[0]]):g} (jet {int(bad[0])}); labels are class indices"
            )
    elif raw.dtype.kind not in "iub":
        raise DataError(f"{path}: field {key!r} has dtype {raw.dtype}, expected integers")
    return raw.astype(np.int64)
