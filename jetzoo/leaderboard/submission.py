"""``jetzoo leaderboard submit MODEL``: score a backbone on every task that applies.

MODEL is anything ``JetZoo.from_pretrained`` takes (registered name, model folder, Hub repo id)
or a run folder of ``jetzoo run`` (its ``backbone/`` is used). Before anything is scored, the
weights file's sha256 is checked against the one stated in the model's ``config.json`` (and
against ``--weights-sha256`` if given), and each dataset's shards against its ``manifest.json``
(and ``--dataset-sha256``): a mismatch refuses the submission with a :class:`SubmissionError`.

Per task (see :mod:`jetzoo.leaderboard.tasks`):

- classification (``multiclass``/``binary``): frozen-embedding ``knn`` / ``linear`` probes,
  ``finetune-llrd``, ``finetune-lora`` and the ``supervised`` from-scratch baseline, each at every
  label fraction (evaluation names ``finetune-llrd-10%`` ...); metrics ``accuracy``, ``auc``
  (binary) or ``auc[<class>]`` + ``auc[mean]`` (multiclass), ``eff_s@eff_b=X``, ``rej_b@eff_s=X``;
- ``anomaly``: reference = background jets of the training split, scores of the test split's
  background and signal jets; metrics per signal, e.g. ``auc[w]``, ``auc[union]``.

``value`` is the metric on the whole evaluation split and ``spread`` the standard deviation over
``settings.bootstrap`` class-stratified bootstrap resamples of it.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from jetzoo.data import catalog
from jetzoo.leaderboard.backbones import load_model, verify_dataset
from jetzoo.leaderboard.batches import Batch, select
from jetzoo.leaderboard.cache import EmbeddingCache, default_root
from jetzoo.leaderboard.errors import SubmissionError
from jetzoo.leaderboard.evaluators import EVALUATORS, EvalContext, EvalOutput
from jetzoo.leaderboard.jobs import Job, run_jobs
from jetzoo.leaderboard.journal import JobJournal, clear_task
from jetzoo.leaderboard.schema import (
    now_iso,
    result_path,
)
from jetzoo.leaderboard.scoring import (
    TaskResult,
    combine_seeds,
    extract,
    score_anomaly,
    score_classification,
)
from jetzoo.leaderboard.store import (
    DEFAULT_OUT,
    evaluation_base,
    existing_result,
    jsonable,
    merge_run,
    refuse_override_loss,
    still_valid,
    task_fingerprint,
)
from jetzoo.leaderboard.task_data import TaskData, load_task_data
from jetzoo.leaderboard.tasks import (
    DEFAULT_TIER,
    TIERS,
    Task,
    TaskSkipped,
    applicable_tasks,
    backbone_family,
    load_tasks,
)
from jetzoo.utils.provenance import git_commit

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Running tasks
# --------------------------------------------------------------------------------------------


@dataclass
class RunSettings:
    """How to run tasks: the tier, devices, progress bars, overrides, which evaluations, the
    embedding cache. ``devices`` N runs the training jobs in N processes, one device each
    (:mod:`jetzoo.leaderboard.jobs`); with ``ddp`` every fine-tuning (and the embedding) runs
    on all N through Lightning's DDP instead, one job after the other."""

    devices: int | str = 1
    ddp: bool = False
    job_bar: bool = False  # a progress bar over a task's training jobs
    accelerator: str = "auto"
    quick: bool = False  # = tier "quick"
    progress: bool = False
    dataset_sha256: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)  # task settings, after the tier
    tier: str = "standard"
    evaluations: Sequence[str] | None = None  # run only these (None: all of the task's)
    cache: EmbeddingCache | None = None
    identity_sha256: str | None = None  # cache key of the backbone (None: no caching)
    journal_root: Path | None = None  # finished training jobs (None: none kept)

    @property
    def effective_tier(self) -> str:
        return "quick" if self.quick else self.tier

    @property
    def workers(self) -> int:
        """Processes running the training jobs (1 under DDP)."""
        if self.ddp:
            return 1
        if isinstance(self.devices, int):
            return max(1, self.devices)
        return max(1, torch.cuda.device_count())  # "auto": one per GPU

    @property
    def trainer_devices(self) -> int | str:
        """``devices`` of the Lightning Trainers this process runs."""
        return self.devices if self.ddp else 1


def resolve_task(task: Task, settings: RunSettings) -> Task:
    """``task`` at the run's tier with the run's overrides."""
    if task.tier is None:
        task = task.for_tier(settings.effective_tier)
    if settings.overrides:
        task = task.with_settings(**settings.overrides)
    return task


