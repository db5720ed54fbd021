"""``jetzoo data mix COMPONENT... --out DIR``: one pre-training set from sets of several
generator settings.

A backbone meant to transfer is pre-trained on jets of many generator settings (pT windows, jet
radii, tunes, the underlying event on and off). Each setting is generated on its own, pinned
and seeded (``jetzoo generate jetnet ... --set ...``); the mixture joins them. Its shards are
the components' shards, hard-linked (copied where links are refused) under new names
``shard-00000.h5`` ... in component order, so every shard keeps its sha256 and the generator
settings stamped in it; ``manifest.json`` lists each shard with the component it came from and
records the composition: per component its name, dataset sha256, command, generator settings
and jets per class. ``preprocessing.json`` is fitted on the mixture's training split (the
standardisation a backbone trained on it stores). The folder is written under a temporary name
and renamed at the end: a failed mix leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from jetzoo.data import shards as sh
from jetzoo.data.schema import SHARD_FORMAT, DataError, class_index

MIXTURE_KEY = "mixture"


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links refused: a copy
        shutil.copy2(src, dst)


def mix(
    components: Sequence[str | Path], out: str | Path, command: str | None = None
) -> dict[str, Any]:
    """Join the JetNet-like dataset folders ``components`` into the mixture ``out``; returns
    its manifest. Every component's shards are checked against its manifest first."""
    out = Path(out)
    if not components:
        raise DataError("a mixture needs at least one component folder")
    folders = [Path(c) for c in components]
    if len({f.resolve() for f in folders}) != len(folders):
        raise DataError("a component is named twice")
    manifests = []
    for folder in folders:
        sha = sh.verified_dataset_sha256(folder)  # DataError naming shard and field
        manifest = sh.read_manifest(folder)
        if manifest is None:
            raise DataError(f"{folder}: no manifest.json (a `jetzoo generate jetnet` folder)")
        if manifest.get("format") != SHARD_FORMAT or manifest.get(MIXTURE_KEY):
            raise DataError(
                f"{folder / sh.MANIFEST_NAME}: field 'format' is {manifest.get('format')!r}; "
                f"components are {SHARD_FORMAT} sets, not mixtures"
            )
        if manifest.get("pairs"):
            raise DataError(f"{folder / sh.MANIFEST_NAME}: field 'pairs': pair sets are not mixed")
        manifests.append((folder, sha, manifest))
    if out.exists():
        raise DataError(f"{out}: exists; a mixture is written once (remove it to remake it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        shard_list: list[dict[str, Any]] = []
        composition = []
        for folder, sha, manifest in manifests:
            for entry in manifest["shards"]:
                name = sh.shard_name(len(shard_list))
                _link(folder / entry["file"], tmp / name)
                shard_list.append({**entry, "file": name, "component": folder.name})
            composition.append(
                {
                    "name": folder.name,
                    "dataset_sha256": sha,
                    "command": manifest.get("command"),
                    "settings": manifest.get("settings"),
                    "classes": manifest.get("classes"),
                    "jets_per_class": manifest.get("jets_per_class"),
                    "n_jets": manifest.get("n_jets"),
                }
            )
        infos = [sh.inspect_file(tmp / e["file"]) for e in shard_list]
        n_jets = sum(i.n_jets for i in infos)
        train, _, _ = sh.split_indices(n_jets)
        sh.fit_preprocessing(infos, train).save(tmp / sh.PREPROCESSING_NAME)
        from jetzoo import __version__

        classes = {c for _, _, m in manifests for c in m.get("classes", [])}
        manifest = {
            "format": SHARD_FORMAT,
            "jetzoo_version": __version__,
            "command": command
            or "jetzoo data mix " + " ".join(f.name for f in folders) + f" --out {out.name}",
            "classes": sorted(classes, key=class_index),
            "pairs": False,
            "n_jets": n_jets,
            MIXTURE_KEY: composition,
            "split": {"fractions": list(sh.DEFAULT_SPLIT), "seed": sh.DEFAULT_SPLIT_SEED},
            "preprocessing": sh.PREPROCESSING_NAME,
            "shards": shard_list,
            "dataset_sha256": sh.dataset_sha256(e["sha256"] for e in shard_list),
        }
        sh.write_manifest(tmp, manifest)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def composition(folder: str | Path) -> list[dict[str, Any]] | None:
    """The components of a mixture folder (None for a single-setting set)."""
    manifest = sh.read_manifest(Path(folder))
    return None if manifest is None else manifest.get(MIXTURE_KEY)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("components", nargs="+", type=Path, help="dataset folders to join")
    parser.add_argument("--out", type=Path, required=True, help="the mixture folder to write")


def main(args: argparse.Namespace) -> int:
    try:
        manifest = mix(args.components, args.out)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    parts = ", ".join(f"{c['name']} ({c['n_jets']:,})" for c in manifest[MIXTURE_KEY])
    print(
        f"wrote {args.out}: {manifest['n_jets']:,} jets from {parts}; "
        f"dataset sha256 {manifest['dataset_sha256'][:16]}"
    )
    return 0
