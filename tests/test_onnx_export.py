"""`jetzoo export-onnx`: backbones and classifiers as ONNX graphs with the preprocessing inside,
checked against torch eager with onnxruntime on real-shaped batches, and a saved classifier
that loads back with its classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from jetzoo import JetZoo
from jetzoo.cli import main as cli_main
from jetzoo.data import JetDataset, sample_path
from jetzoo.models.classifier import JetClassifier
from jetzoo.models.onnx_export import ExportError, export_onnx
from jetzoo.models.zoo import ZooError, save_pretrained

ort = pytest.importorskip("onnxruntime")


def _batches() -> dict[str, dict[str, torch.Tensor]]:
    """Sample jets as a user has them: padded to 30, a one-particle jet, truncated to 8
    particles, padded further to 45, and a batch of one."""
    jets = JetDataset(sample_path()).get_batch(range(0, 10_000, 97))
    x, mask = jets["x"], jets["mask"]
    assert (~mask).any()  # padded slots are there
    one = mask.clone()
    one[:, 1:] = False
    wide_x = torch.cat([x, torch.zeros(len(x), 15, 3)], dim=1)
    wide_m = torch.cat([mask, torch.zeros(len(x), 15, dtype=torch.bool)], dim=1)
    return {
        "padded": {"x": x, "mask": mask},
        "one-particle": {"x": x * one[..., None], "mask": one},
        "8-particles": {"x": x[:, :8].contiguous(), "mask": mask[:, :8].contiguous()},
        "45-particles": {"x": wide_x, "mask": wide_m},
        "batch-of-one": {"x": x[:1], "mask": mask[:1]},
    }


def _run(path: Path, batch: dict[str, torch.Tensor]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(
        None, {"x": batch["x"].numpy().astype(np.float32), "mask": batch["mask"].numpy()}
    )[0]


@pytest.mark.parametrize("name", ["jbot-s", "jbot-b"])
def test_backbone_embeddings_match_torch(name: str, tmp_path: Path):
    model = JetZoo.from_pretrained(name)
    path = export_onnx(name, tmp_path / f"{name}.onnx")
    for what, batch in _batches().items():
        with torch.no_grad():
            want = model(batch["x"], batch["mask"]).cls.numpy()
        got = _run(path, batch)
        assert got.shape == want.shape, what
        assert np.abs(got - want).max() <= 1e-4, what
    info = json.loads(path.with_suffix(".json").read_text())
    assert info["inputs"]["x"]["shape"] == ["batch", "particles", 3]
    assert info["outputs"] == {
        "embedding": {"dtype": "float32", "shape": ["batch", model.num_features]}
    }
    assert info["model"]["weights_sha256"] == model.pretrained_cfg["weights_sha256"]
    assert info["preprocessing_in_graph"] and info["classes"] is None


def test_classifier_round_trip_and_probabilities_match_torch(tmp_path: Path):
    torch.manual_seed(0)
    clf = JetClassifier(JetZoo.from_pretrained("jbot-s"), classes=["q", "g", "t", "w", "z"])
    folder = save_pretrained(clf.eval(), tmp_path / "tagger", model_name="tagger")
    loaded = JetZoo.from_pretrained(folder)
    assert isinstance(loaded, JetClassifier) and loaded.classes == ["q", "g", "t", "w", "z"]
    batch = _batches()["padded"]
    assert torch.equal(loaded.predict(batch), clf.predict(batch))
    assert torch.allclose(loaded.predict(batch).sum(1), torch.ones(len(batch["x"])))
    assert cli_main(["export-onnx", str(folder), "--out", str(tmp_path / "t.onnx")]) == 0
    for what, b in _batches().items():
        got = _run(tmp_path / "t.onnx", b)
        assert np.abs(got - loaded.predict(b).numpy()).max() <= 1e-5, what
    info = json.loads((tmp_path / "t.json").read_text())
    assert info["classes"] == ["q", "g", "t", "w", "z"] and "probabilities" in info["outputs"]


def test_export_refuses_what_it_cannot_export(tmp_path: Path, capsys):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    assert cli_main(["export-onnx", str(folder), "--out", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert f"{folder / 'config.json'}: not found" in err
    with pytest.raises(ExportError, match="reads 'rs3l'"):
        export_onnx("rs3l", tmp_path / "rs3l.onnx")
    with pytest.raises(ExportError, match="must end in .onnx"):
        export_onnx("jbot-s", tmp_path / "model.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-model"]  # nothing written
    with pytest.raises(ZooError, match="config.json: field 'backbone.num_classes': 1 is outside"):
        broken = save_pretrained(
            JetClassifier(JetZoo.from_pretrained("jbot-s"), classes=["a", "b"]),
            tmp_path / "clf",
            model_name="clf",
        )
        config = json.loads((broken / "config.json").read_text())
        config["backbone"]["num_classes"] = 1
        (broken / "config.json").write_text(json.dumps(config))
        JetZoo.from_pretrained(broken)
