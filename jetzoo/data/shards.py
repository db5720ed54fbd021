"""jetzoo HDF5 shards: writing, validating, batched reading, manifest.json, dataset hash, splits.

One module reads every JetNet-layout file jetzoo meets, so a jetzoo shard and a user's
downloaded JetNet file (``g.hdf5``, ...) go through the same checks:

- :func:`inspect_file` opens a file once, checks the fields and shapes of
  :mod:`jetzoo.data.schema` and returns a :class:`FileInfo` (jet count, labels, pair keys);
- :func:`read_rows` reads the rows of a batch with one HDF5 read per field and rejects NaN/inf;
- :func:`write_shard` writes a gzip-compressed shard atomically (temp name + rename), with no
  timestamps in the file, so a fixed seed gives byte-identical shards.

Every problem raises :class:`~jetzoo.data.schema.DataError` naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import h5py
import numpy as np

from jetzoo.data.schema import (
    JET_FEATURES,
    JET_KEY,
    JETNET_CLASSES,
    LABEL_KEY,
    PAIR_SUFFIX,
    PARTICLE_FEATURES,
    PARTICLE_KEY,
    SHARD_FORMAT,
    DataError,
    class_index,
    integer_labels,
)
from jetzoo.utils.io import atomic_path, atomic_write_text, sha256_file

SHARD_GLOB = "shard-*.h5"
JETNET_GLOBS = ("*.hdf5", "*.h5")
MANIFEST_NAME = "manifest.json"
PREPROCESSING_NAME = "preprocessing.json"
TEMP_GLOB = ".shard-*.tmp"  # what jetzoo.utils.io.atomic_path leaves behind after a hard crash
DEFAULT_SPLIT: tuple[float, float, float] = (0.8, 0.1, 0.1)
DEFAULT_SPLIT_SEED = 0
CHUNK_JETS = 256  # HDF5 chunk along the jet axis (a batch read touches few chunks)
PAIR_KEYS = (PARTICLE_KEY + PAIR_SUFFIX, JET_KEY + PAIR_SUFFIX)


def shard_name(index: int) -> str:
    """File name of shard ``index``: ``shard-00000.h5``."""
    return f"shard-{index:05d}.h5"


@dataclass(frozen=True)
class FileInfo:
    """What :func:`inspect_file` learnt about one JetNet-layout file (jetzoo shard or JetNet)."""

    path: Path
    n_jets: int
    n_particles: int
    labels: np.ndarray  # int64 (n_jets,)
    has_pairs: bool
    layout: str  # "jetzoo" or "jetnet"
    attrs: dict[str, Any]
    classes: tuple[str, ...] = JETNET_CLASSES  # label i is classes[i] (the shard's own list)


def _attr(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _check_field(
    f: h5py.File, path: Path, key: str, tail: tuple[int | None, ...], n: int | None = None
) -> h5py.Dataset:
    """The dataset ``key`` with shape ``(n, *tail)`` (None = any size), or a DataError."""
    if key not in f:
        raise DataError(f"{path}: missing field {key!r} (fields present: {sorted(f.keys())})")
    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise DataError(f"{path}: field {key!r} is a group, expected an array")
    want = ("N" if n is None else n, *("*" if t is None else t for t in tail))
    ok = (
        ds.ndim == 1 + len(tail)
        and (n is None or ds.shape[0] == n)
        and all(t is None or s == t for s, t in zip(ds.shape[1:], tail))
    )
    if not ok:
        raise DataError(
            f"{path}: field {key!r} has shape {ds.shape}, expected ({', '.join(map(str, want))})"
        )
    if ds.dtype.kind not in "fiub":
        raise DataError(f"{path}: field {key!r} has dtype {ds.dtype}, expected numbers")
    return ds


def shard_classes(attrs: dict[str, Any], path: Path) -> tuple[str, ...]:
    """The class list of a jetzoo shard (attribute ``classes``, a JSON list; JetNet's five when
    absent): label ``i`` names ``classes[i]``. Imported public sets carry their own lists."""
    raw = attrs.get("classes")
    if raw is None:
        return JETNET_CLASSES
    try:
        classes = json.loads(raw) if isinstance(raw, str) else list(raw)
    except (TypeError, ValueError) as err:
        raise DataError(f"{path}: attribute 'classes' is not a JSON list ({err})") from err
    if (
        not isinstance(classes, list)
        or not classes
        or not all(isinstance(c, str) and c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise DataError(
            f"{path}: attribute 'classes' must be a list of distinct names, got {raw!r}"
        )
    return tuple(c.lower() for c in classes)


def class_from_filename(path: str | Path) -> str | None:
    """JetNet class from a file name such as ``g.hdf5`` or ``t150.hdf5``; None if not a class."""
    stem = Path(path).name.split(".")[0].rstrip("0123456789").lower()
    return stem if stem in JETNET_CLASSES else None


def inspect_file(path: str | Path, jet_class: str | None = None) -> FileInfo:
    """Open and validate one JetNet-layout HDF5 file.

    jetzoo shards (attribute ``format = jetzoo-jetnet-v1``) carry their labels; a public JetNet
    file takes its class from ``jet_class`` or else from its file name (``q.hdf5`` -> q).
    Raises DataError for a missing, truncated or foreign file, a missing field or a wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: not a readable HDF5 file (truncated or foreign?): {err}") from err
    with f:
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        layout = "jetzoo" if attrs.get("format") == SHARD_FORMAT else "jetnet"
        if "format" in attrs and layout == "jetnet":
            raise DataError(
                f"{path}: attribute 'format' is {attrs['format']!r}, expected {SHARD_FORMAT!r}"
            )
        pf = _check_field(f, path, PARTICLE_KEY, (None, len(PARTICLE_FEATURES)))
        n, n_part = pf.shape[0], pf.shape[1]
        if n == 0:
            raise DataError(f"{path}: field {PARTICLE_KEY!r} holds no jets")
        _check_field(f, path, JET_KEY, (len(JET_FEATURES),), n)
        classes = JETNET_CLASSES
        if layout == "jetzoo":
            classes = shard_classes(attrs, path)
            labels = integer_labels(_check_field(f, path, LABEL_KEY, (), n)[()], path, LABEL_KEY)
            if labels.min() < 0 or labels.max() >= len(classes):
                raise DataError(
                    f"{path}: field {LABEL_KEY!r} has values outside 0..{len(classes) - 1}"
                )
        else:
            name = jet_class or class_from_filename(path)
            if name is None:
                raise DataError(
                    f"{path}: field {LABEL_KEY!r} is missing and the class cannot be "
                    f"read from the file name; pass jet_class= one of {JETNET_CLASSES}"
                )
            labels = np.full(n, class_index(name), dtype=np.int64)
        has_pairs = all(k in f for k in PAIR_KEYS)
        if has_pairs:
            _check_field(f, path, PAIR_KEYS[0], (n_part, len(PARTICLE_FEATURES)), n)
            _check_field(f, path, PAIR_KEYS[1], (len(JET_FEATURES),), n)
    return FileInfo(path, n, n_part, labels, has_pairs, layout, attrs, classes)


