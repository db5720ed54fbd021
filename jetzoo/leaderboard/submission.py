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

import argparse
import json
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from jetzoo.data.schema import DataError
from jetzoo.leaderboard import metrics as M
from jetzoo.leaderboard.finetune import FineTuneSettings, finetune
from jetzoo.leaderboard.schema import now_iso, roc_key, write_result
from jetzoo.leaderboard.tasks import (DEFAULT_SETTINGS, QUICK_SETTINGS, Batch, Task, TaskData,
                                      TaskSkipped, applicable_tasks, backbone_family,
                                      load_task_data, load_tasks, select)
from jetzoo.utils.io import sha256_file

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("leaderboard/results")
_METRIC = re.compile(r"^(accuracy|auc|eff_s@eff_b=([0-9.eE-]+)|rej_b@eff_s=([0-9.eE-]+))$")


class SubmissionError(RuntimeError):
    """A submission is refused (hash mismatch, nothing to score, bad model)."""


# --------------------------------------------------------------------------------------------
# Model and dataset identity
# --------------------------------------------------------------------------------------------

@dataclass
class ModelInfo:
    """What the result file records about the scored model."""

    id: str
    revision: str
    weights_sha256: str
    source: str
    recipe: str | None = None

    def as_dict(self, backbone: nn.Module) -> dict[str, Any]:
        return {"id": self.id, "revision": self.revision, "weights_sha256": self.weights_sha256,
                "source": self.source, "arch": str(backbone.config.get("arch", "?")),
                "family": backbone_family(backbone), "num_features": int(backbone.num_features),
                "n_params": int(sum(p.numel() for p in backbone.parameters())),
                "recipe": self.recipe}


def load_model(model: str | Path, revision: str | None = None,
               weights_sha256: str | None = None, name: str | None = None
               ) -> tuple[nn.Module, ModelInfo]:
    """Load MODEL (zoo name, model folder, Hub repo id or run folder) and check its weights.

    The sha256 of ``model.safetensors`` must equal the ``weights_sha256`` stated in its
    ``config.json`` and ``weights_sha256`` if given; otherwise :class:`SubmissionError`.
    """
    from jetzoo.models import zoo

    text = str(model)
    path = Path(text).expanduser()
    if path.is_dir() and not (path / zoo.CONFIG_NAME).is_file() and (path / "backbone").is_dir():
        path = path / "backbone"  # a run folder of `jetzoo run`
        text = str(path)
    try:
        folder = zoo.resolve(text, revision)
        config = zoo.load_config(folder)
    except (zoo.ZooError, KeyError) as err:
        raise SubmissionError(f"cannot load model {text!r}: {err}") from err
    weights = folder / zoo.WEIGHTS_NAME
    if not weights.is_file():
        raise SubmissionError(f"{weights}: not found; nothing to score")
    actual = sha256_file(weights)
    for stated, where in ((config.get("weights_sha256"), f"{folder / zoo.CONFIG_NAME}"),
                          (weights_sha256, "--weights-sha256")):
        if stated is not None and stated.lower() != actual:
            raise SubmissionError(
                f"refused: weights sha256 mismatch for {weights}: stated {stated} ({where}) but "
                f"the file hashes to {actual}. The weights were changed or are not the ones "
                "stated; re-save the model or state the right hash")
    try:
        backbone = zoo.load_folder(folder)
    except zoo.ZooError as err:
        raise SubmissionError(f"cannot load model {text!r}: {err}") from err
    if name is None:
        if path.is_dir():
            name = path.parent.name if path.name == "backbone" else path.name
        else:
            name = str(config.get("model_name") or text.replace("/", "--"))
    recipe = config.get("recipe")
    recipe_name = ((recipe.get("recipe") or recipe.get("name")) if isinstance(recipe, dict)
                   else recipe)
    info = ModelInfo(id=name, revision=revision or ("local" if path.is_dir() else "main"),
                     weights_sha256=actual, source=str(folder),
                     recipe=str(recipe_name) if recipe_name else None)
    return backbone, info


