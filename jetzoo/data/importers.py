"""``jetzoo data import {jetnet,toptagging,jetclass,qg} SRC --out DIR``: public jet datasets as
jetzoo shards.

Each importer reads the files of one public dataset in its published layout and writes jetzoo
shards (:mod:`jetzoo.data.shards`: JetNet layout, labels, the dataset's own class list in the
``classes`` attribute), a ``manifest.json`` (source files and their sha256, the published
train/val/test split as ranges of global jet indices, the dataset sha256) and a
``preprocessing.json`` fitted on the training range. Jets are stored in split order (train, val,
test), so the published split is ``split: published`` of a task or a data module.

=============  ==============================================  ==========================  =====
kind           files (published layout)                        classes (label order)       split
=============  ==============================================  ==========================  =====
``jetnet``     ``g.hdf5`` ... ``z.hdf5`` (or ``g150.hdf5``):   g, q, t, w, z (the          70/15/15, ``np.random.seed(42)``
               ``particle_features (N,P,4)``, ``jet_features``  ``jetnet`` package)         permutation (``jetnet`` package)
``toptagging`` ``train.h5``, ``val.h5``, ``test.h5``: pandas    qcd, top (``is_signal_new``) the three files
               HDF5 key ``table`` (E/PX/PY/PZ_0..199)
``jetclass``   ROOT files, tree ``tree``: ``part_px/py/pz/     QCD, Hbb, Hcc, Hgg, H4q,     folders ``train*``, ``val*``,
               energy`` (jagged), one-hot ``label_*``          Hqql, Zqq, Wqq, Tbqq, Tbl    ``test*``
``qg``         ``QG_jets*.npz`` (energyflow): ``X (N,M,4)`` =  g, q (``y``: 1 = quark)      70/15/15, seed 42
               (pt, y, phi, pid), ``y``
=============  ==============================================  ==========================  =====

Every constituent list goes through :func:`jetnet_features`: the jet four-vector is the sum of
all constituents, ``eta_rel = eta - eta_jet``, ``phi_rel`` wrapped to (-pi, pi], ``pt_rel = pT /
scalar pT sum`` (the jetzoo convention), the ``max_particles`` hardest kept, zero padding.

Download helpers (:func:`download`) fetch the published files for users with a network
connection; nothing in jetzoo's tests calls them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import shutil
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from jetzoo.data import shards as sh
from jetzoo.data.schema import (
    JET_FEATURES,
    PARTICLE_FEATURES,
    SHARD_FORMAT,
    SHARD_WRITER_VERSION,
    DataError,
    integer_labels,
)

SPLITS = ("train", "val", "test")
JETNET_PACKAGE_CLASSES = ("g", "q", "t", "w", "z")  # jetnet.datasets.JetNet.jet_types
JETCLASS_CLASSES = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")
TOPTAGGING_CLASSES = ("qcd", "top")
QG_CLASSES = ("g", "q")
#: particle masses [GeV] by |PDG id| for the energyflow quark-gluon set (others: massless)
PDG_MASS = {
    211: 0.13957,
    321: 0.493677,
    2212: 0.938272,
    2112: 0.939565,
    130: 0.497611,
    11: 0.000511,
    13: 0.105658,
    22: 0.0,
}


# --------------------------------------------------------------------------------------------
# Physics: constituents -> JetNet features
# --------------------------------------------------------------------------------------------


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def jetnet_features(
    energy: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    valid: np.ndarray,
    max_particles: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """JetNet ``particle_features (N, P, 4)`` and ``jet_features (N, 4)`` from constituent
    four-vectors ``(N, M)`` with ``valid (N, M)`` marking real constituents.

    The jet is the four-vector sum of all valid constituents; particles are sorted by pT and the
    ``max_particles`` hardest kept (``n_particles`` counts all of them).
    """
    valid = np.asarray(valid, bool)
    e, px, py, pz = (np.where(valid, np.asarray(a, np.float64), 0.0) for a in (energy, px, py, pz))
    pt = np.hypot(px, py)
    jpx, jpy, jpz, je = px.sum(1), py.sum(1), pz.sum(1), e.sum(1)
    jpt = np.hypot(jpx, jpy)
    with np.errstate(divide="ignore", invalid="ignore"):
        jeta = np.arcsinh(np.divide(jpz, jpt, out=np.zeros_like(jpz), where=jpt > 0))
        eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    jphi, phi = np.arctan2(jpy, jpx), np.arctan2(py, px)
    jmass = np.sqrt(np.clip(je**2 - jpx**2 - jpy**2 - jpz**2, 0.0, None))
    sum_pt = pt.sum(1)
    keep = valid & (pt > 0)
    order = np.argsort(np.where(keep, -pt, np.inf), axis=1, kind="stable")[:, :max_particles]
    take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    mask = take(keep)
    with np.errstate(divide="ignore", invalid="ignore"):
        pt_rel = take(pt) / np.where(sum_pt > 0, sum_pt, 1.0)[:, None]
    pf = np.stack(
        [
            take(eta) - jeta[:, None],
            _wrap(take(phi) - jphi[:, None]),
            pt_rel,
            mask.astype(np.float64),
        ],
        axis=-1,
    )
    pf = np.where(mask[..., None], pf, 0.0)  # +0.0 at padding (x * 0 gives -0.0 for x < 0)
    if pf.shape[1] < max_particles:
        pf = np.pad(pf, ((0, 0), (0, max_particles - pf.shape[1]), (0, 0)))
    jf = np.stack([jpt, jeta, jmass, keep.sum(1).astype(np.float64)], axis=1)
    return pf.astype(np.float32), jf.astype(np.float32)


def four_vectors_from_pt_y_phi(
    pt: np.ndarray, y: np.ndarray, phi: np.ndarray, mass: np.ndarray
) -> tuple[np.ndarray, ...]:
    """(E, px, py, pz) from transverse momentum, rapidity, azimuth and mass."""
    mt = np.sqrt(pt**2 + mass**2)
    return mt * np.cosh(y), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)


# --------------------------------------------------------------------------------------------
# Readers: each yields (split, particle_features, jet_features, labels) blocks
# --------------------------------------------------------------------------------------------

Block = tuple[str, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class PublicDataset:
    """One public dataset: its class list, how its files are found and read, where it lives."""

    kind: str
    classes: tuple[str, ...]
    description: str
    files: Callable[[Path], list[Path]]
    read: Callable[[list[Path], int], Iterator[Block]]
    urls: dict[str, str] = field(default_factory=dict)  # file name -> download URL


def _need(files: list[Path], src: Path, what: str) -> list[Path]:
    if not files:
        raise DataError(f"{src}: no {what} found")
    return files


def _paper_split(
    n: int, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 42
) -> np.ndarray:
    """Split name per jet as the ``jetnet`` package cuts it: ``np.random.seed(seed)``, one
    permutation, cuts at ``int(n * 0.7)`` and ``int(n * 0.85)``."""
    np.random.seed(seed)
    perm = np.random.permutation(n)
    cuts = np.cumsum([0, *(int(round(f * 1e6)) for f in fractions)]) / 1e6
    bounds = [int(n * c) for c in cuts[:-1]] + [n]
    names = np.empty(n, dtype=object)
    for name, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:]):
        names[perm[lo:hi]] = name
    return names


def _jetnet_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    found = []
    for c in JETNET_PACKAGE_CLASSES:
        for name in (f"{c}.hdf5", f"{c}150.hdf5"):
            if (src / name).is_file():
                found.append(src / name)
                break
    return _need(found, src, "JetNet files (g.hdf5, q.hdf5, t.hdf5, w.hdf5, z.hdf5)")


def _read_jetnet(files: list[Path], max_particles: int) -> Iterator[Block]:
    from jetzoo.data.jetnet_format import read_jetnet

    parts, jets, labels = [], [], []
    for f in files:
        cls = f.name.split(".")[0].rstrip("0123456789").lower()
        if cls not in JETNET_PACKAGE_CLASSES:
            raise DataError(
                f"{f}: the file name does not name a JetNet class "
                f"({', '.join(JETNET_PACKAGE_CLASSES)}): g.hdf5, q150.hdf5, ..."
            )
        arr = read_jetnet(f)
        pf = arr.particle_features[:, :max_particles].astype(np.float32)
        jf = arr.jet_features.astype(np.float32)
        parts.append(pf)
        jets.append(jf)
        labels.append(np.full(len(pf), JETNET_PACKAGE_CLASSES.index(cls), np.int64))
    pf, jf, y = np.concatenate(parts), np.concatenate(jets), np.concatenate(labels)
    if pf.shape[1] < max_particles:
        pf = np.pad(pf, ((0, 0), (0, max_particles - pf.shape[1]), (0, 0)))
    split = _paper_split(len(pf))
    for name in SPLITS:
        sel = np.flatnonzero(split == name)
        yield name, pf[sel], jf[sel], y[sel]


def _toptagging_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    return _need(
        [src / f"{s}.h5" for s in SPLITS if (src / f"{s}.h5").is_file()],
        src,
        "Top Quark Tagging files (train.h5, val.h5, test.h5)",
    )


#: rows of a Top Tagging file read at once (804 float32 columns: ~65 MB a chunk)
TOPTAGGING_CHUNK = 20_000
#: jets of a JetClass file (up to 128 particles each) or a quark-gluon npz turned into JetNet
#: features at once
JETCLASS_CHUNK = 20_000


class _NamesOnly(pickle.Unpickler):
    """PyTables stores a pandas table's column names as a protocol-0 pickle of a list of str.
    This reads such lists and nothing else: every global (the only way a pickle runs code) is
    refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _pickled_names(raw: Any, where: str) -> list[str]:
    try:
        names = _NamesOnly(io.BytesIO(bytes(raw))).load()
    except Exception as err:  # noqa: BLE001 - any malformed pickle
        raise DataError(f"{where}: not a list of column names ({err})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{where}: not a list of column names")
    return names


