"""The bad-input table: every row is an input a physicist may hand jetzoo by mistake. Each gives
exactly one clear error that names the file and the field (through the command a user would run
where there is one), and nothing that was there before is changed or overwritten."""

from __future__ import annotations

import ast
import hashlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import pytest
import torch

from jetzoo.cli import main as cli_main
from jetzoo.data import sample_path
from jetzoo.data.rs3l_dataset import rs3l_sample_path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = str(ROOT / "recipes" / "jetclr.yaml")
TINY = [
    "model.backbone_overrides.embed_dim=16",
    "model.backbone_overrides.depth=1",
    "model.backbone_overrides.num_heads=2",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
]


# --------------------------------------------------------------------------- builders


def _dataset(tmp: Path, name: str = "jets") -> Path:
    folder = tmp / name
    shutil.copytree(sample_path(), folder)
    return folder


def _edit(path: Path, key: str, edit: Callable[[np.ndarray], None]) -> None:
    with h5py.File(path, "r+") as f:
        data = f[key][()]
        edit(data)
        f[key][...] = data


def _drop_manifest(folder: Path) -> None:  # a folder of shards without a manifest
    (folder / "manifest.json").unlink()


def _run_on(folder: Path, tmp: Path) -> list[str]:
    return ["run", RECIPE, f"data.path={folder}", f"output.dir={tmp / 'run'}", *TINY]


def truncated_hdf5(tmp: Path):
    folder = _dataset(tmp)
    shard = folder / "shard-00002.h5"
    shard.write_bytes(shard.read_bytes()[:50_000])
    return "cli", _run_on(folder, tmp), [str(shard), "not a readable HDF5 file"]


def wrong_shapes(tmp: Path):
    folder = tmp / "jets"
    folder.mkdir()
    path = folder / "g.hdf5"  # a JetNet-layout file with 3 features instead of 4
    with h5py.File(path, "w") as f:
        f["particle_features"] = np.zeros((8, 30, 3), np.float32)
        f["jet_features"] = np.zeros((8, 4), np.float32)
    return (
        "cli",
        _run_on(folder, tmp),
        [str(path), "field 'particle_features' has shape (8, 30, 3), expected (N, *, 4)"],
    )


def nan_features(tmp: Path):
    from jetzoo.data.dataset import JetDataset

    folder = _dataset(tmp)
    shard = folder / "shard-00004.h5"
    _edit(shard, "particle_features", lambda a: a.__setitem__((17, 3, 0), np.nan))
    _drop_manifest(folder)
    ds = JetDataset(folder)
    return (
        "call",
        lambda: ds.get_batch(range(4000, 4100)),
        [str(shard), "field 'particle_features' holds NaN or inf (jet 17)"],
    )


def inf_features(tmp: Path):
    from jetzoo.data.dataset import JetDataset

    folder = _dataset(tmp)
    shard = folder / "shard-00000.h5"
    _edit(shard, "jet_features", lambda a: a.__setitem__((5, 0), np.inf))
    _drop_manifest(folder)
    ds = JetDataset(folder)
    return (
        "call",
        lambda: ds.get_batch([5]),
        [str(shard), "field 'jet_features' holds NaN or inf (jet 5)"],
    )


def labels_out_of_range(tmp: Path):
    folder = _dataset(tmp)
    shard = folder / "shard-00001.h5"
    _edit(shard, "labels", lambda a: a.__setitem__(3, 7))
    _drop_manifest(folder)
    return "cli", _run_on(folder, tmp), [str(shard), "field 'labels' has values outside 0..4"]


def empty_folder(tmp: Path):
    folder = tmp / "jets"
    folder.mkdir()
    return "cli", _run_on(folder, tmp), [str(folder), "holds no shard-*.h5 shards"]


def manifest_hash_mismatch(tmp: Path):
    folder = _dataset(tmp)
    shard = folder / "shard-00003.h5"
    _edit(shard, "jet_features", lambda a: a.__setitem__((0, 0), 1234.5))
    return (
        "cli",
        _run_on(folder, tmp),
        [str(shard), "field 'shards[3].sha256'", str(folder / "manifest.json")],
    )


def manifest_hash_mismatch_leaderboard(tmp: Path):
    from jetzoo.leaderboard.backbones import verify_dataset

    folder = tmp / "rs3l"
    shutil.copytree(rs3l_sample_path(), folder)
    shard = folder / "g" / "shard-00000.h5"
    with h5py.File(shard, "r+") as f:
        f.attrs["edited"] = 1
    return "call", lambda: verify_dataset(folder), [str(shard), "field 'shards[", ".sha256'"]


def unreadable_manifest(tmp: Path):
    folder = _dataset(tmp)
    (folder / "manifest.json").write_text('{"shards": [')
    return "cli", _run_on(folder, tmp), [str(folder / "manifest.json"), "unreadable manifest"]


def _saved_model(tmp: Path) -> Path:
    from jetzoo import create_backbone
    from jetzoo.models.zoo import save_pretrained

    folder = tmp / "model"
    save_pretrained(create_backbone("jbot-s", embed_dim=16, depth=1, num_heads=2), folder)
    return folder


def _load(folder: Path):
    from jetzoo import JetZoo

    return lambda: JetZoo.from_pretrained(folder)


def truncated_safetensors(tmp: Path):
    folder = _saved_model(tmp)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-500])
    return "call", _load(folder), [str(weights), "truncated: its tensors need"]


