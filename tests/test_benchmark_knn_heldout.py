"""benchmarks/knn_heldout.py: the shipped ae beats its random init on held-out jets; no data,
no run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from jetzoo.data import sample_path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "knn_heldout.py"
_spec = importlib.util.spec_from_file_location("jetzoo_bench_knn_heldout", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_shipped_ae_above_random_init_on_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        bench.main(
            ["--data", str(sample_path()), "--n", "1000", "--models", "ae", "--bootstrap", "200"]
        )
        == 0
    )
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| ae |"))
    trained, random_init = (float(c) for c in row.split("|")[2:4])
    assert 0.2 <= random_init < trained <= 1.0, row  # 5 classes: chance is 0.2


def test_missing_release_set_is_a_skip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--data", str(tmp_path / "none")]) == 0
    assert "skipped: no release set" in capsys.readouterr().out


def test_confusion_table_counts_and_per_class_accuracy() -> None:
    label = torch.tensor([0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 1, 0, 1, 2, 2])
    table = bench.confusion_table("m", pred, label, ["q", "g", "t"]).splitlines()
    assert table[2:] == [
        "|---|---|---|---|---|",
        "| q | 2 | 1 | 0 | 0.667 |",
        "| g | 0 | 1 | 1 | 0.500 |",
        "| t | 0 | 0 | 1 | 1.000 |",
    ]


def test_mass_line_separates_w_from_z_in_gev_and_in_mass_over_pt() -> None:
    # columns: pt, eta, mass, n. In GeV the Z jets are heavier; their larger pT hides it in m/pT
    jet = torch.tensor(
        [
            [1000.0, 0, 80, 30],
            [1000.0, 0, 82, 30],
            [1300.0, 0, 91, 30],
            [1300.0, 0, 92, 30],
            [900.0, 0, 150, 30],
        ]
    )
    label = torch.tensor([3, 3, 4, 4, 0])  # w, w, z, z, q (not counted)
    line = bench.mass_line({"jet": jet, "label": label}, ["q", "g", "t", "w", "z"])
    assert line == ("W vs Z AUC of the jet mass: 1.000 in GeV, 0.000 as mass / pT (4 query jets)")


def test_seen_table_compares_training_jets_with_held_out_jets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the sample as both sets: its train split stands in for the pre-training jets
    path = str(sample_path())
    assert (
        bench.main(
            ["--data", path, "--n", "400", "--models", "ae", "--bootstrap", "100", "--seen", path]
        )
        == 0
    )
    out = capsys.readouterr().out
    main_row = next(line for line in out.splitlines() if line.startswith("| ae |"))
    seen_row = [line for line in out.splitlines() if line.startswith("| ae |")][1]
    cells = [c.strip() for c in seen_row.split("|")[2:-1]]
    held, train, rand_held, rand_train = (float(c) for c in cells[:4])
    assert held == float(main_row.split("|")[2])  # the same held-out queries and references
    assert rand_held == float(main_row.split("|")[3])
    assert all(0.2 <= v <= 1.0 for v in (held, train, rand_held, rand_train)), seen_row
    point, spread = (float(v) for v in cells[4].split("±"))
    assert point == pytest.approx((train - held) - (rand_train - rand_held), abs=2e-3)
    assert 0 < spread < 0.1
