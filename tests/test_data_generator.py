"""`jetzoo generate jetnet`: tiny regenerations checked for physics, reproducibility, pairs,
resume and crash safety, and the clustering checked against the fastjet package."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from jetzoo.cli import main as cli_main
from jetzoo.data import shards as sh
from jetzoo.data.dataset import JetDataset
from jetzoo.data.jetnet_format import read_jetnet
from jetzoo.data.jetnet_generator import (
    GeneratorConfig,
    JetNetSimulator,
    generate,
    jet_arrays,
    plan_shards,
)
from jetzoo.data.schema import JETNET_CLASSES, DataError


def _classes(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """class -> (particle_features, jet_features) of every shard in ``folder``."""
    out: dict[str, list] = {}
    for f in sh.discover_files(folder):
        a = read_jetnet(f)
        out.setdefault(JETNET_CLASSES[int(a.labels[0])], []).append(a)
    return {
        c: (
            np.concatenate([a.particle_features for a in v]),
            np.concatenate([a.jet_features for a in v]),
        )
        for c, v in out.items()
    }


def _hashes(folder: Path) -> list[str]:
    return [e["sha256"] for e in json.loads((folder / "manifest.json").read_text())["shards"]]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """All five classes, 16 jets each, via the CLI (two shards per class, one worker)."""
    out = tmp_path_factory.mktemp("gen") / "tiny"
    rc = cli_main(
        [
            "generate",
            "jetnet",
            "--classes",
            "q,g,t,w,z",
            "--jets-per-class",
            "16",
            "--shard-size",
            "8",
            "--seed",
            "3",
            "--workers",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The same small run with seed 7 on 1 and on 2 workers, and with seed 8."""
    base = tmp_path_factory.mktemp("repro")
    out = {}
    for name, seed, workers in (("a", 7, 1), ("b", 7, 2), ("c", 8, 1)):
        out[name] = base / name
        generate(
            out[name],
            ["q", "t"],
            jets_per_class=6,
            seed=seed,
            workers=workers,
            shard_size=3,
            progress=False,
        )
    return out


def test_tiny_sample_physics(tiny: Path) -> None:
    data = _classes(tiny)
    assert sorted(data) == sorted(JETNET_CLASSES)
    cfg = GeneratorConfig()
    for c, (pf, jf) in data.items():
        assert pf.shape == (16, 30, 4) and jf.shape == (16, 4)
        mask = pf[..., 3] > 0
        # masks padded at the end; padding is all zeros; real count = min(n_particles, 30)
        assert (np.diff(mask.astype(int), axis=1) <= 0).all()
        assert (pf[~mask] == 0).all()
        np.testing.assert_array_equal(mask.sum(1), np.minimum(jf[:, 3], 30))
        # pt_rel: pT-ordered, each in (0, 1], the 30 kept sum to <= 1 (float32 rounding aside)
        pt = pf[..., 2]
        assert (np.diff(pt, axis=1)[mask[:, 1:]] <= 0).all()
        assert (pt[mask] > 0).all() and (pt.sum(1) <= 1 + 1e-5).all()
        # constituents inside the R = 0.8 cone (dR to the axis, small slack for recombination)
        assert (np.hypot(pf[..., 0], pf[..., 1])[mask] < 0.85).all()
        # the documented jet window
        assert ((jf[:, 0] > cfg.jet_pt_min) & (jf[:, 0] < cfg.jet_pt_max)).all()
        assert (np.abs(jf[:, 1]) < cfg.jet_eta_max).all()
    median_mass = {c: float(np.median(jf[:, 2])) for c, (_, jf) in data.items()}
    assert 150 < median_mass["t"] < 200
    assert 70 < median_mass["w"] < 100 and 70 < median_mass["z"] < 105
    assert median_mass["q"] < median_mass["t"] and median_mass["g"] < median_mass["t"]
    assert data["g"][1][:, 3].mean() > data["q"][1][:, 3].mean()


