"""RS3L re-simulation: shared parton records, tau channels, pairing, shards, resume, physics."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

from jetzoo.data.rs3l_dataset import RS3LPairDataset, rs3l_sample_path
from jetzoo.data.rs3l_generator import ShardTask, generate, run_task, shard_seeds
from jetzoo.data.rs3l_pairs import ViewJets, make_pairs
from jetzoo.data.rs3l_schema import RS3L_CLASSES, RS3L_FORMAT
from jetzoo.data.rs3l_shards import resampling_weights
from jetzoo.data.rs3l_simulation import GenerationConfig, Resimulator
from jetzoo.utils.io import sha256_file

CFG = GenerationConfig()


def test_views_share_the_parton_record_but_not_the_hadrons() -> None:
    sim = Resimulator("g", CFG, shard_seeds(11, "g", 0)[0], keep_records=True)
    for _ in range(3):
        ev = sim.next_event()
        assert ev is not None
        partons, view_a, view_b = ev.records
        n = ev.n_parton
        assert len(partons) == n and len(view_a) > n and len(view_b) > n
        # identical parton-level entries (ids and four-momenta) in both views
        np.testing.assert_array_equal(view_a[:n], partons)
        np.testing.assert_array_equal(view_b[:n], partons)
        # independent hadronization: the final hadrons differ
        ha = Counter(map(tuple, np.round(view_a[n:], 6)))
        hb = Counter(map(tuple, np.round(view_b[n:], 6)))
        assert ha != hb
        assert len(ev.views[0].e) != len(ev.views[1].e) or not np.allclose(
            np.sort(ev.views[0].e), np.sort(ev.views[1].e)
        )


def test_tau_pairs_share_the_decay_channel() -> None:
    sim = Resimulator("tau", CFG, shard_seeds(12, "tau", 0)[0], keep_records=True)
    seen = set()
    attempts = []
    for _ in range(6):
        ev = sim.next_event()
        if ev is None:  # channel not repeated within max_tau_attempts (rare)
            continue
        ch_a, ch_b = ev.tau_channels
        assert ch_a == ch_b and len(ch_a) == 2
        for channel in ch_a:
            assert 16 in {abs(x) for x in channel}  # a tau neutrino
            assert not {11, 13} & set(map(abs, channel))  # hadronic decays only
        seen.update(ch_a)
        attempts.append(ev.tau_attempts)
        n = ev.n_parton
        np.testing.assert_array_equal(ev.records[1][:n], ev.records[2][:n])
        assert not np.array_equal(ev.views[0].e, ev.views[1].e)
    assert len(attempts) >= 4 and min(attempts) >= 1
    assert len(seen) >= 2  # the channel is drawn, not fixed


def _view(det_kin: list[list[float]], had_kin: list[list[float]]) -> ViewJets:
    n = len(det_kin)
    return ViewJets(
        det={k: k for k in range(n)},
        had={k: k for k in range(n)},
        det_kin=np.array(det_kin, float),
        had_kin=np.array(had_kin, float),
        det_consts=[np.arange(2) for _ in range(n)],
        tracks=np.array(
            [[10.0, 0.0, 0.0, 0.0, 0.0], [5.0, 0.1, 0.1, 0.0, 3.0], [4.0, 0.3, 0.3, 0.0, 0.0]],
            np.float32,
        ),
        cells=np.array([[3.0, 0.0, 0.0, 1], [9.0, 0.05, 0.0, 4]], np.float32),
    )


def test_pair_cuts() -> None:
    origins = np.array(
        [[5, 21, 0.0, 0.0], [6, 21, 1.0, 2.0], [7, 21, -1.0, -2.0], [8, 21, 2.0, 1.0]]
    )
    a = _view(
        [[60, 0, 0, 5], [60, 1, 2, 5], [24, -1, -2, 5], [80, 2, 1, 5]],
        [[70, 0, 0, 5], [70, 1, 2, 5], [70, -1, -2, 5], [90, 2, 1, 5]],
    )
    b = _view(
        [[55, 0, 0, 5], [100, 1, 2, 5], [60, -1, -2, 5], [80, 2, 1.3, 5]],
        [[71, 0, 0, 5], [70, 1, 2, 5], [70, -1, -2, 5], [90, 2, 1.3, 5]],
    )
    pairs = make_pairs(a, b, origins, "g", event=3, cfg=CFG)
    # parton 6: |60 - 100| / 160 = 0.25 < 0.3 kept; parton 7: 24 GeV < 25 GeV;
    # parton 8: hadron jets dR = 0.3 > 0.2
    assert [p.origin for p in pairs] == [5, 6]
    assert all(p.label == RS3L_CLASSES.index("g") and p.event == 3 for p in pairs)
    tracks, cells, jet, had = pairs[0].views[0]
    # tracks within dR < 0.4 and |z0| < 2 mm, pT-ordered; cells energy-ordered
    np.testing.assert_array_equal(tracks[:, 0], [10.0])
    np.testing.assert_array_equal(cells[:, 0], [9.0, 3.0])
    np.testing.assert_allclose(jet, [60, 0, 0, 5, 1, 2])
    strict = GenerationConfig(max_pt_asymmetry=0.2)
    assert [p.origin for p in make_pairs(a, b, origins, "g", 3, strict)] == [5]


def test_resampling_matches_the_reference_spectrum() -> None:
    rng = np.random.default_rng(0)
    sm = np.stack([30 + rng.exponential(40, 20000), rng.uniform(-2.5, 2.5, 20000)], axis=1)
    dark = np.stack([30 + rng.uniform(0, 250, 20000), rng.normal(0, 1.0, 20000)], axis=1)
    w = resampling_weights(sm, dark)
    assert w.max() == pytest.approx(1.0)
    kept = dark[rng.random(len(w)) < w]
    for col, transform in ((0, lambda x: x), (1, np.abs)):
        q = np.quantile(transform(sm[:, col]), [0.25, 0.5, 0.75])
        q_kept = np.quantile(transform(kept[:, col]), [0.25, 0.5, 0.75])
        q_raw = np.quantile(transform(dark[:, col]), [0.25, 0.5, 0.75])
        assert np.abs(q_kept - q).max() < 0.3 * np.abs(q_raw - q).max()


def test_shards_are_reproducible_for_a_seed(tmp_path: Path) -> None:
    paths = []
    for k, seed in enumerate((3, 3, 4)):
        path = tmp_path / f"s{k}.h5"
        run_task(ShardTask("q", 0, 4, str(path)), GenerationConfig(seed=seed))
        paths.append(path)
    assert sha256_file(paths[0]) == sha256_file(paths[1])
    with h5py.File(paths[0]) as f0, h5py.File(paths[2]) as f2:
        assert f0.attrs["format"] == RS3L_FORMAT and f0.attrs["n_pairs"] > 0
        assert f0.attrs["pythia_seed"] != f2.attrs["pythia_seed"]
        assert not np.array_equal(f0["jet_features"][:1], f2["jet_features"][:1])


@pytest.mark.slow
def test_generate_two_workers_resume_and_dark_resampling(tmp_path: Path) -> None:
    events = {"q": 4, "g": 4, "dark_D": 4}
    out = tmp_path / "rs3l"
    m2 = generate(out, events, CFG, events_per_shard=2, workers=2, progress=False)
    by_class = Counter(s["class"] for s in m2["shards"])
    assert by_class["q"] == 2 and by_class["g"] == 2 and len(m2["raw_shards"]) == 2
    dark = m2["dark_resampling"]["dark_D"]
    assert dark["resampled_pairs"] == sum(
        s["pairs"] for s in m2["shards"] if s["class"] == "dark_D"
    )
    assert 0 < dark["resampled_pairs"] <= dark["raw_pairs"]
    # same seeds per shard: one worker gives bit-identical shards
    m1 = generate(tmp_path / "one", events, CFG, events_per_shard=2, workers=1, progress=False)
    assert m1["dataset_sha256"] == m2["dataset_sha256"]
    # resume: a lost shard and a crashed temp file; only the lost shard is simulated again
    (out / "g" / "shard-00001.h5").unlink()
    (out / "q" / ".shard-00000.h5.abc.tmp").write_bytes(b"partial")
    m3 = generate(out, events, CFG, events_per_shard=2, workers=1, progress=False)
    assert m3["timing"]["new_shards"] == 1
    assert m3["dataset_sha256"] == m2["dataset_sha256"]
    assert not list(out.rglob("*.tmp"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset_sha256"] == m2["dataset_sha256"]
    ds = RS3LPairDataset(out)
    assert set(np.unique(ds.labels)) <= {0, 1, RS3L_CLASSES.index("dark_D")}
    assert len(ds) == sum(s["pairs"] for s in manifest["shards"])


# ------------------------------------------------------------------ physics of the sample
@pytest.fixture(scope="module")
def sample() -> RS3LPairDataset:
    return RS3LPairDataset(rs3l_sample_path())


def test_sample_pair_correlation_and_multiplicities(sample: RS3LPairDataset) -> None:
    manifest = json.loads((rs3l_sample_path() / "manifest.json").read_text())
    sm = np.isin(sample.labels, [0, 1, 2])
    a, b = sample.jet_features("")[sm], sample.jet_features("_b")[sm]
    corr = float(np.corrcoef(a[:, 0], b[:, 0])[0, 1])
    n_tracks = float(np.concatenate([a[:, 4], b[:, 4]]).mean())
    n_cells = float(np.concatenate([a[:, 5], b[:, 5]]).mean())
    print(
        f"\nRS3L sample: pair pT correlation {corr:.3f} (Rieck et al.: 0.83); tracks/jet "
        f"{n_tracks:.1f} (Rieck et al.: 8); cells/jet {n_cells:.0f} (Rieck et al.: ~800); "
        f"tau attempts {manifest['summary']['tau_attempts_mean']:.0f}"
    )
    assert corr == pytest.approx(manifest["summary"]["pt_correlation"], abs=1e-6)
    assert 0.75 < corr < 0.99  # positive pairs share the shower: strongly correlated
    assert 4 < n_tracks < 12
    assert 100 < n_cells < 1000
    assert (a[:, 0] > 25).all() and (b[:, 0] > 25).all()


def test_sample_flavour_physics(sample: RS3LPairDataset) -> None:
    jets = sample.jet_features("")
    mean_tracks = {
        c: jets[sample.labels == RS3L_CLASSES.index(c), 4].mean() for c in ("q", "g", "tau")
    }
    mean_cells = {
        c: jets[sample.labels == RS3L_CLASSES.index(c), 5].mean() for c in ("q", "g", "tau")
    }
    # gluon jets are busier than quark jets, hadronic taus are 1- or 3-prong and narrow
    assert mean_tracks["g"] > mean_tracks["q"] > mean_tracks["tau"]
    assert mean_tracks["tau"] < 3.5
    assert mean_cells["g"] > mean_cells["q"] > mean_cells["tau"]
    # tau decay products come from a displaced vertex (c tau = 87 um, gamma ~ 50): the leading
    # (best-measured) track has a larger |d0| than in quark jets
    d0 = {}
    for c in ("q", "tau"):
        items = [sample[int(i)] for i in np.flatnonzero(sample.labels == RS3L_CLASSES.index(c))]
        d0[c] = np.array([abs(it["tracks"][0, 3]) for it in items[:150] if len(it["tracks"])])
    print(
        f"\nmedian |d0| of the leading track: tau {np.median(d0['tau']) * 1e3:.0f} um, "
        f"q {np.median(d0['q']) * 1e3:.0f} um"
    )
    assert np.median(d0["tau"]) > 1.5 * np.median(d0["q"])
    assert np.mean(d0["tau"] > 0.05) > 2 * np.mean(d0["q"] > 0.05)


def test_sample_dark_jets_follow_the_sm_spectrum(sample: RS3LPairDataset) -> None:
    jets = sample.jet_features("")
    sm_pt = jets[np.isin(sample.labels, [0, 1, 2]), 0]
    for model in ("A", "B", "C", "D"):
        dark = jets[sample.labels == RS3L_CLASSES.index(f"dark_{model}")]
        assert len(dark) >= 50, model
        # resampled: medians agree within 15%
        assert np.median(dark[:, 0]) == pytest.approx(np.median(sm_pt), rel=0.15), model


def test_cli_arguments_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import argparse

    from jetzoo.data import rs3l_generator as gen

    parser = argparse.ArgumentParser()
    gen.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path), "--events", "560", "--dark-models", "a,D"])
    assert args.ratio == (3.0, 3.0, 1.0) and args.dark_models == ["A", "D"]
    assert gen.split_events(560, args.ratio) == {"q": 240, "g": 240, "tau": 80}
    for bad in (["--ratio", "3:3"], ["--ratio", "x:1:1"], ["--dark-models", "E"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["--out", str(tmp_path), *bad])
    # dark jets alone cannot be resampled: a clear error before any simulation
    args = parser.parse_args(
        ["--out", str(tmp_path / "d"), "--events", "0", "--dark-models", "A", "--workers", "1"]
    )
    assert gen.main(args) == 1
    assert "no SM shards" in capsys.readouterr().err
    assert not list((tmp_path / "d").rglob("*.h5"))


@pytest.mark.slow
def test_pileup_overlay_poisson_count_and_vertex_spread() -> None:
    from jetzoo.data.rs3l_simulation import PileupPool

    pool = PileupPool(20, pythia_seed=5, min_pt=1.0)
    per_event = np.mean([len(p.e) for p in pool.events])
    assert per_event > 1 and all((p.pt >= 1.0).all() for p in pool.events)
    rng = np.random.default_rng(0)
    overlays = [pool.overlay(30.0, 50.0, rng) for _ in range(200)]
    counts = np.array([0 if o is None else len(o.e) for o in overlays])
    assert counts.mean() == pytest.approx(30.0 * per_event, rel=0.15)
    z = np.concatenate([o.z for o in overlays if o is not None])
    assert z.std() == pytest.approx(50.0, rel=0.1)  # vertices Gaussian in z, 50 mm
    # pile-up tracks rarely pass the |z0| < 2 mm jet-track association
    assert np.mean(np.abs(z) < 2.0) < 0.05