def wrong_weights_sha256(tmp: Path):
    folder = _saved_model(tmp)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["weights_sha256"] = "0" * 64
    (folder / "config.json").write_text(json.dumps(cfg))
    return "call", _load(folder), [str(folder / "model.safetensors"), "field 'weights_sha256'"]


def unknown_arch(tmp: Path):
    folder = _saved_model(tmp)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["backbone"]["arch"] = "particle_transformer_v9"
    (folder / "config.json").write_text(json.dumps(cfg))
    return (
        "call",
        _load(folder),
        [
            str(folder / "config.json"),
            "field 'backbone'",
            "unknown architecture 'particle_transformer_v9'",
        ],
    )


def pickle_as_safetensors(tmp: Path):
    folder = _saved_model(tmp)
    weights = folder / "model.safetensors"
    weights.write_bytes(pickle.dumps({"w": np.zeros(3)}))
    return (
        "call",
        _load(folder),
        [str(weights), "a pickle file, not safetensors", "never unpickles"],
    )


def torch_save_as_safetensors(tmp: Path):
    folder = _saved_model(tmp)
    weights = folder / "model.safetensors"
    torch.save({"w": torch.zeros(3)}, weights)
    return "call", _load(folder), [str(weights), "a zip archive (torch.save)"]


def invalid_recipe_yaml(tmp: Path):
    path = tmp / "bad.yaml"
    path.write_text("recipe: jetclr\nmodel:\n  backbone: [jetclr\n")
    return "cli", ["run", str(path)], [str(path), "not valid YAML"]


def invalid_task_yaml(tmp: Path):
    from jetzoo.leaderboard.tasks import load_task

    path = tmp / "top-tagging.yaml"
    path.write_text("name: top-tagging\nsettings: {knn_k: 3\n")
    return "call", lambda: load_task(path), [str(path), "invalid YAML"]


def negative_epochs(tmp: Path):
    return (
        "cli",
        ["run", RECIPE, "trainer.max_epochs=-3", f"output.dir={tmp / 'run'}"],
        [RECIPE, "trainer.max_epochs: must be >= 1, got -3"],
    )


def batch_size_zero(tmp: Path):
    return (
        "cli",
        ["run", RECIPE, "data.batch_size=0", f"output.dir={tmp / 'run'}"],
        [RECIPE, "data.batch_size: must be >= 1, got 0"],
    )


def task_batch_size_zero(tmp: Path):
    return (
        "cli",
        ["leaderboard", "submit", "jbot-s", "--set", "batch_size=0", "--out", str(tmp / "results")],
        ["setting 'batch_size'", "out of range: must be >= 1"],
    )


def two_runs_into_one_folder(tmp: Path):
    run = tmp / "run"  # what an earlier run left: its config and a checkpoint
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("recipe: jetclr\nseed: 1\n")
    (run / "checkpoints" / "last.ckpt").write_bytes(b"earlier run")
    return (
        "cli",
        ["run", RECIPE, "data.path=sample", f"output.dir={run}", *TINY],
        [str(run), "already holds config.yaml, checkpoints", "--resume"],
    )


def truncated_checkpoint_on_resume(tmp: Path):
    run = tmp / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 cut short")
    return (
        "cli",
        ["run", RECIPE, "data.path=sample", f"output.dir={run}", "--resume", *TINY],
        [str(run / "checkpoints" / "last.ckpt"), "not a loadable checkpoint"],
    )


def unknown_override_value(tmp: Path):
    return (
        "cli",
        ["run", RECIPE, "optimizer.lr=[1e-3", f"output.dir={tmp / 'run'}"],
        [RECIPE, "command-line override 'optimizer.lr=[1e-3'", "not valid YAML"],
    )


ROWS = [
    truncated_hdf5,
    wrong_shapes,
    nan_features,
    inf_features,
    labels_out_of_range,
    empty_folder,
    manifest_hash_mismatch,
    manifest_hash_mismatch_leaderboard,
    unreadable_manifest,
    truncated_safetensors,
    wrong_weights_sha256,
    unknown_arch,
    pickle_as_safetensors,
    torch_save_as_safetensors,
    invalid_recipe_yaml,
    invalid_task_yaml,
    negative_epochs,
    batch_size_zero,
    task_batch_size_zero,
    two_runs_into_one_folder,
    truncated_checkpoint_on_resume,
    unknown_override_value,
]


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("row", ROWS, ids=[r.__name__ for r in ROWS])
def test_bad_input_gives_one_clear_error(
    row: Callable[[Path], Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kind, action, needles = row(tmp_path)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    if kind == "cli":
        rc = cli_main(action)
        assert rc != 0
        err = capsys.readouterr().err
        lines = [
            line
            for line in err.splitlines()
            if "error" in line.lower() or "refused" in line.lower()
        ]
        assert len(lines) == 1, err  # one error, no traceback
        assert "Traceback" not in err
        message = lines[0]
    else:
        with pytest.raises((ValueError, RuntimeError)) as info:  # DataError, ZooError, ...
            action()
        message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    after = _snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing overwritten
    assert not [k for k in after if k not in before and not k.startswith("run/")], after


def test_no_torch_load_without_weights_only() -> None:
    """Every torch.load in the repository passes weights_only=True (no arbitrary unpickling)."""
    bad = []
    for path in sorted(
        [*ROOT.glob("jetzoo/**/*.py"), *ROOT.glob("tests/*.py"), *ROOT.glob("benchmarks/*.py")]
    ):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and getattr(node.func.value, "id", "") == "torch"
            ):
                ok = any(
                    k.arg == "weights_only"
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is True
                    for k in node.keywords
                )
                if not ok:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, bad
