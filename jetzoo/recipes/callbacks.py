"""The callbacks ``jetzoo run`` adds to the Lightning Trainer.

- :class:`FiniteWeights`: no checkpoint of non-finite weights (the last good one is kept);
- :class:`Throughput`: training jets, seconds in training batches and wall time, carried in
  the checkpoints so that a run resumed over several sittings reports its whole training.
  Lightning's ``ThroughputMonitor`` logs rates per step and keeps no counts in a checkpoint;
- :class:`SittingBudget`: ends a sitting before an epoch that would not fit in its time budget.
  Lightning's ``Timer`` stops once the budget is spent (checked at an epoch end), so a sitting
  overruns by up to an epoch, and it carries the elapsed time into the next sitting;
- :func:`checkpoint_callbacks`: all of them with the epoch checkpoints.

Checkpoints written before these callbacks had their own module name their states
``_make_callbacks.<locals>.Throughput`` and ``..FiniteCheckpoint{...}``; :class:`Throughput`
reads those too (:data:`LEGACY_STATE_KEYS`), so such a run resumes with its counts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from jetzoo.recipes.base import batch_size_of

LEGACY_STATE_KEYS = {
    "_make_callbacks.<locals>.Throughput": "Throughput",
    "_make_callbacks.<locals>.FiniteCheckpoint": "ModelCheckpoint",
}


def finite_params(module: Any) -> bool:
    """True if every parameter of ``module`` is finite."""
    import torch

    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


class FiniteWeights(L.Callback):
    """Refuses to checkpoint non-finite weights: the save raises before anything is written."""

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: Any, checkpoint: dict) -> None:
        if not finite_params(pl_module):
            raise FloatingPointError(
                f"non-finite weights at step {trainer.global_step}; not writing a checkpoint"
            )


class Throughput(L.Callback):
    """Counts training jets, the time spent in training batches (jets/s per process) and the
    wall time of the run; the counts travel in the checkpoints."""

    def __init__(self) -> None:
        self.jets = 0
        self.seconds = 0.0
        self.earlier_wall_s = 0.0  # wall time of the sittings before this one
        self.sittings = 1
        self._start = time.perf_counter()
        self._t0 = 0.0

    def wall_s(self) -> float:
        """Wall time of every sitting so far, this one counted from its start."""
        return self.earlier_wall_s + time.perf_counter() - self._start

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.seconds += time.perf_counter() - self._t0
        self.jets += batch_size_of(batch)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: Any, checkpoint: dict) -> None:
        """Give the callback states of an older checkpoint today's keys (Lightning loads the
        states by key after this hook)."""
        states = checkpoint.get("callbacks", {})
        for key in list(states):
            name, brace, rest = key.partition("{")
            if name in LEGACY_STATE_KEYS:
                states.setdefault(LEGACY_STATE_KEYS[name] + brace + rest, states[key])

    def state_dict(self) -> dict[str, Any]:
        return {
            "jets": self.jets,
            "seconds": self.seconds,
            "wall_s": self.wall_s(),
            "sittings": self.sittings,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.jets = int(state.get("jets", 0))
        self.seconds = float(state.get("seconds", 0.0))
        self.earlier_wall_s = float(state.get("wall_s", 0.0))
        self.sittings = int(state.get("sittings", 1)) + 1


class SittingBudget(L.Callback):
    """Stops at the end of the last epoch that fits in ``budget_s`` seconds of this sitting
    (start-up included; the next epoch is judged by this sitting's mean epoch time, counted
    from the start of training so that loading and spawning do not inflate it; every rank
    agrees)."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.paused = False
        self._start = time.perf_counter()
        self._train_start: float | None = None
        self._epochs = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self._train_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        self._epochs += 1
        now = time.perf_counter()
        epoch_s = (now - (self._train_start or self._start)) / self._epochs
        last_epoch = trainer.current_epoch + 1 >= (trainer.max_epochs or 0) > 0
        stop = now - self._start + epoch_s > self.budget_s and not last_epoch
        if trainer.strategy.reduce_boolean_decision(stop, all=False):
            trainer.should_stop = True
            self.paused = True


def checkpoint_callbacks(
    folder: Path, filename: str, sitting_s: float | None = None
) -> list[L.Callback]:
    """The callbacks of a ``jetzoo run``: finite-weights guard, a checkpoint per epoch (named
    ``filename``) plus ``last.ckpt`` in ``folder/checkpoints``, the sitting budget (if any) and
    the counters (last)."""
    ckpt = ModelCheckpoint(
        dirpath=folder / "checkpoints",
        filename=filename,
        auto_insert_metric_name=False,
        every_n_epochs=1,
        save_top_k=-1,
        save_last=True,
        enable_version_counter=False,
    )
    budget = [SittingBudget(sitting_s)] if sitting_s is not None else []
    return [FiniteWeights(), ckpt, *budget, Throughput()]
