"""The evaluator registry: one class per evaluation the leaderboard runs.

A new evaluation is one class registered with :func:`register_evaluator`; it says

- ``name`` (what a task file lists), ``label`` (how the leaderboard prints it) and ``order``
  (where its rows sit in a table);
- ``kinds``: the task kinds it applies to (``multiclass``, ``binary``, ``anomaly``);
- ``needs``: ``embeddings`` (frozen [CLS] of the task's jets, cached per weights / dataset /
  split), ``training`` (fine-tunes a copy of the backbone) or ``reconstruction`` (the
  autoencoder's ``reconstruction_score``);
- ``baseline``: its rows are a reference for other rows (the supervised-from-scratch model);
- ``seeded``: it is repeated for every seed of ``settings.seeds`` (mean +- std over seeds);
- ``uses``: the task settings it reads (besides :data:`SCORING_SETTINGS`, read by every one):
  its stored rows stay valid while these and the task file are unchanged
  (:func:`settings_of`), so changing a fine-tuning setting does not re-score the probes;
- ``parts`` / ``run_part`` / ``combine``: an evaluation that ``needs`` training splits a seed's
  work into independent parts (the fine-tuning evaluators: one per label fraction and grid
  point), which a submission may run in parallel processes (:mod:`jetzoo.leaderboard.jobs`);
- :meth:`Evaluator.skip_reason` (why it cannot run on a backbone) and :meth:`Evaluator.run`,
  which returns :class:`EvalOutput` s: a row name and per-jet scores, class scores ``(N, C)``
  for classification tasks and anomaly scores ``(N,)`` (higher = more anomalous) otherwise.

Scoring the outputs (metrics, bootstrap spread, ROC curves, the mean over seeds) is the same
for every evaluator and lives in :mod:`jetzoo.leaderboard.submission`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from jetzoo.leaderboard.batches import Batch

if TYPE_CHECKING:  # pragma: no cover - annotations only, never imported at run time
    from jetzoo.leaderboard.task_data import TaskData
    from jetzoo.leaderboard.tasks import Task

CLASSIFICATION = ("multiclass", "binary")
ANOMALY = ("anomaly",)
#: settings every evaluation's rows depend on (how its scores are turned into rows)
SCORING_SETTINGS = ("bootstrap", "max_jets", "roc_points")


@dataclass
class EvalContext:
    """What an evaluator gets: the task (settings resolved for its tier), the frozen backbone,
    the task's data (task-local labels), classifier targets, and cached embeddings."""

    task: "Task"
    backbone: nn.Module
    data: "TaskData"
    embed: Callable[[str, "Batch", str], Tensor]  # (split name, rows, fn) -> (N, D) or (N,)
    devices: int | str = 1
    accelerator: str = "auto"
    progress: bool = False

    def targets(self, split: str) -> "Batch":
        """The rows of ``split`` with classifier targets as ``label`` (signal = 1 for binary)."""
        rows = self.data.split(split)
        if self.task.kind != "binary":
            return rows
        sig = torch.as_tensor([self.task.classes.index(c) for c in self.task.signal])
        return {**rows, "label": torch.isin(rows["label"], sig).long()}

    def background_reference(self) -> "Batch":
        """Background jets of the training split (the anomaly reference set)."""
        from jetzoo.leaderboard.batches import select

        bkg = torch.as_tensor([self.task.classes.index(c) for c in self.task.background])
        train = self.data.train
        return select(train, torch.nonzero(torch.isin(train["label"], bkg))[:, 0])


@dataclass
class EvalOutput:
    """One row group of an evaluation: its name, per-jet scores of the evaluation split, and
    what the result rows record besides the metrics."""

    evaluation: str
    scores: Tensor
    extra: dict[str, Any] = field(default_factory=dict)
    reference: Tensor | None = None  # the same scores on the nominal test jets (shift tasks)


