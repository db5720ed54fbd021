"""``jetzoo data make NAME``: make a pinned dataset of the catalog and check its sha256.

``jetzoo data make --list`` shows every pinned set: where it is (embedded, present, missing), its
size, how long making it takes here, and the command. ``jetzoo data make NAME`` runs that command
into ``$JETZOO_DATA/NAME`` (default ``./data/NAME``) with a progress bar (the generator's), then
checks every shard against the pinned sha256; a rerun resumes (the generators keep valid shards).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from jetzoo.data import catalog
from jetzoo.data.schema import DataError


def status(spec: catalog.PinnedDataset) -> str:
    """``embedded``, ``present`` (manifest there; the sha256 is checked when used) or
    ``missing``."""
    if spec.embedded is not None:
        return "embedded"
    return "present" if (catalog.data_root() / spec.name / "manifest.json").is_file() else "missing"


def listing(workers: int) -> str:
    lines = [f"pinned datasets (non-embedded ones live in {catalog.data_root()}/NAME):"]
    for spec in catalog.CATALOG.values():
        where = status(spec)
        when = "" if where == "embedded" else f", {catalog.estimate(spec, workers)}"
        lines.append(f"  {spec.name:<30} {where:<9} {spec.n_jets:>9,} jets{when}")
        lines.append(f"  {'':<30} {spec.description}")
    return "\n".join(lines)


def command_argv(spec: catalog.PinnedDataset, workers: int) -> list[str]:
    """The catalog command as ``jetzoo`` arguments, writing to ``$JETZOO_DATA/NAME`` on
    ``workers`` processes (neither changes the bytes of a shard)."""
    argv = shlex.split(spec.command)[1:]  # drop "jetzoo"
    for flag, value in (
        ("--out", str(catalog.data_root() / spec.name)),
        ("--workers", str(workers)),
    ):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return argv


def make(name: str, workers: int = 2) -> int:
    """Make pinned dataset ``name`` (if missing) and verify it; returns an exit code."""
    from jetzoo.cli import main as jetzoo_main

    spec = catalog.get(name)
    if spec.embedded is not None:
        print(f"{name} is embedded in the package ({spec.embedded}); nothing to make")
        return 0
    folder = catalog.data_root() / name
    if status(spec) == "missing" and spec.components:  # a mixture: its components, then mix
        from jetzoo.data.mixture import mix

        for component in spec.components:
            code = make(component, workers)
            if code:
                return code
        print(f"making {name}: `{spec.command}`")
        try:
            mix([catalog.data_root() / c for c in spec.components], folder, command=spec.command)
        except DataError as err:
            print(f"jetzoo data make: error: {err}", file=sys.stderr)
            return 1
    elif status(spec) == "missing":
        argv = command_argv(spec, workers)
        print(
            f"making {name}: {spec.n_jets:,} jets, {catalog.estimate(spec, workers)}; "
            f"`jetzoo {shlex.join(argv)}` (interrupt and rerun to resume)"
        )
        code = jetzoo_main(argv)
        if code:
            return code
    try:
        catalog.locate(name)
    except DataError as err:
        print(f"jetzoo data make: error: {err}", file=sys.stderr)
        return 1
    if spec.sha256 == "PENDING":  # a set being added to the catalog: pin what was made
        from jetzoo.data.shards import verified_dataset_sha256

        print(f"{name}: {folder}, not pinned yet; its sha256 is {verified_dataset_sha256(folder)}")
    else:
        print(f"{name}: {folder}, every shard matches the pinned sha256 {spec.sha256[:16]}...")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help=f"a pinned dataset: {', '.join(catalog.CATALOG)}")
    parser.add_argument("--list", action="store_true", help="list the pinned datasets")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")


def main(args: argparse.Namespace) -> int:
    if args.list or not args.name:
        print(listing(args.workers))
        return 0
    try:
        return make(args.name, args.workers)
    except DataError as err:
        print(f"jetzoo data make: error: {err}", file=sys.stderr)
        return 2