def verify_dataset(path: Path, stated_sha256: str | None = None) -> str:
    """The dataset sha256 of ``path``, every shard checked against its ``manifest.json``
    (:func:`jetzoo.data.shards.verified_dataset_sha256`); :class:`SubmissionError` if a shard's
    or the dataset's hash differs from the recorded or the stated (``--dataset-sha256``) one."""
    from jetzoo.data import shards as sh

    try:
        actual = sh.verified_dataset_sha256(path)
    except DataError as err:
        raise SubmissionError(f"refused: dataset sha256 mismatch: {err}") from err
    if stated_sha256 is not None and stated_sha256.lower() != actual:
        raise SubmissionError(f"refused: dataset sha256 mismatch for {path}: stated "
                              f"{stated_sha256} (--dataset-sha256) but the dataset is {actual}")
    return actual


# --------------------------------------------------------------------------------------------
# Scoring helpers
# --------------------------------------------------------------------------------------------

def extract(backbone: nn.Module, data: Batch, fn: str = "embed", devices: int | str = 1,
            batch_size: int = 512) -> Tensor:
    """``backbone.embed`` (or ``reconstruction_score``) of every jet of ``data``, in order,
    through :func:`jetzoo.leaderboard.embeddings.extract` (Lightning Trainer, ``devices``)."""
    from jetzoo.leaderboard import embeddings

    out, _ = embeddings.extract(backbone, data, fn=fn, devices=devices, batch_size=batch_size,
                                progress=False)
    return out


def metric_fn(name: str) -> Callable[[Tensor, Tensor], float]:
    """A binary metric ``f(signal_scores, target) -> float`` from its name (``auc``,
    ``eff_s@eff_b=0.1``, ``rej_b@eff_s=0.5``)."""
    m = _METRIC.match(name)
    if m is None or name == "accuracy":
        raise ValueError(f"unknown binary metric {name!r}; use auc, eff_s@eff_b=X, rej_b@eff_s=X")
    if name == "auc":
        return M.binary_auc
    if m.group(2):
        x = float(m.group(2))
        return lambda s, y: M.signal_efficiency_at(s, y, x)
    x = float(m.group(3))
    return lambda s, y: M.background_rejection_at(s, y, x)


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _stat(metric: Callable[..., Any], arrays: Sequence[Tensor], stratify: Tensor,
          n_boot: int, seed: int) -> tuple[Any, Any]:
    """(value on the full arrays, bootstrap spread); values may be tensors (per class)."""
    value = metric(*arrays)
    if n_boot < 2:
        return value, 0.0 * torch.as_tensor(value) if isinstance(value, Tensor) else 0.0
    spread = M.bootstrap(metric, *arrays, n_resamples=n_boot, seed=seed, stratify=stratify).spread
    return value, spread


