"""The jetzoo leaderboard: every backbone scored the same way.

Public API (imported lazily, so ``import jetzoo.leaderboard`` stays cheap)::

    from jetzoo.leaderboard import load_tasks, run_task, submit, render
    submit("runs/jbot-s/backbone", tier="quick")  # -> leaderboard/results/<model>/<id12>/*.json
    render("leaderboard/results", "leaderboard")  # -> leaderboard/README.md + roc/*.png

Modules: ``tasks`` (task YAMLs, tiers, main scores), ``evaluators`` (the evaluator registry: one
class per evaluation), ``finetune`` (LLRD, LoRA, supervised baseline), ``submission``
(``jetzoo leaderboard submit``: runs evaluators, merges into the store), ``schema`` (the result
store), ``cache`` (embeddings per weights / dataset / split), ``render``
(``jetzoo leaderboard render``), ``metrics``, ``embeddings``, ``probes``, ``anomaly``.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Task": "jetzoo.leaderboard.tasks",
    "TaskData": "jetzoo.leaderboard.tasks",
    "TaskError": "jetzoo.leaderboard.tasks",
    "TaskSkipped": "jetzoo.leaderboard.tasks",
    "load_task": "jetzoo.leaderboard.tasks",
    "load_tasks": "jetzoo.leaderboard.tasks",
    "load_task_data": "jetzoo.leaderboard.tasks",
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
    "SubmissionError": "jetzoo.leaderboard.submission",
    "run_task": "jetzoo.leaderboard.submission",
    "submit": "jetzoo.leaderboard.submission",
    "load_model": "jetzoo.leaderboard.submission",
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
