"""RS3L pair dataset / datamodule on the embedded sample, and clear errors on bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from jetzoo.data.rs3l_dataset import RS3LDataModule, RS3LPairDataset, rs3l_collate, rs3l_sample_path
from jetzoo.data.rs3l_schema import RS3L_CLASSES
from jetzoo.data.schema import DataError

SAMPLE = rs3l_sample_path()


def _shard(cls: str) -> Path:
    return sorted((SAMPLE / cls).glob("shard-*.h5"))[0]


def test_sample_has_every_class_and_fits_the_size_budget() -> None:
    ds = RS3LPairDataset(SAMPLE)
    counts = np.bincount(ds.labels, minlength=len(RS3L_CLASSES))
    assert (counts[:2] >= 250).all() and counts[2] >= 100  # q, g, tau (3:3:1 events)
    assert (counts[3:] >= 50).all()  # dark_A ... dark_D
    size = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert size < 6 * 2**20


def test_batch_layout_caps_and_relative_phi() -> None:
    ds = RS3LPairDataset(SAMPLE, classes=["g"], max_tracks=4, max_cells=16)
    full = RS3LPairDataset(SAMPLE, classes=["g"])
    assert set(np.unique(ds.labels)) == {RS3L_CLASSES.index("g")}
    idx = list(range(8))
    batch = rs3l_collate(ds.__getitems__(idx))
    assert batch["tracks"].shape[1] <= 4 and batch["tracks"].shape[2] == 5
    assert batch["cells"].shape[1:] == (16, 4) and batch["cells_b"].shape[1:] == (16, 4)
    for k in idx:
        ref = full[k]
        n = min(4, len(ref["tracks"]))
        assert batch["track_mask"][k].sum() == n
        # the kept tracks are the n highest-pT ones, padding at the end
        np.testing.assert_allclose(batch["tracks"][k, :n].numpy(), ref["tracks"][:n])
        assert not batch["track_mask"][k, n:].any() and (batch["tracks"][k, n:] == 0).all()
        np.testing.assert_allclose(batch["cells"][k, :, 0].numpy(), ref["cells"][:16, 0])
        assert (np.diff(ref["cells"][:, 0]) <= 0).all()
        assert (np.diff(ref["tracks"][:, 0]) <= 0).all()
    # phi relative to the jet axis: tracks were associated within dR < 0.4
    t, m = batch["tracks"], batch["track_mask"]
    assert t[..., 2][m].abs().max() < 0.4
    assert batch["jet"].shape == (8, 6) and batch["label"].dtype == torch.int64
    # jet features: n_tracks / n_cells of the stored jet
    np.testing.assert_array_equal(batch["jet"][:, 4].numpy(), [len(full[k]["tracks"]) for k in idx])


def test_datamodule_splits_by_collision_and_seed() -> None:
    dm = RS3LDataModule(SAMPLE, classes=["q", "g", "tau"], batch_size=32, seed=1)
    dm.setup()
    full = RS3LPairDataset(SAMPLE, classes=["q", "g", "tau"])
    parts = dm.split_indices(full)
    allidx = np.concatenate(list(parts.values()))
    assert len(allidx) == len(full) == len(np.unique(allidx))
    ev = {k: set(full.events[v]) for k, v in parts.items()}
    assert not (ev["train"] & ev["val"]) and not (ev["train"] & ev["test"])
    assert 0.7 < len(parts["train"]) / len(full) < 0.9
    again = RS3LDataModule(SAMPLE, classes=["q", "g", "tau"], seed=1).split_indices(full)
    other = RS3LDataModule(SAMPLE, classes=["q", "g", "tau"], seed=2).split_indices(full)
    np.testing.assert_array_equal(parts["test"], again["test"])
    assert not np.array_equal(parts["test"], other["test"])
    batch = next(iter(dm.train_dataloader()))
    assert batch["tracks"].shape[0] == 32 and "cells_b" in batch
    small = RS3LDataModule(SAMPLE, classes=["q", "g", "tau"], seed=1, label_fraction=0.25)
    assert len(small.split_indices(full)["train"]) == round(0.25 * len(parts["train"]))


@pytest.fixture
def shard_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "copy.h5"
    shutil.copy(_shard("tau"), dst)
    return dst


def test_shuffled_training_order_is_seeded() -> None:
    """The training loader's order comes from the split seed: the same for two data modules of
    one seed, another for another seed; evaluation loaders keep the split's order."""

    def first_labels(seed: int, split: str = "train", shuffle: bool = True) -> list[int]:
        dm = RS3LDataModule(SAMPLE, classes=["q", "g", "tau"], batch_size=64, seed=seed)
        loader = dm.train_dataloader() if shuffle else dm.loader(split)
        return next(iter(loader))["label"].tolist()

    assert first_labels(1) == first_labels(1)
    assert first_labels(1) != first_labels(2)
    assert first_labels(1, "test", False) == first_labels(1, "test", False)