def _downsample_roc(fpr: Tensor, tpr: Tensor, points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` ROC points, evenly spaced in signal efficiency (ends kept)."""
    fpr, tpr = fpr.numpy(), tpr.numpy()
    if len(fpr) <= points:
        return fpr, tpr
    idx = np.unique(np.searchsorted(tpr, np.linspace(0, 1, points), side="left").clip(
        0, len(tpr) - 1))
    idx = np.unique(np.concatenate([[0], idx, [len(tpr) - 1]]))
    return fpr[idx], tpr[idx]


@dataclass
class TaskResult:
    """Rows, ROC curves and bookkeeping of one task."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    dataset_sha256: str | None = None
    dataset_path: str | None = None
    n_test: int = 0


def _row(task: Task, evaluation: str, metric: str, value: Any, spread: Any, n: int,
         **extra: Any) -> dict[str, Any]:
    return {"task": task.name, "evaluation": evaluation, "metric": metric,
            "value": _finite(float(value)), "spread": _finite(float(spread)), "n": int(n), **extra}


def score_classification(task: Task, evaluation: str, proba: Tensor, target: Tensor,
                         result: TaskResult, **extra: Any) -> None:
    """Add the metric rows and ROC curves of class scores ``proba (N, C)`` to ``result``."""
    s = task.settings
    n, seed, n_boot = len(target), task.seed, int(s["bootstrap"])
    proba = proba.double()
    for name in task.metrics:
        if name == "accuracy":
            v, e = _stat(lambda p, y: M.accuracy(p, y, proba.shape[1]), (proba, target), target,
                         n_boot, seed)
            result.rows.append(_row(task, evaluation, name, v, e, n, **extra))
        elif task.kind == "multiclass" and name == "auc":
            v, e = _stat(M.multiclass_auc, (proba, target), target, n_boot, seed)
            for c, cls in enumerate(task.classes):
                result.rows.append(_row(task, evaluation, f"auc[{cls}]", v[c], e[c], n, **extra))
            v_mean, e_mean = _stat(lambda p, y: M.multiclass_auc(p, y).mean(), (proba, target),
                                   target, n_boot, seed)
            result.rows.append(_row(task, evaluation, "auc[mean]", v_mean, e_mean, n, **extra))
        elif task.kind == "multiclass":
            raise ValueError(f"task {task.name}: metric {name!r} is defined for binary tasks only")
        else:
            v, e = _stat(metric_fn(name), (proba[:, 1], target), target, n_boot, seed)
            result.rows.append(_row(task, evaluation, name, v, e, n, **extra))
    curves = ([(cls, proba[:, c], (target == c).long()) for c, cls in enumerate(task.classes)]
              if task.kind == "multiclass" else [("+".join(task.signal), proba[:, 1], target)])
    for label, score, y in curves:
        fpr, tpr, _ = M.roc_curve(score, y)
        result.roc[roc_key(task.name, evaluation, label)] = _downsample_roc(
            fpr, tpr, int(s["roc_points"]))


def score_anomaly(task: Task, evaluation: str, scores: Tensor, labels: Tensor,
                  result: TaskResult) -> None:
    """Metric rows per signal (``auc[w]`` ...) for anomaly ``scores`` (higher = more anomalous)
    of test jets with task-local ``labels``."""
    s = task.settings
    bkg = torch.as_tensor([task.classes.index(c) for c in task.background])
    is_bkg = torch.isin(labels, bkg)
    for sig_name, sig_classes in task.signals.items():
        sig = torch.isin(labels, torch.as_tensor([task.classes.index(c) for c in sig_classes]))
        keep = is_bkg | sig
        sc, y = scores[keep].double(), sig[keep].long()
        for name in task.metrics:
            v, e = _stat(metric_fn(name), (sc, y), y, int(s["bootstrap"]), task.seed)
            result.rows.append(_row(task, evaluation, f"{name}[{sig_name}]", v, e, len(y)))
        fpr, tpr, _ = M.roc_curve(sc, y)
        result.roc[roc_key(task.name, evaluation, sig_name)] = _downsample_roc(
            fpr, tpr, int(s["roc_points"]))


def binary_target(task: Task, labels: Tensor) -> Tensor:
    """Task-local labels -> classifier targets (signal = 1 for binary tasks)."""
    if task.kind != "binary":
        return labels.long()
    sig = torch.as_tensor([task.classes.index(c) for c in task.signal])
    return torch.isin(labels, sig).long()


def _with_target(task: Task, data: Batch) -> Batch:
    return {**data, "label": binary_target(task, data["label"])}


# --------------------------------------------------------------------------------------------
# Running tasks
# --------------------------------------------------------------------------------------------

@dataclass
class RunSettings:
    """How to run tasks: devices for the Trainer, quick mode, progress bars."""

    devices: int | str = 1
    accelerator: str = "auto"
    quick: bool = False
    progress: bool = False
    dataset_sha256: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)  # task settings, after --quick


def _frozen_probe(evaluation: str, task: Task, emb_train: Tensor, y_train: Tensor,
                  emb_test: Tensor, num_classes: int) -> Tensor:
    """Class scores ``(N_test, C)`` of the kNN or linear probe."""
    from jetzoo.leaderboard import probes

    if evaluation == "knn":
        out = probes.knn_probe(emb_train, y_train, emb_test, k=int(task.settings["knn_k"]),
                               num_classes=num_classes)
    else:
        out = probes.linear_probe(emb_train, y_train, emb_test, seed=task.seed)
    scores = out.scores if hasattr(out, "scores") else out[1]
    return torch.as_tensor(scores).double()


def anomaly_scores(task: Task, backbone: nn.Module, data: TaskData,
                   settings: RunSettings) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Scores (higher = more anomalous) of the test jets per anomaly evaluation of ``task``:
    reference = background jets of the training split; returns (scores, skipped)."""
    from jetzoo.leaderboard import anomaly

    s = task.settings
    scores: dict[str, Tensor] = {}
    skipped: dict[str, str] = {}
    methods = tuple(e.removeprefix("anomaly-") for e in task.evaluations if e != "anomaly-ae")
    if methods:
        bkg = torch.as_tensor([task.classes.index(c) for c in task.background])
        ref = select(data.train, torch.nonzero(torch.isin(data.train["label"], bkg))[:, 0])
        emb_ref = extract(backbone, ref, devices=settings.devices)
        emb_test = extract(backbone, data.test, devices=settings.devices)
        out = anomaly.anomaly_scores(emb_ref, emb_test, ref_labels=ref["label"],
                                     k=int(s["knn_k"]), tau=float(s["cosine_tau"]),
                                     n_components=int(s["gmm_components"]), methods=methods,
                                     seed=task.seed)
        scores.update({f"anomaly-{m}": v for m, v in out.items()})
    if "anomaly-ae" in task.evaluations:
        if hasattr(backbone, "reconstruction_score"):
            scores["anomaly-ae"] = extract(backbone, data.test, fn="reconstruction_score",
                                           devices=settings.devices).double().reshape(-1)
        else:
            skipped[f"{task.name}/anomaly-ae"] = (
                f"{type(backbone).__name__} has no reconstruction_score (only the autoencoder "
                "recipe's model has)")
    return scores, skipped


def run_task(backbone: nn.Module, task: Task, settings: RunSettings | None = None,
             data: TaskData | None = None) -> TaskResult:
    """Run every evaluation of ``task`` on ``backbone``; :class:`TaskSkipped` if the task's
    dataset is missing. An evaluation that does not apply (e.g. ``anomaly-ae`` on a backbone
    without ``reconstruction_score``) is listed in ``result.skipped``. ``data``: the task's data
    already in memory (default: :func:`load_task_data`, with the dataset's hashes verified)."""
    settings = settings or RunSettings()
    if settings.quick:
        task = task.with_settings(**QUICK_SETTINGS)
    if settings.overrides:
        task = task.with_settings(**settings.overrides)
    if data is None:
        data = load_task_data(task)
    result = TaskResult(dataset_path=str(data.dataset_path), n_test=len(data.test["label"]),
                        dataset_sha256=data.dataset_sha256)
    if data.dataset_path is not None:
        result.dataset_sha256 = verify_dataset(data.dataset_path, settings.dataset_sha256)
    backbone = backbone.eval()
    s = task.settings
    if task.kind == "anomaly":
        scores, result.skipped = anomaly_scores(task, backbone, data, settings)
        for evaluation in task.evaluations:
            if evaluation in scores:
                score_anomaly(task, evaluation, scores[evaluation], data.test["label"], result)
        return result

    train, val, test = (_with_target(task, d) for d in (data.train, data.val, data.test))
    y_test = test["label"]
    frozen = [e for e in task.evaluations if e in ("knn", "linear")]
    if frozen:
        emb_train = extract(backbone, train, devices=settings.devices)
        emb_test = extract(backbone, test, devices=settings.devices)
        for evaluation in frozen:
            proba = _frozen_probe(evaluation, task, emb_train, train["label"], emb_test,
                                  task.num_classes)
            score_classification(task, evaluation, proba, y_test, result)
    modes = {"finetune-llrd": "llrd", "finetune-lora": "lora", "supervised": "scratch"}
    for evaluation in (e for e in task.evaluations if e in modes):
        for frac in s["label_fractions"]:
            ft = FineTuneSettings(
                mode=modes[evaluation], base_lrs=s["base_lrs"], decays=s["decays"],
                lora_rank=int(s["lora_rank"]), label_fraction=float(frac),
                max_epochs=int(s["max_epochs"]), batch_size=int(s["batch_size"]),
                weight_decay=float(s["weight_decay"]), seed=task.seed,
                devices=settings.devices, accelerator=settings.accelerator,
                progress=settings.progress)
            out = finetune(backbone, train, val, test, task.num_classes, ft)
            details = {"best": out.best, "n_train": out.n_train,
                       "trainable_params": out.trainable_params}
            if out.lora_impl:
                details["lora_impl"] = out.lora_impl
            score_classification(task, f"{evaluation}-{float(frac) * 100:g}%", out.test_proba,
                                 y_test, result, label_fraction=float(frac),
                                 baseline=evaluation == "supervised", details=details)
    return result


def submit(model: str | Path, tasks: Iterable[str] | None = None, *, devices: int | str = 1,
           quick: bool = False, out: str | Path = DEFAULT_OUT, tasks_dir: str | Path | None = None,
           name: str | None = None, revision: str | None = None,
           weights_sha256: str | None = None, dataset_sha256: str | None = None,
           accelerator: str = "auto", progress: bool = True,
           overrides: Mapping[str, Any] | None = None) -> Path:
    """Score MODEL on every task that applies and write ``<out>/<model id>.json`` (+ ROC
    sidecar). Returns the path of the result file. ``overrides``: task settings replaced in
    every task (keys of :data:`DEFAULT_SETTINGS`, applied after ``quick``), recorded in the
    result file as ``settings``. Refuses hash mismatches
    (:class:`SubmissionError`); tasks whose dataset is missing are skipped and listed in the
    file's ``skipped`` field."""
    from tqdm.auto import tqdm

    from jetzoo import __version__

    backbone, info = load_model(model, revision=revision, weights_sha256=weights_sha256,
                                name=name)
    selected = applicable_tasks(backbone, load_tasks(tasks_dir, tasks))
    if not selected:
        raise SubmissionError(f"no task applies to {info.id} (family "
                              f"{backbone_family(backbone)}); check --tasks")
    overrides = check_overrides(overrides or {})
    settings = RunSettings(devices=devices, accelerator=accelerator, quick=quick,
                           progress=False, dataset_sha256=dataset_sha256, overrides=overrides)
    rows: list[dict[str, Any]] = []
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    datasets: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for task in tqdm(selected, desc=f"scoring {info.id}", disable=not progress):
        try:
            res = run_task(backbone, task, settings)
        except TaskSkipped as err:
            log.warning("skipped: %s", err)
            print(f"skipped: {err}", file=sys.stderr)
            skipped[task.name] = str(err)
            continue
        rows += res.rows
        roc.update(res.roc)
        skipped.update(res.skipped)
        if res.dataset_sha256:
            datasets[task.name] = {"sha256": res.dataset_sha256, "n_test": res.n_test,
                                   "path": str(res.dataset_path)}
    if not rows:
        raise SubmissionError(f"no task could be scored for {info.id}: " + "; ".join(
            skipped.values()))
    result = {"model": info.as_dict(backbone), "jetzoo_version": __version__, "date": now_iso(),
              "quick": bool(quick), "devices": devices, "datasets": datasets,
              "settings": dict(overrides),
              "skipped": skipped, "results": rows}
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", info.id)
    from jetzoo.leaderboard.embeddings import is_global_zero

    if not is_global_zero():
        return Path(out) / f"{safe}.json"  # DDP: only rank 0 writes
    return write_result(Path(out) / f"{safe}.json", result, roc)


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

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="registered name, model folder, Hub repo id or run folder")
    parser.add_argument("--tasks", nargs="+", default=None,
                        help="task names or patterns (default: all tasks that apply)")
    parser.add_argument("--tasks-dir", default=None, help="folder of task YAMLs "
                        "(default: the repository's leaderboard/tasks)")
    parser.add_argument("--devices", default="1",
                        help="devices for the Lightning Trainer (an int or 'auto')")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    parser.add_argument("--quick", action="store_true",
                        help="small settings (few jets, 1 grid point, 2 epochs) for CI and tests")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="replace a task setting in every task, e.g. --set max_epochs=5 "
                        "--set 'base_lrs=[1e-3]' (keys: DEFAULT_SETTINGS in "
                        "jetzoo/leaderboard/tasks.py); recorded in the result file")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder for the result file")
    parser.add_argument("--name", default=None, help="model id in the result file")
    parser.add_argument("--revision", default=None, help="Hub revision of MODEL")
    parser.add_argument("--weights-sha256", default=None,
                        help="refuse unless model.safetensors has this sha256")
    parser.add_argument("--dataset-sha256", default=None,
                        help="refuse unless every task dataset has this sha256")


def main(args: argparse.Namespace) -> int:
    devices: int | str = int(args.devices) if str(args.devices).isdigit() else args.devices
    try:
        overrides = parse_overrides(args.overrides)
        path = submit(args.model, args.tasks, devices=devices, quick=args.quick, out=args.out,
                      tasks_dir=args.tasks_dir, name=args.name, revision=args.revision,
                      weights_sha256=args.weights_sha256, dataset_sha256=args.dataset_sha256,
                      accelerator=args.accelerator, overrides=overrides)
    except SubmissionError as err:
        print(f"jetzoo leaderboard submit: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0
