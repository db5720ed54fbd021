"""A journal of finished training jobs, so a long submission resumes where it stopped.

A standard-tier fine-tuning submission is 27 jobs per task (minutes each on a CPU, hours in
all for a 200k-parameter backbone). Each finished job's outcome (the trained point's
validation scores and test-split probabilities) is written at once, atomically, to
``<root>/<identity12>/<task>/<evaluation>/<key12>/<job>.pt``; the same submission run again
(after a crash, a stopped sitting, on the same machine) loads those and runs only the rest.
The key holds everything a job's outcome depends on: the backbone's identity (weights and
architecture), the task file's sha256, tier, dataset sha256 and split key, the settings the
evaluation reads, the package version and the sha256 of the training code's source
(:data:`TRAINING_CODE`: a change to how a job trains starts its jobs afresh, a change elsewhere
keeps them); jobs of another key are never reused. Every entry records the git commit that
trained it; the commits of resumed jobs other than the running one are listed in
:attr:`JobJournal.resumed_commits`, and the result file records them. The task's entries are
removed once its result is in the store. The default root is ``jobs/`` in
the embedding cache (``--no-cache`` keeps no journal).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from jetzoo.utils.io import atomic_path

log = logging.getLogger(__name__)

# The modules whose source decides what a training job computes (the fine-tuning loop, the
# evaluators, the job runner, the probes and batching, the classifier and backbones).
TRAINING_CODE = (
    "jetzoo.leaderboard.batches",
    "jetzoo.leaderboard.evaluators",
    "jetzoo.leaderboard.finetune",
    "jetzoo.leaderboard.jobs",
    "jetzoo.leaderboard.probes",
    "jetzoo.models.classifier",
    "jetzoo.models.dropout",
    "jetzoo.models.heads",
    "jetzoo.models.rs3l_backbone",
    "jetzoo.models.transformer",
)


def training_code_sha256(modules: tuple[str, ...] = TRAINING_CODE) -> str:
    """sha256 over the source files of ``modules`` (names and bytes, in order)."""
    import importlib.util

    digest = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(name)
        digest.update(name.encode() + b"\0" + Path(spec.origin).read_bytes() + b"\0")
    return digest.hexdigest()


def job_name(evaluation: str, seed: int, part: Any) -> str:
    """A file name for one job, e.g. ``finetune-llrd-seed1-0.1-2``."""
    parts = part if isinstance(part, tuple) else (part,)
    return "-".join(
        [evaluation, f"seed{seed}", *(f"{p:g}" if isinstance(p, float) else str(p) for p in parts)]
    )


class JobJournal:
    """Finished job outcomes of one task run on disk (see the module docstring)."""

    def __init__(
        self,
        root: str | Path,
        identity: str,
        task: str,
        key: dict[str, Any],
        settings: dict[str, Any],
    ) -> None:
        self.task_dir = task_dir(root, identity, task)
        self.key = {
            "identity": identity,
            "task": task,
            "training_code_sha256": training_code_sha256(),
            **key,
        }
        self.settings = settings
        self.resumed_commits: set[str] = set()  # of loaded jobs trained at another commit

    def _key(self, evaluation: str) -> dict[str, Any]:
        from jetzoo.leaderboard.evaluators import settings_of

        return {
            **self.key,
            "evaluation": evaluation,
            "settings": settings_of(evaluation, self.settings),
        }

    def _dir(self, evaluation: str) -> Path:
        text = json.dumps(self._key(evaluation), sort_keys=True, default=str)
        return self.task_dir / evaluation / hashlib.sha256(text.encode()).hexdigest()[:12]

    def _file(self, evaluation: str, seed: int, part: Any) -> Path:
        return self._dir(evaluation) / f"{job_name(evaluation, seed, part)}.pt"

    def load(self, evaluation: str, seed: int, part: Any) -> tuple[bool, Any]:
        """(True, outcome) for a finished job, (False, None) otherwise (or if unreadable)."""
        path = self._file(evaluation, seed, part)
        if not path.is_file():
            return False, None
        from jetzoo.leaderboard.evaluators import EVALUATORS

        try:
            with torch.serialization.safe_globals(EVALUATORS[evaluation].outcome_types()):
                entry = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a damaged entry is run again, never trusted
            log.warning("%s: unreadable journal entry (%s); the job runs again", path, err)
            return False, None
        from jetzoo.utils.provenance import git_commit

        commit = entry.get("commit")
        if commit != git_commit():
            log.info("%s: resumed from commit %s", path.name, commit)
            self.resumed_commits.add(str(commit))
        return True, entry["outcome"]

    def save(self, evaluation: str, seed: int, part: Any, outcome: Any) -> None:
        """Write one finished job's outcome atomically."""
        from jetzoo.leaderboard.schema import now_iso
        from jetzoo.utils.provenance import git_commit

        path = self._file(evaluation, seed, part)
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(self._key(evaluation), indent=1, default=str)
            (path.parent / "key.json").write_text(text)
        with atomic_path(path) as tmp:
            torch.save({"outcome": outcome, "commit": git_commit(), "date": now_iso()}, tmp)


def task_dir(root: str | Path, identity: str, task: str) -> Path:
    """The journal folder of one backbone's runs of one task."""
    return Path(root) / identity[:12] / task


def clear_task(root: str | Path, identity: str, task: str) -> None:
    """Remove the task's journal (every key): its result is in the store."""
    shutil.rmtree(task_dir(root, identity, task), ignore_errors=True)
