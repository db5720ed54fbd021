"""The fine-tuning budget, parallel training jobs, and which stored rows a settings change keeps."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from jetzoo import create_backbone
from jetzoo.leaderboard.evaluators import EVALUATORS, settings_of
from jetzoo.leaderboard.finetune import FineTuneSettings, train_point
from jetzoo.leaderboard.store import still_valid
from jetzoo.leaderboard.submission import RunSettings, run_task
from jetzoo.leaderboard.task_data import synthetic_task_data
from jetzoo.leaderboard.tasks import TASKS_DIR, TIER_SETTINGS, load_task


def tiny():
    return create_backbone("jbot-s", embed_dim=16, depth=1, num_heads=4, dropout=0.0)


def test_step_budget_clamps_epochs_to_the_tier_bounds():
    s = TIER_SETTINGS["standard"]
    ft = FineTuneSettings(
        max_epochs=s["max_epochs"],
        min_steps=s["min_steps"],
        max_steps=s["max_steps"],
        batch_size=s["batch_size"],
    )
    # jetnet-bench-220k's labelled pool: 121,000 jets; 1% / 10% / 100%
    assert [ft.steps(n) for n in (1210, 12100, 121000)] == [500, 960, 2000]
    assert FineTuneSettings(max_epochs=3, batch_size=10).steps(95) is None  # epochs, no bound
    assert FineTuneSettings(max_epochs=3, batch_size=10, max_steps=20).steps(95) == 20


def test_train_point_takes_the_budget_and_keeps_the_best_validation_state():
    task = load_task(TASKS_DIR / "top-tagging.yaml")
    data = synthetic_task_data(task, n_per_class=40, seed=2)
    settings = FineTuneSettings(
        mode="llrd",
        base_lrs=(3e-3,),
        decays=(0.8,),
        max_epochs=1,
        min_steps=12,
        batch_size=16,
        val_checks=4,
        accelerator="cpu",
    )
    out = train_point(tiny(), data.train, data.val, data.test, 3, settings, 0)
    assert out.steps == 12  # 1 epoch of 72 jets = 5 steps, raised to min_steps
    assert out.best_step in (3, 6, 9, 12)  # checks every ceil(12 / 4) = 3 steps
    proba = out.model(data.val).softmax(-1)
    acc = float((proba.argmax(1) == data.val["label"]).float().mean())
    assert acc == pytest.approx(out.val_accuracy)  # the kept state is the one scored


def test_parallel_jobs_score_equal_to_a_serial_run():
    # 2 CPU worker processes against this process: same rows (seeds x fractions x modes)
    task = load_task(TASKS_DIR / "top-tagging.yaml").for_tier("quick")
    task = task.with_settings(
        seeds=[0, 1], label_fractions=[0.5, 1.0], max_epochs=2, batch_size=16, bootstrap=5
    )
    data = synthetic_task_data(task, n_per_class=30, seed=4)
    evaluations = ["finetune-llrd", "supervised"]
    torch.manual_seed(0)
    backbone = tiny()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' share of this 2-core machine: equal arithmetic
    try:
        serial = run_task(
            backbone, task, RunSettings(accelerator="cpu", evaluations=evaluations), data
        )
    finally:
        torch.set_num_threads(threads)
    parallel = run_task(
        backbone,
        task,
        RunSettings(devices=2, accelerator="cpu", evaluations=evaluations),
        data,
    )
    assert len(serial.rows) == len(parallel.rows) == 2 * 2 * len(task.metrics)
    for a, b in zip(serial.rows, parallel.rows):
        assert (a["evaluation"], a["metric"]) == (b["evaluation"], b["metric"])
        assert a["value"] == b["value"] and a.get("seed_std") == b.get("seed_std")
        assert a["details"] == b["details"]
    assert {r["evaluation"] for r in serial.rows} == {
        "finetune-llrd-50%",
        "finetune-llrd-100%",
        "supervised-50%",
        "supervised-100%",
    }
    assert math.isfinite(serial.rows[0]["value"])


def test_a_changed_finetuning_budget_keeps_the_probe_rows():
    old_settings = {**TIER_SETTINGS["quick"], "knn_k": 30, "cosine_tau": 0.05}
    new_settings = {**old_settings, "max_steps": 2000}
    old_run = {
        "task_sha256": "a" * 64,
        "settings": old_settings,
        "results": [
            {"evaluation": "knn"},
            {"evaluation": "linear"},
            {"evaluation": "finetune-llrd-10%"},
        ],
        "skipped": {"t/anomaly-ae": "no reconstruction"},
    }
    kept = still_valid(old_run, {"task_sha256": "a" * 64, "settings": new_settings})
    assert kept == {"knn", "linear", "anomaly-ae"}
    assert still_valid(old_run, {"task_sha256": "b" * 64, "settings": old_settings}) == set()
    other_k = {"task_sha256": "a" * 64, "settings": {**old_settings, "knn_k": 5}}
    assert still_valid(old_run, other_k) == {"linear", "finetune-llrd", "anomaly-ae"}
    # rows of other jets (a re-pinned set) hold for nothing
    old_run["dataset"] = {"sha256": "c" * 64}
    same = {"task_sha256": "a" * 64, "settings": old_settings, "dataset": {"sha256": "c" * 64}}
    assert still_valid(old_run, same) == {"knn", "linear", "finetune-llrd", "anomaly-ae"}
    assert still_valid(old_run, {**same, "dataset": {"sha256": "d" * 64}}) == set()
    assert "knn_k" in settings_of("knn", old_settings)
    assert set(EVALUATORS["finetune-lora"].uses) >= {"min_steps", "max_steps", "val_checks"}


def test_rows_kept_from_an_earlier_run_keep_what_scored_them(
    tmp_path: Path, monkeypatch, mini_top_yaml
):
    import csv

    import jetzoo
    from jetzoo.leaderboard import submission
    from jetzoo.leaderboard.render import results_csv
    from jetzoo.leaderboard.schema import load_result
    from jetzoo.models.zoo import save_pretrained

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "mini-top.yaml").write_text(mini_top_yaml("knn", "linear"))
    monkeypatch.setattr(
        submission, "load_task_data", lambda task: synthetic_task_data(task, n_per_class=40)
    )
    model = save_pretrained(tiny(), tmp_path / "model", model_name="tiny")
    kw = dict(quick=True, out=tmp_path / "store", tasks_dir=tasks, progress=False, cache_dir=False)
    monkeypatch.setattr(submission, "git_commit", lambda: "a" * 40)
    submission.submit(model, evaluations=["knn"], **kw)
    before = jetzoo.__version__
    monkeypatch.setattr(jetzoo, "__version__", "9.9.9")
    monkeypatch.setattr(submission, "git_commit", lambda: "b" * 40)
    [path] = submission.submit(model, evaluations=["linear"], **kw)
    result, _ = load_result(path)
    run = result["runs"]["quick"]
    assert (run["jetzoo_version"], run["jetzoo_commit"]) == ("9.9.9", "b" * 40)
    knn = [r for r in run["results"] if r["evaluation"] == "knn"]
    assert knn and all(r["scored"]["jetzoo_commit"] == "a" * 40 for r in knn)
    assert all("scored" not in r for r in run["results"] if r["evaluation"] == "linear")
    with open(results_csv([result], tmp_path / "results.csv")) as f:
        rows = list(csv.DictReader(f))
    commits = {(r["evaluation"], r["jetzoo_commit"], r["jetzoo_version"]) for r in rows}
    assert commits == {("knn", "a" * 40, before), ("linear", "b" * 40, "9.9.9")}


class StoppedSubmission:
    """A submission of 4 training jobs (supervised, 2 seeds x 2 label fractions) on synthetic
    jets standing for a pinned set, stopped by hand after 2 finished jobs; ``rerun()`` runs the
    same command again, ``ran`` lists the jobs each run trained."""

    def __init__(self, tmp_path: Path, monkeypatch, mini_top_yaml) -> None:
        import dataclasses

        from jetzoo.leaderboard import jobs, submission
        from jetzoo.models.zoo import save_pretrained

        tasks = tmp_path / "tasks"
        tasks.mkdir()
        settings = (
            "bootstrap: 5, seeds: [0, 1], label_fractions: [0.5, 1.0], max_epochs: 1, "
            "batch_size: 16"
        )
        (tasks / "mini-top.yaml").write_text(mini_top_yaml("supervised", settings=settings))
        monkeypatch.setattr(
            submission,
            "load_task_data",
            lambda task: dataclasses.replace(
                synthetic_task_data(task, n_per_class=30), dataset_sha256="f" * 64
            ),
        )
        torch.manual_seed(0)
        self.model = save_pretrained(tiny(), tmp_path / "model", model_name="tiny")
        self.cache, self.store = tmp_path / "cache", tmp_path / "store"
        self.kw = dict(quick=True, tasks_dir=tasks, progress=False, accelerator="cpu")
        self.ran: list = []
        self._monkeypatch, self._real = monkeypatch, jobs.run_job
        self._patch(crash_after=2)
        with pytest.raises(KeyboardInterrupt):
            submission.submit(self.model, out=self.store, cache_dir=self.cache, **self.kw)

    def _patch(self, crash_after: int | None) -> None:
        from jetzoo.leaderboard import jobs

        def run_job(ctx, job):
            if crash_after is not None and len(self.ran) == crash_after:
                raise KeyboardInterrupt("stopped by hand")
            self.ran.append(job.key())
            return self._real(ctx, job)

        self._monkeypatch.setattr(jobs, "run_job", run_job)

    def rerun(self, out: Path | None = None, cache: Path | bool | None = None) -> Path:
        from jetzoo.leaderboard import submission

        self.ran.clear()
        self._patch(crash_after=None)
        cache = self.cache if cache is None else cache
        [path] = submission.submit(self.model, out=out or self.store, cache_dir=cache, **self.kw)
        return path


def test_a_stopped_submission_resumes_with_the_jobs_left(
    tmp_path: Path, monkeypatch, mini_top_yaml
):
    # a crash after 2 finished jobs; the same command run again trains only the other jobs and
    # scores as an uninterrupted run; the journal is gone once the result is in the store
    from jetzoo.leaderboard.schema import load_result

    stopped = StoppedSubmission(tmp_path, monkeypatch, mini_top_yaml)
    journalled = sorted(p.name for p in (stopped.cache / "jobs").rglob("*.pt"))
    assert len(journalled) == 2 and not stopped.store.exists()
    first = list(stopped.ran)
    path = stopped.rerun()
    assert len(stopped.ran) == 2 * 2 - 2 and not set(stopped.ran) & set(first)
    assert not list((stopped.cache / "jobs").rglob("*.pt"))
    again = stopped.rerun(out=tmp_path / "fresh", cache=False)
    assert len(stopped.ran) == 4
    resumed = load_result(path)[0]["runs"]["quick"]["results"]
    fresh = load_result(again)[0]["runs"]["quick"]["results"]
    assert [(r["evaluation"], r["metric"], r["value"], r["seed_std"]) for r in resumed] == [
        (r["evaluation"], r["metric"], r["value"], r["seed_std"]) for r in fresh
    ]


@pytest.mark.parametrize("change", ["commit", "training code"])
def test_a_resume_across_code_changes(tmp_path: Path, monkeypatch, mini_top_yaml, change):
    # 2 of 4 jobs journalled at commit a; the rerun at commit b resumes them and the result
    # names commit a; had the training code's source changed, every job trains again
    from jetzoo.leaderboard import journal, submission
    from jetzoo.leaderboard.schema import load_result
    from jetzoo.utils import provenance

    def at_commit(sha):
        monkeypatch.setattr(provenance, "git_commit", lambda: sha)
        monkeypatch.setattr(submission, "git_commit", lambda: sha)

    at_commit("a" * 40)
    stopped = StoppedSubmission(tmp_path, monkeypatch, mini_top_yaml)
    at_commit("b" * 40)
    if change == "training code":
        code = journal.training_code_sha256()
        monkeypatch.setattr(journal, "training_code_sha256", lambda: code[::-1])
    run = load_result(stopped.rerun())[0]["runs"]["quick"]
    assert run["jetzoo_commit"] == "b" * 40
    if change == "commit":
        assert len(stopped.ran) == 2 and run["resumed_commits"] == ["a" * 40]
    else:
        assert len(stopped.ran) == 4 and "resumed_commits" not in run


def test_a_pool_worker_ends_with_its_submission(tmp_path: Path):
    # a submission killed by hand (SIGKILL: no cleanup runs) leaves no worker training on
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing as mp, os, sys, time\n"
        "from jetzoo.leaderboard.jobs import _exit_with_parent\n"
        "def child(parent, path):\n"
        "    _exit_with_parent(parent, every=0.1)\n"
        "    open(path, 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    p = mp.get_context('spawn').Process(target=child, args=(os.getpid(), sys.argv[1]))\n"
        "    p.start()\n"
        "    time.sleep(120)\n"
    )
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)])
    try:
        deadline = time.time() + 60
        while not (pid_file.is_file() and pid_file.read_text()) and time.time() < deadline:
            time.sleep(0.1)
        child = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()

        def running() -> bool:
            try:
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                return False
            return state != "Z"

        deadline = time.time() + 10
        while running() and time.time() < deadline:
            time.sleep(0.1)
        assert not running()
    finally:
        parent.kill()
        if pid_file.is_file() and pid_file.read_text():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
