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


class Evaluator:
    """Base class of an evaluation (see the module docstring)."""

    name: ClassVar[str]
    label: ClassVar[str]
    order: ClassVar[int]
    kinds: ClassVar[tuple[str, ...]]
    needs: ClassVar[str] = "embeddings"
    baseline: ClassVar[bool] = False
    seeded: ClassVar[bool] = False

    def skip_reason(self, backbone: nn.Module) -> str | None:
        """Why this evaluation cannot run on ``backbone`` (None: it can)."""
        return None

    def run(self, ctx: EvalContext, seed: int) -> list[EvalOutput]:  # pragma: no cover
        raise NotImplementedError


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

    def run(self, ctx: EvalContext, seed: int) -> list[EvalOutput]:
        train, test = ctx.targets("train"), ctx.targets(ctx.task.eval_split)
        out = self.probe(
            ctx,
            ctx.embed("train", train, "embed"),
            train["label"],
            ctx.embed(ctx.task.eval_split, test, "embed"),
        )
        return [EvalOutput(self.name, torch.as_tensor(out.scores).double())]


@register_evaluator
class KNNProbe(_FrozenProbe):
    """Cosine kNN vote (k = ``knn_k``) of the training jets' frozen embeddings."""

    name, label, order = "knn", "kNN probe (frozen)", 0

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

    def run(self, ctx: EvalContext, seed: int) -> list[EvalOutput]:
        from jetzoo.leaderboard.finetune import FineTuneSettings, finetune

        s = ctx.task.settings
        train, val = ctx.targets("train"), ctx.targets("val")
        test = ctx.targets(ctx.task.eval_split)
        outputs = []
        for frac in s["label_fractions"]:
            ft = FineTuneSettings(
                mode=self.mode,
                base_lrs=s["base_lrs"],
                decays=s["decays"],
                lora_rank=int(s["lora_rank"]),
                label_fraction=float(frac),
                max_epochs=int(s["max_epochs"]),
                batch_size=int(s["batch_size"]),
                weight_decay=float(s["weight_decay"]),
                seed=seed,
                devices=ctx.devices,
                accelerator=ctx.accelerator,
                progress=ctx.progress,
            )
            out = finetune(ctx.backbone, train, val, test, ctx.task.num_classes, ft)
            details = {
                "best": out.best,
                "n_train": out.n_train,
                "trainable_params": out.trainable_params,
            }
            if out.lora_impl:
                details["lora_impl"] = out.lora_impl
            outputs.append(
                EvalOutput(
                    f"{self.name}-{float(frac) * 100:g}%",
                    out.test_proba,
                    {"label_fraction": float(frac), "details": details},
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

    def run(self, ctx: EvalContext, seed: int) -> list[EvalOutput]:
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


@register_evaluator
class AnomalyCosine(_AnomalyScore):
    """Soft-min (temperature ``cosine_tau``) cosine distance to the reference jets."""

    name, label, order, method = "anomaly-cosine", "anomaly: cosine", 6, "cosine"


@register_evaluator
class AnomalyMahalanobis(_AnomalyScore):
    """Class-conditional Mahalanobis distance (tied covariance) to the reference classes."""

    name, label, order, method = ("anomaly-mahalanobis", "anomaly: Mahalanobis", 7, "mahalanobis")


@register_evaluator
class AnomalyGMM(_AnomalyScore):
    """Negative log-likelihood under a Gaussian mixture fitted to the reference jets."""

    name, label, order, method = "anomaly-gmm", "anomaly: GMM", 8, "gmm"


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

    def run(self, ctx: EvalContext, seed: int) -> list[EvalOutput]:
        test = ctx.data.split(ctx.task.eval_split)
        scores = ctx.embed(ctx.task.eval_split, test, "reconstruction_score")
        return [EvalOutput(self.name, scores.double().reshape(-1))]