def test_tiny_sample_manifest_and_preprocessing(tiny: Path) -> None:
    manifest = json.loads((tiny / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["n_jets"] == 80 and len(manifest["shards"]) == 10
    assert manifest["command"].startswith("jetzoo generate jetnet --classes q,g,t,w,z")
    for e in manifest["shards"]:
        assert sh.sha256_file(tiny / e["file"]) == e["sha256"]
    assert manifest["dataset_sha256"] == sh.dataset_sha256(_hashes(tiny))
    # preprocessing.json = Preprocessing.fit on the training split (seed 0, 80/10/10)
    ds = JetDataset(tiny)
    train, _, _ = sh.split_indices(len(ds))
    pf = np.concatenate([read_jetnet(f).particle_features for f in ds.files])[train]
    stored = json.loads((tiny / "preprocessing.json").read_text())
    real = pf[..., 3] > 0
    np.testing.assert_allclose(stored["mean"][2], np.log(pf[..., 2][real]).mean(), rtol=1e-6)
    np.testing.assert_allclose(stored["std"][0], pf[..., 0][real].std(), rtol=1e-5)


def test_seed_reproducible_and_worker_independent(runs: dict[str, Path]) -> None:
    a, b, c = (_hashes(runs[k]) for k in "abc")
    assert a == b  # bit-identical shards for one seed, whatever the worker count
    assert set(a).isdisjoint(c)  # another seed: other bytes ...
    ja, jc = read_jetnet(runs["a"] / "shard-00000.h5"), read_jetnet(runs["c"] / "shard-00000.h5")
    assert not np.allclose(ja.jet_features[:, 0], jc.jet_features[:, 0])  # ... and other jets
    seeds = [t.seed for t in plan_shards(["q", "t"], 6, 3, 7)]
    assert len(set(seeds)) == len(seeds)


def test_resume_keeps_valid_shards_and_cleans_leftovers(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "resume"
    generate(out, ["q", "t"], jets_per_class=6, seed=7, workers=1, shard_size=3, progress=False)
    kept = out / "shard-00000.h5"
    os.utime(kept, (1_000_000_000, 1_000_000_000))
    (out / "shard-00002.h5").unlink()
    leftover = out / ".shard-00002.h5.x1y2.tmp"  # what a killed writer leaves behind
    leftover.write_bytes(b"half a shard")
    generate(out, ["q", "t"], jets_per_class=6, seed=7, workers=1, shard_size=3, progress=False)
    assert kept.stat().st_mtime == 1_000_000_000  # valid shard skipped, not rewritten
    assert not leftover.exists()
    assert _hashes(out) == _hashes(runs["a"])  # the regenerated shard is the same bytes
    with pytest.raises(DataError, match=r"shard-00000\.h5: attribute 'settings_sha256'"):
        generate(
            out,
            ["q", "t"],
            jets_per_class=6,
            seed=7,
            workers=1,
            shard_size=3,
            config=GeneratorConfig(jet_pt_min=900.0),
            progress=False,
        )


def test_interrupted_write_leaves_no_valid_looking_shard(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "crash"
    real = h5py.Group.create_dataset
    calls = []

    def crash_on_second_field(self, name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated Ctrl-C while writing")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", crash_on_second_field)
    with pytest.raises(KeyboardInterrupt):
        generate(out, ["w"], jets_per_class=2, seed=1, workers=1, progress=False)
    assert list(out.iterdir()) == []  # no shard, no temp file, no manifest
    with pytest.raises(DataError, match="no shard-"):
        JetDataset(out)


def test_pairs_share_the_parton_event(tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    generate(
        out,
        ["g"],
        jets_per_class=8,
        seed=5,
        workers=1,
        config=GeneratorConfig(pairs=True),
        progress=False,
    )
    ds = JetDataset(out, pairs=True)
    b = ds.get_batch(range(len(ds)))
    ja, jb = b["jet"].numpy(), b["jet_b"].numpy()
    assert len(ds) == 8 and (b["label"] == JETNET_CLASSES.index("g")).all()
    # same parton -> same jet direction and similar pT; independent hadronization -> new particles
    assert (np.abs(ja[:, 1] - jb[:, 1]) < 0.3).all()
    assert (np.abs(jb[:, 0] / ja[:, 0] - 1) < 0.3).all()
    assert not np.array_equal(b["x"].numpy(), b["x_b"].numpy())
    assert (ja[:, 3] != jb[:, 3]).any()


def test_pair_views_refill_the_same_parton_record() -> None:
    sim = JetNetSimulator(GeneratorConfig(pairs=True), "q", 11)
    py = sim.pythia
    assert py.next()
    import pythia8mc

    parton = pythia8mc.Event(py.event)
    finals = []
    for _ in range(2):
        py.event.assign(parton)
        assert py.forceHadronLevel()
        ev = py.event
        assert [ev[i].id() for i in range(parton.size())] == [
            parton[i].id() for i in range(parton.size())
        ]
        finals.append(
            [(ev[i].id(), round(ev[i].px(), 6)) for i in range(ev.size()) if ev[i].isFinal()]
        )
    assert finals[0] != finals[1]


def test_clustering_matches_the_fastjet_backend() -> None:
    """SlowJet (fjcore inside Pythia) finds the jets :mod:`jetzoo.data.clustering` finds."""
    pytest.importorskip("fastjet")
    from jetzoo.data.clustering import antikt

    sim = JetNetSimulator(GeneratorConfig(), "g", 2)
    py, sj = sim.pythia, sim.slowjet
    for _ in range(3):
        assert py.next()
        ev = py.event
        parts = [
            ev[i]
            for i in range(ev.size())
            if ev[i].isFinal() and ev[i].isVisible() and abs(ev[i].eta()) < 5
        ]
        p4 = np.array([(p.px(), p.py(), p.pz(), p.e()) for p in parts])
        kin, consts = antikt(*p4.T, 0.8, 50.0)
        sj.analyze(ev)
        assert sj.sizeJet() == len(kin)
        for j in range(2):
            pf, jf = jet_arrays(ev, sj, j)
            pt_c = np.array([parts[k].pT() for k in consts[j]])
            np.testing.assert_allclose(jf, [*kin[j, [0, 1, 3]], len(pt_c)], rtol=1e-5)
            top = np.argsort(-pt_c, kind="stable")[:30]
            np.testing.assert_allclose(pf[: len(top), 2], pt_c[top] / pt_c.sum(), rtol=1e-5)
            eta_c = np.array([parts[consts[j][k]].eta() for k in top])
            phi_c = np.array([parts[consts[j][k]].phi() for k in top])
            np.testing.assert_allclose(pf[: len(top), 0], eta_c - kin[j, 1], atol=1e-5)
            dphi = np.remainder(phi_c - kin[j, 2] + math.pi, 2 * math.pi) - math.pi
            np.testing.assert_allclose(pf[: len(top), 1], dphi, atol=1e-5)


def test_bad_cli_input_gives_one_clear_error(tmp_path: Path, capsys) -> None:
    rc = cli_main(
        [
            "generate",
            "jetnet",
            "--classes",
            "q,x",
            "--jets-per-class",
            "1",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2 and "unknown jet class 'x'" in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    rc = cli_main(
        [
            "generate",
            "jetnet",
            "--classes",
            "q",
            "--jets-per-class",
            "1",
            "--out",
            str(blocker / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and f"{blocker / 'out'}: output folder is not writable" in err
    with pytest.raises(ValueError, match="Pythia rejected the setting 'Foo:bar = 1'"):
        JetNetSimulator(GeneratorConfig(extra_settings=("Foo:bar = 1",)), "q", 1)


def test_stray_shard_from_another_run_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "stray"
    generate(out, ["t"], jets_per_class=3, seed=7, workers=1, shard_size=3, progress=False)
    (out / "shard-00007.h5").write_bytes((out / "shard-00000.h5").read_bytes())
    with pytest.raises(DataError, match=r"shard-00007\.h5: this run would not write"):
        generate(out, ["t"], jets_per_class=3, seed=7, workers=1, shard_size=3, progress=False)


def test_jetnet_preset_follows_the_jetnet_recipe(tmp_path: Path, capsys) -> None:
    """--preset jetnet: partons in 995-1005 GeV, underlying event on, recorded and reproducible
    from the manifest's command; explicit flags override the preset."""
    out = tmp_path / "jn"
    rc = cli_main(
        [
            "generate",
            "jetnet",
            "--preset",
            "jetnet",
            "--classes",
            "q",
            "--jets-per-class",
            "6",
            "--shard-size",
            "6",
            "--seed",
            "2",
            "--workers",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    manifest = json.loads((out / "manifest.json").read_text())
    settings = manifest["settings"]
    assert (settings["pthat_min"], settings["pthat_max"]) == (995.0, 1005.0)
    assert settings["extra_settings"] == ["PartonLevel:MPI = on"]
    assert "--pthat-min 995 --pthat-max 1005 --set 'PartonLevel:MPI = on'" in manifest["command"]
    lines = GeneratorConfig(
        **{
            **GeneratorConfig().__dict__,
            "pthat_min": 995.0,
            "pthat_max": 1005.0,
            "extra_settings": ("PartonLevel:MPI = on",),
        }
    ).pythia_settings("q", 1)
    assert "PhaseSpace:pTHatMax = 1005" in lines
    assert lines.index("PartonLevel:MPI = on") > lines.index("PartonLevel:MPI = off")  # last wins
    jets = read_jetnet(out / "shard-00000.h5").jet_features
    assert 800 < jets[:, 0].min() and jets[:, 0].max() < 1300  # 1 TeV partons, no hard tail
    # explicit flags win over the preset; an empty window is refused
    import argparse

    from jetzoo.data.jetnet_generator import add_arguments, make_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--preset",
            "jetnet",
            "--pthat-min",
            "990",
            "--jets-per-class",
            "1",
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert make_config(args).pthat_min == 990.0 and make_config(args).pthat_max == 1005.0
    assert (
        GeneratorConfig().sha256()
        == GeneratorConfig.from_dict(GeneratorConfig().to_dict()).sha256()
    )
    rc = cli_main(
        [
            "generate",
            "jetnet",
            "--pthat-min",
            "1000",
            "--pthat-max",
            "900",
            "--jets-per-class",
            "1",
            "--out",
            str(tmp_path / "y"),
            "--no-progress",
        ]
    )
    assert (
        rc == 2 and "--pthat-max (900) must be above --pthat-min (1000)" in capsys.readouterr().err
    )
