"""jetzoo export: a run's epoch checkpoint, EMA teacher or checkpoint average as a model folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_runner import TINY

from jetzoo import JetZoo
from jetzoo.cli import main as cli_main
from jetzoo.recipes.checkpoints import RunError, checkpoint_backbone
from jetzoo.recipes.export import export_checkpoints
from jetzoo.recipes.runner import train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def jbot_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("export") / "run"
    train(ROOT / "recipes" / "jbot-s.yaml", [*TINY, f"output.dir={run}"])
    return run


def _state(folder: Path) -> dict[str, torch.Tensor]:
    return JetZoo.from_pretrained(str(folder)).state_dict()


def test_export_teacher_and_average(jbot_run: Path, tmp_path: Path) -> None:
    ckpts = [jbot_run / "checkpoints" / f"epoch00{i}.ckpt" for i in (0, 1)]
    student, jets = checkpoint_backbone(jbot_run, ckpts[1])
    teacher, _ = checkpoint_backbone(jbot_run, ckpts[1], "teacher")

    out = export_checkpoints(jbot_run, ckpts[1:], tmp_path / "teacher", weights="teacher")
    got = _state(out)
    assert all(torch.equal(got[k], v) for k, v in teacher.state_dict().items())
    assert any(not torch.equal(got[k], v) for k, v in student.state_dict().items())
    training = json.loads((out / "config.json").read_text())["training"]
    assert training["checkpoints"] == ["epoch001.ckpt"] and training["weights"] == "teacher"
    assert training["jets_seen"] == jets > 0
    # where the run stood: epoch001.ckpt is saved after the second epoch
    saved = torch.load(ckpts[1], map_location="cpu", weights_only=True)
    assert training["epochs"] == 2 and training["global_step"] == saved["global_step"] > 0
    assert training["wall_time_s"] > 0 and training["sittings"] == 1

    # the average of the two epochs' students, by hand: (a + b) / 2
    first = checkpoint_backbone(jbot_run, ckpts[0])[0].state_dict()
    assert (
        cli_main(["export", str(jbot_run), *map(str, ckpts), "--out", str(tmp_path / "avg")]) == 0
    )
    avg = _state(tmp_path / "avg")
    second = student.state_dict()
    for name, value in first.items():
        if value.is_floating_point():
            assert torch.allclose(avg[name], (value + second[name]) / 2, atol=1e-7), name
    assert any(not torch.equal(avg[k], v) for k, v in first.items())
    assert json.loads((tmp_path / "avg" / "config.json").read_text())["training"][
        "checkpoints"
    ] == ["epoch000.ckpt", "epoch001.ckpt"]


def test_export_bad_checkpoints_are_named(
    jbot_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = jbot_run / "checkpoints" / "epoch099.ckpt"
    assert cli_main(["export", str(jbot_run), str(missing), "--out", str(tmp_path / "x")]) == 1
    assert f"{missing}: checkpoint not found" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="corrupt.ckpt: cannot read the student backbone"):
        export_checkpoints(jbot_run, [corrupt], tmp_path / "y")
    with pytest.raises(RunError, match="no checkpoints"):
        export_checkpoints(jbot_run, [], tmp_path / "z")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
