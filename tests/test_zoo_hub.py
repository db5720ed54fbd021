"""The Hub path without a network: ``from_pretrained`` from a populated HF cache in offline mode,
and ``jetzoo publish`` against a recording stand-in for ``HfApi`` (no hub-compatible endpoint
is started; the test asserts the exact calls, files and commit message handed to HfApi)."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import torch
from huggingface_hub.utils import filter_repo_objects

import jetzoo
from jetzoo import JetZoo, create_backbone
from jetzoo.cli import main as cli_main
from jetzoo.models import hub, zoo
from jetzoo.models.zoo import ModelNotFoundError, save_pretrained

COMMIT_MAIN = "a" * 40
COMMIT_V1 = "b" * 40


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _populate_cache(
    hub_cache: Path, repo_id: str, commit: str, src: Path, ref: str = "main"
) -> None:
    """Lay out ``src`` the way huggingface_hub caches ``repo_id`` at ``ref``."""
    repo = hub_cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    shutil.copytree(src, repo / "snapshots" / commit)


def _batch():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 30, 3, generator=g) * 0.1
    mask = torch.arange(30) < torch.randint(2, 31, (8, 1), generator=g)
    return {"x": x * mask.unsqueeze(-1), "mask": mask}


@pytest.fixture
def offline_cache(tmp_path, monkeypatch, no_network):
    """HF_HOME with jetzoo-test/tiny at main (seed 1) and at branch v1 (seed 2), offline."""
    models = {}
    for seed, commit, ref in ((1, COMMIT_MAIN, "main"), (2, COMMIT_V1, "v1")):
        torch.manual_seed(seed)
        models[ref] = create_backbone("jbot-s").eval()
        folder = save_pretrained(models[ref], tmp_path / f"src-{ref}")
        _populate_cache(tmp_path / "hf" / "hub", "jetzoo-test/tiny", commit, folder, ref)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # set after huggingface_hub was imported
    return models


def test_from_pretrained_offline_from_the_hf_cache(offline_cache, tmp_path):
    batch = _batch()
    model = JetZoo.from_pretrained("jetzoo-test/tiny")
    expected_src = tmp_path / "hf" / "hub" / "models--jetzoo-test--tiny" / "snapshots" / COMMIT_MAIN
    assert Path(model.pretrained_cfg["source"]).resolve() == expected_src.resolve()
    with torch.no_grad():
        assert torch.equal(model.embed(batch), offline_cache["main"].embed(batch))
        v1 = JetZoo.from_pretrained("jetzoo-test/tiny", revision="v1")
        assert torch.equal(v1.embed(batch), offline_cache["v1"].embed(batch))
        pinned = JetZoo.from_pretrained("jetzoo-test/tiny", revision=COMMIT_V1)
        assert torch.equal(pinned.embed(batch), offline_cache["v1"].embed(batch))


def test_registered_name_resolves_to_its_hub_repo(offline_cache, tmp_path, monkeypatch):
    assert hub.resolve_name("jbot-s") == ("jetzoo/jbot-s", "main")
    assert hub.resolve_name("jbot-s", "v2") == ("jetzoo/jbot-s", "v2")
    monkeypatch.setattr(zoo, "_shipped_folder", lambda name: None)  # whatever the package ships
    other_cache = tmp_path / "other-cache"
    _populate_cache(other_cache, "jetzoo/jbot-s", COMMIT_MAIN, tmp_path / "src-main")
    model = JetZoo.from_pretrained("jbot-s", cache_dir=other_cache)  # explicit cache_dir wins
    batch = _batch()
    with torch.no_grad():
        assert torch.equal(model.embed(batch), offline_cache["main"].embed(batch))


def test_offline_and_not_cached_is_a_clear_error(offline_cache):
    with pytest.raises(
        ModelNotFoundError,
        match=r"could not load 'jetzoo-test/absent'.*local "
        r"folder.*jetzoo-test/absent@main.*offline",
    ):
        JetZoo.from_pretrained("jetzoo-test/absent")
    with pytest.raises(ModelNotFoundError, match="jetzoo-test/tiny@v9"):
        JetZoo.from_pretrained("jetzoo-test/tiny", revision="v9")


class RecordingApi:
    """Stands in for ``huggingface_hub.HfApi``: records calls and what would be uploaded."""

    instances: list["RecordingApi"] = []

    def __init__(self, token=None, library_name=None, **kwargs):
        self.calls: list[tuple[str, tuple, dict]] = []
        self.uploaded: dict[str, bytes] = {}
        RecordingApi.instances.append(self)

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", (repo_id,), kwargs))
        return f"https://huggingface.co/{repo_id}"

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", (repo_id,), kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", (), kwargs))
        folder = Path(kwargs["folder_path"])
        listing = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        for name in filter_repo_objects(
            listing,
            allow_patterns=kwargs.get("allow_patterns"),
            ignore_patterns=kwargs.get("ignore_patterns"),
        ):
            self.uploaded[name] = (folder / name).read_bytes()

        class Info:
            commit_url = f"https://huggingface.co/{kwargs['repo_id']}/commit/{'c' * 40}"

        return Info()


@pytest.fixture
def recording_api(monkeypatch, no_network):
    import huggingface_hub

    RecordingApi.instances = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    return RecordingApi


def test_publish_cli_uploads_exactly_the_model_files(tmp_path, recording_api, capsys):
    torch.manual_seed(0)
    folder = save_pretrained(create_backbone("jbot-b"), tmp_path / "backbone")
    (folder / "scratch.ckpt").write_bytes(b"not for the hub")  # a stray file is not uploaded
    rc = cli_main(
        [
            "publish",
            str(folder),
            "--repo-id",
            "org/jbot-b-test",
            "--revision",
            "v1",
            "--private",
            "--commit-message",
            "first release",
        ]
    )
    assert rc == 0
    api = recording_api.instances[-1]
    assert [c[0] for c in api.calls] == ["create_repo", "create_branch", "upload_folder"]
    assert api.calls[0][1:] == (
        ("org/jbot-b-test",),
        {"private": True, "repo_type": "model", "exist_ok": True},
    )
    assert api.calls[1][1:] == (
        ("org/jbot-b-test",),
        {"branch": "v1", "repo_type": "model", "exist_ok": True},
    )
    upload = api.calls[2][2]
    assert (upload["repo_id"], upload["revision"], upload["commit_message"]) == (
        "org/jbot-b-test",
        "v1",
        "first release",
    )
    assert Path(upload["folder_path"]) == folder
    assert sorted(api.uploaded) == ["README.md", "config.json", "model.safetensors"]
    for name, data in api.uploaded.items():
        assert data == (folder / name).read_bytes()
    assert capsys.readouterr().out.strip().endswith("/org/jbot-b-test/commit/" + "c" * 40)


def test_publish_default_message_main_branch_and_push_to_hub(tmp_path, recording_api):
    torch.manual_seed(0)
    model = create_backbone("jbot-s")
    url = model.push_to_hub("org/small", dataset={"name": "jetnet", "sha256": "0" * 64})
    api = recording_api.instances[-1]
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]  # main: no branch
    upload = api.calls[-1][2]
    assert upload["commit_message"] == f"Upload jbot-s (jetzoo {jetzoo.__version__})"
    assert upload["revision"] is None and url.startswith("https://huggingface.co/org/small/")
    config = json.loads(api.uploaded["config.json"])
    assert config["model_name"] == "jbot-s" and config["dataset"]["sha256"] == "0" * 64


def test_publish_refuses_a_folder_that_does_not_load(tmp_path, recording_api, capsys):
    torch.manual_seed(0)
    folder = save_pretrained(create_backbone("jbot-s"), tmp_path / "backbone")
    (folder / "model.safetensors").unlink()
    rc = cli_main(["publish", str(folder), "--repo-id", "org/x"])
    assert rc == 1 and recording_api.instances == []  # nothing was sent
    assert "model.safetensors: not found" in capsys.readouterr().err
