"""The README's "Use a zoo backbone on your own jets": its five commands, exactly as printed
there (only ``~/toptag`` is replaced by a folder of Top Tagging files), run in order and end to
end. The files are in the published layout (pandas/PyTables tables), made from the embedded
sample's q and g (qcd) and t (top) jets."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from jetzoo.data import JetDataset, sample_path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- downstream-commands -->\n```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no downstream-commands block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def write_toptagging(folder: Path) -> None:
    """train/val/test.h5 with the published 806 columns, from the sample's q, g, t jets."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("tables")
    ds = JetDataset(sample_path(), classes=["q", "g", "t"])
    batch = ds.read(np.arange(len(ds)))
    x, mask, jet = batch["x"], batch["mask"], batch["jet"]
    pt = x[..., 2] * jet[:, :1] * mask
    eta, phi = (x[..., 0] + jet[:, 1:2]) * mask, x[..., 1] * mask
    four = np.stack(
        [pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1
    )  # (N, 30, 4): E, PX, PY, PZ
    n = len(pt)
    values = np.zeros((n, 200, 4), np.float32)
    values[:, :30] = four
    names = [f"{p}_{i}" for i in range(200) for p in ("E", "PX", "PY", "PZ")]
    frame = pd.DataFrame(values.reshape(n, 800), columns=names)
    for name in ("truthE", "truthPX", "truthPY", "truthPZ"):
        frame[name] = np.zeros(n, np.float32)
    frame["ttv"] = np.zeros(n, np.int64)
    frame["is_signal_new"] = (np.asarray(ds.class_names)[batch["label"]] == "t").astype(np.int64)
    order = np.random.default_rng(0).permutation(n)
    folder.mkdir(parents=True)
    for name, part in zip(("train", "val", "test"), np.split(order, [int(0.7 * n), int(0.85 * n)])):
        frame.iloc[np.sort(part)].to_hdf(folder / f"{name}.h5", key="table", format="table")


@pytest.mark.slow
def test_readme_downstream_commands_run_end_to_end(tmp_path: Path):
    commands = readme_commands()
    assert len(commands) == 5
    write_toptagging(tmp_path / "toptag")
    for command in commands:
        argv = shlex.split(command.replace("~/toptag", str(tmp_path / "toptag")))
        if argv[0] == "jetzoo":
            argv = [sys.executable, "-m", "jetzoo.cli", *argv[1:]]
        elif argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
        last = proc.stdout
    summary = json.loads((tmp_path / "runs/top-1pct/summary.json").read_text())
    assert summary["classes"] == ["qcd", "top"] and summary["label_fraction"] == 0.01
    assert summary["n_train"] == 42 and summary["test"]["auc[mean]"] > 0.5
    with h5py.File(tmp_path / "runs/top-1pct/scores.h5") as f:
        assert f["probabilities"].shape == (6000, 2)
        assert json.loads(f.attrs["classifier_classes"]) == ["qcd", "top"]
    info = json.loads((tmp_path / "runs/top-1pct/tagger.json").read_text())
    assert info["classes"] == ["qcd", "top"]
    probs = np.array(re.findall(r"[0-9.]+(?:e-?\d+)?", last), float).reshape(2, 2)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
