"""The pinned datasets of the benchmark: name -> the command that makes it and its sha256.

A leaderboard task names its dataset by catalog name (``jetnet-sample``, ``jetnet-bench-220k``,
...). :func:`locate` finds the folder (embedded in the package, or ``$JETZOO_DATA/<name>``,
default ``./data/<name>``) and checks every shard against the pinned dataset sha256, so a
result always says exactly which jets it scored. A missing set raises :class:`DatasetMissing`
with the command that makes it; a set with other bytes is refused.

The generators are deterministic (same seed -> byte-identical shards, any worker count, any
machine with the same jetzoo version), so the commands below reproduce the pinned hashes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jetzoo.data.schema import DataError

EMBEDDED = Path(__file__).resolve().parent / "sample"


@dataclass(frozen=True)
class PinnedDataset:
    """A dataset of the benchmark: how it is made and the hash it must have."""

    name: str
    family: str  # jetnet (particle jets) | rs3l (re-simulated pairs)
    command: str
    sha256: str
    description: str
    n_jets: int
    embedded: Path | None = None  # shipped inside the package
    rate: float | None = None  # jets/s per worker when it was made (default: its family's)


CATALOG: dict[str, PinnedDataset] = {
    d.name: d
    for d in (
        PinnedDataset(
            "jetnet-sample",
            "jetnet",
            "jetzoo generate jetnet --classes q,g,t,w,z --jets-per-class 2000 --seed 1 "
            "--shard-size 1000 --pairs --out jetzoo/data/sample",
            "6f7421f4bdd5a359fd7420f3714774739914e170d1b03d50bcae2e8453f12587",
            "the embedded JetNet-like sample (2000 jets per class, pairs): CI and --tier quick",
            10_000,
            EMBEDDED,
        ),
        PinnedDataset(
            "rs3l-sample",
            "rs3l",
            "jetzoo generate rs3l --out jetzoo/data/sample/rs3l --events 560 --dark-models A,B,C,D "
            "--dark-events 1100 --dark-pairs 130 --events-per-shard 600 --workers 2 --drop-raw "
            "--seed 0",
            "98532f23c0f7dfa441fa85f7fe69c52ff5bd34a8127168f8d33d6df23505b2e3",
            "the embedded RS3L sample (826 q/g/tau pairs, 130 pairs per dark model)",
            1_346,
            EMBEDDED / "rs3l",
        ),
        PinnedDataset(
            "jetnet-bench-220k",
            "jetnet",
            "jetzoo generate jetnet --classes q,g,t,w,z --jets-per-class 44000 --seed 101 "
            "--workers 2 --shard-size 5000 --out data/jetnet-bench-220k",
            "0713f6f597d3a94a4d62fabb96d8829bdd29ac844178bad793fb2a06c2efbfd7",
            "benchmark set of the standard and paper tiers: 44,000 jets per class, seed 101 (never "
            "used for pre-training); split 0.55/0.10/0.35 gives 121k labelled/reference jets and a "
            "77k-jet test split (about 15k per class)",
            220_000,
        ),
        PinnedDataset(
            "jetnet-shift-a14-15k",
            "jetnet",
            "jetzoo generate jetnet --classes q,g,t,w,z --jets-per-class 3000 --seed 113 "
            "--workers 2 --shard-size 1000 --set 'PartonLevel:MPI = on' --set 'Tune:pp = 21' "
            "--out data/jetnet-shift-a14-15k",
            "a0ac65422e95027b994d6e7d5e4a4b4b8540e0ceebeab0101cf0650d34038975",
            "shifted-simulator set of the simulator-shift task: the benchmark set's recipe with "
            "the underlying event on and the ATLAS A14 tune (Tune:pp = 21: other shower, MPI and "
            "hadronisation parameters), 3,000 jets per class, seed 113 (never used for "
            "pre-training)",
            15_000,
            rate=68.0,  # the underlying event makes events slower (15,000 jets in 219 s, 1 worker)
        ),
        PinnedDataset(
            "rs3l-bench-78k",
            "rs3l",
            "jetzoo generate rs3l --events 46000 --dark-models A,B,C,D --dark-events 4000 "
            "--workers 2 --seed 107 --drop-raw --out data/rs3l-bench-78k",
            "34366d7c469e8b8922b1a7b388a0fd0f63439691bae55e99b5c264da829427c1",
            "RS3L benchmark set of the standard and paper tiers (seed 107, never used for "
            "pre-training): 82,131 pairs of q, g, tau and Hidden Valley dark jets A-D; split "
            "0.6/0.1/0.3 by collision, the 30% test part is what the tasks score",
            82_131,
        ),
    )
}


#: generation rates per worker process on the 2-core development CPU: JetNet-like jets (single
#: view; jetnet-bench-220k was made in 404 s on 2 workers, 2026-12-07) and RS3L pairs per second
RATE_PER_WORKER = {"jetnet": 270.0, "rs3l": 30.0}


def estimate(spec: PinnedDataset, workers: int = 2) -> str:
    """``"about 15 min on 2 workers"``: how long making ``spec`` takes here."""
    rate = spec.rate or RATE_PER_WORKER[spec.family]
    seconds = spec.n_jets / (rate * max(workers, 1))
    if seconds < 90:
        when = f"{seconds:.0f} s"
    elif seconds < 5400:
        when = f"{seconds / 60:.0f} min"
    else:
        when = f"{seconds / 3600:.1f} h"
    return f"about {when} on {workers} worker{'s' if workers != 1 else ''}"


class DatasetMissing(DataError):
    """A pinned dataset is not on this machine; the message says the command that makes it
    (``name``: the dataset)."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


def data_root() -> Path:
    """Where non-embedded datasets live: ``$JETZOO_DATA``, else ``./data``."""
    return Path(os.environ.get("JETZOO_DATA", "data")).expanduser()


def get(name: str) -> PinnedDataset:
    """The catalog entry ``name``; DataError listing the known names otherwise."""
    if name not in CATALOG:
        raise DataError(f"unknown dataset {name!r}; pinned datasets: {', '.join(CATALOG)}")
    return CATALOG[name]


def locate(name: str, verify: bool = True) -> Path:
    """The folder of pinned dataset ``name``, its shards checked against the pinned sha256.

    Raises :class:`DatasetMissing` (with the command) when it is absent and DataError when its
    bytes differ from the pinned hash.
    """
    from jetzoo.data.shards import verified_dataset_sha256

    spec = get(name)
    folder = spec.embedded or data_root() / name
    if not (folder / "manifest.json").is_file():
        raise DatasetMissing(
            f"dataset {name!r} is not at {folder} ({spec.n_jets:,} jets, {estimate(spec)}): "
            f"make it with `jetzoo data make {name}`, which runs `{spec.command}` (or set "
            "JETZOO_DATA to the folder that holds it)",
            name,
        )
    if verify and spec.sha256 != "PENDING":
        actual = verified_dataset_sha256(folder)
        if actual != spec.sha256:
            raise DataError(
                f"{folder}: dataset sha256 {actual[:16]}... differs from the pinned "
                f"{spec.sha256[:16]}... of {name!r} (jetzoo/data/catalog.py): not "
                f"the set `{spec.command}` makes"
            )
    return folder
