"""Generation split over array jobs: ``--shard-index I --num-shards N`` and ``jetzoo data merge``.

A generator plans all shards of a run from its seed and settings alone (every shard has its
own seed), so task ``I`` of ``N`` simulates the planned shards ``k`` with ``k % N == I`` and
writes, beside them, ``manifest.part-IIIII-of-NNNNN.json``: the run's plan (settings, seed,
counts; hashed as ``plan_sha256``), the part's shard entries with their sha256, and its timing.
No ``manifest.json`` or ``preprocessing.json`` is written by a part: those need every shard.

``jetzoo data merge SRC [SRC ...] --out DIR`` reads the part manifests of the source folders
(one shared folder, or one folder per task), checks that they share one plan and that every part
is there, hashes every shard against its part manifest, copies shards into ``DIR`` when they live
elsewhere (atomically, hashed again), and hands over to the generator's ``finalize`` -- the same
function that ends an unsplit run. The merged folder is therefore byte-identical to the folder
of one ``jetzoo generate`` run with the same seed and settings (shards, preprocessing.json and
manifest.json; only the timing numbers of an RS3L manifest differ).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any, Sequence, TypeVar

from jetzoo.data.schema import DataError
from jetzoo.utils.io import atomic_path, atomic_write_text, sha256_file

PART_FORMAT = "jetzoo-part-v1"
PART_GLOB = "manifest.part-*-of-*.json"
_PART_RE = re.compile(r"^manifest\.part-(\d{5})-of-(\d{5})\.json$")
T = TypeVar("T")


def part_name(index: int, count: int) -> str:
    """File name of the part manifest of task ``index`` of ``count``."""
    return f"manifest.part-{index:05d}-of-{count:05d}.json"


def check_shard_args(shard_index: int | None, num_shards: int | None) -> None:
    """Both or neither; ``0 <= shard_index < num_shards``. Raises ValueError naming the flag."""
    if (shard_index is None) != (num_shards is None):
        raise ValueError("--shard-index and --num-shards go together")
    if num_shards is not None and num_shards < 1:
        raise ValueError(f"--num-shards must be >= 1, got {num_shards}")
    if shard_index is not None and not 0 <= shard_index < int(num_shards or 0):
        raise ValueError(
            f"--shard-index must be in 0..{int(num_shards or 0) - 1}, got {shard_index}"
        )


def select(items: Sequence[T], shard_index: int, num_shards: int) -> list[T]:
    """The planned items task ``shard_index`` of ``num_shards`` simulates (round robin, so each
    task gets a share of every class)."""
    return [item for k, item in enumerate(items) if k % num_shards == shard_index]


def plan_sha256(plan: dict[str, Any]) -> str:
    """Hash of a run's plan (sorted-key JSON): parts of one run share it."""
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def write_part(
    out: Path,
    dataset_format: str,
    index: int,
    count: int,
    plan: dict[str, Any],
    shards: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the part manifest of task ``index`` of ``count`` into ``out`` (atomically).

    ``shards`` entries name their file relative to ``out`` (key ``file`` or ``path``) and carry
    its ``sha256``."""
    part = {
        "format": PART_FORMAT,
        "dataset_format": dataset_format,
        "part": index,
        "num_parts": count,
        "plan": plan,
        "plan_sha256": plan_sha256(plan),
        "shards": shards,
        **(extra or {}),
    }
    path = out / part_name(index, count)
    atomic_write_text(path, json.dumps(part, indent=2, sort_keys=True) + "\n")
    return path


def _read_part(path: Path) -> dict[str, Any]:
    try:
        part = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable part manifest ({err})") from err
    for key in ("format", "dataset_format", "part", "num_parts", "plan", "plan_sha256", "shards"):
        if not isinstance(part, dict) or key not in part:
            raise DataError(f"{path}: field {key!r} is missing; not a jetzoo part manifest")
    if part["format"] != PART_FORMAT:
        raise DataError(f"{path}: field 'format' is {part['format']!r}, expected {PART_FORMAT!r}")
    if plan_sha256(part["plan"]) != part["plan_sha256"]:
        raise DataError(f"{path}: field 'plan' does not hash to its 'plan_sha256' (edited?)")
    match = _PART_RE.match(path.name)
    if not match or (int(match[1]), int(match[2])) != (part["part"], part["num_parts"]):
        raise DataError(
            f"{path}: fields 'part'/'num_parts' ({part['part']}/{part['num_parts']})"
            " do not match the file name"
        )
    return part


def _entry_path(entry: dict[str, Any]) -> str:
    return str(entry.get("file", entry.get("path")))


def collect(sources: Sequence[str | Path]) -> tuple[list[tuple[Path, dict[str, Any]]], str]:
    """Every part manifest in ``sources`` (checked to share one plan, none missing); returns
    ``[(source folder, part)]`` in part order and the dataset format."""
    found: dict[int, tuple[Path, Path, dict[str, Any]]] = {}
    for src in map(Path, sources):
        if not src.is_dir():
            raise DataError(f"{src}: no such folder")
        files = sorted(src.glob(PART_GLOB))
        if not files:
            raise DataError(
                f"{src}: no part manifests ({PART_GLOB}); write them with "
                "`jetzoo generate ... --shard-index I --num-shards N --out "
                f"{src}`"
            )
        for path in files:
            part = _read_part(path)
            if part["part"] in found:
                first = found[part["part"]]
                if first[2] != part:
                    raise DataError(
                        f"{path}: part {part['part']} also in {first[1]} with other "
                        "content (two runs into one merge?)"
                    )
                continue
            found[part["part"]] = (src, path, part)
    ref_src, ref_path, ref = found[min(found)]
    for src, path, part in found.values():
        for key in ("dataset_format", "num_parts", "plan_sha256"):
            if part[key] != ref[key]:
                raise DataError(
                    f"{path}: field {key!r} is {part[key]!r} but {ref_path} has "
                    f"{ref[key]!r}; these parts are not of one run"
                )
    missing = sorted(set(range(ref["num_parts"])) - set(found))
    if missing:
        hint = ref.get("command") or "jetzoo generate ..."
        raise DataError(
            f"{ref_src}: parts {', '.join(map(str, missing))} of {ref['num_parts']} "
            f"are missing; run `{hint} --shard-index {missing[0]} --num-shards "
            f"{ref['num_parts']}` (and the others) first"
        )
    return [(found[k][0], found[k][2]) for k in sorted(found)], str(ref["dataset_format"])


def gather_shards(
    parts: list[tuple[Path, dict[str, Any]]], out: Path, progress: bool = True
) -> list[dict[str, Any]]:
    """Check every shard of ``parts`` against its sha256 and bring it into ``out``; returns the
    shard entries (in part order). A shard whose bytes differ raises DataError naming the file,
    the part manifest and the field."""
    from tqdm import tqdm

    entries = [
        (src, src / part_name(part["part"], part["num_parts"]), k, entry)
        for src, part in parts
        for k, entry in enumerate(part["shards"])
    ]
    names = [_entry_path(e) for *_, e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{out}: shard {dupes[0]} is listed by two parts")
    out.mkdir(parents=True, exist_ok=True)
    for src, part_file, k, entry in tqdm(
        entries, desc="jetzoo data merge", unit="shard", disable=not progress or None
    ):
        rel = _entry_path(entry)
        source, target = src / rel, out / rel
        if not source.is_file():
            raise DataError(f"{source}: listed in {part_file} (field 'shards[{k}]') but missing")
        digest = sha256_file(source)
        if digest != entry.get("sha256"):
            raise DataError(
                f"{source}: sha256 {digest[:16]}... differs from field "
                f"'shards[{k}].sha256' ({str(entry.get('sha256'))[:16]}...) of "
                f"{part_file}; regenerate that part"
            )
        if source.resolve() != target.resolve():
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
                if sha256_file(tmp) != digest:
                    raise DataError(f"{target}: copy does not match its source {source}")
    return [entry for *_, entry in entries]


# --------------------------------------------------------------------------------------------
# CLI: the generators' task flags (`jetzoo data merge` is jetzoo.data.merge)


def add_shard_arguments(parser: argparse.ArgumentParser) -> None:
    """``--shard-index`` / ``--num-shards`` of the generators (one task of an array job)."""
    parser.add_argument(
        "--shard-index",
        type=int,
        default=None,
        metavar="I",
        help="this task's index (0..N-1) in an array job, e.g. "
        "$SLURM_ARRAY_TASK_ID; it simulates planned shards k with k %% N == I "
        "and writes a part manifest; finish with `jetzoo data merge`",
    )
    parser.add_argument(
        "--num-shards",
        type=int,
        default=None,
        metavar="N",
        help="number of tasks the run is split into",
    )