def test_bad_inputs_name_the_file_and_the_field(tmp_path: Path, shard_copy: Path) -> None:
    with pytest.raises(DataError, match="jetzoo generate rs3l"):
        RS3LPairDataset(tmp_path / "missing")
    with pytest.raises(DataError, match="unknown RS3L class 'top'"):
        RS3LPairDataset(SAMPLE, classes=["top"])
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["particle_features"] = np.zeros((2, 30, 4))
    with pytest.raises(DataError, match=r"foreign\.h5.*'format'"):
        RS3LPairDataset(foreign)
    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(shard_copy.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"trunc\.h5"):
        RS3LPairDataset(truncated)
    with h5py.File(shard_copy, "a") as f:
        good = f["jet_features_b"][0, 0]
        f["jet_features_b"][0, 0] = np.nan
    with pytest.raises(DataError, match=r"copy\.h5.*'jet_features_b'.*NaN"):
        RS3LPairDataset(shard_copy)
    with h5py.File(shard_copy, "a") as f:
        f["jet_features_b"][0, 0] = good
        del f["cells_b"]
    with pytest.raises(DataError, match=r"copy\.h5.*missing field 'cells_b'"):
        RS3LPairDataset(shard_copy)


def test_bad_offsets_are_caught(shard_copy: Path) -> None:
    with h5py.File(shard_copy, "a") as f:
        off = f["track_offsets"][:]
        off[-1] += 3
        f["track_offsets"][...] = off
    with pytest.raises(DataError, match="'track_offsets'"):
        RS3LPairDataset(shard_copy)


def test_streaming_and_in_memory_reads_agree() -> None:
    a = RS3LPairDataset(_shard("q"), in_memory=True)
    b = RS3LPairDataset(_shard("q"), in_memory=False)
    for k in (0, 5, len(a) - 1):
        for key in ("tracks", "cells", "tracks_b", "cells_b", "jet"):
            np.testing.assert_array_equal(a[k][key], b[k][key])


@pytest.mark.parametrize("in_memory", [True, False])
def test_datamodule_in_memory_choice_reaches_every_split_and_batches_agree(in_memory) -> None:
    """``data.in_memory`` of an RS3L recipe forces the reads either way (default: by size);
    the batches are the same bytes."""
    from jetzoo.recipes.config import load_config
    from jetzoo.recipes.runner import build_datamodule

    auto = RS3LDataModule(SAMPLE, batch_size=16)
    auto.setup()
    assert auto.datasets["train"].in_memory  # the 4 MB sample is under 512 MB
    cfg = load_config(
        "rs3l",
        [
            f"data.in_memory={str(in_memory).lower()}",
            "data.path=sample",
            "data.num_workers=0",
            "data.batch_size=16",
        ],
    )
    dm = build_datamodule(cfg, "rs3l")
    dm.setup()
    assert {ds.in_memory for ds in dm.datasets.values()} == {in_memory}
    # the splits share one set of shards: each shard is read once, whatever the split
    assert dm.datasets["train"].shards is dm.datasets["val"].shards is dm.datasets["test"].shards
    a, b = next(iter(dm.loader("val"))), next(iter(auto.loader("val")))
    for key in ("tracks", "cells", "tracks_b", "cells_b", "cell_mask"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_datamodule_batches_have_fixed_shapes() -> None:
    dm = RS3LDataModule(SAMPLE, batch_size=64, max_tracks=20, max_cells=100)
    shapes = {
        (tuple(b["tracks"].shape[1:]), tuple(b["cells_b"].shape[1:])) for b in dm.val_dataloader()
    }
    assert shapes == {((20, 5), (100, 4))}
    with pytest.raises(ValueError, match="cannot pad"):
        rs3l_collate([RS3LPairDataset(SAMPLE)[0]], n_tracks=0)


def test_sample_manifest_hash_is_the_one_the_leaderboard_verifies() -> None:
    """The RS3L manifest uses the same dataset-hash convention as JetNet shards, so
    `jetzoo leaderboard submit` accepts the embedded RS3L sample (regression: it was refused)."""
    import json

    from jetzoo.data import rs3l_sample_path
    from jetzoo.data.shards import dataset_sha256
    from jetzoo.leaderboard.backbones import verify_dataset

    path = rs3l_sample_path()
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["dataset_sha256"] == dataset_sha256(s["sha256"] for s in manifest["shards"])
    assert len(verify_dataset(path)) == 64


def test_subset_equals_the_indices_constructor_and_checks_the_range() -> None:
    full = RS3LPairDataset(SAMPLE, classes=["q", "g"])
    idx = np.array([5, 0, len(full) - 1, 3])
    a, b = full.subset(idx), RS3LPairDataset(SAMPLE, classes=["q", "g"], indices=idx)
    assert a.shards is full.shards and len(a) == len(b) == 4
    np.testing.assert_array_equal(a.labels, full.labels[idx])
    np.testing.assert_array_equal(a.events, b.events)
    for key in ("tracks", "cells_b"):
        torch.testing.assert_close(a[0][key], b[0][key], rtol=0, atol=0)
    for bad in ([-1], [len(full)]):
        with pytest.raises(IndexError, match=f"out of range for {len(full)} pairs"):
            full.subset(bad)
        with pytest.raises(IndexError, match=f"out of range for {len(full)} pairs"):
            RS3LPairDataset(SAMPLE, classes=["q", "g"], indices=bad)