def discover_files(path: str | Path) -> list[Path]:
    """The data files under ``path``: a single file, else a folder's ``shard-*.h5`` (sorted),
    else its JetNet files (``*.hdf5`` / ``*.h5``, sorted)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder")
    files = sorted(path.glob(SHARD_GLOB))
    for pattern in JETNET_GLOBS:
        files = files or sorted(p for p in path.glob(pattern) if not p.name.startswith("."))
    if not files:
        raise DataError(f"{path}: folder holds no {SHARD_GLOB} shards and no JetNet *.hdf5 files")
    return files


def _rows(ds: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """``ds[rows]`` for sorted unique ``rows`` in one HDF5 read: a contiguous slice when the
    rows are dense enough, else an HDF5 point selection."""
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    if hi - lo <= max(8 * len(rows), 4 * CHUNK_JETS):
        return ds[lo:hi][rows - lo]
    return ds[rows]


def read_rows(
    f: h5py.File | dict[str, h5py.Dataset], path: Path, key: str, rows: np.ndarray
) -> np.ndarray:
    """Rows ``rows`` (any order, repeats allowed) of field ``key`` of ``f`` (an open file or a
    dict of its open datasets) as float32; one HDF5 read.

    Raises DataError naming the file, the field and the first jet holding a NaN or inf.
    """
    rows = np.asarray(rows, dtype=np.int64)
    uniq, inverse = np.unique(rows, return_inverse=True)
    try:
        block = _rows(f[key], uniq)
    except (OSError, KeyError) as err:
        raise DataError(f"{path}: cannot read field {key!r}: {err}") from err
    block = np.asarray(block, dtype=np.float32)
    if not np.isfinite(block).all():
        bad = uniq[~np.isfinite(block.reshape(len(uniq), -1)).all(axis=1)][0]
        raise DataError(f"{path}: field {key!r} holds NaN or inf (jet {int(bad)})")
    return block[inverse]


def write_shard(path: str | Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> str:
    """Write one shard atomically; returns its sha256.

    ``arrays`` maps HDF5 keys to arrays (particle_features, jet_features, labels[, ..._b]).
    Datasets are gzip-compressed in chunks of :data:`CHUNK_JETS` jets and carry no timestamps,
    so identical arrays give identical bytes. A crash leaves only a hidden ``.shard-*.tmp``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=False) as f:
            for key, value in attrs.items():
                f.attrs[key] = value
            for key, value in arrays.items():
                value = np.ascontiguousarray(value)
                chunks = (min(CHUNK_JETS, len(value)), *value.shape[1:])
                f.create_dataset(
                    key,
                    data=value,
                    chunks=chunks,
                    compression="gzip",
                    compression_opts=4,
                    shuffle=True,
                    track_times=False,
                )
        digest = sha256_file(tmp)
    return digest


