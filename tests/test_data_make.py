"""`jetzoo data make`: a pinned set is made from its catalog command and checked against its
sha256; `--list` shows sizes and times; a submission without its data says so once per set."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetzoo.cli import main as cli_main
from jetzoo.data import catalog
from jetzoo.data.jetnet_generator import generate

COMMAND = (
    "jetzoo generate jetnet --classes q --jets-per-class 4 --seed 3 --shard-size 4 --out data/tiny"
)


@pytest.fixture()
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> catalog.PinnedDataset:
    """A pinned 4-jet set (its sha256 from a reference run) in a catalog of its own."""
    ref = generate(tmp_path / "ref", ["q"], 4, seed=3, workers=1, shard_size=4, progress=False)
    spec = catalog.PinnedDataset("tiny", "jetnet", COMMAND, ref["dataset_sha256"], "4 q jets", 4)
    monkeypatch.setattr(catalog, "CATALOG", {"tiny": spec})
    monkeypatch.setenv("JETZOO_DATA", str(tmp_path / "data"))
    return spec


def test_make_runs_the_command_and_checks_the_hash(tiny, tmp_path: Path, capsys) -> None:
    assert cli_main(["data", "make", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "tiny" in listed and "missing" in listed and "4 jets, about 0 s on 2 workers" in listed
    assert cli_main(["data", "make", "tiny", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "making tiny: 4 jets" in out and "--workers 1" in out
    assert f"--out {tmp_path / 'data' / 'tiny'}" in out
    assert "every shard matches the pinned sha256" in out
    assert catalog.locate("tiny") == tmp_path / "data" / "tiny"
    assert cli_main(["data", "make", "tiny"]) == 0  # present: checked, not made again
    assert "making" not in capsys.readouterr().out


def test_make_refuses_other_bytes(tiny, monkeypatch, capsys) -> None:
    wrong = catalog.PinnedDataset("tiny", "jetnet", COMMAND, "0" * 64, "4 q jets", 4)
    monkeypatch.setattr(catalog, "CATALOG", {"tiny": wrong})
    assert cli_main(["data", "make", "tiny", "--workers", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "differs from the pinned 0000000000000000" in err
    assert cli_main(["data", "make", "nope"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_submission_without_its_data_says_so_once(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("JETZOO_DATA", str(tmp_path / "empty"))
    rc = cli_main(
        [
            "leaderboard",
            "submit",
            "jbot-s",
            "--tasks",
            "jetnet-5class",
            "top-tagging",
            "--evaluations",
            "knn",
            "--out",
            str(tmp_path / "results"),
            "--no-cache",
        ]
    )
    err = capsys.readouterr().err
    assert rc != 0
    offers = [ln for ln in err.splitlines() if "jetzoo data make jetnet-bench-220k" in ln]
    assert len(offers) == 1, err
    assert offers[0].startswith("skipped jetnet-5class, top-tagging: dataset jetnet-bench-220k")
    assert "220,000 jets, about" in offers[0]
    assert "--tier quick scores on the embedded sample" in err.strip().splitlines()[-1]
    assert not (tmp_path / "results").exists()
