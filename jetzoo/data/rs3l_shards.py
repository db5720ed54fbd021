"""RS3L shard files: writing pairs (tracks and cells at a stored precision), validity, the
subset of a shard the dark-jet resampling keeps and its weights, manifest entries and the
physics summary of a set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from jetzoo.data.rs3l_pairs import JetPair
from jetzoo.data.rs3l_schema import (
    HADRON_JET_FEATURES,
    JET_FEATURES,
    RS3L_CLASSES,
    RS3L_FORMAT,
    VIEW_KEYS,
    VIEW_SUFFIXES,
)

# Stored precision (mantissa bits of float32) per column: far below the detector resolution
# (2^-11 = 0.05% for energies / pT, 2^-12 * pi = 0.8 mrad for cell positions, which are cell
# centres on a grid of >= 25 mrad, 2^-15 * pi = 0.1 mrad for track angles), and it lets gzip
# halve the files.
TRACK_MANTISSA_BITS = (11, 15, 15, 12, 12)
CELL_MANTISSA_BITS = (11, 12, 12, 23)


def round_mantissa(x: np.ndarray, bits: tuple[int, ...]) -> np.ndarray:
    """Round each column of a float32 array to ``bits`` mantissa bits (nearest, ties up)."""
    x = np.ascontiguousarray(x, dtype=np.float32).copy()
    ints = x.view(np.uint32)
    for col, b in enumerate(bits):
        if b < 23:
            drop = np.uint32(23 - b)
            half = np.uint32(1) << (drop - np.uint32(1))
            ints[:, col] = ((ints[:, col] + half) >> drop) << drop
    return x


def write_shard(path: Path, pairs: list[JetPair], kind: str, attrs: dict[str, Any]) -> None:
    """Write pairs to an RS3L HDF5 shard atomically (temp file + rename); tracks and cells
    are stored with :data:`TRACK_MANTISSA_BITS` / :data:`CELL_MANTISSA_BITS` precision."""
    import h5py

    from jetzoo.data.schema import SHARD_WRITER_VERSION
    from jetzoo.utils.io import atomic_path

    comp = {"compression": "gzip", "compression_opts": 6, "shuffle": True}
    n = len(pairs)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = RS3L_FORMAT
        f.attrs["classes"] = json.dumps(list(RS3L_CLASSES))
        f.attrs["class"] = kind
        f.attrs["jetzoo_version"] = SHARD_WRITER_VERSION
        f.attrs["n_pairs"] = n
        for key, value in attrs.items():
            scalar = isinstance(value, (int, float, str, np.integer, np.floating))
            f.attrs[key] = value if scalar else json.dumps(value)
        f.create_dataset("labels", data=np.array([p.label for p in pairs], dtype=np.int64))
        f.create_dataset(
            "pair_index",
            data=np.array([(p.event, p.origin) for p in pairs], dtype=np.int64).reshape(n, 2),
        )
        for v, suffix in enumerate(VIEW_SUFFIXES):
            tracks = [p.views[v][0] for p in pairs]
            cells = [p.views[v][1] for p in pairs]
            for name, arrays, bits in (
                ("tracks", tracks, TRACK_MANTISSA_BITS),
                ("cells", cells, CELL_MANTISSA_BITS),
            ):
                offsets = np.zeros(n + 1, dtype=np.int64)
                offsets[1:] = np.cumsum([len(a) for a in arrays])
                width = len(bits)
                flat = np.concatenate(arrays, axis=0) if n else np.zeros((0, width))
                flat = round_mantissa(flat.reshape(-1, width), bits)
                f.create_dataset(
                    name + suffix,
                    data=flat,
                    chunks=True if len(flat) else None,
                    **(comp if len(flat) else {}),
                )
                f.create_dataset(f"{name[:-1]}_offsets{suffix}", data=offsets)
            f.create_dataset(
                "jet_features" + suffix,
                data=np.array([p.views[v][2] for p in pairs], dtype=np.float32).reshape(
                    n, len(JET_FEATURES)
                ),
            )
            f.create_dataset(
                "hadron_jet_features" + suffix,
                data=np.array([p.views[v][3] for p in pairs], dtype=np.float32).reshape(
                    n, len(HADRON_JET_FEATURES)
                ),
            )


def shard_is_valid(path: Path) -> bool:
    """True if ``path`` is a complete RS3L shard (atomic writes leave no partial files)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return (
                f.attrs.get("format") == RS3L_FORMAT
                and "n_pairs" in f.attrs
                and len(f["labels"]) == int(f.attrs["n_pairs"])
            )
    except (OSError, KeyError):
        return False


def read_jet_features(path: Path, key: str = "jet_features") -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        return f[key][:]


