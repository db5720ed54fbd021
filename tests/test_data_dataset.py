"""JetDataset / JetDataModule / JetNet layout: streaming reads, splits, round trip, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from jetzoo.data import JetDataModule, sample_path
from jetzoo.data import shards as sh
from jetzoo.data.dataset import JetBatch, JetDataset, collate_jets
from jetzoo.data.jetnet_format import read_jetnet, write_jetnet
from jetzoo.data.preprocessing import Preprocessing
from jetzoo.data.schema import JETNET_CLASSES, DataError

SAMPLE = sample_path()


@pytest.fixture(scope="module")
def full() -> JetDataset:
    return JetDataset(SAMPLE, pairs=True)


def _one_shard(tmp_path: Path) -> Path:
    dst = tmp_path / "shard-00000.h5"
    shutil.copy(SAMPLE / "shard-00000.h5", dst)
    return dst


def _rewrite(path: Path, edit) -> Path:
    """Copy of a sample shard as a plain h5 file with ``edit(dict of arrays, attrs)`` applied."""
    with h5py.File(SAMPLE / "shard-00000.h5", "r") as f:
        arrays = {k: f[k][()] for k in f}
        attrs = dict(f.attrs)
    edit(arrays, attrs)
    with h5py.File(path, "w") as f:
        f.attrs.update(attrs)
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    return path


# --- streaming reads -------------------------------------------------------------------------


def test_batch_contract_and_getitems_equals_items(full: JetDataset) -> None:
    pos = [5, 4321, 17, 9999, 2500, 5]
    batch = collate_jets(full.__getitems__(pos))
    assert set(batch) == {"x", "mask", "jet", "label", "x_b", "mask_b", "jet_b"}
    assert batch["x"].shape == (6, 30, 3) and batch["x"].dtype == torch.float32
    assert batch["mask"].dtype == torch.bool and batch["label"].dtype == torch.int64
    items = [full[i] for i in pos]
    for key, value in batch.items():
        torch.testing.assert_close(value, torch.stack([it[key] for it in items]))
    # default_collate on the JetBatch gives the same batch
    from torch.utils.data import default_collate

    for key, value in default_collate(list(full.__getitems__(pos))).items():
        torch.testing.assert_close(value, batch[key])
    # against the raw file: shard 4 holds jets 4000..4999
    raw = read_jetnet(SAMPLE / "shard-00004.h5")
    np.testing.assert_array_equal(batch["x"][1].numpy(), raw.particle_features[321, :, :3])
    np.testing.assert_array_equal(batch["jet"][1].numpy(), raw.jet_features[321])
    assert int(batch["label"][1]) == JETNET_CLASSES.index("t")


def test_one_hdf5_read_per_shard_and_field(full: JetDataset, monkeypatch) -> None:
    calls: list[int] = []
    real = sh._rows
    monkeypatch.setattr(sh, "_rows", lambda ds, rows: calls.append(len(rows)) or real(ds, rows))
    rng = np.random.default_rng(0)
    full.__getitems__(rng.choice(len(full), 256, replace=False).tolist())
    assert len(calls) == 10 * 4  # 10 shards x (particle, jet) x (view a, view b)
    assert sum(calls) == 4 * 256


def test_in_memory_reads_equal_the_file_reads_and_load_each_file_once(monkeypatch) -> None:
    """in_memory: the same batches (pairs included) as HDF5 reads; each file is read whole once
    per process and shared by subset views; a broken file still names itself."""
    disk = JetDataset(SAMPLE, pairs=True)
    mem = JetDataset(SAMPLE, pairs=True, in_memory=True)
    loads: list[int] = []
    real = JetDataset._load
    monkeypatch.setattr(JetDataset, "_load", lambda self, k: loads.append(k) or real(self, k))
    pos = np.random.default_rng(1).choice(len(disk), 300, replace=False)
    for key, value in disk.get_batch(pos).items():
        torch.testing.assert_close(mem.get_batch(pos)[key], value, rtol=0, atol=0)
    view = mem.subset(np.arange(2000, 3000))
    torch.testing.assert_close(view.get_batch([5])["x"], disk.get_batch([2005])["x"])
    assert sorted(loads) == list(range(10))  # every shard once, the subset reused them
    assert mem._handles == {}  # no HDF5 handle is kept open


def test_in_memory_names_a_truncated_file(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "set"
    shutil.copytree(SAMPLE, folder)
    ds = JetDataset(folder, in_memory=True)
    shard = folder / "shard-00003.h5"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(DataError, match="shard-00003.h5"):
        ds.get_batch(np.arange(3000, 3010))


def test_lazy_open_and_pickling(full: JetDataset) -> None:
    ds = JetDataset(SAMPLE)
    assert ds._handles == {}  # nothing opened (let alone loaded) at construction
    ds[0]
    assert len(ds._handles) == 1
    import pickle

    clone = pickle.loads(pickle.dumps(ds))
    assert clone._handles == {} and len(clone) == len(ds)
    torch.testing.assert_close(clone[7]["x"], ds[7]["x"])


def test_dataloader_workers_give_the_same_batches() -> None:
    ds = JetDataset(SAMPLE, classes=["w"])
    kw = dict(batch_size=128, shuffle=False, collate_fn=collate_jets)
    single = list(DataLoader(ds, num_workers=0, **kw))
    multi = list(DataLoader(ds, num_workers=2, **kw))
    assert len(single) == len(multi) == 16
    for a, b in zip(single, multi):
        for key in a:
            torch.testing.assert_close(a[key], b[key])


def test_class_filter_and_indices() -> None:
    ds = JetDataset(SAMPLE, classes=["q", "G"], indices=np.arange(1500, 4500))
    assert ds.class_counts() == {"q": 500, "g": 2000}
    assert isinstance(ds.__getitems__([0, 1]), JetBatch)
    with pytest.raises(DataError, match="no class 'x'; its classes .*: q, g, t, w, z"):
        JetDataset(SAMPLE, classes=["x"])


# --- JetNet layout ---------------------------------------------------------------------------


def test_jetnet_round_trip_and_same_reading_path(tmp_path: Path) -> None:
    shard = read_jetnet(SAMPLE / "shard-00004.h5")  # top jets
    folder = tmp_path / "jetnet"
    write_jetnet(folder / "t.hdf5", shard.particle_features, shard.jet_features)
    back = read_jetnet(folder / "t.hdf5")
    np.testing.assert_array_equal(back.particle_features, shard.particle_features)
    np.testing.assert_array_equal(back.jet_features, shard.jet_features)
    assert (back.labels == JETNET_CLASSES.index("t")).all()
    with h5py.File(folder / "t.hdf5", "r") as f:  # exactly the public layout: two arrays
        assert sorted(f) == ["jet_features", "particle_features"] and dict(f.attrs) == {}
        assert f["particle_features"].dtype == np.float32
    # the dataset reads a JetNet folder exactly as it reads jetzoo shards
    a, b = JetDataset(folder), JetDataset(SAMPLE).subset(np.arange(4000, 5000))
    for key, value in a.get_batch([0, 10, 999]).items():
        torch.testing.assert_close(value, b.get_batch([0, 10, 999])[key])
    # class from the argument when the name does not tell it
    write_jetnet(folder / "mine.hdf5", shard.particle_features[:3], shard.jet_features[:3])
    assert (read_jetnet(folder / "mine.hdf5", jet_class="w").labels == 3).all()
    with pytest.raises(DataError, match=r"mine\.hdf5: field 'labels' is missing"):
        read_jetnet(folder / "mine.hdf5")


def test_jetnet_150_particle_files_load(tmp_path: Path) -> None:
    pf = np.zeros((4, 150, 4), np.float32)
    pf[:, :40] = [0.01, -0.02, 0.02, 1.0]
    write_jetnet(tmp_path / "g150.hdf5", pf, np.ones((4, 4), np.float32))
    ds = JetDataset(tmp_path / "g150.hdf5")
    b = ds.get_batch([0, 3])
    assert b["x"].shape == (2, 150, 3) and int(b["mask"].sum()) == 80
    assert (b["label"] == JETNET_CLASSES.index("g")).all()


# --- bad input: one clear error naming the file and the field -------------------------------


def test_truncated_file(tmp_path: Path) -> None:
    path = _one_shard(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"{path}: not a readable HDF5 file"):
        JetDataset(path)


def test_foreign_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.zeros((3, 8, 8)))
    with pytest.raises(DataError, match=rf"{path}: missing field 'particle_features'"):
        JetDataset(path)
    path2 = tmp_path / "not_hdf5.h5"
    path2.write_text("hello")
    with pytest.raises(DataError, match=rf"{path2}: not a readable HDF5 file"):
        JetDataset(path2)


def test_missing_field(tmp_path: Path) -> None:
    path = _rewrite(tmp_path / "shard-00000.h5", lambda a, _: a.pop("jet_features"))
    with pytest.raises(DataError, match=rf"{path}: missing field 'jet_features'"):
        JetDataset(path)


def test_wrong_shapes(tmp_path: Path) -> None:
    def three_features(a, _):
        a["particle_features"] = a["particle_features"][..., :3]

    path = _rewrite(tmp_path / "a.h5", three_features)
    with pytest.raises(
        DataError,
        match=rf"{path}: field 'particle_features' has shape "
        r"\(1000, 30, 3\), expected \(N, \*, 4\)",
    ):
        JetDataset(path)

    def short_jets(a, _):
        a["jet_features"] = a["jet_features"][:10]

    path = _rewrite(tmp_path / "b.h5", short_jets)
    with pytest.raises(DataError, match=rf"{path}: field 'jet_features' has shape \(10, 4\)"):
        JetDataset(path)


def test_nan_is_reported_with_file_field_and_jet(tmp_path: Path) -> None:
    def poison(a, _):
        a["jet_features"][7, 2] = np.nan

    path = _rewrite(tmp_path / "shard-00000.h5", poison)
    ds = JetDataset(path)
    ds[6]  # other jets still read
    with pytest.raises(
        DataError, match=rf"{path}: field 'jet_features' holds NaN or inf \(jet 7\)"
    ):
        ds.get_batch([3, 7])


def test_bad_labels_and_format(tmp_path: Path) -> None:
    def bad_label(a, _):
        a["labels"][0] = 9

    path = _rewrite(tmp_path / "a.h5", bad_label)
    with pytest.raises(DataError, match=rf"{path}: field 'labels' has values outside"):
        JetDataset(path)

    def other_format(_, attrs):
        attrs["format"] = "something-else"

    path = _rewrite(tmp_path / "b.h5", other_format)
    with pytest.raises(DataError, match=rf"{path}: attribute 'format' is 'something-else'"):
        JetDataset(path)


def test_pairs_requested_on_single_view_file(tmp_path: Path) -> None:
    def drop_pairs(a, _):
        a.pop("particle_features_b")
        a.pop("jet_features_b")

    path = _rewrite(tmp_path / "shard-00000.h5", drop_pairs)
    assert len(JetDataset(path)) == 1000
    with pytest.raises(DataError, match=rf"{path}: missing field 'particle_features_b'"):
        JetDataset(path, pairs=True)


def test_manifest_must_match_the_shards(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    shutil.copytree(SAMPLE, folder)
    assert len(JetDataset(folder)) == 10000
    (folder / "shard-00003.h5").unlink()
    with pytest.raises(
        DataError,
        match=rf"{folder / 'manifest.json'}: field 'shards' does not "
        r"match .*shard-00003\.h5",
    ):
        JetDataset(folder)


def test_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="jetzoo generate jetnet .* --out"):
        JetDataModule(tmp_path / "nowhere")
    with pytest.raises(DataError, match=rf"{tmp_path}: folder holds no shard"):
        JetDataset(tmp_path)


# --- data module -----------------------------------------------------------------------------


def test_splits_fixed_by_seed_and_disjoint() -> None:
    a = JetDataModule(SAMPLE, seed=0).split_indices
    b = JetDataModule(SAMPLE, seed=0).split_indices
    c = JetDataModule(SAMPLE, seed=1).split_indices
    assert [len(a[k]) for k in ("train", "val", "test")] == [8000, 1000, 1000]
    allidx = np.concatenate([a["train"], a["val"], a["test"]])
    np.testing.assert_array_equal(np.sort(allidx), np.arange(10000))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert not np.array_equal(a[k], c[k])


def test_class_filter_keeps_each_jet_in_its_split() -> None:
    qg = JetDataModule(SAMPLE, classes=["q", "g"])
    everything = JetDataModule(SAMPLE)
    for split in ("train", "val", "test"):
        sub, sup = qg.dataset(split).indices, everything.dataset(split).indices
        assert np.isin(sub, sup).all()
        np.testing.assert_array_equal(sub, sup[np.isin(everything.dataset(split).labels, [0, 1])])
    assert np.isin(qg.dataset("test").indices, everything.dataset("train").indices).sum() == 0
    assert qg.class_names == ["q", "g"]


def test_label_fraction_is_stratified_and_seeded() -> None:
    dm = JetDataModule(SAMPLE, label_fraction=0.1, seed=3)
    counts = dm.dataset("train").class_counts()
    full = JetDataModule(SAMPLE, seed=3).dataset("train").class_counts()
    assert counts == {c: round(0.1 * n) for c, n in full.items()}
    again = JetDataModule(SAMPLE, label_fraction=0.1, seed=3).dataset("train").indices
    np.testing.assert_array_equal(dm.dataset("train").indices, again)
    assert len(dm.dataset("val")) == 1000  # val/test untouched
    with pytest.raises(ValueError, match="label_fraction"):
        JetDataModule(SAMPLE, label_fraction=0.0)


def test_loaders_and_pairs() -> None:
    dm = JetDataModule(SAMPLE, classes=["t"], batch_size=64, pairs=True, seed=0)
    batch = next(iter(dm.train_dataloader()))
    assert batch["x_b"].shape == (64, 30, 3) and (batch["label"] == 2).all()
    first = [
        next(iter(JetDataModule(SAMPLE, batch_size=32, seed=s).train_dataloader()))["jet"]
        for s in (0, 0, 1)
    ]
    torch.testing.assert_close(first[0], first[1])
    assert not torch.equal(first[0], first[2])
    val = list(dm.val_dataloader())
    assert sum(len(b["label"]) for b in val) == len(dm.dataset("val"))


def test_preprocessing_and_hash() -> None:
    dm = JetDataModule(SAMPLE)
    stored = Preprocessing.load(SAMPLE / "preprocessing.json")
    assert dm.preprocessing == stored
    manifest_hash = sh.read_manifest(SAMPLE)["dataset_sha256"]
    assert dm.dataset_sha256 == manifest_hash
    recomputed = sh.dataset_sha256(sh.sha256_file(p) for p in sorted(SAMPLE.glob("shard-*.h5")))
    assert recomputed == manifest_hash


def test_preprocessing_fitted_for_jetnet_files(tmp_path: Path) -> None:
    for name, shard in (("q", "shard-00000.h5"), ("t", "shard-00004.h5")):
        a = read_jetnet(SAMPLE / shard)
        write_jetnet(tmp_path / f"{name}.hdf5", a.particle_features[:200], a.jet_features[:200])
    dm = JetDataModule(tmp_path, seed=4)
    pf = np.concatenate([read_jetnet(tmp_path / f"{n}.hdf5").particle_features for n in "qt"])
    expected = Preprocessing.fit(pf[dm.split_indices["train"]])
    np.testing.assert_allclose(dm.preprocessing.mean, expected.mean, rtol=1e-9)
    np.testing.assert_allclose(dm.preprocessing.std, expected.std, rtol=1e-9)
    assert dm.class_names == ["q", "t"]
