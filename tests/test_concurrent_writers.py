"""Concurrent writers keep each other's work: submits into one result store, and embedding
caches sharing one folder. Each writer takes a file lock, reads the file again and merges."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from jetzoo import create_backbone
from jetzoo.leaderboard import submission
from jetzoo.leaderboard.cache import EmbeddingCache
from jetzoo.leaderboard.schema import iter_store, load_result
from jetzoo.leaderboard.task_data import synthetic_task_data
from jetzoo.models.zoo import save_pretrained


@pytest.fixture()
def setup(tmp_path: Path, mini_top_yaml, mini_anomaly_yaml) -> tuple[Path, Path]:
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "mini-top.yaml").write_text(mini_top_yaml("knn", "linear"))
    (tasks / "mini-anomaly.yaml").write_text(mini_anomaly_yaml)
    torch.manual_seed(0)
    model = save_pretrained(
        create_backbone("jbot-s", embed_dim=16, depth=1, dropout=0.0),
        tmp_path / "tiny",
        model_name="tiny",
    )
    return tasks, model


def _store(out: Path) -> dict[str, set[str]]:
    """task -> evaluations held in the quick run of every file of the store."""
    found: dict[str, set[str]] = {}
    for path in iter_store(out):
        result, _ = load_result(path)
        rows = result["runs"]["quick"]["results"]
        found[result["task"]["name"]] = {r["evaluation"] for r in rows}
    return found


def test_a_submit_that_finishes_during_another_is_kept(setup, tmp_path: Path, monkeypatch):
    """Deterministic interleaving: while one submit scores `linear`, another writes `knn` into
    the same file; the first merges instead of overwriting."""
    tasks, model = setup
    out = tmp_path / "store"
    monkeypatch.setattr(
        submission, "load_task_data", lambda task: synthetic_task_data(task, n_per_class=30, seed=0)
    )
    real_run_task = submission.run_task
    nested = []

    def submit(evaluation: str) -> None:
        submission.submit(
            model,
            ["mini-top"],
            quick=True,
            out=out,
            tasks_dir=tasks,
            evaluations=[evaluation],
            progress=False,
            cache_dir=False,
        )

    def run_task_with_a_rival(*args, **kwargs):
        if not nested:  # the rival starts after this submit read the (empty) store
            nested.append(1)
            submit("knn")
        return real_run_task(*args, **kwargs)

    monkeypatch.setattr(submission, "run_task", run_task_with_a_rival)
    submit("linear")
    assert _store(out) == {"mini-top": {"knn", "linear"}}


_CHILD = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from jetzoo.leaderboard.submission import submit
    model, task, evaluation, out, cache, tasks, ready, go = sys.argv[1:]
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.01)
    submit(model, [task], quick=True, out=out, tasks_dir=tasks, evaluations=[evaluation],
           progress=False, cache_dir=cache, accelerator="cpu")
""")


@pytest.mark.slow
@pytest.mark.parametrize(
    "jobs",
    [
        [("mini-top", "knn"), ("mini-top", "linear")],
        [
            ("mini-top", "knn"),
            ("mini-top", "linear"),
            ("mini-anomaly", "anomaly-knn"),
            ("mini-anomaly", "anomaly-mahalanobis"),
        ],
    ],
    ids=["2-processes", "4-processes"],
)
def test_concurrent_submits_keep_every_evaluation(setup, tmp_path: Path, jobs):
    """2 and 4 processes, released at the same instant after their imports, submit different
    evaluations and tasks of one model into one store and one embedding cache."""
    tasks, model = setup
    out, cache = tmp_path / "store", tmp_path / "cache"
    go = tmp_path / "go"
    procs, ready = [], []
    for k, (task, evaluation) in enumerate(jobs):
        ready.append(tmp_path / f"ready-{k}")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _CHILD,
                    str(model),
                    task,
                    evaluation,
                    str(out),
                    str(cache),
                    str(tasks),
                    str(ready[-1]),
                    str(go),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
            )
        )
    deadline = time.time() + 300
    while not all(r.exists() for r in ready) and time.time() < deadline:
        time.sleep(0.05)
    go.touch()
    for p in procs:
        output, _ = p.communicate(timeout=300)
        assert p.returncode == 0, output
    want: dict[str, set[str]] = {}
    for task, evaluation in jobs:
        want.setdefault(task, set()).add(evaluation)
    assert _store(out) == want
    # the cache holds every row of the splits the processes embedded, each row once
    for npz in cache.rglob("*.npz"):
        with np.load(npz) as f:
            assert len(np.unique(f["rows"])) == len(f["rows"]) > 0


def test_embedding_caches_sharing_a_folder_merge_rows(tmp_path: Path):
    """While one cache embeds rows 10-19, another writes rows 0-9 to the same file: both
    stay (the writer reads the file again under the lock)."""
    key = ("a" * 64, "b" * 64, "k", "test", "embed")
    first, second = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path)
    values = torch.arange(40, dtype=torch.float32).reshape(20, 2)

    def compute_with_a_rival(pos):
        second.get(key, torch.arange(0, 10), lambda p: values[p])  # written meanwhile
        return values[10 + pos]

    first.get(key, torch.arange(10, 20), compute_with_a_rival)
    fresh = EmbeddingCache(tmp_path)
    got = fresh.get(key, torch.arange(20), lambda pos: pytest.fail("recomputed"))
    assert torch.equal(got, values)


def test_store_lock_files_are_hidden_and_ignored(setup, tmp_path: Path, monkeypatch):
    tasks, model = setup
    out = tmp_path / "store"
    monkeypatch.setattr(
        submission, "load_task_data", lambda task: synthetic_task_data(task, n_per_class=30, seed=0)
    )
    paths = submission.submit(
        model,
        ["mini-top"],
        quick=True,
        out=out,
        tasks_dir=tasks,
        evaluations=["knn"],
        progress=False,
        cache_dir=False,
    )
    assert [p.name for p in iter_store(out)] == ["mini-top.json"] == [p.name for p in paths]
    ignore = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().split()
    assert ".*.lock" in ignore
    assert json.loads(paths[0].read_text())["model"]["id"] == "tiny"