class Evaluator:
    """Base class of an evaluation (see the module docstring)."""

    name: ClassVar[str]
    label: ClassVar[str]
    order: ClassVar[int]
    kinds: ClassVar[tuple[str, ...]]
    needs: ClassVar[str] = "embeddings"
    baseline: ClassVar[bool] = False
    seeded: ClassVar[bool] = False
    uses: ClassVar[tuple[str, ...]] = ()

    def skip_reason(self, backbone: nn.Module) -> str | None:
        """Why this evaluation cannot run on ``backbone`` (None: it can)."""
        return None

    def run(self, ctx: EvalContext, seed: int) -> list[EvalOutput]:
        """Every part of one seed's work, in this process."""
        parts = self.parts(ctx)
        return self.combine(ctx, seed, [self.run_part(ctx, seed, p) for p in parts])

    def parts(self, ctx: EvalContext) -> list[Any]:
        """The independent parts of one seed's work (picklable; default: one)."""
        return [None]

    def run_part(self, ctx: EvalContext, seed: int, part: Any) -> Any:  # pragma: no cover
        """One part's (picklable) outcome."""
        raise NotImplementedError

    def combine(self, ctx: EvalContext, seed: int, outcomes: list[Any]) -> list[EvalOutput]:
        """The outputs of one seed from its parts' outcomes (in :meth:`parts` order)."""
        return [out for outcome in outcomes for out in outcome]

    def outcome_types(self) -> list[type]:
        """The classes a part's outcome is made of besides tensors and plain containers (what
        the job journal may unpickle with ``torch.load(weights_only=True)``)."""
        return [EvalOutput]