def subset_shard(src: Path, dst: Path, keep: np.ndarray, attrs: dict[str, Any]) -> int:
    """Copy the pairs ``keep`` (bool per pair) of shard ``src`` into a new shard ``dst``."""
    import h5py

    with h5py.File(src, "r") as f:
        kind = str(f.attrs["class"])
        base = {k: f.attrs[k] for k in ("seed", "pythia_seed", "shard", "settings", "stats")}
        labels, index = f["labels"][:], f["pair_index"][:]
        views = []
        for suffix in VIEW_SUFFIXES:
            views.append({k: f[k + suffix][:] for k in VIEW_KEYS})
    pairs = []
    for i in np.flatnonzero(keep):
        payload = []
        for d in views:
            to, co = d["track_offsets"], d["cell_offsets"]
            payload.append(
                (
                    d["tracks"][to[i] : to[i + 1]],
                    d["cells"][co[i] : co[i + 1]],
                    d["jet_features"][i],
                    d["hadron_jet_features"][i],
                )
            )
        pairs.append(
            JetPair(
                label=int(labels[i]),
                event=int(index[i, 0]),
                origin=int(index[i, 1]),
                views=tuple(payload),
            )
        )
    write_shard(dst, pairs, kind, {**base, **attrs})
    return len(pairs)


def resampling_weights(
    sm: np.ndarray,
    dark: np.ndarray,
    n_pt_bins: int = 8,
    eta_edges: Iterable[float] = (0.0, 1.0, 2.0, 3.0),
) -> np.ndarray:
    """Acceptance probability per dark jet that makes its (pT, |eta|) follow the SM jets'.

    Bins: SM pT quantiles x |eta| edges; weight = p_SM(bin) / p_dark(bin), scaled so that the
    largest weight is 1 (rejection sampling: no jet is used twice).
    """
    pt_edges = np.quantile(sm[:, 0], np.linspace(0, 1, n_pt_bins + 1))
    pt_edges[0], pt_edges[-1] = -np.inf, np.inf
    eta_edges = np.asarray(list(eta_edges), dtype=np.float64)
    eta_edges[-1] = np.inf

    def bins(x: np.ndarray) -> np.ndarray:
        ip = np.clip(np.searchsorted(pt_edges, x[:, 0], side="right") - 1, 0, n_pt_bins - 1)
        ie = np.clip(
            np.searchsorted(eta_edges, np.abs(x[:, 1]), side="right") - 1, 0, len(eta_edges) - 2
        )
        return ip * (len(eta_edges) - 1) + ie

    nb = n_pt_bins * (len(eta_edges) - 1)
    p_sm = np.bincount(bins(sm), minlength=nb) / len(sm)
    b_dark = bins(dark)
    p_dark = np.bincount(b_dark, minlength=nb) / max(len(dark), 1)
    ratio = np.where(p_dark > 0, p_sm / np.maximum(p_dark, 1e-12), 0.0)
    w = ratio[b_dark]
    return w / w.max() if len(w) and w.max() > 0 else w


def shard_entry(out: Path, path: Path) -> dict[str, Any]:
    import h5py

    from jetzoo.utils.io import sha256_file

    with h5py.File(path, "r") as f:
        stats = json.loads(f.attrs["stats"]) if "stats" in f.attrs else {}
        entry = {
            "path": str(path.relative_to(out)),
            "class": str(f.attrs["class"]),
            "pairs": int(f.attrs["n_pairs"]),
            "pythia_seed": int(f.attrs["pythia_seed"]),
        }
    entry.update(
        {
            k: stats[k]
            for k in ("events", "rejected_events", "failed_tau_events", "tau_attempts_mean")
            if k in stats
        }
    )
    entry["sha256"] = sha256_file(path)
    return entry


def summarize(out: Path, shard_paths: list[Path]) -> dict[str, Any]:
    """Physics numbers of a dataset: pair pT correlation, mean tracks / cells per jet, ..."""
    import h5py

    ja, jb, ha = [], [], []
    for p in shard_paths:
        with h5py.File(p, "r") as f:
            ja.append(f["jet_features"][:])
            jb.append(f["jet_features_b"][:])
            ha.append(f["hadron_jet_features"][:])
    if not ja or sum(len(a) for a in ja) < 2:
        return {}
    a, b, h = np.concatenate(ja), np.concatenate(jb), np.concatenate(ha)
    return {
        "pairs": int(len(a)),
        "pt_correlation": float(np.corrcoef(a[:, 0], b[:, 0])[0, 1]),
        "mean_tracks_per_jet": float(np.concatenate([a[:, 4], b[:, 4]]).mean()),
        "mean_cells_per_jet": float(np.concatenate([a[:, 5], b[:, 5]]).mean()),
        "mean_detector_over_hadron_pt": float(np.mean(a[:, 0] / h[:, 0])),
        "mean_detector_pt": float(a[:, 0].mean()),
    }
