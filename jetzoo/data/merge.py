"""``jetzoo data merge PART_FOLDERS... --out DIR``: join the parts of a generation split over
array-job tasks (:mod:`jetzoo.data.parts`) and finish the dataset with the ``finalize`` of the
generator that wrote them (the one :func:`jetzoo.data.engine.run` calls after an unsplit run).

It sits above the generators and :mod:`jetzoo.data.parts` (which the generators use), so that
no module of the data layer imports one that imports it back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from jetzoo.data.engine import Generator, Simulated
from jetzoo.data.jetnet_generator import JetNetGenerator
from jetzoo.data.parts import collect, gather_shards
from jetzoo.data.rs3l_generator import RS3LGenerator
from jetzoo.data.schema import DataError

GENERATORS: dict[str, Any] = {g.info.format: g for g in (JetNetGenerator, RS3LGenerator)}


def merge(sources: Sequence[str | Path], out: str | Path, progress: bool = True) -> dict[str, Any]:
    """Join the parts in ``sources`` into the dataset folder ``out``; returns its manifest."""
    out = Path(out)
    parts, dataset_format = collect(sources)
    if dataset_format not in GENERATORS:
        raise DataError(f"{out}: parts of unknown dataset format {dataset_format!r}")
    shards = gather_shards(parts, out, progress)
    gen: Generator = GENERATORS[dataset_format].from_plan(parts[0][1]["plan"], out)
    stats = [s for _, part in parts for s in part.get("stats", [])]
    seconds = max((float(part.get("seconds", 0.0)) for _, part in parts), default=0.0)
    workers = sum(int(part.get("workers", 1)) for _, part in parts)
    return gen.finalize(out, Simulated(shards, stats, seconds, workers))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sources",
        nargs="+",
        type=Path,
        help="folders holding the parts (manifest.part-*.json + their shards)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="dataset folder to write (default: the only source folder)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    out = args.out
    if out is None:
        if len(args.sources) != 1:
            print("jetzoo data merge: --out is needed with several source folders", file=sys.stderr)
            return 2
        out = args.sources[0]
    try:
        manifest = merge(args.sources, out, progress=not args.no_progress)
    except (DataError, ValueError) as err:
        print(f"jetzoo data merge: error: {err}", file=sys.stderr)
        return 1
    print(
        f"merged {len(manifest['shards'])} shards into {out}; dataset sha256 "
        f"{manifest['dataset_sha256'][:16]}"
    )
    return 0
