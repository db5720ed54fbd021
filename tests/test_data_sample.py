"""The embedded sample: integrity (manifest hashes, size, recorded command) and physics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jetzoo.data import load_preprocessing, sample_path
from jetzoo.data import shards as sh
from jetzoo.data.dataset import JetDataset
from jetzoo.data.preprocessing import Preprocessing
from jetzoo.data.schema import JETNET_CLASSES


@pytest.fixture(scope="module")
def sample() -> dict[str, np.ndarray]:
    """All jets of the sample as numpy arrays (both views)."""
    ds = JetDataset(sample_path(), pairs=True)
    return ds.read(np.arange(len(ds)))


def _by_class(sample: dict[str, np.ndarray], key: str, name: str) -> np.ndarray:
    return sample[key][sample["label"] == JETNET_CLASSES.index(name)]


def _mass_mode(sample: dict[str, np.ndarray], name: str) -> float:
    """Centre of the most populated 10 GeV jet-mass bin."""
    counts, edges = np.histogram(_by_class(sample, "jet", name)[:, 2], bins=np.arange(0, 401, 10))
    return float(edges[counts.argmax()] + 5)


def test_manifest_matches_files() -> None:
    folder = sample_path()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["command"].startswith(
        "jetzoo generate jetnet --classes q,g,t,w,z --jets-per-class 2000 --seed 1"
    )
    assert manifest["pairs"] is True and manifest["seed"] == 1
    hashes = []
    for e in manifest["shards"]:
        assert sh.sha256_file(folder / e["file"]) == e["sha256"]
        hashes.append(e["sha256"])
    assert manifest["dataset_sha256"] == sh.dataset_sha256(hashes)
    assert sorted(p.name for p in folder.glob("shard-*.h5")) == [
        e["file"] for e in manifest["shards"]
    ]
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert total < 8 * 1024 * 1024  # the JetNet-like sample itself (rs3l/ is another sample)
    ds = JetDataset(folder)
    assert ds.class_counts() == {c: 2000 for c in JETNET_CLASSES}


def test_mass_peaks(sample: dict[str, np.ndarray]) -> None:
    assert 150 <= _mass_mode(sample, "t") <= 200
    assert 70 <= _mass_mode(sample, "w") <= 100
    assert 70 <= _mass_mode(sample, "z") <= 100
    assert _mass_mode(sample, "q") < 70  # light-quark jets: low mass
    assert _mass_mode(sample, "g") < 120  # gluon jets: low mass, broader than quarks
    tops = _by_class(sample, "jet", "t")[:, 2]
    for name in ("q", "g"):  # few QCD jets look like tops
        qcd = _by_class(sample, "jet", name)[:, 2]
        assert np.mean((qcd > 150) & (qcd < 200)) < 0.5 * np.mean((tops > 150) & (tops < 200))


def test_gluon_jets_have_more_constituents(sample: dict[str, np.ndarray]) -> None:
    n_g = _by_class(sample, "jet", "g")[:, 3].mean()
    n_q = _by_class(sample, "jet", "q")[:, 3].mean()
    assert n_g > 1.3 * n_q  # Casimir scaling C_A / C_F = 2.25 softened by hadronization


def test_particle_features(sample: dict[str, np.ndarray]) -> None:
    for sfx in ("", "_b"):
        x, mask, jet = sample["x" + sfx], sample["mask" + sfx], sample["jet" + sfx]
        # masks padded at the end, padding all zeros, real count = min(n_particles, 30)
        assert (np.diff(mask.astype(np.int8), axis=1) <= 0).all()
        assert (x[~mask] == 0).all()
        np.testing.assert_array_equal(mask.sum(1), np.minimum(jet[:, 3], 30))
        # pt_rel of the 30 kept sums to <= 1 (1e-5: float32 rounding of the stored values)
        sums = x[..., 2].sum(1)
        assert sums.max() <= 1 + 1e-5 and np.median(sums) > 0.8
        assert ((jet[:, 0] > 800) & (jet[:, 0] < 1600) & (np.abs(jet[:, 1]) < 2.5)).all()


def test_pair_views_are_correlated(sample: dict[str, np.ndarray]) -> None:
    pt_a, pt_b = sample["jet"][:, 0], sample["jet_b"][:, 0]
    assert np.corrcoef(pt_a, pt_b)[0, 1] > 0.8
    assert (np.abs(sample["jet"][:, 1] - sample["jet_b"][:, 1]) < 0.4).all()
    assert (sample["jet"][:, 3] != sample["jet_b"][:, 3]).mean() > 0.8


def test_preprocessing_is_fit_on_the_training_split(sample: dict[str, np.ndarray]) -> None:
    train, _, _ = sh.split_indices(len(sample["label"]))
    x, mask = sample["x"][train], sample["mask"][train]
    pf = np.concatenate([x, mask[..., None].astype(np.float32)], axis=-1)
    expected = Preprocessing.fit(pf)
    stored = load_preprocessing()
    np.testing.assert_allclose(stored.mean, expected.mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stored.std, expected.std, rtol=1e-9)
    assert -5 < stored.mean[2] < -3  # log pt_rel of a typical constituent: ~1.6% of the jet pT


def _arrays(path) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in f}


@pytest.mark.slow
def test_generators_still_write_the_embedded_samples(tmp_path) -> None:
    """Both generators, run again with the samples' recorded settings, write the samples'
    arrays bit for bit (one shard each: JetNet t, 1000 jets with pairs; RS3L q, 240 events).

    The RS3L sample's detector-jet features are the one exception: the sample was written
    before jet masses were computed from float64 four-momenta, so its mass column differs by
    up to 0.012 GeV and its pT, eta and phi by one float32 rounding step; every other array is
    equal."""
    from jetzoo.data.jetnet_generator import GeneratorConfig, generate
    from jetzoo.data.rs3l_dataset import rs3l_sample_path
    from jetzoo.data.rs3l_generator import generate as generate_rs3l
    from jetzoo.data.rs3l_simulation import GenerationConfig
    from jetzoo.data.shards import sha256_file

    generate(
        tmp_path / "jetnet",
        ["t"],
        1000,
        seed=1,
        workers=1,
        shard_size=1000,
        config=GeneratorConfig(pairs=True),
        progress=False,
    )
    t_shard = JETNET_CLASSES.index("t") * 2  # 2 shards of 1000 per class in the sample
    ref = _arrays(sample_path() / f"shard-{t_shard:05d}.h5")
    new = _arrays(tmp_path / "jetnet" / "shard-00000.h5")
    assert ref.keys() == new.keys()
    for key in ref:
        np.testing.assert_array_equal(new[key], ref[key], err_msg=key)
    # byte for byte, whatever the package version: the pinned sets' hashes are of file bytes
    assert sha256_file(tmp_path / "jetnet" / "shard-00000.h5") == sha256_file(
        sample_path() / f"shard-{t_shard:05d}.h5"
    )

    manifest = json.loads((rs3l_sample_path() / "manifest.json").read_text())
    generate_rs3l(
        tmp_path / "rs3l",
        {"q": manifest["events"]["q"]},
        GenerationConfig(**manifest["settings"]),
        manifest["events_per_shard"],
        workers=1,
        progress=False,
    )
    ref = _arrays(rs3l_sample_path() / "q" / "shard-00000.h5")
    new = _arrays(tmp_path / "rs3l" / "q" / "shard-00000.h5")
    assert ref.keys() == new.keys()
    for key in ref:
        if key.startswith("jet_features"):
            np.testing.assert_array_equal(new[key][:, 4:], ref[key][:, 4:])  # track, cell counts
            np.testing.assert_allclose(new[key][:, :3], ref[key][:, :3], rtol=3e-7, atol=3e-7)
            np.testing.assert_allclose(new[key][:, 3], ref[key][:, 3], atol=0.02)
        else:
            np.testing.assert_array_equal(new[key], ref[key], err_msg=key)
