"""Zoo I/O: save_pretrained -> from_pretrained round trip, the folder format, resolution order
and every bad-input error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import jetzoo
from jetzoo import JetZoo, create_backbone, list_models
from jetzoo.data.preprocessing import Preprocessing
from jetzoo.models import hub, zoo
from jetzoo.models.zoo import ModelNotFoundError, UnknownModelError, ZooError, save_pretrained

DATASET = {"name": "jetnet-sample", "sha256": "ab" * 32, "n_jets": 5000, "classes": ["q", "g"]}


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(16, 30, 3, generator=g) * torch.tensor([0.4, 0.4, 0.1]) - torch.tensor(
        [0.2, 0.2, 0.0]
    )
    mask = torch.arange(30) < torch.randint(3, 31, (16, 1), generator=g)
    return x * mask.unsqueeze(-1), mask


def _saved(tmp_path: Path, name: str = "jbot-s", **kwargs) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(1)
    model = create_backbone(name)
    return model, save_pretrained(model, tmp_path / name, **kwargs)


@pytest.mark.parametrize("name", ["jbot-s", "jbot-b"])
def test_save_then_load_is_bit_identical(tmp_path, name):
    torch.manual_seed(0)
    model = create_backbone(name)
    model.set_preprocessing(Preprocessing(mean=[0.01, 0.0, -3.2], std=[0.12, 0.11, 1.1]))
    model.eval()
    folder = save_pretrained(model, tmp_path / "out")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    loaded = JetZoo.from_pretrained(folder)
    assert not loaded.training and type(loaded) is type(model)
    x, mask = _batch()
    with torch.no_grad():
        a, b = model(x, mask), loaded(x, mask)
    assert torch.equal(a.cls, b.cls) and torch.equal(a.tokens, b.tokens)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    assert loaded.config == model.config  # preprocessing travels with the weights
    assert loaded.pretrained_cfg["model_name"] == name


def test_config_json_content(tmp_path):
    recipe = {"recipe": "jbot", "lr": 5e-4, "epochs": 2}
    training = {"wall_time_s": 12.5, "epochs": 2, "jets_per_s": 800.0}
    results = [{"task": "top-tagging", "metric": "auc", "value": 0.93}]
    model, folder = _saved(
        tmp_path, recipe=recipe, dataset=DATASET, training=training, results=results
    )
    config = json.loads((folder / "config.json").read_text())
    assert config["format_version"] == 1 and config["jetzoo_version"] == jetzoo.__version__
    assert config["model_name"] == "jbot-s"
    assert (
        config["backbone"] == model.config and config["backbone"]["arch"] == "particle_transformer"
    )
    assert (config["recipe"], config["dataset"], config["training"], config["results"]) == (
        recipe,
        DATASET,
        training,
        results,
    )
    from jetzoo.utils.io import sha256_file

    assert config["weights_sha256"] == sha256_file(folder / "model.safetensors")
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        assert f.metadata() == {"format": "pt"}
        assert set(f.keys()) == set(model.state_dict())
    card = (folder / "README.md").read_text()
    assert "| top-tagging | jetnet-sample | test | auc | 0.9300 |" in card
    assert DATASET["sha256"] in card


def test_mixin_and_jetzoo_save_share_one_implementation(tmp_path):
    torch.manual_seed(0)
    model = create_backbone("jetclr")
    a = model.save_pretrained(tmp_path / "a", model_name="my-clr")
    b = JetZoo.save_pretrained(model, tmp_path / "b", model_name="my-clr")
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert json.loads((a / "config.json").read_text())["model_name"] == "my-clr"


@pytest.mark.parametrize("name", list_models())
def test_every_registered_backbone_round_trips(tmp_path, name):
    """The zoo works for every architecture in the registry (jetnet and rs3l families)."""
    torch.manual_seed(0)
    model = create_backbone(name)
    loaded = JetZoo.from_pretrained(save_pretrained(model, tmp_path / name))
    assert type(loaded) is type(model) and loaded.config == model.config and not loaded.training
    state = loaded.state_dict()
    assert set(state) == set(model.state_dict())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert loaded.pretrained_cfg["model_name"] == name


def test_overwrite_is_atomic_and_guarded(tmp_path):
    model, folder = _saved(tmp_path)
    torch.manual_seed(9)
    other = create_backbone("jbot-s")
    save_pretrained(other, folder)  # replacing a saved folder is fine
    x, mask = _batch()
    with torch.no_grad():
        assert torch.equal(
            JetZoo.from_pretrained(folder).embed({"x": x, "mask": mask}),
            other.eval().embed({"x": x, "mask": mask}),
        )
    (folder / "notes.txt").write_text("mine")
    before = (folder / "model.safetensors").read_bytes()
    with pytest.raises(ZooError, match="notes.txt"):
        save_pretrained(model, folder)
    assert (folder / "model.safetensors").read_bytes() == before
    with pytest.raises(ZooError, match="field 'recipe' is not valid JSON"):
        save_pretrained(model, tmp_path / "bad", recipe={"lr": float("nan")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jbot-s"]  # no temp folders left


def test_folder_without_weights(tmp_path):
    _, folder = _saved(tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(
        ZooError,
        match=r"model.safetensors: not found.*pytorch_model.bin.*never "
        r"pickled.*create_backbone\('jbot-s'\)",
    ):
        JetZoo.from_pretrained(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ZooError, match="config.json: not found"):
        JetZoo.from_pretrained(empty)


def test_config_from_a_newer_jetzoo(tmp_path):
    _, folder = _saved(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(format_version=2, jetzoo_version="9.0.0")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ZooError,
        match=r"config.json: format_version 2 is newer than this jetzoo "
        r"supports \(1\).*jetzoo 9.0.0.*you run jetzoo " + re.escape(jetzoo.__version__),
    ):
        JetZoo.from_pretrained(folder)
    config["format_version"] = "1"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZooError, match="'format_version' must be an integer"):
        JetZoo.from_pretrained(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ZooError, match="config.json: not valid JSON"):
        JetZoo.from_pretrained(folder)


def test_weights_that_do_not_fit_the_config(tmp_path):
    _, folder = _saved(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["backbone"]["embed_dim"] = 64
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ZooError,
        match=r"model.safetensors: weights do not match.*shape mismatch "
        r".*particle_embed.weight: file \(32, 3\) vs config \(64, 3\)",
    ):
        JetZoo.from_pretrained(folder)
    config["backbone"]["depth"], config["backbone"]["embed_dim"] = 3, 32
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZooError, match=r"missing tensors blocks.2"):
        JetZoo.from_pretrained(folder)
    config["backbone"]["arch"] = "particle_transformerr"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZooError, match="field 'backbone'.*Did you mean 'particle_transformer'"):
        JetZoo.from_pretrained(folder)


def test_corrupt_safetensors(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load must not run"))
    _, folder = _saved(tmp_path)
    weights = folder / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))  # one tensor byte changed
    with pytest.raises(ZooError, match="sha256 differs from field 'weights_sha256'"):
        JetZoo.from_pretrained(folder)
    weights.write_bytes(good[:-100])
    with pytest.raises(ZooError, match="model.safetensors: truncated: its tensors need"):
        JetZoo.from_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    del config["weights_sha256"]  # a hand-made folder: the header check catches it
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZooError, match="model.safetensors: truncated"):
        JetZoo.from_pretrained(folder)
    header = int.from_bytes(good[:8], "little")  # a header that parses but lies about a dtype
    meta = json.loads(good[8 : 8 + header])
    name = next(k for k in meta if k != "__metadata__")
    meta[name]["dtype"] = "Q9"
    text = json.dumps(meta).encode()
    weights.write_bytes(len(text).to_bytes(8, "little") + text + good[8 + header :])
    with pytest.raises(ZooError, match="model.safetensors: corrupt safetensors file"):
        JetZoo.from_pretrained(folder)
    weights.write_bytes(b"\x80\x04garbage pickle")
    with pytest.raises(ZooError, match="a pickle file, not safetensors"):
        JetZoo.from_pretrained(folder)


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownModelError, match="Did you mean 'jbot-b'") as info:
        JetZoo.from_pretrained("jbot-bb")
    assert isinstance(info.value, KeyError) and "Known: " in str(info.value)
    with pytest.raises(ModelNotFoundError, match="folder not found"):
        JetZoo.from_pretrained("./no/such/folder")


def test_shipped_weights_come_first(tmp_path, monkeypatch):
    """A registered name loads ``jetzoo/weights/<name>/`` (looked up through importlib.resources)
    without touching the Hub."""
    model, folder = _saved(tmp_path / "src")
    package_root = tmp_path / "pkg"
    (package_root / "weights").mkdir(parents=True)
    folder.rename(package_root / "weights" / "jbot-s")
    monkeypatch.setattr(
        zoo.resources, "files", lambda pkg: package_root if pkg == "jetzoo" else pytest.fail(pkg)
    )
    monkeypatch.setattr(hub, "download", lambda *a, **k: pytest.fail("Hub must not be used"))
    loaded = JetZoo.from_pretrained("jbot-s")
    assert loaded.pretrained_cfg["source"] == str(package_root / "weights" / "jbot-s")
    x, mask = _batch()
    with torch.no_grad():
        assert torch.equal(loaded(x, mask).cls, model.eval()(x, mask).cls)


def test_registered_name_without_weights_anywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "_shipped_folder", lambda name: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        JetZoo.from_pretrained("jbot-b", cache_dir=tmp_path / "empty-cache")
    msg = str(info.value)
    assert "jetzoo/weights/jbot-b/" in msg and "jetzoo/jbot-b@main" in msg and "offline" in msg
    assert "create_backbone('jbot-b') gives the architecture with random weights" in msg