def _embedder(
    backbone: nn.Module, data: TaskData, settings: RunSettings
) -> Callable[[str, Batch, str], Tensor]:
    cache = settings.cache or EmbeddingCache()

    def embed(split: str, rows: Batch, fn: str) -> Tensor:
        key = None
        if settings.identity_sha256 and data.dataset_sha256 and "index" in rows:
            key = (settings.identity_sha256, data.dataset_sha256, data.split_key, split, fn)
            if split == "shifted" and data.shifted is not data.test:  # another dataset's jets
                key = (settings.identity_sha256, data.shift_sha256, "all", split, fn)
            elif split == "shifted":
                key = (settings.identity_sha256, data.dataset_sha256, data.split_key, "test", fn)
        positions = rows["index"] if "index" in rows else torch.arange(len(rows["label"]))
        return cache.get(
            key,
            positions,
            lambda pos: extract(
                backbone, select(rows, pos), fn=fn, devices=settings.trainer_devices
            ),
        )

    return embed


def run_task(
    backbone: nn.Module,
    task: Task,
    settings: RunSettings | None = None,
    data: TaskData | None = None,
    skip: Iterable[str] = (),
) -> TaskResult:
    """Run the evaluations of ``task`` (at the run's tier) on ``backbone`` through the
    evaluator registry. :class:`TaskSkipped` if the task's dataset is missing; an evaluation
    that does not apply is listed in ``result.skipped``; those named in ``skip`` (already
    scored) are not run. ``data``: the task's data already in memory (default:
    :func:`load_task_data`, the dataset's hashes verified)."""
    settings = settings or RunSettings()
    task = resolve_task(task, settings)
    if data is None:
        data = load_task_data(task)
    result = TaskResult(
        tier=task.tier or settings.effective_tier,
        dataset_path=str(data.dataset_path),
        n_test=len(data.split(task.eval_split)["label"]),
        dataset_sha256=data.dataset_sha256,
        split_key=data.split_key
        + (f"+{task.shift_dataset}@{data.shift_sha256[:12]}" if data.shift_sha256 else ""),
    )
    if data.dataset_path is not None:
        result.dataset_sha256 = verify_dataset(data.dataset_path, settings.dataset_sha256)
    backbone = backbone.eval()
    ctx = EvalContext(
        task=task,
        backbone=backbone,
        data=data,
        embed=_embedder(backbone, data, settings),
        devices=settings.trainer_devices,
        accelerator=settings.accelerator,
        progress=settings.progress,
    )
    wanted = settings.evaluations
    names = [n for n in task.evaluations if (wanted is None or n in wanted) and n not in set(skip)]
    outputs: dict[str, dict[int, list[EvalOutput]]] = {}  # evaluation -> seed -> outputs
    jobs: list[Job] = []
    for name in names:
        ev = EVALUATORS[name]
        reason = ev.skip_reason(backbone)
        if reason is not None:
            result.skipped[f"{task.name}/{name}"] = reason
            continue
        seeds = [int(s) for s in task.settings["seeds"]] if ev.seeded else [task.seed]
        if ev.needs == "training":  # independent jobs: in parallel with several workers
            outputs[name] = {}
            jobs += [Job(name, seed, part) for seed in seeds for part in ev.parts(ctx)]
        else:
            outputs[name] = {seed: ev.run(ctx, seed) for seed in seeds}
    journal = None
    if jobs and settings.journal_root and settings.identity_sha256 and data.dataset_sha256:
        from jetzoo import __version__

        key = {
            "task_sha256": task_fingerprint(task),
            "tier": result.tier,
            "dataset_sha256": data.dataset_sha256,
            "split_key": result.split_key,
            "jetzoo_version": __version__,
        }
        journal = JobJournal(
            settings.journal_root, settings.identity_sha256, task.name, key, dict(task.settings)
        )
    outcomes = run_jobs(
        ctx,
        jobs,
        workers=settings.workers,
        progress=settings.progress or settings.job_bar,
        journal=journal,
    )
    if journal is not None:
        result.resumed_commits = sorted(journal.resumed_commits)
    for name, by_seed in outputs.items():
        ev = EVALUATORS[name]
        for seed in dict.fromkeys(j.seed for j in jobs if j.evaluation == name):
            mine = [o for j, o in zip(jobs, outcomes) if (j.evaluation, j.seed) == (name, seed)]
            by_seed[seed] = ev.combine(ctx, seed, mine)  # a training evaluation's jobs
        seeds = list(by_seed)
        per_seed: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for seed in seeds:
            for out in by_seed[seed]:
                extra = {
                    **out.extra,
                    **({"baseline": ev.baseline} if ev.needs == "training" else {}),
                }
                if task.kind == "anomaly":
                    rows, roc = score_anomaly(
                        task, out.evaluation, out.scores, data.split(task.eval_split)["label"]
                    )
                else:
                    target = ctx.targets(task.eval_split)["label"]
                    reference = (
                        (out.reference, ctx.targets("test")["label"])
                        if out.reference is not None
                        else None
                    )
                    rows, roc = score_classification(
                        task, out.evaluation, out.scores, target, reference=reference, **extra
                    )
                per_seed.setdefault(out.evaluation, {})[seed] = rows
                if seed == seeds[0]:
                    result.roc.update(roc)
        for evaluation, rows_by_seed in per_seed.items():
            result.rows += combine_seeds(rows_by_seed) if ev.seeded else rows_by_seed[seeds[0]]
    return result


