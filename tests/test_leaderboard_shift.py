"""The simulator-shift task: probes fitted on one generator setting's jets, scored on another's;
the main score is the accuracy kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest
import torch
import yaml

from jetzoo import JetZoo
from jetzoo.data import sample_path
from jetzoo.leaderboard import metrics as M
from jetzoo.leaderboard.probes import knn_probe
from jetzoo.leaderboard.scoring import extract
from jetzoo.leaderboard.submission import RunSettings, run_task
from jetzoo.leaderboard.task_data import load_task_data
from jetzoo.leaderboard.tasks import TASKS_DIR, TaskError, load_task, parse_task


def _rows(result, evaluation):
    return {r["metric"]: r["value"] for r in result.rows if r["evaluation"] == evaluation}


def test_the_quick_tier_has_no_shift_and_keeps_all_accuracy():
    task = load_task(TASKS_DIR / "simulator-shift.yaml").for_tier("quick")
    result = run_task(JetZoo.from_pretrained("jbot-s"), task, RunSettings(accelerator="cpu"))
    for evaluation in ("knn", "linear"):
        rows = _rows(result, evaluation)
        assert rows["accuracy_kept"] == pytest.approx(1.0)  # the test jets themselves
        assert 0.4 < rows["accuracy"] < 0.9
        assert "auc[mean]" in rows
    assert result.n_test == 599  # the quick tier caps the test split at 600 (per class, rounded)


def test_a_shifted_set_scores_the_ratio_to_the_nominal_accuracy(tmp_path: Path):
    # "another setting": the sample's jets twice as wide in (eta, phi)
    shifted = tmp_path / "wide"
    shutil.copytree(sample_path(), shifted)
    (shifted / "manifest.json").unlink()  # its bytes change: hashed as plain files
    for f in shifted.glob("*.h5"):
        with h5py.File(f, "r+") as h5:
            pf = h5["particle_features"][()]
            pf[..., :2] *= 2.0
            h5["particle_features"][...] = pf
    raw = yaml.safe_load((TASKS_DIR / "simulator-shift.yaml").read_text())
    raw["tiers"]["quick"]["shift_dataset"] = str(shifted)
    task = parse_task(raw, tmp_path / "shift.yaml").for_tier("quick")
    backbone = JetZoo.from_pretrained("jbot-s")
    result = run_task(backbone, task, RunSettings(accelerator="cpu", evaluations=["knn"]))
    rows = _rows(result, "knn")
    # the same numbers from the probe directly
    data = load_task_data(task)
    emb = {s: extract(backbone, data.split(s)) for s in ("train", "test", "shifted")}
    acc = {}
    for split in ("test", "shifted"):
        scores = torch.as_tensor(knn_probe(emb["train"], data.train["label"], emb[split]).scores)
        acc[split] = float(M.accuracy(scores.double(), data.split(split)["label"], 5))
    assert rows["accuracy"] == pytest.approx(acc["shifted"], abs=1e-6)
    assert rows["accuracy_kept"] == pytest.approx(acc["shifted"] / acc["test"], abs=1e-6)
    assert rows["accuracy_kept"] < 0.9  # twice as wide jets: a real loss
    assert result.split_key.endswith(f"+{shifted}@{data.shift_sha256[:12]}")


def test_a_shift_task_names_its_shift_dataset():
    raw = yaml.safe_load((TASKS_DIR / "simulator-shift.yaml").read_text())
    del raw["shift_dataset"]
    with pytest.raises(TaskError, match="field 'shift_dataset': eval_split: shifted"):
        parse_task(raw, "x.yaml")
    raw = yaml.safe_load((TASKS_DIR / "jetnet-5class.yaml").read_text())
    raw["metrics"] = ["accuracy", "accuracy_kept"]
    with pytest.raises(TaskError, match="field 'metrics': accuracy_kept needs eval_split"):
        parse_task(raw, "x.yaml")