def shard_arrays(
    particle_features: np.ndarray,
    jet_features: np.ndarray,
    labels: np.ndarray,
    particle_features_b: np.ndarray | None = None,
    jet_features_b: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The HDF5 arrays of a shard with the schema's dtypes (pair keys only when given)."""
    out = {
        PARTICLE_KEY: np.asarray(particle_features, np.float32),
        JET_KEY: np.asarray(jet_features, np.float32),
        LABEL_KEY: np.asarray(labels, np.int64),
    }
    if particle_features_b is not None and jet_features_b is not None:
        out[PAIR_KEYS[0]] = np.asarray(particle_features_b, np.float32)
        out[PAIR_KEYS[1]] = np.asarray(jet_features_b, np.float32)
    return out


def clean_temp_files(folder: str | Path) -> list[Path]:
    """Remove the hidden temp files a crashed writer left in ``folder``; returns them."""
    removed = sorted(Path(folder).glob(TEMP_GLOB))
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def dataset_sha256(shard_hashes: Iterable[str]) -> str:
    """The dataset hash: sha256 over the sorted shard hashes joined by newlines."""
    return hashlib.sha256("\n".join(sorted(shard_hashes)).encode()).hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, per process


def _cached_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_file(path)
    return _VERIFIED[key]


def verified_dataset_sha256(path: str | Path) -> str:
    """The dataset sha256 of a folder (JetNet-like or RS3L) or file, checked byte for byte.

    With a ``manifest.json``, every listed shard (``file`` or ``path``) is hashed and compared
    with its entry, and the manifest's ``dataset_sha256`` with the hash of those: a shard changed
    after generation raises DataError naming the shard, the manifest and the field. Without
    one, the hash over the sorted ``*.h5`` / ``*.hdf5`` files. Hashes are remembered per process
    for unchanged files (size and mtime), so asking twice costs nothing.
    """
    path = Path(path)
    if path.is_file():
        return dataset_sha256([_cached_sha256(path)])
    manifest = read_manifest(path)
    if manifest is None:
        files = sorted(
            p
            for p in path.rglob("*")
            if p.suffix in (".h5", ".hdf5") and not p.name.startswith(".")
        )
        if not files:
            raise DataError(f"{path}: no HDF5 files to hash")
        return dataset_sha256(_cached_sha256(p) for p in files)
    where = path / MANIFEST_NAME
    hashes = []
    for k, entry in enumerate(manifest["shards"]):
        name = entry.get("file", entry.get("path")) if isinstance(entry, dict) else None
        if name is None or "sha256" not in entry:
            raise DataError(f"{where}: field 'shards[{k}]' needs 'file' (or 'path') and 'sha256'")
        shard = path / str(name)
        if not shard.is_file():
            raise DataError(f"{shard}: listed in {where} (field 'shards[{k}]') but missing")
        digest = _cached_sha256(shard)
        if digest != entry["sha256"]:
            raise DataError(
                f"{shard}: sha256 {digest[:16]}... differs from field "
                f"'shards[{k}].sha256' of {where} ({str(entry['sha256'])[:16]}...): "
                "the shard was changed after generation; regenerate it (the "
                "manifest's 'command', run again into this folder)"
            )
        hashes.append(digest)
    total = dataset_sha256(hashes)
    stated = manifest.get("dataset_sha256")
    if stated is not None and stated != total:
        raise DataError(
            f"{where}: field 'dataset_sha256' ({str(stated)[:16]}...) is not the hash "
            f"of its shards ({total[:16]}...)"
        )
    return total


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``folder/manifest.json`` atomically (keys sorted, so it is reproducible)."""
    path = Path(folder) / MANIFEST_NAME
    atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """``folder/manifest.json`` as a dict, None if absent; DataError if unreadable."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable manifest ({err})") from err
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
        raise DataError(f"{path}: field 'shards' is missing or not a list")
    return manifest


