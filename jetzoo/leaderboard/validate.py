"""``jetzoo leaderboard validate [PATH ...]``: check result files before they join the store.

A third party adds results by a pull request with their result folder. For every file (folders
are searched for ``*/*/*.json``) this checks, and names the file and the field on failure:

- the schema, the checksum and the ROC sidecar's sha256 (:func:`load_result`);
- the layout: ``<model>/<identity12>/<task>.json`` names the model id, identity and task the
  file records;
- every tier's run was scored under the repository's task file (its sha256) and on the pinned
  dataset (the catalog's sha256; the quick tier's embedded sample included);
- the model resolves: a shipped name with its shipped weights, or a Hub repository at a fixed
  revision (``ORG/NAME`` with a revision other than ``main``). Files already committed to the
  repository's store, byte for byte, were reviewed when they came in and pass this check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from jetzoo.leaderboard.schema import ResultFileError, load_result
from jetzoo.leaderboard.tasks import TASKS_DIR

REPO = Path(__file__).resolve().parents[2]
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_STORE = Path("leaderboard/results")


def result_files(paths: list[Path]) -> list[Path]:
    """Result files under ``paths`` (files as given, folders searched), sorted."""
    files: set[Path] = set()
    for p in paths:
        if p.is_dir():
            files |= set(p.rglob("*.json"))
        else:
            files.add(p)
    return sorted(files)


def _committed(path: Path) -> bool:
    """True if ``path`` is in the repository's HEAD with these very bytes."""
    try:
        rel = path.resolve().relative_to(REPO)
    except ValueError:
        return False
    proc = subprocess.run(
        ["git", "-C", str(REPO), "show", f"HEAD:{rel.as_posix()}"],
        capture_output=True,
        timeout=60,
    )
    return proc.returncode == 0 and proc.stdout == path.read_bytes()


def model_problem(model: dict[str, Any]) -> str | None:
    """Why the scored model does not resolve to weights anyone can load (None: it does)."""
    shipped = WEIGHTS_DIR / model["id"] / "config.json"
    if shipped.is_file():
        if json.loads(shipped.read_text())["weights_sha256"] == model["weights_sha256"]:
            return None
        return (
            f"model {model['id']!r} is a shipped name but these are not its shipped weights "
            f"(weights sha256 {model['weights_sha256'][:12]}...); score the shipped model or "
            "publish yours under your own name"
        )
    revision = str(model.get("revision") or "")
    if revision == "local":  # a folder on the scorer's machine
        return (
            f"model {model['id']!r} (revision 'local') does not resolve: score a shipped name "
            "with its shipped weights, or a Hub repository at a fixed revision"
        )
    if revision in ("", "main"):
        return (
            f"model {model['id']!r}: a Hub model needs a fixed revision (a tag or commit; "
            f"got {revision or 'none'!r}): `jetzoo leaderboard submit ORG/NAME --revision REV`"
        )
    return None


def _task_sha256(name: str, tasks_dir: Path) -> str | None:
    path = tasks_dir / f"{name}.yaml"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def problems(path: Path, tasks_dir: Path = TASKS_DIR) -> list[str]:
    """Everything wrong with the result file ``path`` (empty: it may join the store)."""
    from jetzoo.data import catalog

    try:
        result, _ = load_result(path)
    except ResultFileError as err:
        return [str(err)]
    out = []
    model, task = result["model"], result["task"]["name"]
    identity = str(model.get("identity_sha256") or model["weights_sha256"])
    want = (model["id"], identity[:12], f"{task}.json")
    got = (path.parent.parent.name, path.parent.name, path.name)
    if got != want:
        out.append(f"{path}: lies at {'/'.join(got)} but records {'/'.join(want)}")
    task_sha = _task_sha256(task, tasks_dir)
    for tier, run in sorted(result["runs"].items()):
        if task_sha is None:
            out.append(f"{path}: field 'task/name': no task file {task}.yaml in {tasks_dir}")
        elif run["task_sha256"] != task_sha:
            out.append(
                f"{path}: field 'runs/{tier}/task_sha256': scored under another {task}.yaml "
                f"({run['task_sha256'][:12]}... against the repository's {task_sha[:12]}...)"
            )
        name = run["dataset"].get("name")
        spec = catalog.CATALOG.get(str(name))
        if spec is None:
            out.append(
                f"{path}: field 'runs/{tier}/dataset/name': {name!r} is not a pinned dataset "
                f"({', '.join(catalog.CATALOG)})"
            )
        elif run["dataset"]["sha256"] != spec.sha256:
            out.append(
                f"{path}: field 'runs/{tier}/dataset/sha256': {run['dataset']['sha256'][:12]}... "
                f"is not the pinned {spec.sha256[:12]}... of {name}"
            )
    why = model_problem(model)
    if why is not None and not _committed(path):
        out.append(f"{path}: field 'model': {why}")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[DEFAULT_STORE],
        help="result files or folders (default: leaderboard/results)",
    )
    parser.add_argument(
        "--tasks-dir", type=Path, default=TASKS_DIR, help="task files (default: the repository's)"
    )


def main(args: argparse.Namespace) -> int:
    files = result_files(list(args.paths))
    if not files:
        print(f"jetzoo leaderboard validate: no result files in {args.paths}", file=sys.stderr)
        return 2
    bad = 0
    for f in files:
        found = problems(f, args.tasks_dir)
        bad += bool(found)
        for line in found:
            print(line, file=sys.stderr)
    print(f"{len(files) - bad} of {len(files)} result files valid")
    return 1 if bad else 0