def settings_of(evaluation: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The task settings the rows of ``evaluation`` (a row name or an evaluator name) depend
    on; an unknown evaluation depends on all of them."""
    ev = evaluator_of(evaluation)
    if ev is None:
        return dict(settings)
    keys = (*SCORING_SETTINGS, *ev.uses, *(("seeds",) if ev.seeded else ()))
    return {k: settings.get(k) for k in keys}


EVALUATORS: dict[str, Evaluator] = {}


def register_evaluator(cls: type[Evaluator]) -> type[Evaluator]:
    """Class decorator: add an evaluator to :data:`EVALUATORS` under ``cls.name``."""
    if cls.name in EVALUATORS:
        raise ValueError(f"evaluator {cls.name!r} is registered twice")
    EVALUATORS[cls.name] = cls()
    return cls


def evaluator_of(row_evaluation: str) -> Evaluator | None:
    """The evaluator of a result row (``finetune-llrd-10%`` -> ``finetune-llrd``)."""
    if row_evaluation in EVALUATORS:
        return EVALUATORS[row_evaluation]
    base = row_evaluation.rsplit("-", 1)[0]
    return EVALUATORS.get(base)


# --------------------------------------------------------------------------------------------
# Frozen-embedding probes
# --------------------------------------------------------------------------------------------


class _FrozenProbe(Evaluator):
    """A classifier on the frozen embeddings of the training jets, scoring the evaluation jets."""

    kinds = CLASSIFICATION

    def probe(
        self, ctx: EvalContext, emb_train: Tensor, y_train: Tensor, emb_eval: Tensor
    ) -> Any:  # pragma: no cover
        raise NotImplementedError

    def run_part(self, ctx: EvalContext, seed: int, part: Any) -> list[EvalOutput]:
        train = ctx.targets("train")
        emb_train = ctx.embed("train", train, "embed")

        def scores(split: str) -> Tensor:
            rows = ctx.targets(split)
            out = self.probe(ctx, emb_train, train["label"], ctx.embed(split, rows, "embed"))
            return torch.as_tensor(out.scores).double()

        # a shift task also scores the nominal test jets: the accuracy kept is their ratio
        reference = scores("test") if ctx.task.eval_split == "shifted" else None
        return [EvalOutput(self.name, scores(ctx.task.eval_split), reference=reference)]


@register_evaluator
class KNNProbe(_FrozenProbe):
    """Cosine kNN vote (k = ``knn_k``) of the training jets' frozen embeddings."""

    name, label, order = "knn", "kNN probe (frozen)", 0
    uses = ("knn_k",)

    def probe(self, ctx: EvalContext, emb_train: Tensor, y_train: Tensor, emb_eval: Tensor) -> Any:
        from jetzoo.leaderboard import probes

        return probes.knn_probe(
            emb_train,
            y_train,
            emb_eval,
            k=int(ctx.task.settings["knn_k"]),
            num_classes=ctx.task.num_classes,
        )


@register_evaluator
class LinearProbe(_FrozenProbe):
    """Logistic regression on standardised frozen embeddings."""

    name, label, order = "linear", "linear probe (frozen)", 1

    def probe(self, ctx: EvalContext, emb_train: Tensor, y_train: Tensor, emb_eval: Tensor) -> Any:
        from jetzoo.leaderboard import probes

        return probes.linear_probe(emb_train, y_train, emb_eval, seed=ctx.task.seed)


# --------------------------------------------------------------------------------------------
# Fine-tuning (one output per label fraction, repeated per seed)
# --------------------------------------------------------------------------------------------


class _FineTune(Evaluator):
    mode: ClassVar[str]
    needs, seeded = "training", True
    uses = (
        *("label_fractions", "base_lrs", "decays", "lora_rank", "max_epochs", "batch_size"),
        *("weight_decay", "min_steps", "max_steps", "val_checks"),
    )

    def settings(self, ctx: EvalContext, seed: int, fraction: float) -> Any:
        from jetzoo.leaderboard.finetune import FineTuneSettings

        s = ctx.task.settings
        return FineTuneSettings(
            mode=self.mode,
            base_lrs=s["base_lrs"],
            decays=s["decays"],
            lora_rank=int(s["lora_rank"]),
            label_fraction=float(fraction),
            max_epochs=int(s["max_epochs"]),
            min_steps=s["min_steps"],
            max_steps=s["max_steps"],
            val_checks=int(s["val_checks"]),
            batch_size=int(s["batch_size"]),
            weight_decay=float(s["weight_decay"]),
            seed=seed,
            devices=ctx.devices,
            accelerator=ctx.accelerator,
            progress=ctx.progress,
        )

    def parts(self, ctx: EvalContext) -> list[Any]:
        """(label fraction, grid point) pairs."""
        n_points = len(self.settings(ctx, 0, 1.0).grid())
        fractions = [float(f) for f in ctx.task.settings["label_fractions"]]
        return [(f, k) for f in fractions for k in range(n_points)]

    def run_part(self, ctx: EvalContext, seed: int, part: Any) -> Any:
        from jetzoo.leaderboard.finetune import train_point

        fraction, k = part
        return train_point(
            ctx.backbone,
            ctx.targets("train"),
            ctx.targets("val"),
            ctx.targets(ctx.task.eval_split),
            ctx.task.num_classes,
            self.settings(ctx, seed, fraction),
            k,
            keep_model=False,
        )

    def outcome_types(self) -> list[type]:
        from jetzoo.leaderboard.finetune import PointResult

        return [PointResult]

    def combine(self, ctx: EvalContext, seed: int, outcomes: list[Any]) -> list[EvalOutput]:
        from jetzoo.leaderboard.finetune import select_point

        by_fraction: dict[float, list[Any]] = {}
        for (fraction, _), outcome in zip(self.parts(ctx), outcomes):
            by_fraction.setdefault(fraction, []).append(outcome)
        outputs = []
        for fraction, points in by_fraction.items():
            out = select_point(points)
            details = {
                "best": out.best,
                "n_train": out.n_train,
                "trainable_params": out.trainable_params,
            }
            outputs.append(
                EvalOutput(
                    f"{self.name}-{fraction * 100:g}%",
                    out.test_proba,
                    {"label_fraction": fraction, "details": details},
                )
            )
        return outputs


@register_evaluator
class SupervisedBaseline(_FineTune):
    """The same architecture trained from scratch on the same labels (the baseline)."""

    name, label, order, kinds = (
        "supervised",
        "supervised from scratch (baseline)",
        2,
        CLASSIFICATION,
    )
    mode, baseline = "scratch", True


@register_evaluator
class FineTuneLLRD(_FineTune):
    """Full fine-tuning with layer-wise learning-rate decay (grid over base LR x decay)."""

    name, label, order, kinds = "finetune-llrd", "fine-tuned, LLRD", 3, CLASSIFICATION
    mode = "llrd"


@register_evaluator
class FineTuneLoRA(_FineTune):
    """Low-rank adapters on the backbone's ``lora_targets``, the rest frozen."""

    name, label, order, kinds = "finetune-lora", "fine-tuned, LoRA", 4, CLASSIFICATION
    mode = "lora"


# --------------------------------------------------------------------------------------------
# Anomaly scores (reference = background jets of the training split)
# --------------------------------------------------------------------------------------------


class _AnomalyScore(Evaluator):
    method: ClassVar[str]
    kinds = ANOMALY

    def run_part(self, ctx: EvalContext, seed: int, part: Any) -> list[EvalOutput]:
        from jetzoo.leaderboard import anomaly

        s = ctx.task.settings
        ref = ctx.background_reference()
        test = ctx.data.split(ctx.task.eval_split)
        out = anomaly.anomaly_scores(
            ctx.embed("train", ref, "embed"),
            ctx.embed(ctx.task.eval_split, test, "embed"),
            ref_labels=ref["label"],
            k=int(s["knn_k"]),
            tau=float(s["cosine_tau"]),
            n_components=int(s["gmm_components"]),
            methods=(self.method,),
            seed=ctx.task.seed,
        )
        return [EvalOutput(self.name, out[self.method].double().reshape(-1))]


@register_evaluator
class AnomalyKNN(_AnomalyScore):
    """Mean cosine distance to the k nearest reference jets."""

    name, label, order, method = "anomaly-knn", "anomaly: kNN distance", 5, "knn"
    uses = ("knn_k",)


@register_evaluator
class AnomalyCosine(_AnomalyScore):
    """Soft-min (temperature ``cosine_tau``) cosine distance to the reference jets."""

    name, label, order, method = "anomaly-cosine", "anomaly: cosine", 6, "cosine"
    uses = ("cosine_tau",)


@register_evaluator
class AnomalyMahalanobis(_AnomalyScore):
    """Class-conditional Mahalanobis distance (tied covariance) to the reference classes."""

    name, label, order, method = ("anomaly-mahalanobis", "anomaly: Mahalanobis", 7, "mahalanobis")


@register_evaluator
class AnomalyGMM(_AnomalyScore):
    """Negative log-likelihood under a Gaussian mixture fitted to the reference jets."""

    name, label, order, method = "anomaly-gmm", "anomaly: GMM", 8, "gmm"
    uses = ("gmm_components",)


@register_evaluator
class AnomalyReconstruction(Evaluator):
    """The autoencoder's reconstruction score log(1 - cos) (only backbones that have one)."""

    name, label, order, kinds = "anomaly-ae", "anomaly: AE reconstruction", 9, ANOMALY
    needs = "reconstruction"

    def skip_reason(self, backbone: nn.Module) -> str | None:
        if hasattr(backbone, "reconstruction_score"):
            return None
        return (
            f"{type(backbone).__name__} has no reconstruction_score (only the autoencoder "
            "recipe's model has)"
        )

    def run_part(self, ctx: EvalContext, seed: int, part: Any) -> list[EvalOutput]:
        test = ctx.data.split(ctx.task.eval_split)
        scores = ctx.embed(ctx.task.eval_split, test, "reconstruction_score")
        return [EvalOutput(self.name, scores.double().reshape(-1))]
