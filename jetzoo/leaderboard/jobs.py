"""The independent training jobs of a submission, run one per process.

A task's fine-tuning evaluations are many independent jobs: (evaluation, seed, label fraction,
grid point); at the standard tier 3 evaluations x 3 seeds x 3 fractions = 27 per task. With
``workers > 1`` they run in a pool of that many spawned processes, each holding one device
(``cuda:i`` for worker ``i`` on a GPU node; on CPU ``threads`` torch threads each), the
backbone and the task's tensors shared with the parent. Each job seeds itself (the fine-tuning
engine seeds everything from the job's seed), so the outcomes do not depend on which worker
runs a job or in which order: the scores equal a serial run's. Jobs are handed out largest
first (the full label fraction) so the pool stays busy.

One large fine-tuning over several GPUs is the other use of a node: that is Lightning's DDP
(``submit --ddp``), which splits each job's batches instead.

With a :class:`~jetzoo.leaderboard.journal.JobJournal`, each finished job is kept on disk as it
finishes and a stopped submission, run again, resumes with the jobs left.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from jetzoo.leaderboard.evaluators import EVALUATORS, EvalContext
from jetzoo.leaderboard.journal import JobJournal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One unit of work: part ``part`` of evaluation ``evaluation``'s run for ``seed``."""

    evaluation: str
    seed: int
    part: Any

    def key(self) -> tuple[str, int, Any]:
        return self.evaluation, self.seed, self.part

    def cost(self) -> float:
        """A rank for scheduling: the label fraction of a fine-tuning part (larger first)."""
        return float(self.part[0]) if isinstance(self.part, tuple) else 0.0


def run_job(ctx: EvalContext, job: Job) -> Any:
    """The outcome of ``job`` in this process."""
    return EVALUATORS[job.evaluation].run_part(ctx, job.seed, job.part)


def run_jobs(
    ctx: EvalContext,
    jobs: Sequence[Job],
    workers: int = 1,
    progress: bool = False,
    journal: JobJournal | None = None,
) -> list[Any]:
    """The outcomes of ``jobs`` (in their order): in this process with ``workers <= 1``,
    else in a pool of ``workers`` spawned processes (see the module docstring). With a
    ``journal``, jobs it holds are not run again and each finished job is written to it."""
    from tqdm.auto import tqdm

    outcomes: list[Any] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        found, outcome = journal.load(*job.key()) if journal else (False, None)
        if found:
            outcomes[i] = outcome
        else:
            todo.append(i)
    if journal and len(todo) < len(jobs):
        log.info(
            "%d of %d training jobs resumed from %s",
            len(jobs) - len(todo),
            len(jobs),
            journal.task_dir,
        )
    if not todo:
        return outcomes
    bar = tqdm(
        total=len(jobs),
        initial=len(jobs) - len(todo),
        desc="training jobs",
        disable=not progress,
        leave=False,
    )

    def finish(i: int, outcome: Any) -> None:
        outcomes[i] = outcome
        if journal:
            journal.save(*jobs[i].key(), outcome)
        bar.update()

    if workers <= 1 or len(todo) <= 1:
        for i in todo:
            finish(i, run_job(ctx, jobs[i]))
        bar.close()
        return outcomes
    gpu = ctx.accelerator in ("gpu", "cuda") or (
        ctx.accelerator == "auto" and torch.cuda.is_available()
    )
    if gpu and torch.cuda.device_count() < workers:
        raise ValueError(f"{workers} workers asked for, {torch.cuda.device_count()} GPUs seen")
    threads = max(1, torch.get_num_threads() // workers)
    spawn = torch.multiprocessing.get_context("spawn")
    counter = spawn.Value("i", 0)
    order = sorted(todo, key=lambda i: -jobs[i].cost())
    with cf.ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=spawn,
        initializer=_start_worker,
        initargs=(ctx.task, ctx.backbone, ctx.data, gpu, threads, counter, os.getpid()),
    ) as pool:
        futures = {pool.submit(_worker_job, jobs[i]): i for i in order}
        try:
            for future in cf.as_completed(futures):
                finish(futures[future], future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            bar.close()
    return outcomes


_WORKER: dict[str, Any] = {}  # the context of this worker process (set by _start_worker)


def _exit_with_parent(parent: int, every: float = 2.0) -> None:
    """End this worker when the submission that spawned it is gone (killed, crashed): an
    orphaned pool worker would otherwise train on, holding a CPU or GPU."""
    import os
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _start_worker(
    task: Any, backbone: Any, data: Any, gpu: bool, threads: int, counter: Any, parent: int
):
    import logging

    _exit_with_parent(parent)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    torch.set_num_threads(threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    _WORKER["ctx"] = EvalContext(
        task=task,
        backbone=backbone,
        data=data,
        embed=_no_embeddings,
        devices=[index] if gpu else 1,
        accelerator="gpu" if gpu else "cpu",
        progress=False,
    )


def _no_embeddings(split: str, rows: Any, fn: str) -> Any:  # pragma: no cover
    raise RuntimeError("training jobs do not embed: frozen evaluations run in the parent")


def _worker_job(job: Job) -> Any:
    return run_job(_WORKER["ctx"], job)
