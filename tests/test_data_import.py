"""`jetzoo data import`: public datasets in their published layouts -> jetzoo shards.

Each fixture is written here in the exact published layout (JetNet HDF5; the Top Quark Tagging
set's pandas ``to_hdf`` 'table' frame with its block/axis datasets and attributes; a JetClass
ROOT tree written with uproot; an energyflow ``QG_jets.npz``), from constituents whose jet
kinematics are known, and imported through the command a user types.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from jetzoo.data import JetDataModule, JetDataset
from jetzoo.data import importers as imp
from jetzoo.data.jetnet_format import write_jetnet
from jetzoo.data.schema import DataError
from jetzoo.data.shards import verified_dataset_sha256


def _jetzoo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jetzoo.cli", *args], capture_output=True, text=True
    )


def _constituents(n: int, m: int, seed: int, eta0: float = 0.3, phi0: float = 3.0):
    """Massless constituents around (eta0, phi0) near the phi wrap: (E, px, py, pz, valid)."""
    rng = np.random.default_rng(seed)
    count = rng.integers(5, m + 1, size=n)
    valid = np.arange(m)[None, :] < count[:, None]
    pt = rng.exponential(40.0, size=(n, m)) * valid
    eta = eta0 + 0.2 * rng.standard_normal((n, m))
    phi = phi0 + 0.2 * rng.standard_normal((n, m))
    e, px, py, pz = imp.four_vectors_from_pt_y_phi(pt, eta, phi, np.zeros_like(pt))
    return e * valid, px * valid, py * valid, pz * valid, valid


def test_jetnet_features_physics() -> None:
    """Jet four-vector sum, pT ordering, pt_rel, relative coordinates wrapped across +-pi."""
    e, px, py, pz, valid = _constituents(50, 40, seed=1)
    pf, jf = imp.jetnet_features(e, px, py, pz, valid, max_particles=60)
    jpx, jpy, jpz, je = px.sum(1), py.sum(1), pz.sum(1), e.sum(1)
    np.testing.assert_allclose(jf[:, 0], np.hypot(jpx, jpy), rtol=1e-5)
    np.testing.assert_allclose(jf[:, 2], np.sqrt(je**2 - jpx**2 - jpy**2 - jpz**2), rtol=1e-4)
    np.testing.assert_array_equal(jf[:, 3], valid.sum(1))
    mask = pf[..., 3] > 0
    np.testing.assert_array_equal(mask.sum(1), valid.sum(1))
    np.testing.assert_allclose(pf[..., 2].sum(1), 1.0, rtol=1e-5)  # all kept: pt_rel sums to 1
    assert np.all(np.diff(pf[..., 2], axis=1)[mask[:, 1:]] <= 0)  # pT-ordered
    assert np.abs(pf[..., 1][mask]).max() < 1.5  # phi wrapped: jets sit on the +-pi seam
    assert pf.shape == (50, 60, 4) and not pf[~mask].any()
    # truncation keeps the hardest and n_particles counts all
    pf30, jf30 = imp.jetnet_features(e, px, py, pz, valid, max_particles=30)
    np.testing.assert_allclose(pf30, pf[:, :30], atol=1e-6)
    np.testing.assert_array_equal(jf30, jf)


def _write_jetnet_fixture(folder: Path, n: int = 40) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for k, cls in enumerate(imp.JETNET_PACKAGE_CLASSES):
        pf = rng.random((n, 30, 4)).astype(np.float32)
        pf[..., 3] = (np.arange(30)[None, :] < rng.integers(3, 31, (n, 1))).astype(np.float32)
        pf[..., :3] *= pf[..., 3:]
        jf = np.column_stack(
            [np.full(n, 1000.0 + k), np.zeros(n), np.full(n, 50.0 * (k + 1)), pf[..., 3].sum(1)]
        ).astype(np.float32)
        write_jetnet(folder / f"{cls}.hdf5", pf, jf)
        arrays[cls] = pf
    return arrays


def test_import_jetnet_keeps_features_classes_and_paper_split(tmp_path: Path) -> None:
    arrays = _write_jetnet_fixture(tmp_path / "jetnet")
    r = _jetzoo(
        "data",
        "import",
        "jetnet",
        str(tmp_path / "jetnet"),
        "--out",
        str(tmp_path / "out"),
        "--shard-size",
        "64",
    )
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["classes"] == ["g", "q", "t", "w", "z"]  # the jetnet package's order
    n = 5 * 40
    # the jetnet package's split: np.random.seed(42) permutation, cuts at 70% and 85%
    np.random.seed(42)
    perm = np.random.permutation(n)
    assert manifest["splits"] == {"train": [0, 140], "val": [140, 170], "test": [170, 200]}
    ds = JetDataset(tmp_path / "out")
    assert ds.class_names == ("g", "q", "t", "w", "z")
    full = np.concatenate([arrays[c] for c in imp.JETNET_PACKAGE_CLASSES])
    labels = np.repeat(np.arange(5), 40)
    order = np.concatenate([np.sort(perm[:140]), np.sort(perm[140:170]), np.sort(perm[170:])])
    batch = ds.read(np.arange(n))
    # per split the jets keep their file order (a stable selection of the permutation's set)
    np.testing.assert_array_equal(batch["label"], labels[order])
    np.testing.assert_allclose(batch["x"], full[order, :, :3], atol=0)
    assert verified_dataset_sha256(tmp_path / "out") == manifest["dataset_sha256"]
    dm = JetDataModule(tmp_path / "out", split="published", classes=["t", "w"])
    dm.setup()
    assert len(dm.dataset("test")) == np.isin(labels[perm[170:]], [2, 3]).sum()
    assert dm.class_names == ["t", "w"]


def _write_pandas_frame(path: Path, columns: dict[str, np.ndarray]) -> None:
    """A pandas ``DataFrame.to_hdf(path, key='table')`` (fixed format) file, written with h5py
    exactly as pandas/PyTables lay it out: float64 and int64 blocks, axis0 = column names,
    axis1 = the row index, PyTables attributes."""
    names = list(columns)
    floats = [c for c in names if columns[c].dtype.kind == "f"]
    ints = [c for c in names if columns[c].dtype.kind in "iu"]
    n = len(next(iter(columns.values())))

    def array(group: h5py.Group, key: str, data: np.ndarray, **attrs: object) -> None:
        ds = group.create_dataset(key, data=data)
        ds.attrs.update(
            {
                "CLASS": np.bytes_(b"ARRAY"),
                "FLAVOR": np.bytes_(b"numpy"),
                "TITLE": h5py.Empty("S1"),
                "VERSION": np.bytes_(b"2.4"),
                "transposed": np.uint8(1),
                **attrs,
            }
        )

    with h5py.File(path, "w") as f:
        g = f.create_group("table")
        g.attrs.update(
            {
                "CLASS": np.bytes_(b"GROUP"),
                "TITLE": h5py.Empty("S1"),
                "VERSION": np.bytes_(b"1.0"),
                "pandas_type": np.bytes_(b"frame"),
                "encoding": np.bytes_(b"UTF-8"),
                "errors": np.bytes_(b"strict"),
                "ndim": np.int64(2),
                "nblocks": np.int64(2),
                "axis0_variety": np.bytes_(b"regular"),
                "axis1_variety": np.bytes_(b"regular"),
                "block0_items_variety": np.bytes_(b"regular"),
                "block1_items_variety": np.bytes_(b"regular"),
            }
        )
        text = {"kind": np.bytes_(b"string"), "name": np.bytes_(b"N."), "nan_rep": h5py.Empty("S1")}
        array(g, "axis0", np.array(names, dtype="S"), **text)
        array(
            g,
            "axis1",
            np.arange(n, dtype=np.int64),
            kind=np.bytes_(b"integer"),
            name=np.bytes_(b"N."),
        )
        for k, block in enumerate((floats, ints)):
            array(g, f"block{k}_items", np.array(block, dtype="S"), **text)
            array(g, f"block{k}_values", np.stack([columns[c] for c in block], axis=1))


def test_import_toptagging_pandas_table(tmp_path: Path) -> None:
    src = tmp_path / "toptag"
    src.mkdir()
    truth = {}
    for k, split in enumerate(imp.SPLITS):
        e, px, py, pz, valid = _constituents(12, 200, seed=10 + k, eta0=-0.5, phi0=1.0)
        cols: dict[str, np.ndarray] = {}
        for i in range(200):
            for name, arr in (("E", e), ("PX", px), ("PY", py), ("PZ", pz)):
                cols[f"{name}_{i}"] = arr[:, i]
        for name in ("truthE", "truthPX", "truthPY", "truthPZ"):
            cols[name] = np.zeros(12)
        cols["ttv"] = np.full(12, k, np.int64)
        cols["is_signal_new"] = (np.arange(12) % 2).astype(np.int64)
        _write_pandas_frame(src / f"{split}.h5", cols)
        truth[split] = np.hypot(px.sum(1), py.sum(1))
    r = _jetzoo("data", "import", "toptagging", str(src), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["classes"] == ["qcd", "top"]
    assert manifest["splits"] == {"train": [0, 12], "val": [12, 24], "test": [24, 36]}
    ds = JetDataset(tmp_path / "out")
    batch = ds.read(np.arange(36))
    np.testing.assert_array_equal(batch["label"], np.tile(np.arange(12) % 2, 3))
    np.testing.assert_allclose(
        batch["jet"][:, 0], np.concatenate([truth[s] for s in imp.SPLITS]), rtol=1e-5
    )
    assert batch["mask"].sum(1).max() == 30
    assert ds.class_counts() == {"qcd": 18, "top": 18}


def _toptagging_frame(n: int, seed: int):
    """A frame with the published files' 806 columns in their order: E_0, PX_0, PY_0, PZ_0,
    E_1, ... PZ_199 (float32), truthE/PX/PY/PZ (float32), ttv and is_signal_new (int64)."""
    import pandas as pd

    e, px, py, pz, valid = _constituents(n, 200, seed=seed, eta0=-0.5, phi0=1.0)
    cols: dict[str, np.ndarray] = {}
    for i in range(200):
        for name, arr in (("E", e), ("PX", px), ("PY", py), ("PZ", pz)):
            cols[f"{name}_{i}"] = arr[:, i].astype(np.float32)
    for name in ("truthE", "truthPX", "truthPY", "truthPZ"):
        cols[name] = np.zeros(n, np.float32)
    cols["ttv"] = np.zeros(n, np.int64)
    cols["is_signal_new"] = (np.arange(n) % 2).astype(np.int64)
    return pd.DataFrame(cols)


def test_import_toptagging_real_table_layout(tmp_path: Path, monkeypatch) -> None:
    """The published files are pandas format='table' (PyTables: /table/table with
    values_block_0 (804 float32) and values_block_1 (ttv, is_signal_new), the column names
    pickled in the table's attributes). Written by pandas itself, read in chunks, they import
    to the same shards as the same frames in the 'fixed' layout."""
    pytest.importorskip("tables")
    table, fixed = tmp_path / "table", tmp_path / "fixed"
    table.mkdir()
    fixed.mkdir()
    for k, split in enumerate(imp.SPLITS):
        frame = _toptagging_frame(23, seed=30 + k)
        frame.to_hdf(table / f"{split}.h5", key="table", format="table", mode="w")
        frame.to_hdf(fixed / f"{split}.h5", key="table", format="fixed", mode="w")
    with h5py.File(table / "train.h5") as f:  # the layout of the real files
        assert f["table/table"].dtype["values_block_0"].shape == (804,)
        assert f["table/table"].dtype["values_block_1"].shape == (2,)
    monkeypatch.setattr(imp, "TOPTAGGING_CHUNK", 5)  # chunks do not change a byte
    a = imp.import_dataset("toptagging", table, tmp_path / "out-table", shard_size=10)
    monkeypatch.setattr(imp, "TOPTAGGING_CHUNK", 10_000)
    b = imp.import_dataset("toptagging", fixed, tmp_path / "out-fixed", shard_size=10)
    assert a["dataset_sha256"] == b["dataset_sha256"]
    assert a["splits"] == {"train": [0, 23], "val": [23, 46], "test": [46, 69]}
    assert len(a["shards"]) == 9 and {s["split"] for s in a["shards"][:3]} == {"train"}
    ds = JetDataset(tmp_path / "out-table")
    assert ds.class_counts() == {"qcd": 36, "top": 33}


def test_import_toptagging_refuses_a_pickle_that_is_not_names(tmp_path: Path) -> None:
    """Column names are read from PyTables' pickled attribute without running any code."""
    import pickle

    pytest.importorskip("tables")
    src = tmp_path / "src"
    src.mkdir()
    _toptagging_frame(4, seed=1).to_hdf(src / "train.h5", key="table", format="table")
    with h5py.File(src / "train.h5", "r+") as f:
        f["table/table"].attrs["values_block_1_kind"] = np.bytes_(
            pickle.dumps(print, protocol=0)
        )  # a global: refused, never called
    with pytest.raises(
        DataError,
        match=r"train.h5: attribute 'table/table/values_block_1_kind'"
        r": not a list of column names \(refused global",
    ):
        imp.import_dataset("toptagging", src, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # a failed import leaves nothing


def test_import_toptagging_bad_file_names_field(tmp_path: Path) -> None:
    src = tmp_path / "toptag"
    src.mkdir()
    with h5py.File(src / "train.h5", "w") as f:
        f.create_dataset("df", data=np.zeros(3))
    r = _jetzoo("data", "import", "toptagging", str(src), "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert "train.h5: missing field 'table'" in r.stderr and "Traceback" not in r.stderr


def test_import_jetclass_in_chunks_gives_the_same_bytes(tmp_path: Path, monkeypatch) -> None:
    import awkward as ak
    import uproot

    src = tmp_path / "JetClass" / "train_100M"
    src.mkdir(parents=True)
    e, px, py, pz, valid = _constituents(11, 25, seed=5)
    counts = valid.sum(1)
    jag = lambda a: ak.unflatten(a[valid].astype(np.float32), counts)  # noqa: E731
    branches = {"part_px": jag(px), "part_py": jag(py), "part_pz": jag(pz), "part_energy": jag(e)}
    for c in imp.JETCLASS_CLASSES:
        branches[f"label_{c}"] = np.arange(11) % 2 == (c == "QCD")
        if c not in ("QCD", "Hbb"):
            branches[f"label_{c}"] = np.zeros(11, bool)
    with uproot.recreate(src / "HToBB_000.root") as f:
        f["tree"] = branches
    monkeypatch.setattr(imp, "JETCLASS_CHUNK", 4)
    a = imp.import_dataset("jetclass", tmp_path / "JetClass", tmp_path / "a", shard_size=5)
    monkeypatch.setattr(imp, "JETCLASS_CHUNK", 100_000)
    b = imp.import_dataset("jetclass", tmp_path / "JetClass", tmp_path / "b", shard_size=5)
    assert a["dataset_sha256"] == b["dataset_sha256"] and a["n_jets"] == 11


def test_import_jetclass_root(tmp_path: Path) -> None:
    import awkward as ak
    import uproot

    src = tmp_path / "JetClass" / "val_5M"
    src.mkdir(parents=True)
    for k, cls in enumerate(("HToBB", "ZJetsToNuNu")):
        e, px, py, pz, valid = _constituents(8, 25, seed=20 + k)
        counts = valid.sum(1)
        jag = lambda a: ak.unflatten(a[valid].astype(np.float32), counts)  # noqa: E731
        branches = {
            "part_px": jag(px),
            "part_py": jag(py),
            "part_pz": jag(pz),
            "part_energy": jag(e),
            "jet_pt": np.hypot(px.sum(1), py.sum(1)),
        }
        for c in imp.JETCLASS_CLASSES:
            want = "Hbb" if k == 0 else "QCD"
            branches[f"label_{c}"] = np.full(8, c == want, dtype=bool)
        with uproot.recreate(src / f"{cls}_120.root") as f:
            f["tree"] = branches
    r = _jetzoo(
        "data", "import", "jetclass", str(tmp_path / "JetClass"), "--out", str(tmp_path / "out")
    )
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["classes"] == [c.lower() for c in imp.JETCLASS_CLASSES]
    assert manifest["splits"]["val"] == [0, 16]  # files under val_5M/
    ds = JetDataset(tmp_path / "out")
    assert ds.class_counts() == {"qcd": 8, "hbb": 8}
    batch = ds.read(np.arange(16))
    with uproot.open(src / "HToBB_120.root") as f:
        jet_pt = f["tree"]["jet_pt"].array(library="np")
    np.testing.assert_allclose(batch["jet"][:8, 0], jet_pt, rtol=1e-5)


def test_import_qg_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n, m = 30, 20
    count = rng.integers(3, m, n)
    valid = np.arange(m)[None, :] < count[:, None]
    x = np.zeros((n, m, 4))
    x[..., 0] = rng.exponential(30.0, (n, m)) * valid
    x[..., 1] = 1.0 + 0.1 * rng.standard_normal((n, m)) * valid
    x[..., 2] = 2.0 + 0.1 * rng.standard_normal((n, m)) * valid
    x[..., 3] = rng.choice([211, -211, 22, 2112], (n, m)) * valid
    y = (np.arange(n) % 2).astype(np.float64)
    np.savez_compressed(tmp_path / "QG_jets.npz", X=x, y=y)
    r = _jetzoo(
        "data", "import", "qg", str(tmp_path / "QG_jets.npz"), "--out", str(tmp_path / "out")
    )
    assert r.returncode == 0, r.stderr
    ds = JetDataset(tmp_path / "out")
    assert ds.class_names == ("g", "q")
    assert ds.class_counts() == {"g": 15, "q": 15}
    batch = ds.read(np.arange(n))
    assert np.allclose(batch["jet"][:, 1], 1.0, atol=0.15)  # jet rapidity ~ eta for these
    assert sorted(batch["jet"][:, 3].astype(int)) == sorted(count)


def test_import_refuses_bad_input(tmp_path: Path) -> None:
    arrays = _write_jetnet_fixture(tmp_path / "jn", n=4)
    (tmp_path / "jn" / "g.hdf5").rename(tmp_path / "jn" / "gluons.hdf5")
    with pytest.raises(DataError, match="gluons.hdf5: the file name does not name a JetNet class"):
        imp.import_dataset("jetnet", tmp_path / "jn" / "gluons.hdf5", tmp_path / "out")
    assert len(arrays) == 5 and not (tmp_path / "out").exists()
    with pytest.raises(DataError, match="not found"):
        imp.import_dataset("qg", tmp_path / "missing", tmp_path / "out")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz: not a readable .npz"):
        imp.import_dataset("qg", tmp_path / "bad.npz", tmp_path / "out")
    np.savez(tmp_path / "QG_jets.npz", X=np.zeros((3, 4)), y=np.zeros(3))
    with pytest.raises(DataError, match="field 'X' has shape"):
        imp.import_dataset("qg", tmp_path / "QG_jets.npz", tmp_path / "out")


def test_download_helper_uses_the_published_urls(tmp_path: Path) -> None:
    """The helper is real code; here its opener is a local stand-in (no network in tests)."""
    import io

    seen = []

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def opener(url: str) -> Response:
        seen.append(url)
        return Response(b"payload")

    paths = imp.download("toptagging", tmp_path, opener=opener)
    assert [p.name for p in paths] == ["train.h5", "val.h5", "test.h5"]
    assert all(u.startswith("https://zenodo.org/record/2603256/") for u in seen)
    assert (tmp_path / "train.h5").read_bytes() == b"payload"
    imp.download("toptagging", tmp_path, opener=opener)  # present files are kept
    assert len(seen) == 3