def submit(
    model: str | Path,
    tasks: Iterable[str] | None = None,
    *,
    devices: int | str = 1,
    ddp: bool = False,
    quick: bool = False,
    tier: str | None = None,
    out: str | Path = DEFAULT_OUT,
    tasks_dir: str | Path | None = None,
    name: str | None = None,
    revision: str | None = None,
    weights_sha256: str | None = None,
    dataset_sha256: str | None = None,
    accelerator: str = "auto",
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    evaluations: Sequence[str] | None = None,
    force: bool = False,
    cache_dir: str | Path | None | bool = None,
) -> list[Path]:
    """Score MODEL on every task that applies, at ``tier`` (``quick`` with ``quick=True``),
    and merge the results into the store ``<out>/<model>/<weights-sha12>/<task>.json``.

    An evaluation already in the store for the same task file, tier, dataset and the settings
    it depends on is skipped (``force=True`` scores it again); one scored under another task
    file or setting is replaced. ``devices``: N processes run the training jobs in parallel,
    one device each (the scores equal a serial run's); with ``ddp=True`` each fine-tuning runs
    on all N devices instead (Lightning DDP). A run scored with other ``overrides`` is not
    replaced unless ``force=True`` (:class:`SubmissionError`: a one-off study must not erase
    the tier's rows).
    ``overrides``: task settings replaced in every task, applied after the tier, recorded as
    ``overrides``. ``cache_dir``: embedding cache root (None: the default root, False: memory
    only). Returns the files written. Refuses hash mismatches (:class:`SubmissionError`);
    tasks whose dataset is missing are skipped with the command that makes it."""
    from tqdm.auto import tqdm

    from jetzoo import __version__
    from jetzoo.leaderboard.embeddings import is_global_zero

    tier = "quick" if quick else (tier or DEFAULT_TIER)
    if tier not in TIERS:
        raise SubmissionError(f"unknown tier {tier!r}; tiers: {', '.join(TIERS)}")
    backbone, info = load_model(model, revision=revision, weights_sha256=weights_sha256, name=name)
    selected = applicable_tasks(backbone, load_tasks(tasks_dir, tasks))
    if not selected:
        raise SubmissionError(
            f"no task applies to {info.id} (family {backbone_family(backbone)}); check --tasks"
        )
    unknown = [e for e in (evaluations or ()) if e not in EVALUATORS]
    if unknown:
        raise SubmissionError(f"unknown evaluation {unknown[0]!r}; known: {', '.join(EVALUATORS)}")
    overrides = check_overrides(overrides or {})
    cache = EmbeddingCache(
        None if cache_dir is False else (cache_dir if cache_dir is not None else default_root())
    )
    settings = RunSettings(
        devices=devices,
        ddp=ddp,
        accelerator=accelerator,
        tier=tier,
        progress=False,
        job_bar=progress,
        dataset_sha256=dataset_sha256,
        overrides=overrides,
        evaluations=evaluations,
        cache=cache,
        identity_sha256=info.identity_sha256,
        journal_root=cache.root / "jobs" if cache.root is not None else None,
    )
    written: list[Path] = []
    scored_any = False
    skipped_tasks: dict[str, str] = {}
    missing: dict[str, list[str]] = {}  # missing pinned dataset -> the tasks it skipped
    for task in tqdm(selected, desc=f"scoring {info.id} ({tier})", disable=not progress):
        resolved = resolve_task(task, settings)
        path = result_path(out, info.id, info.identity_sha256, task.name)
        existing, _ = existing_result(path)
        fingerprint = task_fingerprint(resolved)
        run_id: dict[str, Any] = {
            "task_sha256": fingerprint,
            "settings": jsonable(resolved.settings),
        }
        pinned = catalog.CATALOG.get(str(resolved.dataset))
        if pinned is not None:  # a store run on other bytes of the set is not "already scored"
            run_id["dataset"] = {"sha256": pinned.sha256}
        old_run = (existing or {}).get("runs", {}).get(tier)
        valid = still_valid(old_run, run_id)  # evaluations whose stored rows still hold
        scored = {evaluation_base(r["evaluation"]) for r in (old_run or {}).get("results", [])}
        if scored - valid:  # refused before scoring, not only when writing
            refuse_override_loss(path, tier, old_run, jsonable(overrides), force, scored - valid)
        done = set() if force else valid
        selected_here = [e for e in resolved.evaluations if evaluations is None or e in evaluations]
        todo = [e for e in selected_here if e not in done]
        if not todo:
            why = (
                f"already scored in {path} (--force scores it again)"
                if selected_here
                else f"none of its evaluations ({', '.join(resolved.evaluations)}) selected"
            )
            print(f"{task.name} ({tier}): nothing to do: {why}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        try:
            res = run_task(backbone, resolved, settings, skip=done)
        except TaskSkipped as err:
            log.info("skipped: %s", err)
            if err.dataset is None:
                print(f"skipped: {err}", file=sys.stderr)
            missing.setdefault(err.dataset or "", []).append(task.name)
            skipped_tasks[task.name] = str(err)
            continue
        scored_any = True
        new_run = {
            **run_id,
            "overrides": jsonable(overrides),
            "dataset": {
                "name": resolved.dataset,
                "sha256": res.dataset_sha256 or "0" * 64,
                "path": str(res.dataset_path),
                "n_test": res.n_test,
                "split_key": str(res.split_key),
            },
            "jetzoo_version": __version__,
            "jetzoo_commit": git_commit(),
            **({"resumed_commits": res.resumed_commits} if res.resumed_commits else {}),
            "date": now_iso(),
            "devices": f"ddp:{devices}" if ddp else devices,
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "skipped": res.skipped,
            "results": res.rows,
        }
        obj = {
            "model": info.as_dict(backbone),
            "task": {
                "name": task.name,
                "kind": task.kind,
                "family": task.family,
                "main_score": task.main_score,
                "description": task.description.strip(),
                "classes": list(task.classes),
            },
        }
        if is_global_zero():  # DDP: only rank 0 writes
            written.append(merge_run(path, obj, tier, new_run, res.roc, force=force))
            if settings.journal_root is not None:  # its finished jobs are in the store now
                clear_task(settings.journal_root, info.identity_sha256, task.name)
    for dataset, names in missing.items():
        if dataset:
            print(f"skipped {', '.join(names)}: {_missing_dataset(dataset)}", file=sys.stderr)
    if not scored_any and skipped_tasks:
        raise SubmissionError(
            f"no task could be scored for {info.id} at tier {tier}: its data is missing "
            "(above); --tier quick scores on the embedded sample"
        )
    return written


def _missing_dataset(name: str) -> str:
    """One line: the pinned set ``name`` is missing, its size, time and the command."""
    spec = catalog.get(name)
    return (
        f"dataset {name} is not in {catalog.data_root()} ({spec.n_jets:,} jets, "
        f"{catalog.estimate(spec)}): `jetzoo data make {name}`"
    )


def check_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Validate task-setting overrides with the task files' rules
    (:func:`jetzoo.leaderboard.tasks.setting_problem`); :class:`SubmissionError` otherwise."""
    from jetzoo.leaderboard.tasks import setting_problem

    for key, value in overrides.items():
        problem = setting_problem(key, value)
        if problem:
            raise SubmissionError(f"setting {key!r}: {problem}")
    return dict(overrides)


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["max_epochs=5", "base_lrs=[1e-3]"]`` -> ``{"max_epochs": 5, "base_lrs": [0.001]}``
    (values read by :func:`jetzoo.utils.yaml_values.parse_assignment`, the reader of every
    jetzoo override), validated by :func:`check_overrides`."""
    from jetzoo.utils.yaml_values import OverrideError, parse_assignment

    parsed: dict[str, Any] = {}
    for item in items:
        try:
            parts, value = parse_assignment(item, example="max_epochs=5")
        except OverrideError as err:
            raise SubmissionError(f"--set {item!r}: {err}") from None
        parsed[".".join(parts)] = value
    return check_overrides(parsed)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