def check_manifest(folder: str | Path, shards_on_disk: dict[str, int]) -> None:
    """If ``folder`` has a manifest, its shards (name -> jet count) must be those on disk.

    Catches a folder whose generation is being resumed or was altered by hand; the sha256
    check of every byte is :func:`jetzoo.utils.io.sha256_file` against the manifest entries.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        return
    try:
        listed = {str(e["file"]): int(e["n_jets"]) for e in manifest["shards"]}
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(
            f"{Path(folder) / MANIFEST_NAME}: field 'shards' is malformed ({err!r})"
        ) from err
    if listed != shards_on_disk:
        diff = sorted(set(listed.items()) ^ set(shards_on_disk.items()))
        raise DataError(
            f"{Path(folder) / MANIFEST_NAME}: field 'shards' does not match the "
            f"shard files in the folder (first difference: {diff[0]}); an "
            f"unfinished 'jetzoo generate jetnet' run? rerun it to complete"
        )


def split_indices(
    n: int, fractions: Sequence[float] = DEFAULT_SPLIT, seed: int = DEFAULT_SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / val / test indices of ``n`` jets: a seeded permutation cut by ``fractions``.

    Splits are taken over all jets of a dataset before any class filter, so a jet keeps its
    split whatever subset of classes a task reads. Each part is returned sorted.
    """
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or (fr < 0).any() or not np.isclose(fr.sum(), 1.0):
        raise ValueError(
            f"split must be three non-negative fractions summing to 1, got {fractions}"
        )
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fr[0] * n))
    n_val = int(round(fr[1] * n))
    parts = perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]
    return tuple(np.sort(p) for p in parts)  # type: ignore[return-value]


def published_split(folder: str | Path, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / val / test indices of a dataset that records its published split (an imported
    public set: manifest field ``splits``, ranges of global jet indices)."""
    manifest = read_manifest(folder) if Path(folder).is_dir() else None
    where = Path(folder) / MANIFEST_NAME
    if manifest is None or not isinstance(manifest.get("splits"), dict):
        raise DataError(
            f"{where}: field 'splits' is missing: only imported public datasets "
            "(`jetzoo data import`) have a published split; use split fractions"
        )
    parts = []
    for name in ("train", "val", "test"):
        lo, hi = (int(v) for v in manifest["splits"].get(name, (0, 0)))
        if not 0 <= lo <= hi <= n:
            raise DataError(
                f"{where}: field 'splits.{name}' = [{lo}, {hi}] lies outside the dataset's {n} jets"
            )
        parts.append(np.arange(lo, hi, dtype=np.int64))
    return tuple(parts)  # type: ignore[return-value]


def fit_preprocessing(
    infos: Sequence[FileInfo],
    indices: np.ndarray,
    max_jets: int = 100_000,
    seed: int = DEFAULT_SPLIT_SEED,
):
    """Fit :class:`~jetzoo.data.preprocessing.Preprocessing` on (at most ``max_jets`` of) the
    jets ``indices`` (global indices over ``infos`` in order), view a only."""
    from jetzoo.data.preprocessing import Preprocessing

    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) > max_jets:
        indices = np.sort(np.random.default_rng(seed).choice(indices, max_jets, replace=False))
    offsets = np.cumsum([0] + [i.n_jets for i in infos])
    parts = []
    for k, info in enumerate(infos):
        local = indices[(indices >= offsets[k]) & (indices < offsets[k + 1])] - offsets[k]
        if len(local):
            with h5py.File(info.path, "r") as f:
                rows = read_rows(f, info.path, PARTICLE_KEY, local)
            problem = Preprocessing.outlier_problem(rows)
            if problem:
                raise DataError(f"{info.path}: field {PARTICLE_KEY!r}: {problem}")
            parts.append(rows)
    if not parts:
        raise DataError("cannot fit preprocessing: no jets selected")
    try:
        return Preprocessing.fit(np.concatenate(parts))
    except ValueError as err:  # e.g. every jet empty
        where = Path(infos[0].path).parent
        raise DataError(
            f"{where}: field {PARTICLE_KEY!r}: {err} in the {len(indices)} jets "
            "selected (every particle's mask column is 0)"
        ) from None
