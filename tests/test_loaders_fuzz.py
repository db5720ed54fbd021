"""Property-based tests over every loader of a file a user hands jetzoo: model folders, shards,
task files, recipe files and result files. Whatever a field holds, the loader returns a valid
object or raises its jetzoo error naming the file, never another exception, and never hangs
(each example has a deadline). Under CI the examples are derandomised (the same each run);
locally each run looks at new ones."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jetzoo import JetZoo, create_backbone
from jetzoo.data import JetDataset, sample_path
from jetzoo.data.schema import DataError
from jetzoo.leaderboard.schema import ResultFileError, load_result, write_result
from jetzoo.leaderboard.tasks import TaskError, load_task
from jetzoo.models.zoo import ZooError, save_pretrained
from jetzoo.recipes.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
settings.register_profile(
    "jetzoo",
    max_examples=40,
    deadline=5000,
    derandomize="CI" in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("jetzoo")

# any JSON / YAML value, with the sizes and numbers that break naive code
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.sampled_from([0, -1, 1, 2, 3, 10**6, 10**12, 0.0, -0.5, 1e-300, 1e300])
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(["..", ".", "/", "a/b", "nan", "1e-3"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a nested dict / list (where a fuzzed value can go)."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:4]):
            out += _paths(v, prefix + (i,))
    return out


def _set(obj: Any, path: tuple, value: Any, delete: bool) -> Any:
    obj = json.loads(json.dumps(obj))
    target = obj
    for key in path[:-1]:
        target = target[key]
    if delete and isinstance(target, dict):
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return obj


@st.composite
def edits(draw, obj: Any) -> Any:
    """``obj`` with one to three fields replaced by arbitrary values (or deleted)."""
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(obj)
        if not paths:
            break
        obj = _set(obj, draw(st.sampled_from(paths)), draw(VALUES), draw(st.booleans()))
    return obj


def valid_or_named(load: Any, arg: Any, error: type[Exception], where: Path) -> None:
    """``load(arg)`` returns, or raises ``error`` naming ``where``; anything else fails."""
    try:
        load(arg)
    except error as err:
        assert str(where) in str(err)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_pretrained(
        create_backbone("jbot-s", embed_dim=16, depth=1, num_heads=2),
        tmp_path_factory.mktemp("zoo") / "model",
        model_name="tiny",
    )


def _copy(src: Path) -> Path:
    dst = Path(tempfile.mkdtemp(prefix="jetzoo-fuzz-")) / src.name
    shutil.copytree(src, dst) if src.is_dir() else shutil.copy(src, dst)
    return dst


@given(data=st.data())
def test_model_folder_config(model_folder: Path, data) -> None:
    config = json.loads((model_folder / "config.json").read_text())
    folder = _copy(model_folder)
    try:
        (folder / "config.json").write_text(json.dumps(data.draw(edits(config))))
        valid_or_named(JetZoo.from_pretrained, folder, ZooError, folder)
    finally:
        shutil.rmtree(folder.parent)


@given(
    cut=st.integers(0, 10_000),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
)
def test_model_folder_weights_bytes(model_folder: Path, cut: int, flips) -> None:
    folder = _copy(model_folder)
    try:
        raw = bytearray((folder / "model.safetensors").read_bytes())
        for pos, byte in flips:
            raw[pos % len(raw)] = byte
        if cut:
            raw = raw[: max(len(raw) - cut, 0)]
        (folder / "model.safetensors").write_bytes(bytes(raw))
        config = json.loads((folder / "config.json").read_text())
        del config["weights_sha256"]  # reach the parsing, not only the hash check
        (folder / "config.json").write_text(json.dumps(config))
        valid_or_named(JetZoo.from_pretrained, folder, ZooError, folder)
    finally:
        shutil.rmtree(folder.parent)


SHARD_KEYS = ("particle_features", "jet_features", "labels")


@given(
    key=st.sampled_from(SHARD_KEYS),
    dtype=st.sampled_from(["f4", "f8", "i8", "u1", "S3"]),
    shape=st.lists(st.integers(0, 40), min_size=0, max_size=4),
    fill=st.sampled_from([0.0, 0.5, -1.0, 7.0, 1e9, float("nan"), float("inf")]),
    attr=st.sampled_from([None, "format", "classes"]),
    attr_value=SCALARS,
)
def test_shard_fields(key, dtype, shape, fill, attr, attr_value) -> None:
    folder = _copy(Path(sample_path()))
    try:
        for name in ("manifest.json", "preprocessing.json"):
            (folder / name).unlink()
        shutil.rmtree(folder / "rs3l")
        shard = folder / "shard-00002.h5"
        with h5py.File(shard, "r+") as f:
            del f[key]
            value = np.full(shape, fill).astype(dtype) if dtype != "S3" else np.full(shape, b"x")
            f[key] = value
            if attr is not None:
                f.attrs[attr] = attr_value if attr_value is not None else "null"
        try:
            ds = JetDataset(folder)
            ds.get_batch(range(len(ds)))
        except DataError as err:
            assert str(folder) in str(err)
    finally:
        shutil.rmtree(folder.parent)


TASK = yaml.safe_load((ROOT / "leaderboard" / "tasks" / "top-tagging.yaml").read_text())
RECIPE = yaml.safe_load((ROOT / "recipes" / "jbot-s.yaml").read_text())


@pytest.mark.parametrize(
    "original,name,load,error",
    [
        (TASK, "top-tagging.yaml", load_task, TaskError),
        (RECIPE, "x.yaml", load_config, ConfigError),
    ],
    ids=["task-files", "recipe-files"],
)
@given(data=st.data())
def test_yaml_files(tmp_path_factory, original, name, load, error, data) -> None:
    path = tmp_path_factory.mktemp("yaml") / name
    path.write_text(yaml.safe_dump(data.draw(edits(original)), allow_unicode=True))
    valid_or_named(load, path, error, path)


RESULT = json.loads(
    next((ROOT / "leaderboard" / "results" / "jbot-s").glob("*/top-tagging.json")).read_text()
)


@given(data=st.data(), resign=st.booleans())
def test_result_files(tmp_path_factory, data, resign: bool) -> None:
    """An edited result file is refused (checksum); re-checksummed, it is valid or refused by
    the schema, naming the file."""
    path = tmp_path_factory.mktemp("store") / "top-tagging.json"
    obj = data.draw(edits({k: v for k, v in RESULT.items() if k not in ("roc", "checksum")}))
    if resign:
        try:
            write_result(path, obj)
        except (ResultFileError, ValueError, TypeError, AttributeError, KeyError):
            return  # the writer refused it (it validates before writing)
    else:
        path.write_text(json.dumps({**obj, "checksum": RESULT["checksum"]}))
    valid_or_named(load_result, path, ResultFileError, path)
