"""A pre-training mixture over generator settings: R = 0.4 jets are R = 0.4 jets, the mixture
keeps every component's shard bytes and records its composition, and `data make` builds a
catalog mixture from its components."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jetzoo.cli import main as cli_main
from jetzoo.data import catalog
from jetzoo.data import shards as sh
from jetzoo.data.dataset import JetDataset
from jetzoo.data.mixture import composition, mix
from jetzoo.data.schema import DataError


def _generate(out: Path, *flags: str, seed: int = 3) -> Path:
    argv = ["generate", "jetnet", "--classes", "q,t", "--jets-per-class", "6", "--seed", str(seed)]
    argv += ["--shard-size", "3", "--workers", "1", "--no-progress", *flags, "--out", str(out)]
    assert cli_main(argv) == 0
    return out


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("settings")
    return {
        "r08": _generate(base / "r08"),
        "r04": _generate(base / "r04", "--jet-r", "0.4", seed=4),
    }


def test_small_radius_jets_hold_particles_within_r(parts: dict[str, Path]) -> None:
    for name, radius in (("r04", 0.4), ("r08", 0.8)):
        data = JetDataset(parts[name])
        batch = data.read(np.arange(len(data)))
        dr = np.hypot(batch["x"][..., 0], batch["x"][..., 1])[batch["mask"] > 0]
        assert dr.max() < radius + 0.05  # relative to the jet axis (E-scheme: about R)
        manifest = json.loads((parts[name] / "manifest.json").read_text())
        assert manifest["settings"]["jet_r"] == manifest["settings"]["match_dr"] == radius
    wide = JetDataset(parts["r08"]).read(np.arange(12))
    dr = np.hypot(wide["x"][..., 0], wide["x"][..., 1])[wide["mask"] > 0]
    assert dr.max() > 0.45  # R = 0.8 jets reach past 0.4


def test_mixture_keeps_the_components_and_records_them(parts, tmp_path: Path) -> None:
    out = tmp_path / "mix"
    manifest = mix([parts["r08"], parts["r04"]], out)
    assert manifest["n_jets"] == 24 and len(JetDataset(out)) == 24
    assert sh.verified_dataset_sha256(out) == manifest["dataset_sha256"]
    component_shards = [
        e["sha256"]
        for p in (parts["r08"], parts["r04"])
        for e in json.loads((p / "manifest.json").read_text())["shards"]
    ]
    assert [e["sha256"] for e in manifest["shards"]] == component_shards
    comp = composition(out)
    assert [c["name"] for c in comp] == ["r08", "r04"]
    assert [c["settings"]["jet_r"] for c in comp] == [0.8, 0.4]
    assert comp[1]["dataset_sha256"] == sh.verified_dataset_sha256(parts["r04"])
    assert "--jet-r 0.4" in comp[1]["command"]
    assert (out / sh.PREPROCESSING_NAME).is_file()
    assert composition(parts["r08"]) is None


def test_a_failed_mix_leaves_nothing(parts, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    _generate(damaged, seed=5)
    shard = damaged / "shard-00001.h5"
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match="shard-00001.h5"):
        mix([parts["r08"], damaged], tmp_path / "mix")
    with pytest.raises(DataError, match="named twice"):
        mix([parts["r08"], parts["r08"]], tmp_path / "mix")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged"]
    (tmp_path / "mix").mkdir()
    with pytest.raises(DataError, match="exists"):
        mix([parts["r08"]], tmp_path / "mix")


def test_data_make_builds_a_catalog_mixture(parts, tmp_path: Path, monkeypatch) -> None:
    from jetzoo.data.make import make

    monkeypatch.setenv("JETZOO_DATA", str(tmp_path))
    for name in ("r08", "r04"):  # components already made
        (tmp_path / f"c-{name}").symlink_to(parts[name])
    entries = {
        f"c-{n}": catalog.PinnedDataset(
            f"c-{n}", "jetnet", "jetzoo generate jetnet ...", sh.verified_dataset_sha256(p), "", 12
        )
        for n, p in parts.items()
    }
    expected = mix([parts["r08"], parts["r04"]], tmp_path / "reference")["dataset_sha256"]
    entries["c-mix"] = catalog.PinnedDataset(
        "c-mix",
        "jetnet",
        "jetzoo data mix c-r08 c-r04 --out data/c-mix",
        expected,
        "",
        24,
        components=("c-r08", "c-r04"),
    )
    monkeypatch.setattr(catalog, "CATALOG", {**catalog.CATALOG, **entries})
    assert catalog.estimate(entries["c-mix"]).startswith("about")
    assert make("c-mix") == 0
    manifest = json.loads((tmp_path / "c-mix" / "manifest.json").read_text())
    assert manifest["dataset_sha256"] == expected
    assert manifest["command"] == "jetzoo data mix c-r08 c-r04 --out data/c-mix"


def test_every_catalog_set_is_pinned_and_the_mixture_names_its_components() -> None:
    for name, spec in catalog.CATALOG.items():
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0, name
        assert all(
            c in catalog.CATALOG and not catalog.CATALOG[c].components for c in spec.components
        )
    mixture = catalog.get(catalog.MIXTURE)
    assert len(mixture.components) == len(catalog.GENERATOR_SETTINGS) == 8
    assert mixture.n_jets == sum(catalog.get(c).n_jets for c in mixture.components)
    assert mixture.command.split()[3:-2] == list(mixture.components)
