"""The jetzoo leaderboard: every backbone scored the same way.

Public API (imported lazily, so ``import jetzoo.leaderboard`` stays cheap)::

    from jetzoo.leaderboard import load_tasks, run_task, submit, render
    submit("runs/jbot-s/backbone", tier="quick")  # -> leaderboard/results/<model>/<id12>/*.json
    render("leaderboard/results", "leaderboard")  # -> leaderboard/README.md + roc/*.png

Modules, one idea each, in import order (none imports one listed after it):

- ``batches``: the batch dict, loaders, stratified label fractions;
- ``metrics``, ``embeddings``, ``probes``, ``anomaly``, ``finetune``: the measurements;
- ``evaluators``: the evaluator registry, one class per evaluation;
- ``tasks``: the task file schema (``leaderboard/tasks/*.yaml``), tiers, main scores;
- ``task_data``: a task's dataset resolved, split and held in memory;
- ``schema``: the result file (JSON Schema, checksum); ``scoring``: metric names, bootstrap
  spreads, ROC points, seed means;
- ``errors``: :class:`SubmissionError`; ``store``: the locked store of result files;
- ``cache``: embeddings keyed by model identity, dataset and split;
- ``backbones``: the scored model and dataset, checked against their sha256;
- ``submission``: runs the tasks of a submission (orchestration); ``cli``: its command line;
- ``render``: ``jetzoo leaderboard render`` (the board from the store).
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Task": "jetzoo.leaderboard.tasks",
    "TaskData": "jetzoo.leaderboard.task_data",
    "TaskError": "jetzoo.leaderboard.tasks",
    "TaskSkipped": "jetzoo.leaderboard.tasks",
    "load_task": "jetzoo.leaderboard.tasks",
    "load_tasks": "jetzoo.leaderboard.tasks",
    "load_task_data": "jetzoo.leaderboard.task_data",
    "applicable_tasks": "jetzoo.leaderboard.tasks",
    "TIERS": "jetzoo.leaderboard.tasks",
    "EVALUATORS": "jetzoo.leaderboard.evaluators",
    "Evaluator": "jetzoo.leaderboard.evaluators",
    "register_evaluator": "jetzoo.leaderboard.evaluators",
    "EmbeddingCache": "jetzoo.leaderboard.cache",
    "FineTuneSettings": "jetzoo.leaderboard.finetune",
    "finetune": "jetzoo.leaderboard.finetune",
    "llrd_param_groups": "jetzoo.leaderboard.finetune",
    "apply_lora": "jetzoo.leaderboard.finetune",
    "RunSettings": "jetzoo.leaderboard.submission",
    "SubmissionError": "jetzoo.leaderboard.errors",
    "run_task": "jetzoo.leaderboard.submission",
    "submit": "jetzoo.leaderboard.submission",
    "load_model": "jetzoo.leaderboard.backbones",
    "ResultFileError": "jetzoo.leaderboard.schema",
    "load_result": "jetzoo.leaderboard.schema",
    "write_result": "jetzoo.leaderboard.schema",
    "render": "jetzoo.leaderboard.render",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jetzoo.leaderboard' has no attribute {name!r}")
