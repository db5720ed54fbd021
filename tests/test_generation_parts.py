"""Generation split over array-job tasks (`--shard-index I --num-shards N`) and `jetzoo data merge`:
the merged folder is byte-identical to one unsplit run; bad parts give one clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jetzoo.cli import main as cli_main
from jetzoo.data import parts
from jetzoo.data.dataset import JetDataset
from jetzoo.data.jetnet_generator import GeneratorConfig, generate
from jetzoo.data.merge import merge
from jetzoo.data.schema import DataError
from jetzoo.utils.io import sha256_file

RUN = dict(classes=["q", "t"], jets_per_class=6, seed=7, shard_size=3, progress=False)


def _files(folder: Path) -> dict[str, str]:
    """sha256 of every dataset file (shards, manifest, preprocessing), part manifests aside."""
    return {
        p.name: sha256_file(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith("manifest.part-")
    }


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> dict[str, Path]:
    """One unsplit run, and the same run as 3 array tasks writing into 3 folders."""
    base = tmp_path_factory.mktemp("parts")
    generate(base / "whole" / "jets", workers=1, **RUN)
    for i in range(3):
        part = generate(base / f"task{i}", workers=1, shard_index=i, num_shards=3, **RUN)
        assert Path(part["part"]).name == parts.part_name(i, 3)
    return {
        "whole": base / "whole" / "jets",
        **{f"task{i}": base / f"task{i}" for i in range(3)},
        "base": base,
    }


def test_tasks_simulate_a_round_robin_share(split: dict[str, Path]) -> None:
    names = [sorted(p.name for p in split[f"task{i}"].glob("shard-*.h5")) for i in range(3)]
    assert names == [["shard-00000.h5", "shard-00003.h5"], ["shard-00001.h5"], ["shard-00002.h5"]]
    for i in range(3):  # no dataset files before the merge
        assert not (split[f"task{i}"] / "manifest.json").exists()
        assert not (split[f"task{i}"] / "preprocessing.json").exists()


def test_merge_equals_one_unsplit_run(split: dict[str, Path]) -> None:
    out = split["base"] / "merged" / "jets"  # same folder name: the manifest records it
    rc = cli_main(
        [
            "data",
            "merge",
            *(str(split[f"task{i}"]) for i in range(3)),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert _files(out) == _files(split["whole"])  # shards, manifest.json, preprocessing.json
    assert len(JetDataset(out)) == 12


def test_merge_in_a_shared_folder(split: dict[str, Path], tmp_path: Path) -> None:
    shared = tmp_path / "jets"
    shared.mkdir()
    for i in range(3):
        for p in split[f"task{i}"].iterdir():
            shutil.copy(p, shared / p.name)
    assert cli_main(["data", "merge", str(shared), "--no-progress"]) == 0
    assert _files(shared) == _files(split["whole"])


def test_merge_refuses_missing_tampered_and_foreign_parts(
    split: dict[str, Path], tmp_path: Path
) -> None:
    srcs = [split[f"task{i}"] for i in range(3)]
    with pytest.raises(
        DataError,
        match=r"parts 2 of 3 are missing; run `jetzoo generate jetnet "
        r".*--shard-index 2 --num-shards 3`",
    ):
        merge(srcs[:2], tmp_path / "a", progress=False)
    # a shard whose bytes changed after its part manifest was written
    bad = tmp_path / "bad"
    shutil.copytree(srcs[1], bad)
    shard = bad / "shard-00001.h5"
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(
        DataError,
        match=r"shard-00001\.h5: sha256 .* differs from field "
        r"'shards\[0\]\.sha256' .*manifest\.part-00001-of-00003",
    ):
        merge([srcs[0], bad, srcs[2]], tmp_path / "b", progress=False)
    assert not (tmp_path / "b" / "manifest.json").exists()
    # a part of another run (other seed)
    other = tmp_path / "other"
    generate(other, workers=1, shard_index=1, num_shards=3, **{**RUN, "seed": 8})
    with pytest.raises(DataError, match="field 'plan_sha256'.*not of one run"):
        merge([srcs[0], other, srcs[2]], tmp_path / "c", progress=False)
    # an edited plan
    edited = tmp_path / "edited"
    shutil.copytree(srcs[2], edited)
    part_file = edited / parts.part_name(2, 3)
    part = json.loads(part_file.read_text())
    part["plan"]["seed"] = 9
    part_file.write_text(json.dumps(part))
    with pytest.raises(DataError, match="field 'plan' does not hash"):
        merge([srcs[0], srcs[1], edited], tmp_path / "d", progress=False)
    assert not (tmp_path / "d").exists()  # nothing written by a refused merge
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no part manifests"):
        merge([tmp_path / "empty"], tmp_path / "e", progress=False)


def test_shard_flags_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for flags, msg in (
        (["--shard-index", "3", "--num-shards", "3"], "--shard-index must be in 0..2"),
        (["--shard-index", "0"], "go together"),
        (["--shard-index", "0", "--num-shards", "0"], "--num-shards must be >= 1"),
    ):
        rc = cli_main(
            [
                "generate",
                "jetnet",
                "--classes",
                "q",
                "--jets-per-class",
                "2",
                "--out",
                str(tmp_path / "x"),
                "--no-progress",
                *flags,
            ]
        )
        assert rc == 2 and msg in capsys.readouterr().err
    assert not list((tmp_path / "x").glob("*.h5")) if (tmp_path / "x").exists() else True


def test_generator_config_round_trips() -> None:
    cfg = GeneratorConfig(jet_pt_min=900.0, pairs=True, extra_settings=("PartonLevel:MPI = on",))
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.slow
def test_rs3l_split_run_merges_to_the_unsplit_dataset(tmp_path: Path) -> None:
    from jetzoo.data.rs3l_generator import generate as generate_rs3l
    from jetzoo.data.rs3l_simulation import GenerationConfig

    events, cfg = {"q": 2, "g": 2, "dark_D": 2}, GenerationConfig(seed=5)
    whole = generate_rs3l(
        tmp_path / "whole", events, cfg, events_per_shard=1, workers=1, progress=False
    )
    shared = tmp_path / "shared"
    for i in range(2):
        generate_rs3l(
            shared,
            events,
            cfg,
            events_per_shard=1,
            workers=1,
            progress=False,
            shard_index=i,
            num_shards=2,
        )
    assert not (shared / "manifest.json").exists()
    merged = merge([shared], shared, progress=False)
    assert merged["dataset_sha256"] == whole["dataset_sha256"]
    assert [s["sha256"] for s in merged["raw_shards"]] == [s["sha256"] for s in whole["raw_shards"]]
    assert merged["dark_resampling"] == whole["dark_resampling"]


def test_rs3l_recorded_command_drops_the_task_flags() -> None:
    """Every task of a split RS3L run records the same command (the plan hash includes it)."""
    from jetzoo.data.rs3l_generator import _run_args

    argv = [
        "--out",
        "d",
        "--events",
        "70",
        "--shard-index",
        "3",
        "--num-shards=8",
        "--seed",
        "1",
        "--no-progress",
    ]
    assert _run_args(argv) == ["--out", "d", "--events", "70", "--seed", "1"]
