"""Trust boundaries: a model folder is validated before anything is allocated, identities cover
everything that changes a score, names never become paths, failed commands change nothing, and
inputs a careful (or hostile) user may hand jetzoo give one clear error or a correct result."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from jetzoo import JetZoo, create_backbone
from jetzoo.cli import main as cli_main
from jetzoo.data import JetDataset, sample_path
from jetzoo.data.preprocessing import Preprocessing
from jetzoo.data.schema import DataError
from jetzoo.leaderboard import submission
from jetzoo.leaderboard.schema import (
    ResultFileError,
    iter_store,
    load_result,
    result_path,
    write_result,
)
from jetzoo.leaderboard.task_data import load_task_data, synthetic_task_data
from jetzoo.leaderboard.tasks import TaskError, load_task
from jetzoo.models.zoo import ZooError, identity_sha256, load_folder, save_pretrained
from jetzoo.utils.io import sha256_file

ROOT = Path(__file__).resolve().parents[1]
RECIPE = str(ROOT / "recipes" / "jetclr.yaml")
TINY = [
    "model.backbone_overrides.embed_dim=16",
    "model.backbone_overrides.depth=1",
    "model.backbone_overrides.num_heads=2",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "data.max_jets=512",
    "trainer.limit_val_batches=1",
    "trainer.max_epochs=1",
    "data.num_workers=0",
]


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_pretrained(
        create_backbone("jbot-s", embed_dim=16, depth=2, num_heads=2, dropout=0.0),
        tmp_path / "model",
        model_name="tiny",
    )


def _edit_config(folder: Path, edit) -> Path:
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _edit_weights(folder: Path, edit) -> Path:
    state = load_file(folder / "model.safetensors")
    edit(state)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    return _edit_config(
        folder, lambda c: c.update(weights_sha256=sha256_file(folder / "model.safetensors"))
    )


# --------------------------------------------------------------------------- model folders


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("depth", 10**6, "field 'backbone.depth': 1000000 is outside the range [1, 128]"),
        ("num_heads", 0, "field 'backbone.num_heads': 0 is outside the range"),
        ("embed_dim", -16, "field 'backbone.embed_dim': -16 is outside the range"),
        ("mlp_ratio", float("nan"), "field 'backbone.mlp_ratio': nan is outside the range"),
        ("depth", "2", "field 'backbone.depth': must be an integer, got '2'"),
        ("dropout", 1.5, "field 'backbone.dropout': 1.5 is outside the range [0.0, 0.99]"),
        (
            "num_heads",
            3,
            "field 'backbone' does not build a model: ValueError: embed_dim 16 is not "
            "divisible by num_heads 3",
        ),
        (
            "depth",
            3,
            "model.safetensors: weights do not match the architecture in config.json "
            "(missing tensors blocks.2",
        ),
        ("embed_dim", 4096, "shape mismatch"),  # legal size, but not the file's: never allocated
    ],
)
def test_config_sizes_are_checked_before_anything_is_built(model: Path, field, value, message):
    JetZoo.from_pretrained(model)  # imports and registry loaded: the timing below is the check
    _edit_config(model, lambda c: c["backbone"].__setitem__(field, value))
    t0 = time.perf_counter()
    with pytest.raises(ZooError, match=message.replace("(", r"\(").replace("[", r"\[")) as err:
        JetZoo.from_pretrained(model)
    assert time.perf_counter() - t0 < 1.0
    assert str(model) in str(err.value)


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("feat_std", 0.0, "tensor 'feat_std' (a preprocessing standard deviation) must be > 0"),
        ("feat_std", -1.0, "tensor 'feat_std' (a preprocessing standard deviation) must be > 0"),
        ("feat_mean", float("nan"), "tensor 'feat_mean' holds NaN or inf"),
        ("blocks.0.attn.qkv.weight", float("inf"), "tensor 'blocks.0.attn.qkv.weight' holds NaN"),
    ],
)
def test_buffers_and_weights_are_checked_after_loading(model: Path, key, value, message):
    _edit_weights(model, lambda s: s[key].fill_(value))
    with pytest.raises(ZooError, match=re_escape(f"{model / 'model.safetensors'}: {message}")):
        JetZoo.from_pretrained(model)


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    "prep,message",
    [
        ({"mean": [0, 0, -4], "std": [0.1, 0.0, 1.0]}, "std must be > 0"),
        ({"mean": [0, 0, -4], "std": [0.1, -0.1, 1.0]}, "std must be > 0"),
        ({"mean": [0, float("nan"), -4], "std": [0.1, 0.1, 1.0]}, "3 finite means and stds"),
        ({"mean": [0, 0], "std": [0.1, 0.1, 1.0]}, "3 finite means and stds"),
        ({"mean": [0, 0, -4], "std": [0.1, 0.1, 1.0], "scale": 2}, "unknown field 'scale'"),
    ],
)
def test_preprocessing_refuses_what_cannot_standardise(prep, message):
    with pytest.raises(ValueError, match=message):
        Preprocessing.from_dict(prep)


def test_config_preprocessing_with_zero_std_is_refused(model: Path):
    _edit_config(model, lambda c: c["backbone"]["preprocessing"].__setitem__("std", [0, 1, 1]))
    with pytest.raises(
        ZooError,
        match=r"config.json: field 'backbone' does not build a model: "
        r"ValueError: preprocessing std must be > 0",
    ):
        JetZoo.from_pretrained(model)


def test_one_far_particle_is_refused_when_fitting_the_standardisation(tmp_path: Path, capsys):
    pf = np.zeros((3, 30, 4))
    pf[:, :5] = [0.1, -0.1, 0.2, 1.0]
    pf[1, 2, 1] = 1e6  # one particle at phi_rel = 1e6 would give a phi std of ~1e5
    with pytest.raises(
        ValueError,
        match=r"1 particle\(s\) lie more than 5.0 from their jet axis "
        r"\(jet 1: eta_rel 0.1, phi_rel 1e\+06\)",
    ):
        Preprocessing.fit(pf)
    folder = tmp_path / "jets"
    shutil.copytree(sample_path(), folder)
    for name in ("manifest.json", "preprocessing.json"):  # the standardisation is fitted
        (folder / name).unlink()
    shard = folder / "shard-00003.h5"
    with h5py.File(shard, "r+") as f:
        data = f["particle_features"][()]
        data[7, 0, 1] = 1e6
        f["particle_features"][...] = data
    rc = cli_main(["run", RECIPE, f"data.path={folder}", f"output.dir={tmp_path / 'run'}", *TINY])
    assert rc == 1 and not (tmp_path / "run").exists()
    assert (
        f"{shard}: field 'particle_features': 1 particle(s) lie more than 5.0"
        in capsys.readouterr().err
    )


# --------------------------------------------------------------------------- identities


def test_same_weights_other_architecture_options_are_another_model(
    model: Path, tmp_path, monkeypatch, mini_top_yaml, embedded_rows
):
    """mask_padding (the jBOT Keras import's option) changes the embeddings of the same
    weights: the cache and the store must not serve one model's score to the other."""
    other = shutil.copytree(model, tmp_path / "other")
    _edit_config(other, lambda c: c["backbone"].__setitem__("mask_padding", False))
    batch = JetDataset(sample_path()).get_batch(range(64))
    a, b = load_folder(model), load_folder(other)
    assert (a.embed(batch) - b.embed(batch)).abs().max() > 0.01
    _, info_a = submission.load_model(model)
    _, info_b = submission.load_model(other)
    assert info_a.weights_sha256 == info_b.weights_sha256
    assert info_a.identity_sha256 != info_b.identity_sha256
    assert info_a.identity_sha256 == identity_sha256(info_a.weights_sha256, info_a.config_sha256)

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "mini-top.yaml").write_text(mini_top_yaml("knn"))
    monkeypatch.setattr(
        submission, "load_task_data", lambda task: synthetic_task_data(task, n_per_class=40, seed=0)
    )
    out, cache = tmp_path / "store", tmp_path / "cache"
    kw = dict(quick=True, out=out, tasks_dir=tasks, progress=False, cache_dir=cache, name="m")
    computed = embedded_rows
    [path_a] = submission.submit(model, **kw)
    n_a = sum(computed)
    [path_b] = submission.submit(other, **kw)
    assert n_a > 0 and sum(computed) == 2 * n_a  # the other model embedded every jet itself
    assert path_a != path_b and path_b.parent.name == info_b.identity_sha256[:12]
    ra, rb = load_result(path_a)[0], load_result(path_b)[0]
    assert ra["model"]["config_sha256"] != rb["model"]["config_sha256"]
    assert len({p.parent for p in iter_store(out)}) == 2
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [info_a.identity_sha256[:12], info_b.identity_sha256[:12]]
    )


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["..", ".", "../escape", "a/b", ".hidden", ""])
def test_a_model_id_is_never_a_path(model: Path, tmp_path: Path, name: str, capsys):
    out = tmp_path / "deep" / "store"
    before = _snapshot(tmp_path)
    rc = cli_main(
        [
            "leaderboard",
            "submit",
            str(model),
            "--quick",
            "--name",
            name,
            "--out",
            str(out),
            "--no-cache",
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("jetzoo leaderboard submit: error: --name:")
    assert "is not a valid name" in err[-1] or "must be" in err[-1]
    assert _snapshot(tmp_path) == before


def test_names_from_files_are_checked_where_they_are_read(
    model: Path, tmp_path: Path, mini_top_yaml
):
    _edit_config(model, lambda c: c.update(model_name=".."))
    with pytest.raises(ZooError, match=r"config.json: field 'model_name': '\.\.' is not a valid"):
        JetZoo.from_pretrained(model)
    task = tmp_path / "x.yaml"
    task.write_text(mini_top_yaml("knn").replace("name: mini-top", "name: ../x"))
    with pytest.raises(TaskError, match=r"x.yaml: field 'name': '\.\./x' is not a valid name"):
        load_task(task)
    with pytest.raises(ResultFileError, match="model id '..' is not a valid name"):
        result_path(tmp_path, "..", "a" * 64, "t")
    with pytest.raises(ZooError, match="model_name: 'a/b' is not a valid name"):
        save_pretrained(create_backbone("jbot-s"), tmp_path / "m", model_name="a/b")


# --------------------------------------------------------------------------- failed commands


def _run(tmp_path: Path, *extra: str) -> int:
    return cli_main(
        ["run", RECIPE, "data.path=sample", f"output.dir={tmp_path / 'run'}", *TINY, *extra]
    )


@pytest.mark.slow
def test_resume_with_another_architecture_changes_nothing(tmp_path: Path, capsys):
    assert _run(tmp_path, "trainer.max_epochs=1") == 0
    run = tmp_path / "run"
    before = _snapshot(run)
    rc = _run(tmp_path, "trainer.max_epochs=2", "model.backbone_overrides.embed_dim=32", "--resume")
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--resume:" in err and "holds another architecture than the recipe builds" in err
    assert "backbone.cls_token: checkpoint (1, 1, 16) vs recipe (1, 1, 32)" in err
    assert _snapshot(run) == before  # config.yaml included
    assert (
        cli_main(
            [
                "export",
                str(run),
                str(run / "checkpoints" / "last.ckpt"),
                "--out",
                str(tmp_path / "exported"),
            ]
        )
        == 0
    )


@pytest.mark.slow
def test_disk_full_during_training_ends_with_one_message_and_a_consistent_summary(
    tmp_path: Path, monkeypatch, capsys
):
    import errno

    from lightning.pytorch.plugins.io import TorchCheckpointIO

    def full(self, checkpoint, path, storage_options=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", full)
    assert _run(tmp_path, "trainer.max_epochs=2") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("jetzoo run: error: ") and "disk full at step" in err
    assert "no checkpoint was written" in err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "disk full" and "No space left on device" in summary["error"]


@pytest.mark.slow
def test_sigint_during_training_ends_with_one_message_and_a_consistent_summary(tmp_path: Path):
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jetzoo.cli",
            "run",
            RECIPE,
            "data.path=sample",
            f"output.dir={run}",
            *TINY,
            "trainer.max_epochs=50",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # a test run started in the background inherits SIGINT ignored (POSIX, no job
        # control); the child gets the default handler, as in a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 240
    while not (run / "checkpoints" / "last.ckpt").exists():
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # inside the next epoch
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("jetzoo run: error: ") and "interrupted (SIGINT) at step" in last
    assert "continue with --resume" in last
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["global_step"] >= 1


def test_float16_training_is_refused_with_the_reason(tmp_path: Path, capsys):
    assert _run(tmp_path, "trainer.precision=16-true") == 1
    err = capsys.readouterr().err
    assert "trainer.precision: '16-true' trains in float16 end to end" in err and "bf16" in err
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- inputs


def test_float16_backbone_gives_finite_embeddings_of_padded_jets():
    batch = JetDataset(sample_path()).get_batch(range(256))
    assert (~batch["mask"]).any()  # padded slots are there
    ref = JetZoo.from_pretrained("jbot-s").embed(batch)
    half = JetZoo.from_pretrained("jbot-s").half()
    out = half.embed({"x": batch["x"].half(), "mask": batch["mask"]})
    assert out.dtype == torch.float16 and bool(torch.isfinite(out).all())
    assert float((out.float() - ref).abs().max()) < 0.05 * float(ref.abs().max())


def test_embed_checks_the_input_dtype_and_values():
    model = JetZoo.from_pretrained("jbot-s")
    batch = JetDataset(sample_path()).get_batch(range(16))
    assert torch.equal(model.embed({**batch, "x": batch["x"].double()}), model.embed(batch))
    x = batch["x"].clone()
    x[5, 0, 1] = math.nan
    with pytest.raises(ValueError, match=r"batch\['x'\] holds NaN or inf \(jets \[5\]"):
        model.embed({**batch, "x": x})
    with pytest.raises(ValueError, match=r"batch\['x'\] must be floating point"):
        model.embed({**batch, "x": batch["x"].long()})


def test_float_labels_are_refused_not_truncated(tmp_path: Path):
    folder = tmp_path / "jets"
    shutil.copytree(sample_path(), folder)
    (folder / "manifest.json").unlink()
    shard = folder / "shard-00001.h5"
    with h5py.File(shard, "r+") as f:
        labels = f["labels"][()].astype(np.float32)
        labels[3] = 0.7
        del f["labels"]
        f["labels"] = labels
    with pytest.raises(
        DataError,
        match=re_escape(f"{shard}: field 'labels' holds a non-integer label 0.7") + ".*jet 3",
    ):
        JetDataset(folder)


def _sample_without(tmp_path: Path, drop: set[str]) -> Path:
    from jetzoo.data.shards import dataset_sha256

    folder = tmp_path / "jets"
    shutil.copytree(sample_path(), folder, ignore=shutil.ignore_patterns("rs3l"))
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in [s for s in manifest["shards"] if s["class"] in drop]:
        (folder / entry["file"]).unlink()
    manifest["shards"] = [s for s in manifest["shards"] if s["class"] not in drop]
    manifest["dataset_sha256"] = dataset_sha256([s["sha256"] for s in manifest["shards"]])
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_split_without_one_of_the_task_classes_names_the_files(tmp_path: Path, mini_top_yaml):
    folder = _sample_without(tmp_path, {"g", "t", "w", "z"})
    task_file = tmp_path / "qg.yaml"
    task_file.write_text(
        mini_top_yaml("knn")
        .replace("dataset: jetnet-sample", f"dataset: {folder}")
        .replace("classes: [q, g, t]", "classes: [q, g]")
        .replace("signal: [t]", "signal: [g]")
        .replace("name: mini-top", "name: qg")
    )
    with pytest.raises(
        TaskError,
        match=re_escape(
            f"{task_file}: field 'classes': the train split of {folder} holds no jets of class 'g'"
        ),
    ):
        load_task_data(load_task(task_file))


@pytest.mark.slow
def test_an_all_empty_dataset_names_the_folder_and_field(tmp_path: Path, capsys):
    folder = tmp_path / "jets"
    shutil.copytree(sample_path(), folder, ignore=shutil.ignore_patterns("rs3l"))
    for name in ("manifest.json", "preprocessing.json"):
        (folder / name).unlink()
    for shard in folder.glob("shard-*.h5"):
        with h5py.File(shard, "r+") as f:
            f["particle_features"][...] = 0
    rc = cli_main(["run", RECIPE, f"data.path={folder}", f"output.dir={tmp_path / 'run'}", *TINY])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{folder}: field 'particle_features': cannot fit preprocessing: no real " in err
    assert not (tmp_path / "run").exists()


def test_an_edited_task_file_says_which_rows_it_drops(
    model: Path, tmp_path: Path, monkeypatch, capsys, mini_top_yaml
):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "mini-top.yaml").write_text(mini_top_yaml("knn"))
    monkeypatch.setattr(
        submission, "load_task_data", lambda task: synthetic_task_data(task, n_per_class=40, seed=0)
    )
    kw = dict(quick=True, out=tmp_path / "store", tasks_dir=tasks, progress=False, cache_dir=False)
    submission.submit(model, **kw)
    (tasks / "mini-top.yaml").write_text(
        mini_top_yaml("knn").replace("[accuracy, auc]", "[accuracy]")
    )
    [path] = submission.submit(model, **kw)
    assert (
        "replacing its quick run, scored under another task file or settings: its rows of "
        "knn are dropped" in capsys.readouterr().err
    )
    rows = load_result(path)[0]["runs"]["quick"]["results"]
    assert {r["metric"] for r in rows} == {"accuracy"}
    assert (
        load_result(path)[0]["runs"]["quick"]["task_sha256"]
        == hashlib.sha256((tasks / "mini-top.yaml").read_bytes()).hexdigest()
    )


# --------------------------------------------------------------------------- decisions


def _result(model_id: str = "nowhere") -> dict:
    return {
        "model": {
            "id": model_id,
            "revision": "local",
            "weights_sha256": "e" * 64,
            "config_sha256": "f" * 64,
            "identity_sha256": "d" * 64,
            "arch": "particle_transformer",
            "family": "jetnet",
            "num_features": 16,
        },
        "task": {
            "name": "top-tagging",
            "kind": "binary",
            "family": "jetnet",
            "main_score": "knn/auc",
        },
        "runs": {
            "standard": {
                "task_sha256": "c" * 64,
                "settings": {},
                "dataset": {"name": "jetnet-bench-220k", "sha256": "b" * 64},
                "jetzoo_version": "0.1.0",
                "date": "2026-12-07T00:00:00+00:00",
                "results": [
                    {"evaluation": "knn", "metric": "auc", "value": 0.99, "spread": 0.001, "n": 100}
                ],
            }
        },
    }


def test_the_checksum_catches_careless_edits_not_deliberate_ones(tmp_path: Path):
    """Decision: the checksum guards integrity, not authorship (a re-checksummed file loads);
    a result is trusted through the review of its pull request."""
    from jetzoo.leaderboard.schema import result_checksum

    path = write_result(result_path(tmp_path, "m", "d" * 64, "top-tagging"), _result("m"))
    obj = json.loads(path.read_text())
    obj["runs"]["standard"]["results"][0]["value"] = 0.5
    path.write_text(json.dumps(obj))
    with pytest.raises(ResultFileError, match="field 'checksum' does not match the content"):
        load_result(path)
    obj["checksum"] = result_checksum(obj)
    path.write_text(json.dumps(obj))
    assert load_result(path)[0]["runs"]["standard"]["results"][0]["value"] == 0.5


def test_a_result_of_weights_nobody_has_is_rendered_with_its_hashes(tmp_path: Path):
    """Decision: render cannot check weights it does not have; the board shows every model's
    identity and the history page its identity, weights and config sha256, so a reader can ask
    for the weights."""
    from jetzoo.leaderboard.render import render

    write_result(result_path(tmp_path / "store", "nowhere", "d" * 64, "top-tagging"), _result())
    board = render(tmp_path / "store", tmp_path / "board").read_text()
    assert f"| nowhere | pre-trained | `{'d' * 12}` |" in board
    history = (tmp_path / "board" / "history.md").read_text()
    assert f"| nowhere | `{'d' * 12}` | `{'e' * 12}` | `{'f' * 12}` |" in history