class _PandasFrame:
    """Row chunks of a pandas HDF5 frame read with h5py (no pandas needed), in either layout:

    - ``format='table'`` (PyTables, the published Top Tagging files): compound dataset
      ``key/table`` with fields ``values_block_<i>`` (rows x columns), the column names pickled
      in its attributes ``values_block_<i>_kind``;
    - ``format='fixed'``: group ``key`` with ``block<i>_items`` (names) and
      ``block<i>_values`` (rows x columns).
    """

    def __init__(self, f: Any, path: Path, key: str = "table") -> None:
        if key not in f:
            raise DataError(
                f"{path}: missing field {key!r} (a pandas HDF5 file of the Top "
                f"Quark Tagging set has one; fields present: {sorted(f.keys())})"
            )
        g = f[key]
        self.blocks: list[tuple[Any, str | None, list[str]]] = []  # dataset, field, names
        if (
            "table" in g
            and getattr(g["table"], "dtype", None) is not None
            and g["table"].dtype.names
        ):
            table = g["table"]
            for name in table.dtype.names:
                if not name.startswith("values_block_"):
                    continue
                kind = table.attrs.get(f"{name}_kind")
                if kind is None:
                    raise DataError(
                        f"{path}: field '{key}/table' has no attribute "
                        f"'{name}_kind' (the column names of {name})"
                    )
                names = _pickled_names(kind, f"{path}: attribute '{key}/table/{name}_kind'")
                width = table.dtype[name].shape[0] if table.dtype[name].shape else 1
                if width != len(names):
                    raise DataError(
                        f"{path}: field '{key}/table/{name}' has {width} columns, "
                        f"its attribute '{name}_kind' names {len(names)}"
                    )
                self.blocks.append((table, name, names))
            self.n = int(table.shape[0])
        else:
            k = 0
            while f"block{k}_items" in g:
                names = [
                    n.decode() if isinstance(n, bytes) else str(n) for n in g[f"block{k}_items"][()]
                ]
                values = g[f"block{k}_values"]
                if values.ndim != 2 or values.shape[1] != len(names):
                    raise DataError(
                        f"{path}: field '{key}/block{k}_values' has shape "
                        f"{values.shape}, 'block{k}_items' names {len(names)}"
                    )
                self.blocks.append((values, None, names))
                k += 1
            self.n = int(self.blocks[0][0].shape[0]) if self.blocks else 0
        if not self.blocks:
            raise DataError(
                f"{path}: field {key!r} holds no pandas blocks (neither "
                "'table/values_block_0' nor 'block0_items')"
            )
        self.columns = {
            n: (b, i) for b, (_, _, names) in enumerate(self.blocks) for i, n in enumerate(names)
        }

    def chunk(self, lo: int, hi: int, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Columns ``names`` of rows ``lo:hi``, each (rows,) (one read per block)."""
        out: dict[str, np.ndarray] = {}
        for b, (ds, fieldname, _) in enumerate(self.blocks):
            wanted = [n for n in names if self.columns[n][0] == b]
            if not wanted:
                continue
            rows = ds.fields(fieldname)[lo:hi] if fieldname else ds[lo:hi]
            rows = rows.reshape(hi - lo, -1)
            for n in wanted:
                out[n] = rows[:, self.columns[n][1]]
        return out


def _read_toptagging(files: list[Path], max_particles: int) -> Iterator[Block]:
    import h5py

    for path in files:
        try:
            f = h5py.File(path, "r")
        except OSError as err:
            raise DataError(
                f"{path}: not a readable HDF5 file (truncated or foreign?): {err}"
            ) from err
        with f:
            frame = _PandasFrame(f, path)
            n_const = sum(1 for c in frame.columns if c.startswith("E_") and c[2:].isdigit())
            for need in ("E_0", "PX_0", "PY_0", "PZ_0", "is_signal_new"):
                if need not in frame.columns:
                    raise DataError(f"{path}: missing field 'table/{need}'")
            names = [f"{p}_{i}" for p in ("E", "PX", "PY", "PZ") for i in range(n_const)]
            split = path.stem if path.stem in SPLITS else "train"
            for lo in range(0, frame.n, TOPTAGGING_CHUNK):
                hi = min(lo + TOPTAGGING_CHUNK, frame.n)
                cols = frame.chunk(lo, hi, [*names, "is_signal_new"])
                e, px, py, pz = (
                    np.stack([cols[f"{p}_{i}"] for i in range(n_const)], axis=1)
                    for p in ("E", "PX", "PY", "PZ")
                )
                pf, jf = jetnet_features(e, px, py, pz, e > 0, max_particles)
                labels = integer_labels(cols["is_signal_new"], path, "table/is_signal_new")
                yield split, pf, jf, labels


def _jetclass_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    return _need(sorted(src.rglob("*.root")), src, "JetClass ROOT files (*.root)")


def _jetclass_split(path: Path) -> str:
    for part in reversed(path.parts[:-1]):
        for name in SPLITS:
            if part.lower().startswith(name):
                return name
    return "train"


def _read_jetclass(files: list[Path], max_particles: int) -> Iterator[Block]:
    from jetzoo.utils.extras import require

    ak = require("awkward", "jetzoo data import jetclass")
    uproot = require("uproot", "jetzoo data import jetclass")
    branches = [
        "part_px",
        "part_py",
        "part_pz",
        "part_energy",
        *(f"label_{c}" for c in JETCLASS_CLASSES),
    ]
    for f in files:
        try:
            tree = uproot.open(f)["tree"]
        except Exception as err:  # uproot raises many types for foreign files
            raise DataError(f"{f}: not a readable JetClass ROOT file (tree 'tree'): {err}") from err
        missing = [b for b in branches if b not in tree.keys()]
        if missing:
            raise DataError(f"{f}: missing field 'tree/{missing[0]}'")
        # in chunks: a published file holds 100k jets of up to 128 particles. uproot reads
        # std::vector<float> branches and counted (jagged) arrays to the same awkward type
        for arrays in tree.iterate(branches, step_size=JETCLASS_CHUNK):
            m = int(ak.max(ak.num(arrays["part_px"]))) if len(arrays) else 0

            def pad(b: str) -> np.ndarray:
                return ak.to_numpy(ak.fill_none(ak.pad_none(arrays[b], m, clip=True), 0.0))

            e, px, py, pz = pad("part_energy"), pad("part_px"), pad("part_py"), pad("part_pz")
            valid = (
                ak.to_numpy(
                    ak.fill_none(ak.pad_none(ak.ones_like(arrays["part_px"]), m, clip=True), 0)
                )
                > 0
            )
            onehot = np.stack([ak.to_numpy(arrays[f"label_{c}"]) for c in JETCLASS_CLASSES], 1)
            if not np.all(onehot.sum(1) == 1):
                raise DataError(f"{f}: fields 'tree/label_*' are not one-hot")
            pf, jf = jetnet_features(e, px, py, pz, valid, max_particles)
            yield _jetclass_split(f), pf, jf, onehot.argmax(1).astype(np.int64)


def _qg_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    return _need(sorted(src.glob("QG_jets*.npz")), src, "energyflow files (QG_jets*.npz)")


def _read_qg(files: list[Path], max_particles: int) -> Iterator[Block]:
    parts, jets, labels = [], [], []
    for f in files:
        try:
            with np.load(f, allow_pickle=False) as npz:
                if "X" not in npz or "y" not in npz:
                    raise DataError(f"{f}: missing field {'X' if 'X' not in npz else 'y'!r}")
                x, y = npz["X"].astype(np.float64), npz["y"]
        except (OSError, ValueError) as err:
            raise DataError(f"{f}: not a readable .npz file: {err}") from err
        if x.ndim != 3 or x.shape[2] != 4 or len(y) != len(x):
            raise DataError(
                f"{f}: field 'X' has shape {x.shape}, expected (N, M, 4) with N = len(y) = {len(y)}"
            )
        for lo in range(0, len(x), JETCLASS_CHUNK):  # the float64 intermediates in chunks
            pt, rap, phi, pid = (x[lo : lo + JETCLASS_CHUNK, :, i] for i in range(4))
            mass = np.vectorize(lambda p: PDG_MASS.get(abs(int(p)), 0.0), otypes=[float])(pid)
            pf, jf = jetnet_features(
                *four_vectors_from_pt_y_phi(pt, rap, phi, mass), pt > 0, max_particles
            )
            parts.append(pf)
            jets.append(jf)
        labels.append(np.asarray(y).astype(np.int64))
    pf, jf, y = np.concatenate(parts), np.concatenate(jets), np.concatenate(labels)
    split = _paper_split(len(pf))
    for name in SPLITS:
        sel = np.flatnonzero(split == name)
        yield name, pf[sel], jf[sel], y[sel]


DATASETS: dict[str, PublicDataset] = {
    "jetnet": PublicDataset(
        "jetnet",
        JETNET_PACKAGE_CLASSES,
        "JetNet (Kansal et al., zenodo 6975118 / 6975117)",
        _jetnet_files,
        _read_jetnet,
        {
            f"{c}.hdf5": f"https://zenodo.org/record/6975118/files/{c}.hdf5"
            for c in JETNET_PACKAGE_CLASSES
        },
    ),
    "toptagging": PublicDataset(
        "toptagging",
        TOPTAGGING_CLASSES,
        "Top Quark Tagging reference (zenodo 2603256)",
        _toptagging_files,
        _read_toptagging,
        {f"{s}.h5": f"https://zenodo.org/record/2603256/files/{s}.h5" for s in SPLITS},
    ),
    "jetclass": PublicDataset(
        "jetclass",
        JETCLASS_CLASSES,
        "JetClass (Qu et al., zenodo 6619768)",
        _jetclass_files,
        _read_jetclass,
        {
            "JetClass_Pythia_val_5M.tar": "https://zenodo.org/record/6619768/files/"
            "JetClass_Pythia_val_5M.tar"
        },
    ),
    "qg": PublicDataset(
        "qg",
        QG_CLASSES,
        "energyflow Pythia quark-gluon jets (zenodo 3164691)",
        _qg_files,
        _read_qg,
        {"QG_jets.npz": "https://zenodo.org/record/3164691/files/QG_jets.npz"},
    ),
}


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def import_dataset(
    kind: str,
    src: str | Path,
    out: str | Path,
    max_particles: int = 30,
    shard_size: int = 10_000,
    progress: bool = False,
) -> dict[str, Any]:
    """Read the public dataset ``kind`` from ``src`` (a folder or one file) and write jetzoo
    shards, ``manifest.json`` and ``preprocessing.json`` to ``out``; returns the manifest.

    Jets are written in split order (train, val, test); the manifest's ``splits`` holds each
    split's range of global jet indices. DataError names the file and field of bad input.
    """
    if kind not in DATASETS:
        raise DataError(f"unknown public dataset {kind!r}; known: {', '.join(DATASETS)}")
    if max_particles < 1 or shard_size < 1:
        raise DataError("--max-particles and --shard-size must be >= 1")
    spec, src, out = DATASETS[kind], Path(src), Path(out)
    if not src.exists():
        raise DataError(
            f"{src}: not found (download it with `jetzoo data download {kind} "
            f"--out {src}` where a network is available)"
        )
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: folder is not empty; choose a new --out")
    files = spec.files(src)
    t0 = time.perf_counter()
    classes = [c.lower() for c in spec.classes]  # class names are lower case in jetzoo
    attrs = {
        "format": SHARD_FORMAT,
        "classes": json.dumps(classes),
        "source": kind,
        "particle_features": json.dumps(list(PARTICLE_FEATURES)),
        "jet_features": json.dumps(list(JET_FEATURES)),
        "jetzoo_version": SHARD_WRITER_VERSION,
    }
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    writer = _SplitShards(out, shard_size, attrs)
    try:  # a failed import leaves nothing behind
        return _import_into(
            kind, spec, src, out, files, writer, max_particles, shard_size, progress, classes, t0
        )
    except BaseException:
        writer.discard()
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _import_into(
    kind: str,
    spec: PublicDataset,
    src: Path,
    out: Path,
    files: list[Path],
    writer: "_SplitShards",
    max_particles: int,
    shard_size: int,
    progress: bool,
    classes: list[str],
    t0: float,
) -> dict[str, Any]:
    """The body of :func:`import_dataset` once ``out`` exists: read, write, manifest."""
    from tqdm.auto import tqdm

    with tqdm(desc=f"importing {kind}", unit=" jets", disable=not progress) as bar:
        for split, pf, jf, y in spec.read(files, max_particles):
            if len(y) and (y.min() < 0 or y.max() >= len(spec.classes)):
                raise DataError(f"{src}: labels outside 0..{len(spec.classes) - 1}")
            writer.add(split, pf, jf, y)
            bar.update(len(y))
    shard_list, splits, start = writer.finish()
    if not shard_list:
        raise DataError(f"{src}: no jets read")
    infos = [sh.inspect_file(out / e["file"]) for e in shard_list]
    train = (
        np.arange(*splits["train"]) if splits["train"][1] > splits["train"][0] else np.arange(start)
    )
    sh.fit_preprocessing(infos, train).save(out / sh.PREPROCESSING_NAME)
    from jetzoo import __version__

    manifest = {
        "format": SHARD_FORMAT,
        "jetzoo_version": __version__,  # what ran (the shards carry SHARD_WRITER_VERSION)
        "source": {
            "kind": kind,
            "description": spec.description,
            "files": [
                {
                    "file": str(f.relative_to(src) if src.is_dir() else f.name),
                    "sha256": sh.sha256_file(f),
                }
                for f in files
            ],
        },
        "command": f"jetzoo data import {kind} {src.name} --out {out.name} "
        f"--max-particles {max_particles} --shard-size {shard_size}",
        "classes": classes,
        "n_jets": start,
        "max_particles": max_particles,
        "splits": splits,
        "split": {"published": True},
        "preprocessing": sh.PREPROCESSING_NAME,
        "shards": shard_list,
        "dataset_sha256": sh.dataset_sha256(e["sha256"] for e in shard_list),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    sh.write_manifest(out, manifest)
    return manifest


class _SplitShards:
    """Shards written as the jets arrive (bounded memory: one shard's jets per split), then
    named in split order (train, val, test), each shard holding one split."""

    def __init__(self, out: Path, shard_size: int, attrs: dict[str, Any]) -> None:
        self.out, self.shard_size, self.attrs = out, shard_size, attrs
        self.buffers: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
            s: [] for s in SPLITS
        }
        self.written: dict[str, list[tuple[Path, int, str]]] = {s: [] for s in SPLITS}
        self.named: list[str] = []

    def add(self, split: str, pf: np.ndarray, jf: np.ndarray, y: np.ndarray) -> None:
        self.buffers[split].append((pf, jf, y))
        while sum(len(b[2]) for b in self.buffers[split]) >= self.shard_size:
            self._flush(split, self.shard_size)

    def _flush(self, split: str, n: int | None = None) -> None:
        blocks = self.buffers[split]
        pf, jf, y = (np.concatenate([b[i] for b in blocks]) for i in range(3))
        n = len(y) if n is None else n
        tmp = self.out / f".{split}-{len(self.written[split]):05d}.h5.part"
        digest = sh.write_shard(
            tmp, sh.shard_arrays(pf[:n], jf[:n], y[:n]), {**self.attrs, "split": split}
        )
        self.written[split].append((tmp, n, digest))
        self.buffers[split] = [(pf[n:], jf[n:], y[n:])] if n < len(y) else []

    def finish(self) -> tuple[list[dict[str, Any]], dict[str, list[int]], int]:
        """Rename the shards into split order; (manifest shard entries, split ranges, jets)."""
        shard_list: list[dict[str, Any]] = []
        splits: dict[str, list[int]] = {}
        start = 0
        for split in SPLITS:
            if self.buffers[split]:
                self._flush(split)
            n_split = 0
            for tmp, n, digest in self.written[split]:
                name = sh.shard_name(len(shard_list))
                os.replace(tmp, self.out / name)
                self.named.append(name)
                shard_list.append({"file": name, "split": split, "n_jets": n, "sha256": digest})
                n_split += n
            splits[split] = [start, start + n_split]
            start += n_split
        return shard_list, splits, start

    def discard(self) -> None:
        """Remove every shard this writer wrote (named or not yet)."""
        for split in SPLITS:
            for tmp, _, _ in self.written[split]:
                tmp.unlink(missing_ok=True)
        for entry in self.named:
            (self.out / entry).unlink(missing_ok=True)


def download(
    kind: str,
    out: str | Path,
    files: Sequence[str] | None = None,
    opener: Callable[[str], Any] = urllib.request.urlopen,
) -> list[Path]:
    """Download the published files of ``kind`` into ``out`` (needs a network connection; never
    called by the tests). Files already present are kept; each download goes to a temporary
    name first. Returns the local paths."""
    from jetzoo.utils.io import atomic_path

    spec = DATASETS[kind]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in files or list(spec.urls):
        target = out / name
        if not target.is_file():
            with opener(spec.urls[name]) as response, atomic_path(target) as tmp:
                with open(tmp, "wb") as fh:
                    while chunk := response.read(1 << 20):
                        fh.write(chunk)
        paths.append(target)
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=sorted(DATASETS), help="which public dataset")
    parser.add_argument(
        "src", type=Path, help="its files: a folder (or one file) in the published layout"
    )
    parser.add_argument("--out", type=Path, required=True, help="new folder for jetzoo shards")
    parser.add_argument(
        "--max-particles",
        type=int,
        default=30,
        help="hardest constituents kept per jet (default 30, as JetNet)",
    )
    parser.add_argument("--shard-size", type=int, default=10_000, help="jets per shard")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    try:
        manifest = import_dataset(
            args.kind,
            args.src,
            args.out,
            args.max_particles,
            args.shard_size,
            progress=not args.no_progress,
        )
    except DataError as err:
        print(f"jetzoo data import: error: {err}", file=sys.stderr)
        return 1
    sizes = {k: v[1] - v[0] for k, v in manifest["splits"].items()}
    print(
        f"wrote {args.out}: {manifest['n_jets']} jets ({sizes}), classes "
        f"{', '.join(manifest['classes'])}, dataset sha256 {manifest['dataset_sha256']}"
    )
    return 0


def download_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=sorted(DATASETS))
    parser.add_argument("--out", type=Path, required=True)


def download_main(args: argparse.Namespace) -> int:
    for path in download(args.kind, args.out):
        print(path)
    return 0
